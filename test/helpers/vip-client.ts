// A client of a pair's virtual IP, for measuring what an application sees
// while the VIP moves: it keeps writing and reading through VIP:port, keeps a
// ledger of every acknowledged write, and remembers when requests failed.
//
// It behaves as a real memcached client does: one persistent connection,
// reused for every request; on any error (refused, reset, timeout) it drops
// the connection and connects again, and keeps trying. Its connect and request
// timeouts are short (200 ms by default) on purpose: with a typical client's
// 1-5 s timeout the measurement would be the client's timeout, not the time the
// VIP takes to move. What it measures is therefore a lower bound of what an
// application with longer timeouts sees, and the right figure to judge the VIP.
//
// Writes cycle over a fixed set of keys (`prefix` + i), each a new value, so
// an overwrite lost in a failover shows as an old value coming back. A write
// whose outcome is unknown (error or timeout after sending it) retires its key:
// it is never written again, and either its last acknowledged value or the
// unknown one is accepted at the end. After each write it reads back another
// key, one written half a cycle earlier, and counts any read that disagrees
// with the ledger (a stale read through the VIP).
//
// The arithmetic (outage after a fault, failures in a window, which
// acknowledged writes are missing) is the pure class ClientLedger, unit-tested
// on its own; VipClient only feeds it from the network. The loop is bounded
// in requests and time and stops by itself.

import {Conn, readKeys, type Endpoint} from './load.js'

/** The clock of the ledger and the client: monotonic milliseconds. Take fault times from it too. */
export const clock = (): number => performance.now()

export interface RequestRecord {
  kind: 'write' | 'read' | 'connect'
  /** When it was sent (for connect: when the connection attempt began). */
  start: number
  end: number
  ok: boolean
}

export interface MissingWrite {
  key: string
  expected: string
  /** What the server held: null when the key was absent. */
  found: string | null
  /** When the expected value was acknowledged (clock()). */
  ackedAt: number
}

export interface Outage {
  /** From the fault to the end of the first successful request sent at or after it. */
  ms: number
  /** Failed requests (connects included) sent between the fault and that success. */
  failures: number
}

/** What the client was told and when; no I/O. */
export class ClientLedger {
  private readonly acked = new Map<string, {value: string; at: number}>()
  private readonly unknown = new Map<string, string>()
  private readonly requests: RequestRecord[] = []
  staleReads = 0

  /** Every request's outcome, in the order sent. */
  get history(): readonly RequestRecord[] { return this.requests }

  get ackCount(): number { return this.requests.filter((r) => r.kind === 'write' && r.ok).length }
  get failureCount(): number { return this.requests.filter((r) => !r.ok).length }

  /** A `set` answered STORED. */
  writeAcked(key: string, value: string, start: number, end: number): void {
    this.acked.set(key, {value, at: end})
    this.requests.push({kind: 'write', start, end, ok: true})
  }

  /** A `set` with no answer (or a wrong one): the server may or may not have applied it. The key is retired. */
  writeUnknown(key: string, value: string, start: number, end: number): void {
    this.unknown.set(key, value)
    this.requests.push({kind: 'write', start, end, ok: false})
  }

  /** A `get` answered: `found` is null when the key was absent. */
  readAnswered(key: string, found: string | null, start: number, end: number): void {
    if (!this.unknown.has(key) && this.acked.has(key) && this.acked.get(key)!.value !== found) this.staleReads++
    this.requests.push({kind: 'read', start, end, ok: true})
  }

  /** A request that failed without touching the ledger: a read, or a connection that could not be made. */
  failed(kind: 'read' | 'connect', start: number, end: number): void {
    this.requests.push({kind, start, end, ok: false})
  }

  isRetired(key: string): boolean { return this.unknown.has(key) }

  lastAcked(key: string): string | undefined { return this.acked.get(key)?.value }

