// A client of a router (nutcracker speaks memcached's text protocol only, so
// no memjs here): workers that each own a disjoint set of keys and, over and
// over, set a key and read it back through the router, recording every
// request with its time and the pair the ring sends the key to. The ledger
// says which values a key may hold afterwards, and every read that came back
// with a value the client had already overwritten (stale) or with nothing.

import {connect, type Socket} from 'node:net'
import {sleep} from './wait.js'

export interface RouterRequest {
  op: 'set' | 'get'
  key: string
  pair: string
  start: number
  end: number
  ok: boolean
  reply: string
}

export interface BadRead {
  at: number
  key: string
  pair: string
  /** What the router answered: a value, or null for a miss. */
  got: string | null
  /** The values the key could hold then (its last acknowledged write, and later ones whose outcome is unknown). */
  allowed: string[]
}

type Reply = {ok: true; text: string} | {ok: false; text: string}

/** One connection, one request at a time: a set's reply is one line, a get's ends at END (or is one error line). */
export class TextConn {
  private buf = Buffer.alloc(0)
  private waiter: {get: boolean; done: (r: Reply) => void} | undefined
  private dead = false

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true)
    socket.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.check() })
    const fail = (): void => { this.dead = true; this.settle({ok: false, text: 'connection lost'}) }
    socket.on('error', fail)
    socket.on('close', fail)
  }

  static open(host: string, port: number, timeoutMs: number): Promise<TextConn | undefined> {
    return new Promise((resolve) => {
      const s = connect({host, port})
      const t = setTimeout(() => { s.destroy(); resolve(undefined) }, timeoutMs)
      s.once('connect', () => { clearTimeout(t); resolve(new TextConn(s)) })
      s.once('error', () => { clearTimeout(t); s.destroy(); resolve(undefined) })
    })
  }

  get alive(): boolean { return !this.dead }

  private check(): void {
    const w = this.waiter
    if (w === undefined) return
    const eol = this.buf.indexOf('\r\n')
    if (eol < 0) return
    const first = this.buf.subarray(0, eol).toString('latin1')
    let end = eol + 2
    if (w.get && first.startsWith('VALUE ')) {
      const size = Number(/^VALUE \S+ \d+ (\d+)/.exec(first)?.[1] ?? NaN)
      end = eol + 2 + size + 2 + 'END\r\n'.length
      if (!Number.isFinite(size) || this.buf.length < end) return
    }
    const text = this.buf.subarray(0, end).toString('latin1')
    this.buf = this.buf.subarray(end)
    this.settle({ok: true, text})
  }

  private settle(r: Reply): void {
    const w = this.waiter
    this.waiter = undefined
    w?.done(r)
  }

  request(text: string, get: boolean, timeoutMs: number): Promise<Reply> {
    if (this.dead) return Promise.resolve({ok: false, text: 'connection lost'})
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.destroy(); this.settle({ok: false, text: 'timeout'}) }, timeoutMs)
      this.waiter = {get, done: (r) => { clearTimeout(t); resolve(r) }}
      this.socket.write(text)
      this.check()
    })
  }

  destroy(): void {
    this.dead = true
    this.socket.destroy()
  }
}

/** The value in a get's reply, null for a miss, undefined for anything else (an error line). */
export function valueOf(key: string, reply: string): string | null | undefined {
  if (reply === 'END\r\n') return null
  const m = /^VALUE (\S+) \d+ (\d+)\r\n/.exec(reply)
  if (m === null || m[1] !== key) return undefined
  return reply.slice(m[0].length, m[0].length + Number(m[2]))
}

export interface RouterLoadOptions {
  host: string
  port: number
  /** Key sets, one per worker (disjoint: a key has one writer, so its last acknowledged write is well defined). */
  keysPerWorker: string[][]
  /** The pair each key belongs to (the ring's pairFor). */
  pairOf: (key: string) => string
  prefix: string
  requestTimeoutMs?: number
}

