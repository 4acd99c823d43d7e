// Writing a snapshot while clients keep being served: items are encoded a
// slice at a time, each slice written with an asynchronous write (the event
// loop runs between slices), into a temporary file that is fsynced and then
// renamed over the old snapshot, so a crash mid-write leaves the previous
// snapshot whole.

import {open, rename, rm} from 'node:fs/promises'
import {dirname} from 'node:path'
import {performance} from 'node:perf_hooks'
import type {Item} from '../store/item.js'
import type {WalkCursor} from '../store/item-table.js'
import {encodeHeader, encodeRecord, HEADER_LEN, newBodyHash, recordSize} from './format.js'

/** What a snapshot needs of the store. */
export interface SnapshotSource {
  /** A walk over every item (see ItemStore.startWalk for what it meets). */
  startWalk(): WalkCursor
  /** The walk's next live items, at least `atLeast` unless it ends. */
  walkItems(c: WalkCursor, atLeast: number): Item[]
}

export interface SnapshotReport {
  items: number
  bytes: number
  durationMs: number
  /** The longest stretch spent encoding without yielding to clients. */
  longestPauseMs: number
  /** Unix ms when the walk began: everything older than this is in the file. */
  created: number
}

/**
 * Encode this many bytes, at most, between two yields to the event loop. Measured with 1M items and
 * a snapshot every 2 s (npm run bench): 1 MiB slices wrote in 0.8 s but pushed client p99 from
 * 0.33 to 5.3 ms; 64 KiB take 1.3 s and keep p99 under 0.9 ms.
 */
const SLICE_BYTES = 64 << 10

export async function writeSnapshot(file: string, source: SnapshotSource): Promise<SnapshotReport> {
  const t0 = performance.now()
  const created = Date.now()
  const tmp = `${file}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  let done = false
  try {
    const hash = newBodyHash()
    let pos = HEADER_LEN
    let items = 0
    let longestPauseMs = 0
    const walk = source.startWalk()
    for (;;) {
      const s0 = performance.now()
      const records: Item[] = []
      let size = 0
      while (size < SLICE_BYTES && !walk.done) {
        for (const it of source.walkItems(walk, 16)) {
          records.push(it)
          size += recordSize(it)
        }
      }
      const finished = walk.done
      const slice = Buffer.allocUnsafe(size)
      let at = 0
      for (const it of records) at = encodeRecord(it, slice, at)
      hash.update(slice)
      longestPauseMs = Math.max(longestPauseMs, performance.now() - s0)
      if (size > 0) await fh.write(slice, 0, size, pos)
      pos += size
      items += records.length
      if (finished) break
    }
    await fh.write(encodeHeader(created, items, pos - HEADER_LEN, hash), 0, HEADER_LEN, 0)
    await fh.sync()
    await fh.close()
    done = true
    await rename(tmp, file)
    await syncDir(dirname(file))
    return {items, bytes: pos, durationMs: performance.now() - t0, longestPauseMs, created}
  } finally {
    if (!done) {
      await fh.close().catch(() => {})
      await rm(tmp, {force: true})
    }
  }
}

/** Make the rename itself durable. */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r')
  try { await d.sync() } catch { /* some filesystems refuse fsync on a directory */ } finally { await d.close() }
}
