// repcached 2.x's replication messages (see docs/replication-protocol.md):
// plain memcached-style text, no replies. Encoding builds latin1 strings;
// decoding is incremental over Buffers and rejects anything that is not one
// of the four messages, so a confused or hostile peer cannot desynchronise us.

export type PeerMessage =
  /** `exptime`: absolute unix time on legacy links, remaining seconds on native ones (0 = never). */
  /** `state`: the item's ItemState bits (native links of revision 3; 0 when not sent). */
  /** `value`: the bytes as received (a view of the stream's chunk, which nothing else reuses): the store copies them once, into its pages. */
  | {type: 'rep'; key: string; flags: number; exptime: number; cas: number; value: Buffer; state: number}
  /** `cas`: the delete's version, native links only. */
  | {type: 'delete'; key: string; cas: number | undefined}
  | {type: 'flush'; at: number}
  | {type: 'marugoto_end'}
  // Native links only:
  | {type: 'hb'}
  | {type: 'ack'; count: number}
  /** The sender's flush state (native links of revision 2; see ItemStore.flushState). */
  | {type: 'flush_version'; floor: number; issued: number; pending: number}

/** `state` (native revision 3 only): the item's meta marks, sent as a last word when not 0. */
export function encodeRep(key: string, flags: number, exptime: number, cas: number, value: string, state = 0): string {
  return state === 0
    ? `rep ${key} ${flags} ${exptime} ${value.length} ${cas}\r\n${value}\r\n`
    : `rep ${key} ${flags} ${exptime} ${value.length} ${cas} ${state}\r\n${value}\r\n`
}

export function encodeDelete(key: string, cas?: number): string {
  return cas === undefined ? `delete ${key}\r\n` : `delete ${key} ${cas}\r\n`
}

export const HEARTBEAT = 'hb\r\n'

export function encodeAck(count: number): string {
  return `ack ${count}\r\n`
}

/** `at` is absolute unix time, 0 for now; repcached writes a space before CR for "now". */
export function encodeFlush(at: number): string {
  return at > 0 ? `flush_all ${at}\r\n` : 'flush_all \r\n'
}

export const MARUGOTO_END = 'marugoto_end\r\n'

/** Native revision 2: every version below `floor` is flushed; `issued`: the latest flush_all's version; `pending`: seconds until its delayed flush (0: none). */
export function encodeFlushVersion(floor: number, issued: number, pending: number): string {
  return `flush_version ${floor} ${issued} ${pending}\r\n`
}

/** The peer sent something that is not a replication message. */
export class PeerProtocolError extends Error {}

const NEED_MORE = Symbol('need more bytes')
const KEY_MAX = 250
const LINE_MAX = 1024
const DECIMAL = /^\d{1,20}$/

export class PeerDecoder {
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  private value: {header: Omit<Extract<PeerMessage, {type: 'rep'}>, 'value'>; need: number} | undefined

  /** `native`: also accept the messages of native links. */
  constructor(private readonly maxValue: number, public native = false) {}

