// memcached's `watch`: a connection that asks for log streams gets `OK`
// and from then on one line per event of those streams, as memcached 1.6.18
// prints them. A watcher that does not read its lines gets at most
// WATCHER_BUFFER bytes queued; the lines that do not fit are dropped and
// counted, and the next line that fits is preceded by `skipped=N`.

import type {ServerContext} from '../context.js'
import type {AdminControl, AdminResult, OutputStream} from './lru-crawler.js'
import type {ReplyBuffer} from './reply-buffer.js'

/** memcached's LOG_* stream bits. */
export const LogStream = {
  sysevents: 1 << 1,
  fetchers: 1 << 2,
  mutations: 1 << 3,
  connevents: 1 << 5,
  evictions: 1 << 6,
  rawcmds: 1 << 9,
  proxyreqs: 1 << 10,
  proxyevents: 1 << 11,
  proxyuser: 1 << 12,
} as const

/** memcached's WATCHER_LIMIT. */
const WATCHER_LIMIT = 20
/** memcached's logger_watcher_buf_size: what a watcher may have queued and unsent. */
const WATCHER_BUFFER = 256 * 1024

/** The log of one server: its watchers, the entry counter, the stats. */
export class EventLog {
  /** The streams some watcher wants (0: nothing is logged, the hot paths skip the formatting). */
  wanted = 0
  private gid = 0
  private readonly watchers = new Set<Watcher>()
  sent = 0
  skipped = 0
  written = 0

  get watcherCount(): number { return this.watchers.size }

  /** An entry of `stream`; `text` is the line after `ts=… gid=… `, newline included. */
  log(stream: number, text: string): void {
    if ((this.wanted & stream) === 0) return
    const gid = ++this.gid
    this.written++
    const t = Date.now() * 1000 + Math.floor((performance.now() % 1) * 1000)
    // memcached prints the microseconds without padding (%d).
    const head = `ts=${Math.floor(t / 1e6)}.${t % 1e6} gid=${gid} `
    for (const w of this.watchers) {
      if ((w.streams & stream) === 0 || gid < w.firstGid) continue
      w.offer(head + text, this)
    }
  }

  add(w: Watcher): boolean {
    if (this.watchers.size >= WATCHER_LIMIT) return false
    w.firstGid = this.gid + 1
    this.watchers.add(w)
    this.wanted |= w.streams
    return true
  }

  remove(w: Watcher): void {
    if (!this.watchers.delete(w)) return
    this.wanted = 0
    for (const x of this.watchers) this.wanted |= x.streams
  }
}

const logs = new WeakMap<object, EventLog>()

/** The server's event log (one per store, like the crawler). */
export function eventLog(ctx: ServerContext): EventLog {
  let l = logs.get(ctx.store)
  if (l === undefined) {
    l = new EventLog()
    logs.set(ctx.store, l)
  }
  return l
}

class Watcher implements OutputStream {
  readonly keepsInput = false
  firstGid = 0
  private queue: string[] = ['OK\r\n']
  private queued = 4
  private skipped = 0
  private closed = false

  constructor(readonly streams: number, private readonly log: EventLog, private readonly wake: () => void) {}

  offer(line: string, log: EventLog): void {
    const skipLine = this.skipped > 0 ? `skipped=${this.skipped}\n` : ''
    if (this.queued + skipLine.length + line.length > WATCHER_BUFFER) {
      this.skipped++
      log.skipped++
      return
    }
    if (skipLine !== '') {
      this.queue.push(skipLine)
      this.queued += skipLine.length
      this.skipped = 0
    }
    this.queue.push(line)
    this.queued += line.length
    log.sent++
    if (this.queue.length === 1 || skipLine !== '') this.wake()
  }

  fill(out: ReplyBuffer): 'open' | 'done' {
    if (this.closed) return 'done'
    for (const line of this.queue) out.text(line)
    this.queue = []
    this.queued = 0
    return 'open'
  }

  close(): void {
    this.closed = true
    this.log.remove(this)
  }
}

/** `watch [stream …]` (fetchers when none is named). */
export function watchCommand(tokens: string[], ntokens: number, ctx: ServerContext, ctl: AdminControl): AdminResult {
  if (ctl.stacked) return {reply: 'ERROR cannot pipeline other commands before watch\r\n'}
  let streams = 0
  if (ntokens > 2) {
    for (let i = 1; i < ntokens - 1; i++) {
      const name = tokens[i]!
      if (!Object.hasOwn(LogStream, name)) return {reply: 'ERROR\r\n'}
      streams |= LogStream[name as keyof typeof LogStream]
    }
  } else {
    streams = LogStream.fetchers
  }
  const log = eventLog(ctx)
  const w = new Watcher(streams, log, ctl.wake)
  if (!log.add(w)) return {reply: 'WATCHER_TOO_MANY log watcher limit reached\r\n'}
  return {reply: '', stream: w}
}
