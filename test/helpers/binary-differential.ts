// Differential testing of the binary protocol: one scenario (a function that
// sends requests step by step) runs against the real memcached and against
// our server, each on its own connections, and the two transcripts must be
// equal. A transcript line shows every header field and body byte of a reply
// packet. Only what must differ between two servers is normalised, each
// rule explicit:
// - cas values become #1, #2, ... in order of first appearance (0 stays 0),
//   so "the cas a set returned is the one a get shows" is still checked;
// - a Version reply's text becomes <version>;
// - in steps marked `stats: 'names'`, stat values are dropped and our stat
//   names must be an ordered subsequence of memcached's (it has counters we
//   do not keep); the packet framing is still checked for each server.

import assert from 'node:assert/strict'
import {setTimeout as sleep} from 'node:timers/promises'
import {encodeRequest, HEADER_LENGTH, Opcode, splitResponses, type PacketParts, type ResponsePacket} from '../../src/server/protocol/binary-frame.js'
import {RawClient} from './raw-client.js'

export type Until =
  /** Send a Noop with a marker opaque after the step and read up to its reply (the default). */
  | 'sentinel'
  /** Read until nothing arrives for a while: for steps that leave the server mid-body. */
  | 'quiet'
  /** The server is expected to close the connection: read until it does. */
  | 'close'

export interface StepOptions {
  until?: Until
  /** Stat listings whose values (and some names) legitimately differ between servers. */
  stats?: 'names'
  /** Pause between the chunks of a step sent as several writes. */
  pauseMs?: number
}

export interface Entry {
  step: string
  lines: string[]
  statNames?: string[]
}

const SENTINEL_OPAQUE = 0x5e71e1
const SENTINEL = encodeRequest({opcode: Opcode.Noop, opaque: SENTINEL_OPAQUE})
const CLOSED = '[connection closed]'

/** Bytes as text: printable ASCII kept, everything else escaped, long runs shortened. */
export function printable(b: Buffer): string {
  let out = ''
  for (const c of b) {
    if (c === 0x5c) out += '\\\\'
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c)
    else out += `\\x${c.toString(16).padStart(2, '0')}`
  }
  return out.replace(/(.)\1{39,}/g, (run, ch: string) => `${ch}{x${run.length}}`)
}

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, '0')
}

function isSentinel(p: ResponsePacket): boolean {
  return p.header.opcode === Opcode.Noop && p.header.opaque === SENTINEL_OPAQUE && p.header.bodyLength === 0
}

/** One server's side of a scenario: a connection and what it answered. */
export class BinaryTranscript {
  readonly entries: Entry[] = []
  private readonly casIds = new Map<bigint, string>()
  private client: RawClient | undefined
  /** Reply packets of the last step (unnormalised), for scenarios that reuse a cas. */
  last: ResponsePacket[] = []

  constructor(readonly port: number) {}

  private async conn(): Promise<RawClient> {
    if (this.client === undefined || this.client.isClosed) this.client = await RawClient.open(this.port)
    return this.client
  }

  /** Start over on a new connection (after the server closed the old one, or on purpose). */
  async reconnect(): Promise<void> {
    this.client?.close()
    this.client = await RawClient.open(this.port)
  }

  close(): void {
    this.client?.close()
  }

  /** The cas of the last packet of the last step that carried one. */
  get lastCas(): bigint {
    for (let i = this.last.length - 1; i >= 0; i--) if (this.last[i]!.header.cas !== 0n) return this.last[i]!.header.cas
    throw new Error('the last step returned no cas')
  }

  async step(name: string, send: Buffer | Buffer[], opts: StepOptions = {}): Promise<ResponsePacket[]> {
    const client = await this.conn()
    const until = opts.until ?? 'sentinel'
    const chunks = Array.isArray(send) ? send : [send]
    for (let i = 0; i < chunks.length; i++) {
      if (i > 0) await sleep(opts.pauseMs ?? 50)
      client.send(chunks[i]!)
    }
    let raw: Buffer
    if (until === 'sentinel') {
      client.send(SENTINEL)
      raw = await client.readUntil((b) => {
        const {packets, rest} = splitResponses(b)
        return rest.length === 0 && packets.length > 0 && isSentinel(packets[packets.length - 1]!)
      }, 5000)
    } else if (until === 'quiet') {
      raw = await client.readQuiet(200, 5000)
    } else {
      raw = await client.readUntil(() => false, 5000)
    }
    const {packets, rest} = splitResponses(raw)
    if (until === 'sentinel' && packets.length > 0 && isSentinel(packets[packets.length - 1]!)) packets.pop()
    this.last = packets
    const entry: Entry = {step: name, lines: []}
    if (opts.stats === 'names') {
      const {lines, names} = this.statListing(packets, chunks)
      entry.lines = lines
      entry.statNames = names
    } else {
      entry.lines = packets.map((p) => this.format(p))
    }
    if (rest.length > 0) entry.lines.push(`incomplete: ${printable(rest)}`)
    if (client.isClosed) entry.lines.push(CLOSED)
    this.entries.push(entry)
    return packets
  }

  /** Wait without sending (for expiry). */
  async pause(ms: number): Promise<void> {
    await sleep(ms)
  }

