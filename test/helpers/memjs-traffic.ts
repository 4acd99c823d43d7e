// Client traffic through one memjs client: workers that each write a key and
// read it back, over and over, recording what every request gave. The ledger
// tells which values a key may hold afterwards and which reads came back stale.

import type memjs from 'memjs'

export interface Outcome {
  op: 'set' | 'get'
  key: string
  /** Index in the client's server list that memjs hashes this key to (its "home" node). */
  home: number
  start: number
  end: number
  ok: boolean
  error?: string
}

export interface StaleRead {
  at: number
  key: string
  home: number
  got: string | null
  wanted: string
}

/** Reject after `ms` (memjs may never answer a request whose connection closed under it). */
function guarded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms) })
  return Promise.race([p, guard]).finally(() => clearTimeout(timer))
}

export class Traffic {
  readonly outcomes: Outcome[] = []
  readonly staleReads: StaleRead[] = []
  /** Last acknowledged value per key. */
  private readonly acked = new Map<string, string>()
  /** Values sent after the last acknowledgement whose answer never came: they may have landed. */
  private readonly unsure = new Map<string, Set<string>>()
  private running = false
  private loops: Promise<void>[] = []

  constructor(
    private readonly client: memjs.Client,
    private readonly workers: number,
    private readonly keysPerWorker: number,
    private readonly prefix: string,
    private readonly guardMs = 5000,
  ) {}

  homeOf(key: string): number {
    // memjs's own routing (hash of the key modulo the number of servers); typed as string by @types/memjs.
    return Number(this.client.getServer(key))
  }

  keys(): string[] {
    const out: string[] = []
    for (let w = 0; w < this.workers; w++) for (let i = 0; i < this.keysPerWorker; i++) out.push(`${this.prefix}:w${w}:${i}`)
    return out
  }

  start(): void {
    this.running = true
    this.loops = Array.from({length: this.workers}, (_, w) => this.worker(w))
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
  }

  /** The values `key` may hold now: its last acknowledged one, or one sent later whose outcome is unknown. */
  allowed(key: string): Set<string> {
    const out = new Set(this.unsure.get(key) ?? [])
    const last = this.acked.get(key)
    if (last !== undefined) out.add(last)
    return out
  }

  get acknowledgedWrites(): number {
    return this.outcomes.filter((o) => o.op === 'set' && o.ok).length
  }

  private async worker(w: number): Promise<void> {
    let seq = 0
    while (this.running) {
      const key = `${this.prefix}:w${w}:${seq % this.keysPerWorker}`
      const value = `w${w}-${seq++}`
      const home = this.homeOf(key)
      const setStart = Date.now()
      try {
        await guarded(this.client.set(key, value), this.guardMs)
        this.acked.set(key, value)
        this.unsure.delete(key)
        this.outcomes.push({op: 'set', key, home, start: setStart, end: Date.now(), ok: true})
      } catch (e) {
        const maybe = this.unsure.get(key) ?? new Set<string>()
        maybe.add(value)
        this.unsure.set(key, maybe)
        this.outcomes.push({op: 'set', key, home, start: setStart, end: Date.now(), ok: false, error: (e as Error).message})
        continue
      }
      const getStart = Date.now()
      try {
        const {value: got} = await guarded(this.client.get(key), this.guardMs)
        const text = got === null ? null : got.toString('latin1')
        this.outcomes.push({op: 'get', key, home, start: getStart, end: Date.now(), ok: true})
        if (text !== value) this.staleReads.push({at: getStart, key, home, got: text, wanted: value})
      } catch (e) {
        this.outcomes.push({op: 'get', key, home, start: getStart, end: Date.now(), ok: false, error: (e as Error).message})
      }
    }
  }
}
