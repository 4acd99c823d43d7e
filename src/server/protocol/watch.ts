// memcached's `watch`: a connection that asks for log streams gets `OK`
// and from then on one line per event of those streams, as memcached 1.6.18
// prints them. A watcher that does not read its lines gets at most
// WATCHER_BUFFER bytes queued; the lines that do not fit are dropped and
// counted, and the next line that fits is preceded by `skipped=N`.

import type {ServerContext} from '../context.js'
import type {AdminControl, AdminResult, OutputStream} from './lru-crawler.js'
import type {ReplyBuffer} from './reply-buffer.js'
import type {ItemStore, LookupResult, StoreMode, StoreOutcome} from '../store/item-store.js'
import {now, REALTIME_MAXDELTA} from '../store/clock.js'
import {itemTotalSize} from '../store/slab-classes.js'

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

/** memcached's ITEM_UPDATE_INTERVAL, part of where its clock starts. */
const ITEM_UPDATE_INTERVAL = 60
/** memcached's WATCHER_LIMIT. */
const WATCHER_LIMIT = 20
/** memcached's logger_watcher_buf_size: what a watcher may have queued and unsent. */
const WATCHER_BUFFER = 256 * 1024

/** The log of one server: its watchers, the entry counter, the stats. */
export class EventLog {
  /** The streams some watcher wants (0: nothing is logged; the hot paths test this first). */
  wanted = 0
  private gid = 0
  private readonly watchers = new Set<Watcher>()
  sent = 0
  skipped = 0
  written = 0

  /** `connection()`: the connection whose request is being handled (memcached's cfd; ours are connection numbers). */
  constructor(private readonly store: ItemStore, private readonly connection: () => number) {}

  get cfd(): number { return this.connection() }

  get watcherCount(): number { return this.watchers.size }

  /** `stats reset` (log_watchers is a gauge and stays). */
  resetCounters(): void {
    this.sent = this.skipped = this.written = 0
  }

  /** An entry of `stream`; `text` is the line after `ts=… gid=… `, newline included. */
  log(stream: number, text: string): void {
    if ((this.wanted & stream) === 0) return
    const gid = ++this.gid
    this.written++
    const us = Math.floor((performance.timeOrigin + performance.now()) * 1000)
    // memcached prints the microseconds without padding (%d).
    const head = `ts=${Math.floor(us / 1e6)}.${us % 1e6} gid=${gid} `
    for (const w of this.watchers) {
      if ((w.streams & stream) === 0 || gid < w.firstGid) continue
      w.offer(head + text, this)
    }
  }

  /** A store command's outcome (memcached's item_store line). */
  itemStore(status: string, cmd: string, key: string, ttl: number, cls: number, size: number): void {
    this.log(LogStream.mutations, `type=item_store key=${uriEncode(key)} status=${status} cmd=${cmd} ttl=${ttl >>> 0} clsid=${cls} cfd=${this.cfd} size=${size}\n`)
  }

  /** A client connection opened or closed (memcached's conn_new and conn_close lines). */
  connectionEvent(event: 'new' | 'close', id: number, address: string | undefined, port: number | undefined, reason = 'normal'): void {
    if ((this.wanted & LogStream.connevents) === 0) return
    const rip = address?.startsWith('::ffff:') === true ? address.slice(7) : address ?? 'unix'
    const tail = event === 'new' ? `transport=tcp cfd=${id}` : `transport=tcp reason=${reason} cfd=${id}`
    this.log(LogStream.connevents, `type=conn_${event} rip=${rip} rport=${port ?? 0} ${tail}\n`)
  }

  private readonly lookup = (key: string, result: LookupResult, cls: number, valueLength: number): void => {
    this.log(LogStream.fetchers, `type=item_get key=${uriEncode(key)} status=${result} clsid=${cls} cfd=${this.cfd} size=${valueLength}\n`)
  }

  private readonly eviction = (key: string, fetched: boolean, exptime: number, lastAccess: number, cls: number, valueLength: number): void => {
    const t = now()
    const ttl = exptime === 0 ? -1 : exptime - t
    this.log(LogStream.evictions, `type=eviction key=${uriEncode(key)} fetch=${fetched ? 'yes' : 'no'} ttl=${ttl} la=${t - lastAccess} clsid=${cls} size=${valueLength}\n`)
  }