export class RouterLoad {
  readonly requests: RouterRequest[] = []
  /** Reads that gave a value other than the allowed ones (stale or foreign). */
  readonly staleReads: BadRead[] = []
  /** Reads that gave nothing for a key with an acknowledged write. */
  readonly misses: BadRead[] = []
  private readonly acked = new Map<string, string>()
  private readonly unsure = new Map<string, Set<string>>()
  private running = false
  private loops: Promise<void>[] = []
  private seq = 0

  constructor(private readonly o: RouterLoadOptions) {}

  start(): this {
    this.running = true
    this.loops = this.o.keysPerWorker.map((keys) => this.worker(keys))
    return this
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
  }

  /** The values `key` may hold now. */
  allowed(key: string): string[] {
    const out = new Set(this.unsure.get(key) ?? [])
    const last = this.acked.get(key)
    if (last !== undefined) out.add(last)
    return [...out]
  }

  /** Keys with an acknowledged write. */
  ackedKeys(): string[] {
    return [...this.acked.keys()]
  }

  /** Successful requests of one kind (on one pair's keys). */
  succeeded(op: 'set' | 'get', pair?: string): number {
    return this.requests.filter((r) => r.op === op && r.ok && (pair === undefined || r.pair === pair)).length
  }

  private async worker(keys: string[]): Promise<void> {
    const timeout = this.o.requestTimeoutMs ?? 2000
    let conn: TextConn | undefined
    let i = 0
    while (this.running) {
      if (conn === undefined || !conn.alive) {
        conn = await TextConn.open(this.o.host, this.o.port, timeout)
        if (conn === undefined) { await sleep(10); continue }
      }
      const key = keys[i++ % keys.length]!
      const pair = this.o.pairOf(key)
      const value = `${this.o.prefix}-${++this.seq}`
      let start = Date.now()
      const set = await conn.request(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`, false, timeout)
      const stored = set.ok && set.text === 'STORED\r\n'
      this.requests.push({op: 'set', key, pair, start, end: Date.now(), ok: stored, reply: set.text.trim()})
      if (stored) {
        this.acked.set(key, value)
        this.unsure.delete(key)
      } else {
        // Unknown outcome: the router may have forwarded it before failing.
        const maybe = this.unsure.get(key) ?? new Set<string>()
        this.unsure.set(key, maybe.add(value))
        continue
      }
      start = Date.now()
      const get = await conn.request(`get ${key}\r\n`, true, timeout)
      const got = get.ok ? valueOf(key, get.text) : undefined
      this.requests.push({op: 'get', key, pair, start, end: Date.now(), ok: got !== undefined, reply: get.text.slice(0, 80).trim()})
      if (got === undefined) continue
      const allowed = this.allowed(key)
      if (got === null) this.misses.push({at: start, key, pair, got, allowed})
      else if (!allowed.includes(got)) this.staleReads.push({at: start, key, pair, got, allowed})
    }
    conn?.destroy()
  }
}

/**
 * For the requests on `pair`'s keys that started at or after `since`: the
 * client-visible outage, from the start of the first failed request to the
 * end of the first successful one after it (null when none failed, or none
 * succeeded after), when that was, and how many failed.
 */
export function outage(requests: readonly RouterRequest[], pair: string, since: number): {ms: number | null; servedAgainAt: number | null; failed: number; firstFailure: string | null} {
  const mine = requests.filter((r) => r.pair === pair && r.start >= since).sort((a, b) => a.start - b.start)
  const firstFail = mine.find((r) => !r.ok)
  const failed = mine.filter((r) => !r.ok).length
  if (firstFail === undefined) return {ms: null, servedAgainAt: null, failed, firstFailure: null}
  const recovered = mine.find((r) => r.ok && r.start > firstFail.start)
  return {ms: recovered === undefined ? null : recovered.end - firstFail.start, servedAgainAt: recovered?.end ?? null, failed, firstFailure: firstFail.reply}
}
