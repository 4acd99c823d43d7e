// Write load for fault-injection tests: clients that keep setting and
// deleting keys while nodes die, freeze or lose their network, and a ledger
// of what each server acknowledged, so a test can say exactly which
// acknowledged writes a node lost and whether any value went stale.
//
// A request that fails or times out has an unknown outcome: its key is
// retired (never written again) and both the last acknowledged state and the
// unknown one are acceptable for it afterwards. Every other key must end in
// its last acknowledged state.

import {connect, type Socket} from 'node:net'

export interface Endpoint { host: string; port: number }

/** What a key should hold: a value, or nothing (deleted). */
export type KeyState = string | null

interface Outcome { ok: boolean; reply: string }

/** One text-protocol connection, one request at a time, with a timeout (also the VIP client's, test/helpers/vip-client.ts). */
export class Conn {
  private buf = ''
  private waiter: {done: (o: Outcome) => void; multi: boolean} | undefined
  private dead = false

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true)
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1')
      const w = this.waiter
      if (w === undefined) return
      // A one-line reply ends at its first CRLF; a multiget's at END.
      const end = w.multi ? (this.buf.endsWith('END\r\n') ? this.buf.length : -1) : this.buf.indexOf('\r\n')
      if (end < 0) return
      const reply = w.multi ? this.buf : this.buf.slice(0, end)
      this.buf = w.multi ? '' : this.buf.slice(end + 2)
      this.settle({ok: true, reply})
    })
    const fail = (): void => { this.dead = true; this.settle({ok: false, reply: 'connection lost'}) }
    socket.on('error', fail)
    socket.on('close', fail)
  }

  static open(ep: Endpoint, timeoutMs: number): Promise<Conn | undefined> {
    return new Promise((resolve) => {
      const s = connect({host: ep.host, port: ep.port})
      const t = setTimeout(() => { s.destroy(); resolve(undefined) }, timeoutMs)
      s.once('connect', () => { clearTimeout(t); resolve(new Conn(s)) })
      s.once('error', () => { clearTimeout(t); s.destroy(); resolve(undefined) })
    })
  }

  get alive(): boolean { return !this.dead }

  private settle(o: Outcome): void {
    const w = this.waiter
    this.waiter = undefined
    w?.done(o)
  }

  request(text: string, timeoutMs: number, multi = false): Promise<Outcome> {
    if (this.dead) return Promise.resolve({ok: false, reply: 'connection lost'})
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.destroy(); this.settle({ok: false, reply: 'timeout'}) }, timeoutMs)
      this.waiter = {done: (o) => { clearTimeout(t); resolve(o) }, multi}
      this.socket.write(text)
    })
  }

  destroy(): void {
    this.dead = true
    this.socket.destroy()
  }
}

export interface WriterOptions {
  /** Where to write, in order of preference: on failure the writer moves to the next (round robin). */
  targets: Endpoint[]
  /** Key prefix; keys are `${prefix}${i}` for i < keys. */
  prefix: string
  keys: number
  /** One write in `deleteEvery` is a delete (0: never). */
  deleteEvery?: number
  requestTimeoutMs?: number
}

export class Writer {
  /** Last acknowledged state of every key ever acknowledged. */
  readonly acked = new Map<string, KeyState>()
  /** Retired keys: the states they may also be in (a request with unknown outcome). */
  readonly uncertain = new Map<string, KeyState>()
  /** Every acknowledgement, with the time it was received (for "lost since" questions). */
  readonly ackTimes = new Map<string, number>()
  ackCount = 0
  failures = 0
  /** The longest time without an acknowledgement while running: what a client saw as a stall. */
  longestGapMs = 0
  private lastAck = 0
  private seq = 0
  private next = 0
  private target = 0
  private stopped = false
  private running: Promise<void> | undefined
  private conn: Conn | undefined

  constructor(private readonly o: WriterOptions) {}

  start(): this {
    this.lastAck = Date.now()
    this.running = this.loop()
    return this
  }

  /** Stop writing; resolves once the request in flight has settled. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.running
    this.conn?.destroy()
  }

  /** Keys that must hold exactly their acknowledged state. */
  certain(): Map<string, KeyState> {
    return new Map([...this.acked].filter(([k]) => !this.uncertain.has(k)))
  }

  private nextKey(): string | undefined {
    for (let tries = 0; tries < this.o.keys; tries++) {
      const k = `${this.o.prefix}${this.next}`
      this.next = (this.next + 1) % this.o.keys
      if (!this.uncertain.has(k)) return k
    }
    return undefined
  }