  push(chunk: Buffer): void {
    if (this.pos >= this.buf.length) { this.buf = chunk; this.pos = 0 }
    else { this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]); this.pos = 0 }
  }

  /** The next message, or undefined if more bytes are needed; throws PeerProtocolError on garbage. */
  next(): PeerMessage | undefined {
    const buf = this.buf
    if (this.value !== undefined) {
      const {header, need} = this.value
      if (buf.length - this.pos < need + 2) return undefined
      const end = this.pos + need
      if (buf[end] !== 13 || buf[end + 1] !== 10) throw new PeerProtocolError(`value of "${header.key}" is not followed by CRLF`)
      const value = buf.subarray(this.pos, end)
      this.pos = end + 2
      this.value = undefined
      // Field by field, in the order fastRep gives them: one shape for every rep message.
      return {type: 'rep', key: header.key, flags: header.flags, exptime: header.exptime, cas: header.cas, value, state: header.state}
    }
    const nl = buf.indexOf(10, this.pos)
    if (nl === -1) {
      if (buf.length - this.pos > LINE_MAX) throw new PeerProtocolError(`line longer than ${LINE_MAX} bytes`)
      return undefined
    }
    const end = nl > this.pos && buf[nl - 1] === 13 ? nl - 1 : nl
    const fast = this.fastRep(buf, this.pos, end, nl)
    if (fast === NEED_MORE) return undefined
    if (fast !== undefined) return fast
    const line = buf.toString('latin1', this.pos, end)
    this.pos = nl + 1
    return this.parseLine(line)
  }

  /**
   * The full copy is a million `rep` lines: parse the well-formed ones straight
   * from the bytes, value included when it is already here. Anything unusual
   * (or wrong) returns undefined and takes the general path, which decides
   * and words the error, so both paths accept exactly the same input.
   * NEED_MORE: the header is taken, its value has not fully arrived.
   */
  private fastRep(buf: Buffer, start: number, end: number, nl: number): PeerMessage | typeof NEED_MORE | undefined {
    if (end - start < 13 || buf[start] !== 0x72 || buf[start + 1] !== 0x65 || buf[start + 2] !== 0x70 || buf[start + 3] !== 0x20) return undefined
    const keyStart = start + 4
    const keyEnd = buf.indexOf(0x20, keyStart)
    if (keyEnd <= keyStart || keyEnd > end || keyEnd - keyStart > KEY_MAX) return undefined
    const nums = this.nums
    let at = keyEnd + 1
    for (let i = 0; i < 4; i++) {
      let n = 0
      const from = at
      while (at < end) {
        const c = buf[at]!
        if (c === 0x20) break
        if (c < 0x30 || c > 0x39) return undefined
        n = n * 10 + (c - 0x30)
        at++
      }
      // Up to 15 digits the sum is exact; longer numbers go the general way.
      if (at === from || at - from > 15 || (i < 3 && at === end) || (i === 3 && at !== end)) return undefined
      nums[i] = n
      at++
    }
    const [flags, exptime, need, cas] = nums as [number, number, number, number]
    if (need > this.maxValue || flags > 0xffffffff) return undefined
    const key = buf.toString('latin1', keyStart, keyEnd)
    const valueAt = nl + 1
    if (buf.length - valueAt >= need + 2 && buf[valueAt + need] === 13 && buf[valueAt + need + 1] === 10) {
      this.pos = valueAt + need + 2
      return {type: 'rep', key, flags, exptime, cas, value: buf.subarray(valueAt, valueAt + need), state: 0}
    }
    this.pos = valueAt
    this.value = {header: {type: 'rep', key, flags, exptime, cas, state: 0}, need}
    return this.next() ?? NEED_MORE
  }

  private readonly nums = [0, 0, 0, 0]

  private parseLine(line: string): PeerMessage | undefined {
    const t = line.split(' ')
    const word = t[0]
    // Native links (revision 3) may add the item's meta marks as a last word.
    if (word === 'rep' && (t.length === 6 || (this.native && t.length === 7 && /^\d{1,3}$/.test(t[6]!) && !t.includes('')))) {
      const [, key, flags, exptime, bytes, cas, marks = '0'] = t as [string, string, string, string, string, string, string?]
      if (!validKey(key)) throw new PeerProtocolError(`bad key in "${clip(line)}"`)
      for (const n of [flags, exptime, bytes, cas]) if (!DECIMAL.test(n)) throw new PeerProtocolError(`bad number in "${clip(line)}"`)
      if (Number(marks) > 7) throw new PeerProtocolError(`bad item marks in "${clip(line)}"`)
      const need = Number(bytes)
      if (need > this.maxValue) throw new PeerProtocolError(`value of ${need} bytes exceeds the item size limit`)
      const f = Number(flags)
      if (f > 0xffffffff) throw new PeerProtocolError(`bad flags in "${clip(line)}"`)
      this.value = {header: {type: 'rep', key, flags: f, exptime: Number(exptime), cas: Number(cas), state: Number(marks)}, need}
      return this.next()
    }
    if (word === 'delete' && t.length === 2 && validKey(t[1]!)) return {type: 'delete', key: t[1]!, cas: undefined}
    if (this.native) {
      if (word === 'delete' && t.length === 3 && validKey(t[1]!) && DECIMAL.test(t[2]!)) return {type: 'delete', key: t[1]!, cas: Number(t[2])}
      if (word === 'hb' && t.length === 1) return {type: 'hb'}
      if (word === 'ack' && t.length === 2 && DECIMAL.test(t[1]!)) return {type: 'ack', count: Number(t[1])}
      if (word === 'flush_version' && t.length === 4 && t.slice(1).every((n) => DECIMAL.test(n))) {
        return {type: 'flush_version', floor: Number(t[1]), issued: Number(t[2]), pending: Number(t[3])}
      }
    }
    if (word === 'flush_all' && t.length <= 2) {
      const arg = t[1] ?? ''
      if (arg === '') return {type: 'flush', at: 0}
      if (!DECIMAL.test(arg)) throw new PeerProtocolError(`bad flush_all time in "${clip(line)}"`)
      return {type: 'flush', at: Number(arg)}
    }
    if (word === 'marugoto_end' && t.length === 1) return {type: 'marugoto_end'}
    throw new PeerProtocolError(`unexpected "${clip(line)}"`)
  }
}

function validKey(k: string): boolean {
  return k.length > 0 && k.length <= KEY_MAX
}

function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?')
  return printable.length > 60 ? printable.slice(0, 60) + '...' : printable
}
