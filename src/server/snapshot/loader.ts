// Reading a snapshot at start, before any client port opens. The whole file
// is verified (length, format version, checksum) before the first item is
// stored: a damaged file is refused as a whole, never half-loaded.

import {closeSync, fstatSync, openSync, readSync, renameSync} from 'node:fs'
import {performance} from 'node:perf_hooks'
import {now} from '../store/clock.js'
import {decodeHeader, decodeRecords, digestMatches, HEADER_LEN, newBodyHash, SnapshotError, type SnapshotHeader, type SnapshotItem} from './format.js'

const CHUNK = 4 << 20

export type SnapshotCheck =
  | {ok: true; header: SnapshotHeader; bytes: number}
  | {ok: false; missing: boolean; reason: string}

/**
 * Verify a snapshot file without loading it. `headerOnly`: trust the body
 * (magic, version and length are still checked) — what `status` needs, without
 * reading hundreds of MB each time.
 */
export function checkSnapshot(file: string, headerOnly = false): SnapshotCheck {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return {ok: false, missing: code === 'ENOENT', reason: code === 'ENOENT' ? 'no such file' : `cannot open it: ${code ?? (e as Error).message}`}
  }
  try {
    const header = verify(fd, headerOnly)
    return {ok: true, header, bytes: HEADER_LEN + header.bodyLength}
  } catch (e) {
    if (e instanceof SnapshotError) return {ok: false, missing: false, reason: e.message}
    return {ok: false, missing: false, reason: `cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`}
  } finally {
    closeSync(fd)
  }
}

function verify(fd: number, headerOnly: boolean): SnapshotHeader {
  const size = fstatSync(fd).size
  const head = Buffer.alloc(HEADER_LEN)
  const got = readSync(fd, head, 0, HEADER_LEN, 0)
  const header = decodeHeader(head.subarray(0, got), size)
  if (headerOnly) return header
  const hash = newBodyHash()
  const buf = Buffer.allocUnsafe(CHUNK)
  for (let pos = HEADER_LEN; pos < size;) {
    const n = readSync(fd, buf, 0, Math.min(CHUNK, size - pos), pos)
    if (n === 0) throw new SnapshotError('file shrank while being read')
    hash.update(buf.subarray(0, n))
    pos += n
  }
  if (!digestMatches(header, hash)) throw new SnapshotError('checksum mismatch (the file is damaged)')
  return header
}

export type LoadResult =
  | {loaded: true; items: number; expired: number; notKept: number; created: number; bytes: number; ms: number}
  | {loaded: false; missing: boolean; reason: string; movedTo: string | undefined}

/** What loading needs of the store. */
export interface SnapshotTarget {
  restoreItem(key: string, flags: number, exptime: number, cas: number, value: string): boolean
  reset(): void
}

/**
 * Load `file` into `store`. A refused file is moved aside to FILE.refused (for
 * a person to look at) so that the next snapshot does not overwrite it.
 */
export function loadSnapshot(file: string, store: SnapshotTarget): LoadResult {
  const t0 = performance.now()
  const check = checkSnapshot(file)
  if (!check.ok) {
    let movedTo: string | undefined
    if (!check.missing) {
      try { renameSync(file, `${file}.refused`); movedTo = `${file}.refused` } catch { /* leave it */ }
    }
    return {loaded: false, missing: check.missing, reason: check.reason, movedTo}
  }
  const fd = openSync(file, 'r')
  let items = 0
  let expired = 0
  let notKept = 0
  try {
    const t = now()
    const onItem = (it: SnapshotItem): void => {
      items++
      if (it.exptime !== 0 && it.exptime <= t) { expired++; return }
      if (!store.restoreItem(it.key, it.flags, it.exptime, it.cas, it.value)) notKept++
    }
    const size = check.bytes
    let carry = Buffer.alloc(0)
    const buf = Buffer.allocUnsafe(CHUNK)
    for (let pos = HEADER_LEN; pos < size;) {
      const n = readSync(fd, buf, 0, Math.min(CHUNK, size - pos), pos)
      if (n === 0) throw new SnapshotError('file shrank while being read')
      pos += n
      const data = carry.length === 0 ? buf.subarray(0, n) : Buffer.concat([carry, buf.subarray(0, n)])
      const used = decodeRecords(data, onItem)
      carry = Buffer.from(data.subarray(used))
    }
    if (carry.length !== 0 || items !== check.header.items) throw new SnapshotError(`${items} records where the header announces ${check.header.items}`)
  } catch (e) {
    // The checksum held, so this is a writer's bug: still, nothing half-loaded stays.
    store.reset()
    return {loaded: false, missing: false, reason: (e as Error).message, movedTo: undefined}
  } finally {
    closeSync(fd)
  }
  return {loaded: true, items, expired, notKept, created: check.header.created, bytes: check.bytes, ms: performance.now() - t0}
}
