// The memcached binary protocol on the wire: opcodes, status codes, the
// 24-byte header and packet encoders for both directions. Keys and values
// travel as Buffers or latin1 strings (one char per byte), never UTF-8.

export const REQUEST_MAGIC = 0x80
export const RESPONSE_MAGIC = 0x81
export const HEADER_LENGTH = 24

/**
 * memcached reads a request into a fixed 16 KB buffer and only dispatches
 * once header, extras and key are all in it; a longer head can never fit and
 * the connection is dropped when that buffer fills.
 */
export const READ_BUFFER_SIZE = 16384

export const Opcode = {
  Get: 0x00, Set: 0x01, Add: 0x02, Replace: 0x03, Delete: 0x04, Increment: 0x05, Decrement: 0x06,
  Quit: 0x07, Flush: 0x08, GetQ: 0x09, Noop: 0x0a, Version: 0x0b, GetK: 0x0c, GetKQ: 0x0d,
  Append: 0x0e, Prepend: 0x0f, Stat: 0x10, SetQ: 0x11, AddQ: 0x12, ReplaceQ: 0x13, DeleteQ: 0x14,
  IncrementQ: 0x15, DecrementQ: 0x16, QuitQ: 0x17, FlushQ: 0x18, AppendQ: 0x19, PrependQ: 0x1a,
  Verbosity: 0x1b, Touch: 0x1c, GAT: 0x1d, GATQ: 0x1e, SaslListMechs: 0x20, SaslAuth: 0x21, SaslStep: 0x22,
  GATK: 0x23, GATKQ: 0x24,
} as const

export const Status = {
  Success: 0x00, KeyNotFound: 0x01, KeyExists: 0x02, TooLarge: 0x03, InvalidArguments: 0x04,
  NotStored: 0x05, NonNumeric: 0x06, AuthError: 0x20, AuthContinue: 0x21, UnknownCommand: 0x81, OutOfMemory: 0x82,
} as const

export interface RequestHeader {
  magic: number
  opcode: number
  keyLength: number
  extrasLength: number
  dataType: number
  vbucket: number
  bodyLength: number
  opaque: number
  cas: bigint
}

export interface ResponseHeader {
  magic: number
  opcode: number
  keyLength: number
  extrasLength: number
  dataType: number
  status: number
  bodyLength: number
  opaque: number
  cas: bigint
}

export function decodeRequestHeader(buf: Buffer, at = 0): RequestHeader {
  return {
    magic: buf[at]!,
    opcode: buf[at + 1]!,
    keyLength: buf.readUInt16BE(at + 2),
    extrasLength: buf[at + 4]!,
    dataType: buf[at + 5]!,
    vbucket: buf.readUInt16BE(at + 6),
    bodyLength: buf.readUInt32BE(at + 8),
    opaque: buf.readUInt32BE(at + 12),
    cas: buf.readBigUInt64BE(at + 16),
  }
}

export function decodeResponseHeader(buf: Buffer, at = 0): ResponseHeader {
  return {
    magic: buf[at]!,
    opcode: buf[at + 1]!,
    keyLength: buf.readUInt16BE(at + 2),
    extrasLength: buf[at + 4]!,
    dataType: buf[at + 5]!,
    status: buf.readUInt16BE(at + 6),
    bodyLength: buf.readUInt32BE(at + 8),
    opaque: buf.readUInt32BE(at + 12),
    cas: buf.readBigUInt64BE(at + 16),
  }
}

function writeHeader(buf: Buffer, magic: number, opcode: number, keyLength: number, extrasLength: number, dataType: number, word: number, bodyLength: number, opaque: number, cas: bigint): void {
  buf[0] = magic
  buf[1] = opcode
  buf.writeUInt16BE(keyLength, 2)
  buf[4] = extrasLength
  buf[5] = dataType
  buf.writeUInt16BE(word, 6)
  buf.writeUInt32BE(bodyLength >>> 0, 8)
  buf.writeUInt32BE(opaque >>> 0, 12)
  buf.writeBigUInt64BE(BigInt.asUintN(64, cas), 16)
}

type Part = Buffer | string | undefined

/** Byte length of a packet part; strings are latin1, one byte per char. */
function partLength(p: Part): number {
  return p === undefined ? 0 : p.length
}

function writePart(out: Buffer, p: Part, at: number): void {
  if (p === undefined || p.length === 0) return
  if (typeof p === 'string') out.write(p, at, 'latin1')
  else p.copy(out, at)
}

export interface PacketParts {
  opcode: number
  opaque?: number
  cas?: bigint
  /** Strings are taken as latin1: one byte per char. */
  extras?: Buffer | string
  key?: Buffer | string
  value?: Buffer | string
}

function encodePacket(p: PacketParts, magic: number, dataType: number, word: number, lengths: {keyLength?: number; extrasLength?: number; bodyLength?: number}): Buffer {
  const e = partLength(p.extras)
  const k = partLength(p.key)
  const body = e + k + partLength(p.value)
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body)
  writeHeader(out, magic, p.opcode, lengths.keyLength ?? k, lengths.extrasLength ?? e, dataType, word, lengths.bodyLength ?? body, p.opaque ?? 0, p.cas ?? 0n)
  writePart(out, p.extras, HEADER_LENGTH)
  writePart(out, p.key, HEADER_LENGTH + e)
  writePart(out, p.value, HEADER_LENGTH + e + k)
  return out
}

/** One response packet. */
export function encodeResponse(p: PacketParts & {status?: number}): Buffer {
  return encodePacket(p, RESPONSE_MAGIC, 0, p.status ?? Status.Success, {})
}

/**
 * One request packet, as a client sends it. The header fields can be
 * overridden to build malformed frames (wrong magic, lengths that do not add up).
 */
export function encodeRequest(p: PacketParts & {magic?: number; dataType?: number; vbucket?: number; keyLength?: number; extrasLength?: number; bodyLength?: number}): Buffer {
  return encodePacket(p, p.magic ?? REQUEST_MAGIC, p.dataType ?? 0, p.vbucket ?? 0, p)
}

export interface ResponsePacket {
  header: ResponseHeader
  extras: Buffer
  key: Buffer
  value: Buffer
}

/** Split a byte string into whole response packets; `rest` is an incomplete tail. */
export function splitResponses(buf: Buffer): {packets: ResponsePacket[]; rest: Buffer} {
  const packets: ResponsePacket[] = []
  let at = 0
  while (buf.length - at >= HEADER_LENGTH) {
    const header = decodeResponseHeader(buf, at)
    const end = at + HEADER_LENGTH + header.bodyLength
    if (end > buf.length) break
    const e = at + HEADER_LENGTH + header.extrasLength
    const k = e + header.keyLength
    packets.push({header, extras: buf.subarray(at + HEADER_LENGTH, e), key: buf.subarray(e, k), value: buf.subarray(k, end)})
    at = end
  }
  return {packets, rest: buf.subarray(at)}
}

/** A request's fixed part: everything memcached has in hand when it dispatches. */
export interface FrameHead {
  header: RequestHeader
  extras: Buffer
  /** latin1 */
  key: string
}