  /** Every key written (acknowledged or not). */
  keys(): string[] { return [...new Set([...this.acked.keys(), ...this.unknown.keys()])] }

  /**
   * The client-visible outage after a fault at `t`: the time to the first
   * successful request sent at or after `t`. Undefined when none succeeded
   * (yet). A request sent before the fault does not count even when it
   * completed after it: it says nothing about the path after the fault.
   */
  outageAfter(t: number): Outage | undefined {
    let failures = 0
    for (const r of this.requests) {
      if (r.start < t) continue
      if (!r.ok) { failures++; continue }
      return {ms: r.end - t, failures}
    }
    return undefined
  }

  /**
   * The interruption a fault at `t` caused, as the client saw it: from the end
   * of the last request that succeeded before `t` to the end of the first one
   * sent at or after `t` that succeeded. Longer than outageAfter by the time
   * since the last success (at most one request's round trip and pause when
   * the client was busy). Undefined when nothing succeeded on either side.
   */
  gapAround(t: number): {ms: number; lastOk: number; okAgain: number; failures: number} | undefined {
    const before = this.requests.filter((r) => r.ok && r.end <= t).at(-1)
    const after = this.outageAfter(t)
    if (before === undefined || after === undefined) return undefined
    return {ms: t + after.ms - before.end, lastOk: before.end, okAgain: t + after.ms, failures: after.failures}
  }

  /**
   * The longest stretch within [from, to] in which no request succeeded: the
   * client-visible interruption of a planned switchover, whose start (the
   * command) and moment of the move are not the same.
   */
  longestGap(from: number, to: number): number {
    const ends = this.requests.filter((r) => r.ok && r.end > from && r.end < to).map((r) => r.end).sort((a, b) => a - b)
    const points = [from, ...ends, to]
    let gap = 0
    for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i]! - points[i - 1]!)
    return gap
  }

  /** Failed requests (connects included) sent in [from, to). */
  failuresBetween(from: number, to: number): number {
    return this.requests.filter((r) => !r.ok && r.start >= from && r.start < to).length
  }

  /**
   * The acknowledged writes a server does not hold: `found` is what it holds
   * for keys() (absent keys null or missing from the map). A retired key may
   * hold its last acknowledged value, the unknown one, or, if it was never
   * acknowledged, nothing.
   */
  missingAcknowledged(found: ReadonlyMap<string, string | null>): MissingWrite[] {
    const out: MissingWrite[] = []
    for (const [key, {value, at}] of this.acked) {
      const got = found.get(key) ?? null
      if (got === value || this.unknown.get(key) === got) continue
      out.push({key, expected: value, found: got, ackedAt: at})
    }
    return out
  }
}

export interface VipClientOptions {
  /** The VIP (or any address) and the node port behind it. */
  endpoint: Endpoint
  /** Key prefix; keys are `${prefix}${i}` for i < keys, unless `keyList` names them. Values start with it too. */
  prefix: string
  keys?: number
  /** The keys to cycle over instead (e.g. only keys a router sends to one pair); `keys` is then its length. */
  keyList?: readonly string[]
  /** Connect timeout and request timeout; see the top of the file for why short. Default 200 ms. */
  timeoutMs?: number
  /** Pause between one write+read and the next; default 5 ms (about 150 writes/s: the outage resolution). */
  pauseMs?: number
  /** Pause after a failed request or connect before the next attempt (a refused connect, or a router's SERVER_ERROR, returns at once). Default 10 ms. */
  retryMs?: number
  /** The loop stops by itself after this many requests (sets, gets and failed connects), or this long. Defaults 200 000 and 180 s. */
  maxRequests?: number
  maxDurationMs?: number
}

/** The loop of a VIP client; results in `ledger`. */
export class VipClient {
  readonly ledger = new ClientLedger()
  private conn: Conn | undefined
  private stopped = false
  private running: Promise<void> | undefined
  private seq = 0
  private next = 0
  private readonly o: Required<Omit<VipClientOptions, 'keyList'>>
  private readonly keyNames: readonly string[]

