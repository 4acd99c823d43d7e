// memcached's `lru_crawler` command: metadump (every live item's metadata,
// the listing memcached-tool's dump and keys modes read), crawl (reclaim
// expired items now), enable/disable, tocrawl, sleep. One crawler per
// server, as in memcached: a second dump or crawl while one runs is BUSY.
// A dump is produced a slice at a time across event loop turns (see
// OutputStream), so a million items never hold up other clients.

import type {ServerContext} from '../context.js'
import type {DumpItem} from '../store/item-store.js'
import {parseU32} from './numbers.js'
import type {ReplyBuffer} from './reply-buffer.js'
import type {Tunables} from '../tunables.js'

/** memcached's class ids run from 1 to MAX_NUMBER_OF_SLAB_CLASSES - 1. */
const MAX_CLASS_ID = 63
/** Dump output produced per event loop turn. */
const DUMP_SLICE_BYTES = 64 << 10
/** Items looked at per event loop turn by `lru_crawler crawl`. */
const CRAWL_SLICE_ITEMS = 20_000

interface CrawlerState {
  /** A dump or a crawl is running (memcached's lru_crawler_running). */
  busy: boolean
}

/** One crawler per server (its store). */
const crawlers = new WeakMap<object, CrawlerState>()

function crawlerOf(ctx: ServerContext): CrawlerState {
  let c = crawlers.get(ctx.store)
  if (c === undefined) {
    c = {busy: false}
    crawlers.set(ctx.store, c)
  }
  return c
}

/**
 * Output a session sends after the request that started it returned: the
 * session calls fill() from drain() until it answers 'done'; in between the
 * stream calls its wake (given when it was made) when it has more.
 */
export interface OutputStream {
  /**
   * False: input meanwhile is dropped (a watcher's). True: it waits, and is
   * read once the stream is done and the client sends more (memcached leaves
   * requests pipelined behind a metadump in its read buffer until the next
   * read event).
   */
  readonly keepsInput: boolean
  fill(out: ReplyBuffer, budget: number): 'open' | 'done'
  /** The client has gone: stop. */
  close(): void
}

export interface AdminResult {
  reply: string
  /** Set when the command goes on producing output (a metadump). */
  stream?: OutputStream
}

export interface AdminControl {
  /** Replies of earlier requests are still queued (memcached refuses a metadump then). */
  stacked: boolean
  /** Ask for the session's drain() to run soon. */
  wake: () => void
}

/** `lru_crawler …` with memcached's tokens (ntokens counts the terminal one). */
export function lruCrawlerCommand(tokens: string[], ntokens: number, ctx: ServerContext, t: Tunables, ctl: AdminControl): AdminResult {
  const crawler = crawlerOf(ctx)
  const sub = tokens[1]
  if (ntokens === 4 && sub === 'crawl') {
    if (!t.lruCrawler) return {reply: 'CLIENT_ERROR lru crawler disabled\r\n'}
    const which = classesNamed(tokens[2]!)
    if (which === 'bad') return {reply: 'BADCLASS invalid class id\r\n'}
    if (crawler.busy) return {reply: 'BUSY currently processing crawler request\r\n'}
    // memcached walks the hash table for metadumps only.
    if (which === 'hash') return {reply: 'ERROR an unknown error happened\r\n'}
    if (which === 'none') return {reply: 'NOTSTARTED no items to crawl\r\n'}
    startCrawl(ctx, crawler)
    return {reply: 'OK\r\n'}
  }
  if (ntokens === 4 && sub === 'metadump') {
    if (!t.lruCrawler) return {reply: 'CLIENT_ERROR lru crawler disabled\r\n'}
    if (ctl.stacked) return {reply: 'ERROR cannot pipeline other commands before metadump\r\n'}
    const which = classesNamed(tokens[2]!)
    if (which === 'bad') return {reply: 'BADCLASS invalid class id\r\n'}
    if (crawler.busy) return {reply: 'BUSY currently processing crawler request\r\n'}
    if (which === 'none') return {reply: 'NOTSTARTED no items to crawl\r\n'}
    begin(ctx, crawler)
    return {reply: '', stream: new Metadump(ctx, crawler, which === 'all' || which === 'hash' ? undefined : which, ctl.wake)}
  }
  if (ntokens === 4 && sub === 'tocrawl') {
    const n = parseU32(tokens[2]!)
    if (n === undefined) return {reply: 'CLIENT_ERROR bad command line format\r\n'}
    t.lruCrawlerTocrawl = n
    return {reply: 'OK\r\n'}
  }
  if (ntokens === 4 && sub === 'sleep') {
    const n = parseU32(tokens[2]!)
    if (n === undefined) return {reply: 'CLIENT_ERROR bad command line format\r\n'}
    if (n > 1_000_000) return {reply: 'CLIENT_ERROR sleep must be one second or less\r\n'}
    t.lruCrawlerSleep = n
    return {reply: 'OK\r\n'}
  }
  if (ntokens === 3 && sub === 'enable') {
    if (t.lruCrawler) return {reply: 'ERROR failed to start lru crawler thread\r\n'}
    t.lruCrawler = true
    return {reply: 'OK\r\n'}
  }
  if (ntokens === 3 && sub === 'disable') {
    t.lruCrawler = false
    return {reply: 'OK\r\n'}
  }
  return {reply: 'ERROR\r\n'}
}