  private async loop(): Promise<void> {
    const timeout = this.o.requestTimeoutMs ?? 1000
    while (!this.stopped) {
      if (this.conn === undefined || !this.conn.alive) {
        this.conn = await Conn.open(this.o.targets[this.target]!, timeout)
        if (this.conn === undefined) { this.moveOn(); await sleep(50); continue }
      }
      const key = this.nextKey()
      if (key === undefined) return
      this.seq++
      const del = this.o.deleteEvery !== undefined && this.o.deleteEvery > 0 && this.seq % this.o.deleteEvery === 0 && this.acked.get(key) != null
      const value = `${this.o.prefix}v${this.seq}`
      const state: KeyState = del ? null : value
      const r = await this.conn.request(del ? `delete ${key}\r\n` : `set ${key} 0 0 ${value.length}\r\n${value}\r\n`, timeout)
      if (r.ok && (r.reply === 'STORED' || r.reply === 'DELETED')) {
        this.acked.set(key, state)
        const t = Date.now()
        this.ackTimes.set(key, t)
        this.longestGapMs = Math.max(this.longestGapMs, t - this.lastAck)
        this.lastAck = t
        this.ackCount++
      } else {
        // Unknown outcome: the server may or may not have applied it.
        this.failures++
        this.uncertain.set(key, state)
        this.conn.destroy()
        this.moveOn()
      }
    }
  }

  private moveOn(): void {
    this.target = (this.target + 1) % this.o.targets.length
  }
}

/**
 * Read load: one client getting keys over and over from the first target that
 * answers (the next one on failure), timing the longest stretch without an answer.
 */
export class Reader {
  okCount = 0
  failures = 0
  longestGapMs = 0
  private stopped = false
  private running: Promise<void> | undefined
  private conn: Conn | undefined
  private target = 0

  constructor(private readonly targets: Endpoint[], private readonly keys: string[], private readonly timeoutMs = 1000) {}

  start(): this {
    this.running = this.loop()
    return this
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.running
    this.conn?.destroy()
  }

  private async loop(): Promise<void> {
    let last = Date.now()
    let i = 0
    while (!this.stopped) {
      if (this.conn === undefined || !this.conn.alive) {
        this.conn = await Conn.open(this.targets[this.target]!, this.timeoutMs)
        if (this.conn === undefined) { this.target = (this.target + 1) % this.targets.length; await sleep(50); continue }
      }
      const r = await this.conn.request(`get ${this.keys[i++ % this.keys.length]!}\r\n`, this.timeoutMs, true)
      if (r.ok) {
        const t = Date.now()
        this.longestGapMs = Math.max(this.longestGapMs, t - last)
        last = t
        this.okCount++
      } else {
        this.failures++
        this.conn.destroy()
        this.target = (this.target + 1) % this.targets.length
      }
    }
  }
}

/** The state of many keys on one server (null: absent). */
export async function readKeys(ep: Endpoint, keys: string[]): Promise<Map<string, KeyState>> {
  const conn = await Conn.open(ep, 2000)
  if (conn === undefined) throw new Error(`cannot connect to ${ep.host}:${ep.port}`)
  const out = new Map<string, KeyState>()
  try {
    for (let i = 0; i < keys.length; i += 100) {
      const batch = keys.slice(i, i + 100)
      const reply = await multiget(conn, batch)
      for (const k of batch) out.set(k, reply.get(k) ?? null)
    }
  } finally { conn.destroy() }
  return out
}

async function multiget(conn: Conn, keys: string[]): Promise<Map<string, string>> {
  const r = await conn.request(`get ${keys.join(' ')}\r\n`, 10_000, true)
  if (!r.ok) throw new Error(`multiget failed: ${r.reply}`)
  const out = new Map<string, string>()
  const re = /VALUE (\S+) \d+ (\d+)\r\n/g
  let m: RegExpExecArray | null
  while ((m = re.exec(r.reply)) !== null) {
    const len = Number(m[2])
    out.set(m[1]!, r.reply.slice(re.lastIndex, re.lastIndex + len))
    re.lastIndex += len + 2
  }
  return out
}

export interface LedgerCheck {
  /** Certain keys whose state differs from the last acknowledged one: [key, expected, found]. */
  wrong: [string, KeyState, KeyState][]
  /** Retired keys in neither acceptable state. */
  wrongUncertain: [string, KeyState, KeyState][]
  checked: number
}

/** Compare a server's keys with what the writers were told. */
export async function checkLedger(ep: Endpoint, writers: Writer[]): Promise<LedgerCheck> {
  const wrong: LedgerCheck['wrong'] = []
  const wrongUncertain: LedgerCheck['wrongUncertain'] = []
  let checked = 0
  for (const w of writers) {
    const keys = [...new Set([...w.acked.keys(), ...w.uncertain.keys()])]
    const found = await readKeys(ep, keys)
    for (const k of keys) {
      checked++
      const got = found.get(k) ?? null
      const last = w.acked.has(k) ? w.acked.get(k)! : null
      if (!w.uncertain.has(k)) { if (got !== last) wrong.push([k, last, got]); continue }
      const maybe = w.uncertain.get(k)!
      if (got !== last && got !== maybe) wrongUncertain.push([k, last, got])
    }
  }
  return {wrong, wrongUncertain, checked}
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
