// The snapshot file, byte by byte (docs/snapshots.md):
//
//   header, 64 bytes, little-endian:
//     0  "RCSNAP\r\n"         magic (the CR LF catches text-mode mangling)
//     8  u32 version          FORMAT_VERSION
//    12  u32 header length    64
//    16  f64 created          unix milliseconds when the write began
//    24  u64 items
//    32  u64 body length      bytes after the header
//    40  24 bytes             the first 24 bytes of sha256(body || header[0..40])
//   body: one record per item
//     u8  key length (1..250), u32 flags, u32 exptime (absolute unix seconds, 0 = never),
//     u64 cas, u32 value length, key bytes, value bytes
//
// The checksum covers the header's own fields, so a file whose header or body
// was cut, padded or flipped anywhere is refused as a whole.

import {createHash, type Hash} from 'node:crypto'
import type {RawItem} from '../store/item.js'

export const MAGIC = Buffer.from('RCSNAP\r\n', 'latin1')
export const FORMAT_VERSION = 1
export const HEADER_LEN = 64
const DIGEST_AT = 40
const DIGEST_LEN = 24
const RECORD_FIXED = 1 + 4 + 4 + 8 + 4

export interface SnapshotItem { key: string; flags: number; exptime: number; cas: number; value: string }

export interface SnapshotHeader { version: number; created: number; items: number; bodyLength: number; digest: Buffer }

export class SnapshotError extends Error {}

/** Append one record to `out` at `at` from an item's bytes in place (key and value are one run); returns the new offset. */
export function encodeRawRecord(r: RawItem, out: Buffer, at: number): number {
  out.writeUInt8(r.keyLength, at)
  out.writeUInt32LE(r.flags >>> 0, at + 1)
  out.writeUInt32LE(r.exptime >>> 0, at + 5)
  out.writeBigUInt64LE(BigInt(r.version), at + 9)
  out.writeUInt32LE(r.valueLength, at + 17)
  at += RECORD_FIXED
  return at + r.buf.copy(out, at, r.at, r.at + r.keyLength + r.valueLength)
}

export function rawRecordSize(r: RawItem): number {
  return RECORD_FIXED + r.keyLength + r.valueLength
}


/** The header's fields before the digest. */
function headerFields(created: number, items: number, bodyLength: number): Buffer {
  const h = Buffer.alloc(DIGEST_AT)
  MAGIC.copy(h, 0)
  h.writeUInt32LE(FORMAT_VERSION, 8)
  h.writeUInt32LE(HEADER_LEN, 12)
  h.writeDoubleLE(created, 16)
  h.writeBigUInt64LE(BigInt(items), 24)
  h.writeBigUInt64LE(BigInt(bodyLength), 32)
  return h
}

/** The finished header: `bodyHash` has seen every body byte, and nothing else yet. */
export function encodeHeader(created: number, items: number, bodyLength: number, bodyHash: Hash): Buffer {
  const fields = headerFields(created, items, bodyLength)
  const digest = bodyHash.update(fields).digest()
  const h = Buffer.alloc(HEADER_LEN)
  fields.copy(h, 0)
  digest.copy(h, DIGEST_AT, 0, DIGEST_LEN)
  return h
}

export const newBodyHash = (): Hash => createHash('sha256')

/** Parse a header; throws SnapshotError naming what is wrong. */
export function decodeHeader(h: Buffer, fileLength: number): SnapshotHeader {
  if (h.length < 16 || !h.subarray(0, 8).equals(MAGIC)) throw new SnapshotError('not a repcached snapshot (bad magic)')
  const version = h.readUInt32LE(8)
  if (version !== FORMAT_VERSION) throw new SnapshotError(`format version ${version}, this server reads version ${FORMAT_VERSION}`)
  if (h.length < HEADER_LEN || h.readUInt32LE(12) !== HEADER_LEN) throw new SnapshotError('truncated header')
  const items = Number(h.readBigUInt64LE(24))
  const bodyLength = Number(h.readBigUInt64LE(32))
  if (HEADER_LEN + bodyLength !== fileLength) throw new SnapshotError(`${fileLength} bytes where the header announces ${HEADER_LEN + bodyLength} (truncated or padded)`)
  return {version, created: h.readDoubleLE(16), items, bodyLength, digest: Buffer.from(h.subarray(DIGEST_AT, DIGEST_AT + DIGEST_LEN))}
}

/** Whether the body (already fed to `bodyHash`) matches the header. */
export function digestMatches(header: SnapshotHeader, bodyHash: Hash): boolean {
  const d = bodyHash.update(headerFields(header.created, header.items, header.bodyLength)).digest()
  return d.subarray(0, DIGEST_LEN).equals(header.digest)
}

/**
 * Records from a run of body bytes: returns the items and how many bytes they
 * used; a record cut at the end of `buf` is left for the next call.
 */
export function decodeRecords(buf: Buffer, onItem: (it: SnapshotItem) => void): number {
  let at = 0
  while (at + RECORD_FIXED <= buf.length) {
    const keyLen = buf.readUInt8(at)
    const valueLen = buf.readUInt32LE(at + 17)
    const end = at + RECORD_FIXED + keyLen + valueLen
    if (end > buf.length) break
    if (keyLen === 0 || keyLen > 250) throw new SnapshotError(`record at body offset ${at}: key length ${keyLen}`)
    const k = at + RECORD_FIXED
    onItem({
      flags: buf.readUInt32LE(at + 1),
      exptime: buf.readUInt32LE(at + 5),
      cas: Number(buf.readBigUInt64LE(at + 9)),
      key: buf.toString('latin1', k, k + keyLen),
      value: buf.toString('latin1', k + keyLen, end),
    })
    at = end
  }
  return at
}