  constructor(opts: VipClientOptions) {
    this.o = {keys: 1000, timeoutMs: 200, pauseMs: 5, retryMs: 10, maxRequests: 200_000, maxDurationMs: 180_000, ...opts}
    if (opts.keyList !== undefined) {
      if (opts.keyList.length < 2) throw new Error('VipClient: keyList needs at least 2 keys (one is written while another is read back)')
      this.o.keys = opts.keyList.length
    }
    this.keyNames = opts.keyList ?? Array.from({length: this.o.keys}, (_, i) => `${this.o.prefix}${i}`)
  }

  start(): this {
    this.running = this.loop()
    return this
  }

  get done(): boolean { return this.stopped }

  /** Stop; resolves when the request in flight has settled. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.running
    this.conn?.destroy()
    this.conn = undefined
  }

  /** Wait until `n` more writes have been acknowledged (or `ms` passed): returns whether they were. */
  async acknowledged(n: number, ms: number): Promise<boolean> {
    const target = this.ledger.ackCount + n
    const end = Date.now() + ms
    while (this.ledger.ackCount < target) {
      if (Date.now() > end || this.stopped) return false
      await sleep(10)
    }
    return true
  }

  /** What `ep` holds for every key written, and the acknowledged writes missing there. */
  async missingOn(ep: Endpoint): Promise<MissingWrite[]> {
    return this.ledger.missingAcknowledged(await readKeys(ep, this.ledger.keys()))
  }

  private nextKey(): string | undefined {
    for (let tries = 0; tries < this.o.keys; tries++) {
      const k = this.keyNames[this.next]!
      this.next = (this.next + 1) % this.o.keys
      if (!this.ledger.isRetired(k)) return k
    }
    return undefined
  }

  private async connection(): Promise<Conn | undefined> {
    if (this.conn?.alive === true) return this.conn
    this.conn?.destroy()
    const start = clock()
    this.conn = await Conn.open(this.o.endpoint, this.o.timeoutMs)
    if (this.conn === undefined) this.ledger.failed('connect', start, clock())
    return this.conn
  }

  private async loop(): Promise<void> {
    const deadline = Date.now() + this.o.maxDurationMs
    let requests = 0
    while (!this.stopped && requests < this.o.maxRequests && Date.now() < deadline) {
      const conn = await this.connection()
      if (conn === undefined) { requests++; await sleep(this.o.retryMs); continue }
      const key = this.nextKey()
      if (key === undefined) break
      this.seq++
      const value = `${this.o.prefix}v${this.seq}`
      let start = clock()
      const w = await conn.request(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`, this.o.timeoutMs)
      requests++
      if (w.ok && w.reply === 'STORED') {
        this.ledger.writeAcked(key, value, start, clock())
      } else {
        this.ledger.writeUnknown(key, value, start, clock())
        conn.destroy()
        // A router answers a write it cannot forward at once (SERVER_ERROR): without a pause the
        // loop would retire a key per round trip and run out of keys within the outage.
        await sleep(this.o.retryMs)
        continue
      }
      // Read back a key written half a cycle ago.
      const other = this.keyNames[(this.next + this.o.keys / 2) % this.o.keys | 0]!
      start = clock()
      const r = await conn.request(`get ${other}\r\n`, this.o.timeoutMs, true)
      requests++
      if (r.ok && r.reply.endsWith('END\r\n')) {
        const m = /^VALUE \S+ \d+ (\d+)\r\n/.exec(r.reply)
        this.ledger.readAnswered(other, m === null ? null : r.reply.slice(m[0].length, m[0].length + Number(m[1])), start, clock())
      } else {
        this.ledger.failed('read', start, clock())
        conn.destroy()
        await sleep(this.o.retryMs)
        continue
      }
      await sleep(this.o.pauseMs)
    }
    this.stopped = true
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
