// repcached 2.x's replication messages (see docs/replication-protocol.md):
// plain memcached-style text, no replies. Encoding builds latin1 strings;
// decoding is incremental over Buffers and rejects anything that is not one
// of the four messages, so a confused or hostile peer cannot desynchronise us.

export type PeerMessage =
  /** `exptime`: absolute unix time on legacy links, remaining seconds on native ones (0 = never). */
  | {type: 'rep'; key: string; flags: number; exptime: number; cas: number; value: string}
  /** `cas`: the delete's version, native links only. */
  | {type: 'delete'; key: string; cas: number | undefined}
  | {type: 'flush'; at: number}
  | {type: 'marugoto_end'}
  // Native links only:
  | {type: 'hb'}
  | {type: 'ack'; count: number}

export function encodeRep(key: string, flags: number, exptime: number, cas: number, value: string): string {
  return `rep ${key} ${flags} ${exptime} ${value.length} ${cas}\r\n${value}\r\n`
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

/** The peer sent something that is not a replication message. */
export class PeerProtocolError extends Error {}

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
      const value = buf.toString('latin1', this.pos, end)
      this.pos = end + 2
      this.value = undefined
      return {...header, value}
    }
    const nl = buf.indexOf(10, this.pos)
    if (nl === -1) {
      if (buf.length - this.pos > LINE_MAX) throw new PeerProtocolError(`line longer than ${LINE_MAX} bytes`)
      return undefined
    }
    const end = nl > this.pos && buf[nl - 1] === 13 ? nl - 1 : nl
    const line = buf.toString('latin1', this.pos, end)
    this.pos = nl + 1
    return this.parseLine(line)
  }

  private parseLine(line: string): PeerMessage | undefined {
    const t = line.split(' ')
    const word = t[0]
    if (word === 'rep' && t.length === 6) {
      const [, key, flags, exptime, bytes, cas] = t as [string, string, string, string, string, string]
      if (!validKey(key)) throw new PeerProtocolError(`bad key in "${clip(line)}"`)
      for (const n of [flags, exptime, bytes, cas]) if (!DECIMAL.test(n)) throw new PeerProtocolError(`bad number in "${clip(line)}"`)
      const need = Number(bytes)
      if (need > this.maxValue) throw new PeerProtocolError(`value of ${need} bytes exceeds the item size limit`)
      const f = Number(flags)
      if (f > 0xffffffff) throw new PeerProtocolError(`bad flags in "${clip(line)}"`)
      this.value = {header: {type: 'rep', key, flags: f, exptime: Number(exptime), cas: Number(cas)}, need}
      return this.next()
    }
    if (word === 'delete' && t.length === 2 && validKey(t[1]!)) return {type: 'delete', key: t[1]!, cas: undefined}
    if (this.native) {
      if (word === 'delete' && t.length === 3 && validKey(t[1]!) && DECIMAL.test(t[2]!)) return {type: 'delete', key: t[1]!, cas: Number(t[2])}
      if (word === 'hb' && t.length === 1) return {type: 'hb'}
      if (word === 'ack' && t.length === 2 && DECIMAL.test(t[1]!)) return {type: 'ack', count: Number(t[1])}
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