  private cas(c: bigint): string {
    if (c === 0n) return '0'
    let id = this.casIds.get(c)
    if (id === undefined) {
      id = `#${this.casIds.size + 1}`
      this.casIds.set(c, id)
    }
    return id
  }

  private format(p: ResponsePacket): string {
    const h = p.header
    const version = h.opcode === Opcode.Version && h.status === 0
    return [
      `magic=${hex(h.magic, 2)} op=${hex(h.opcode, 2)} status=${hex(h.status, 4)} keylen=${h.keyLength} extlen=${h.extrasLength}`,
      `datatype=${h.dataType} bodylen=${version ? '*' : h.bodyLength} opaque=${hex(h.opaque, 8)} cas=${this.cas(h.cas)}`,
      `extras=${p.extras.toString('hex')} key="${printable(p.key)}" value="${version ? '<version>' : printable(p.value)}"`,
    ].join(' ')
  }

  /** Framing checks for a stat listing; the names go to a separate list. */
  private statListing(packets: ResponsePacket[], sent: Buffer[]): {lines: string[]; names: string[]} {
    const opaque = sent[sent.length - 1]!.readUInt32BE(12)
    const lines: string[] = []
    const names: string[] = []
    packets.forEach((p, i) => {
      const h = p.header
      const last = i === packets.length - 1
      const framing = h.magic === 0x81 && h.opcode === Opcode.Stat && h.status === 0 && h.extrasLength === 0 && h.dataType === 0 && h.cas === 0n && h.opaque === opaque
      if (!framing) lines.push(`bad stat packet ${i}: ${this.format(p)}`)
      if (last) {
        lines.push(h.bodyLength === 0 && h.keyLength === 0 ? 'terminator' : `last packet is not a terminator: ${this.format(p)}`)
      } else if (h.keyLength === 0) {
        lines.push(`stat packet ${i} has no name`)
      } else {
        names.push(p.key.toString('latin1'))
      }
    })
    return {lines, names}
  }
}

const REPLICATION_STAT = /^(replication|repcached_|repl_|limits_)/

/** Missing names if `sub` is not an ordered subsequence of `full`, else []. */
function notSubsequence(sub: string[], full: string[]): string[] {
  let j = 0
  const bad: string[] = []
  for (const name of sub) {
    while (j < full.length && full[j] !== name) j++
    if (j === full.length) bad.push(name)
    else j++
  }
  return bad
}

export type Scenario = (t: BinaryTranscript) => Promise<void>

/** Run a scenario against both servers and require equal transcripts. */
export async function differential(ports: {memcached: number; ours: number}, scenario: Scenario): Promise<Entry[]> {
  const theirs = new BinaryTranscript(ports.memcached)
  const ours = new BinaryTranscript(ports.ours)
  try {
    await Promise.all([scenario(theirs), scenario(ours)])
  } finally {
    theirs.close()
    ours.close()
  }
  const strip = (es: Entry[]): {step: string; lines: string[]}[] => es.map((e) => ({step: e.step, lines: e.lines}))
  assert.deepEqual(strip(ours.entries), strip(theirs.entries))
  ours.entries.forEach((e, i) => {
    const full = theirs.entries[i]!.statNames
    if (e.statNames === undefined || full === undefined) return
    assert.ok(e.statNames.length > 0 || full.length === 0, `${e.step}: we sent no stats, memcached sent ${full.length}`)
    // Replication lines are ours on purpose (repcached adds them after evicted_unfetched), and so are the limits_ counters.
    const ours = e.statNames.filter((n) => !REPLICATION_STAT.test(n))
    assert.deepEqual(notSubsequence(ours, full), [], `${e.step}: stat names memcached does not send (in this order)`)
  })
  return theirs.entries
}

// Request builders, so that scenarios read like the protocol.

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}

export type RequestParts = Omit<PacketParts, 'opcode'> & {keyLength?: number; extrasLength?: number; bodyLength?: number; magic?: number; dataType?: number; vbucket?: number}

export function frame(opcode: number, parts: RequestParts = {}): Buffer {
  return encodeRequest({...parts, opcode})
}

export function setFrame(opcode: number, key: string, value: string | Buffer, opts: {flags?: number; exptime?: number; cas?: bigint; opaque?: number} = {}): Buffer {
  return frame(opcode, {key, value, extras: Buffer.concat([u32(opts.flags ?? 0), u32(opts.exptime ?? 0)]), cas: opts.cas, opaque: opts.opaque})
}

export function deltaFrame(opcode: number, key: string, delta: bigint, initial: bigint, exptime: number, opts: {cas?: bigint; opaque?: number} = {}): Buffer {
  return frame(opcode, {key, extras: Buffer.concat([u64(delta), u64(initial), u32(exptime)]), cas: opts.cas, opaque: opts.opaque})
}

export function keyFrame(opcode: number, key: string, opts: {cas?: bigint; opaque?: number} = {}): Buffer {
  return frame(opcode, {key, cas: opts.cas, opaque: opts.opaque})
}

export function touchFrame(opcode: number, key: string, exptime: number, opaque?: number): Buffer {
  return frame(opcode, {key, extras: u32(exptime), opaque})
}

export {HEADER_LENGTH, Opcode}
