// Writing a snapshot while clients keep being served: items are encoded a
// slice at a time, each slice written with an asynchronous write (the event
// loop runs between slices), into a temporary file that is fsynced and then
// renamed over the old snapshot, so a crash mid-write leaves the previous
// snapshot whole.

import {open, rename, rm} from 'node:fs/promises'
import {dirname} from 'node:path'
import {performance} from 'node:perf_hooks'
import type {RawItem} from '../store/item.js'
import type {WalkCursor} from '../store/item-table.js'
import {encodeHeader, encodeRawRecord, HEADER_LEN, newBodyHash, rawRecordSize} from './format.js'

/** What a snapshot needs of the store. */
export interface SnapshotSource {
  /** A walk over every item (see ItemStore.startWalk for what it meets). */
  startWalk(): WalkCursor
  /** The walk's next live items, handed over in place (no copies), at least `atLeast` unless it ends. */
  walkRaw(c: WalkCursor, atLeast: number, visit: (r: RawItem) => void): void
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
      // Records are copied straight from the store's pages into the slice: no strings, no objects.
      const parts: Buffer[] = []
      let part = Buffer.allocUnsafe(SLICE_BYTES)
      let at = 0
      let size = 0
      const add = (r: RawItem): void => {
        const n = rawRecordSize(r)
        if (n > part.length - at) {
          if (at > 0) parts.push(part.subarray(0, at))
          part = Buffer.allocUnsafe(Math.max(SLICE_BYTES, n))
          at = 0
        }
        at = encodeRawRecord(r, part, at)
        size += n
        items++
      }
      while (size < SLICE_BYTES && !walk.done) source.walkRaw(walk, 16, add)
      if (at > 0) parts.push(part.subarray(0, at))
      const finished = walk.done
      for (const p of parts) hash.update(p)
      longestPauseMs = Math.max(longestPauseMs, performance.now() - s0)
      for (const p of parts) {
        await fh.write(p, 0, p.length, pos)
        pos += p.length
      }
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