  add(w: Watcher): boolean {
    if (this.watchers.size >= WATCHER_LIMIT) return false
    // memcached's watcher takes a gid of its own: the first line it gets is one past it.
    w.firstGid = ++this.gid
    this.watchers.add(w)
    this.refresh()
    return true
  }

  remove(w: Watcher): void {
    if (this.watchers.delete(w)) this.refresh()
  }

  private refresh(): void {
    this.wanted = 0
    for (const x of this.watchers) this.wanted |= x.streams
    // The store reports lookups only while someone wants them.
    this.store.onLookup = (this.wanted & LogStream.fetchers) !== 0 ? this.lookup : undefined
    this.store.onEvict = (this.wanted & LogStream.evictions) !== 0 ? this.eviction : undefined
  }
}

/** memcached's uriencode of a key (latin1 string: one byte per character). */
export function uriEncode(key: string): string {
  return /^[A-Za-z0-9._~-]*$/.test(key) ? key : key.replace(/[^A-Za-z0-9._~-]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'))
}

/** `watch mutations`: a store command's outcome, with the class and size of the item it made and its TTL. */
export function logStore(ctx: ServerContext, outcome: StoreOutcome, mode: StoreMode, key: string, flags: number, exptime: number, valueLength: number): void {
  const t = now()
  let ttl: number
  if (outcome === 'stored' && (mode === 'append' || mode === 'prepend')) {
    // memcached logs the joined item, which keeps the old item's flags and expiry.
    const joined = ctx.store.peek(key)
    if (joined !== undefined) {
      flags = joined.flags
      valueLength = joined.value.length
      ttl = joined.exptime === 0 ? 0 : joined.exptime - t
    } else {
      ttl = 0
    }
  } else if (exptime === 0) {
    ttl = 0
  } else if (exptime < 0 || (exptime > REALTIME_MAXDELTA && exptime <= ctx.startedAt - ITEM_UPDATE_INTERVAL)) {
    // memcached's realtime() makes these 1 second into its clock, which starts 62 s before the process did
    // (ctx.startedAt is already 2 s back): long ago, printed as an unsigned number.
    ttl = 1 - (t - ctx.startedAt + ITEM_UPDATE_INTERVAL)
  } else {
    ttl = exptime > REALTIME_MAXDELTA ? exptime - t : exptime
  }
  const cls = ctx.store.options.slabs.classOf(itemTotalSize(key.length, flags, valueLength, ctx.options.useCas))
  ctx.events?.itemStore(outcome, mode, key, ttl, cls, valueLength)
}

/** `watch mutations`: a value too large to store. memcached passes its arguments one place off here: its clsid field shows the connection. */
export function logTooLarge(ctx: ServerContext, mode: StoreMode, key: string): void {
  const ev = ctx.events
  if (ev !== undefined) ev.itemStore('too_large', mode, key, 0, ev.cfd, 0)
}

/** The server's event log, made when a client first asks for `watch`. */
export function eventLog(ctx: ServerContext): EventLog {
  if (ctx.events === undefined) ctx.events = new EventLog(ctx.store, () => ctx.activeConnection ?? 0)
  return ctx.events
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
  // memcached's set_noreply_maybe: a last token "noreply" silences every error below (and is no stream name).
  const say = (reply: string): AdminResult => ({reply: tokens[ntokens - 2] === 'noreply' ? '' : reply})
  if (!ctx.options.watchEnabled) return say('CLIENT_ERROR watch commands not allowed\r\n')
  if (ctl.stacked) return say('ERROR cannot pipeline other commands before watch\r\n')
  let streams = 0
  if (ntokens > 2) {
    for (let i = 1; i < ntokens - 1; i++) {
      const name = tokens[i]!
      if (!Object.hasOwn(LogStream, name)) return say('ERROR\r\n')
      streams |= LogStream[name as keyof typeof LogStream]
    }
  } else {
    streams = LogStream.fetchers
  }
  const log = eventLog(ctx)
  const w = new Watcher(streams, log, ctl.wake)
  if (!log.add(w)) return say('WATCHER_TOO_MANY log watcher limit reached\r\n')
  return {reply: '', stream: w}
}