/** `all`, `hash`, or memcached's comma list of class ids (empty items skipped, as strtok does). */
function classesNamed(arg: string): 'all' | 'hash' | 'bad' | 'none' | Set<number> {
  if (arg === 'all') return 'all'
  if (arg === 'hash') return 'hash'
  const ids = new Set<number>()
  for (const part of arg.split(',')) {
    if (part === '') continue
    const id = parseU32(part)
    if (id === undefined || id < 1 || id > MAX_CLASS_ID) return 'bad'
    ids.add(id)
  }
  return ids.size === 0 ? 'none' : ids
}

function begin(ctx: ServerContext, crawler: CrawlerState): void {
  crawler.busy = true
  ctx.stats.lruCrawlerRunning = true
  ctx.stats.lruCrawlerStarts++
}

function end(ctx: ServerContext, crawler: CrawlerState): void {
  crawler.busy = false
  ctx.stats.lruCrawlerRunning = false
}

/** A full pass of the store's expiry crawl (crawler_reclaimed, crawler_items_checked), a slice per turn. */
function startCrawl(ctx: ServerContext, crawler: CrawlerState): void {
  begin(ctx, crawler)
  const store = ctx.store
  // Finish the pass under way (if any), then make one whole pass.
  let passesLeft = store.crawlPassEnded ? 1 : 2
  const step = (): void => {
    store.crawl(CRAWL_SLICE_ITEMS)
    if (store.crawlPassEnded && --passesLeft === 0) {
      end(ctx, crawler)
      return
    }
    setImmediate(step)
  }
  setImmediate(step)
}

/** memcached's uriencode: letters, digits and `-._~` as they are, every other byte as %XX. */
function isUnreserved(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e
}
const HEX = '0123456789ABCDEF'
/** A key's URL encoding is built here (at most 3 × 250 bytes). */
const encoded = Buffer.alloc(3 * 256)

class Metadump implements OutputStream {
  readonly keepsInput = true
  private readonly walk
  private finished = false

  constructor(private readonly ctx: ServerContext, private readonly crawler: CrawlerState, private readonly classes: Set<number> | undefined, private readonly wake: () => void) {
    this.walk = ctx.store.startWalk()
  }

  fill(out: ReplyBuffer, budget: number): 'open' | 'done' {
    if (this.finished) return 'done'
    const stop = out.length + Math.min(budget, DUMP_SLICE_BYTES)
    const line = (d: DumpItem): void => {
      if (this.classes !== undefined && !this.classes.has(d.cls)) return
      writeLine(out, d)
    }
    while (out.length < stop && !this.walk.done) this.ctx.store.walkMeta(this.walk, 16, line)
    if (!this.walk.done) {
      this.wake()
      return 'open'
    }
    out.text('END\r\n')
    this.close()
    return 'done'
  }

  close(): void {
    if (this.finished) return
    this.finished = true
    end(this.ctx, this.crawler)
  }
}

function writeLine(out: ReplyBuffer, d: DumpItem): void {
  out.text('key=')
  let n = 0
  for (let i = d.at, e = d.at + d.keyLength; i < e; i++) {
    const c = d.buf[i]!
    if (isUnreserved(c)) encoded[n++] = c
    else {
      encoded[n++] = 0x25
      encoded[n++] = HEX.charCodeAt(c >> 4)
      encoded[n++] = HEX.charCodeAt(c & 15)
    }
  }
  out.bytes(encoded, 0, n)
  out.text(' exp=')
  if (d.exptime === 0) out.text('-1')
  else out.decimal(d.exptime)
  out.text(' la=')
  out.decimal(d.lastAccess)
  out.text(' cas=')
  out.decimal(d.cas)
  out.text(d.fetched ? ' fetch=yes cls=' : ' fetch=no cls=')
  out.decimal(d.cls)
  out.text(' size=')
  out.decimal(d.size)
  // memcached ends item lines with a bare newline (only END has CRLF).
  out.text('\n')
}
