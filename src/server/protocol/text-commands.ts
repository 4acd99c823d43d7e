// Text-protocol request handlers: a parsed request in, its reply appended to
// the reply being built. They never see a socket; the connection writes
// replies.

import type {ServerContext} from '../context.js'
import type {RawItem} from '../store/item.js'
import {formatStats, generalStats, itemsStats, resetStats, settingsStats, slabsStats} from '../stats.js'
import type {StoreOutcome} from '../store/item-store.js'
import {MEMCACHED_VERSION} from '../version.js'
import {logStore, logTooLarge} from './watch.js'
import {PrefixStats} from '../stats-detail.js'
import {formatConns} from '../stats-conns.js'
import {handleMeta} from './meta-commands.js'
import {parseU32} from './numbers.js'
import type {ReplyBuffer} from './reply-buffer.js'
import type {TextRequest} from './text-parser.js'

const STORE_REPLY: Record<StoreOutcome, string> = {
  stored: 'STORED\r\n',
  not_stored: 'NOT_STORED\r\n',
  exists: 'EXISTS\r\n',
  not_found: 'NOT_FOUND\r\n',
  too_large: 'SERVER_ERROR object too large for cache\r\n',
  no_memory: 'SERVER_ERROR out of memory storing object\r\n',
}

type Handled = Exclude<TextRequest, {type: 'quit'} | {type: 'close'} | {type: 'admin'}>

/** Run one request; its reply (if any) is appended to `out`. */
export function handleText(req: Handled, ctx: ServerContext, out: ReplyBuffer): void {
  if (req.type === 'get') get(req, ctx, out)
  else out.text(answer(req, ctx))
}

/** The reply to anything but a retrieval ('' for none). */
function answer(req: Exclude<Handled, {type: 'get'}>, ctx: ServerContext): string {
  switch (req.type) {
    case 'store': {
      const s = ctx.stats
      const outcome = ctx.store.store(req.mode, req.key, req.flags, req.exptime, req.value, req.cas)
      if (req.mode === 'cas' && outcome === 'not_found') s.casMisses++
      if (outcome === 'no_memory') s.storeNoMemory++
      if (ctx.events !== undefined && ctx.events.wanted !== 0) logStore(ctx, outcome, req.mode, req.key, req.flags, req.exptime, req.value.length)
      if (ctx.detail !== undefined && ctx.detail.enabled) ctx.detail.recordSet(req.key)
      return req.noreply ? '' : STORE_REPLY[outcome]
    }
    case 'too_large': {
      ctx.stats.storeTooLarge++
      if (ctx.events !== undefined && ctx.events.wanted !== 0) logTooLarge(ctx, req.mode, req.key)
      if (ctx.detail !== undefined && ctx.detail.enabled) ctx.detail.recordSet(req.key)
      // Like memcached, a failed set must not leave the old value behind (and it is no delete hit).
      if (req.mode === 'set') ctx.store.dropAfterFailedSet(req.key)
      return req.noreply ? '' : STORE_REPLY.too_large
    }
    case 'delta': {
      const r = ctx.store.delta(req.key, req.incr, req.delta)
      const s = ctx.stats
      let out: string
      switch (r.status) {
        case 'ok':
          out = r.value + '\r\n'
          break
        case 'not_found':
          if (req.incr) s.incrMisses++
          else s.decrMisses++
          out = 'NOT_FOUND\r\n'
          break
        case 'non_numeric':
          out = 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n'
          break
        case 'no_memory':
          out = 'SERVER_ERROR out of memory\r\n'
          break
      }
      return req.noreply ? '' : out
    }
    case 'delete': {
      if (ctx.detail !== undefined && ctx.detail.enabled) ctx.detail.recordDelete(req.key)
      const hit = ctx.store.delete(req.key)
      if (!hit) ctx.stats.deleteMisses++
      return req.noreply ? '' : hit ? 'DELETED\r\n' : 'NOT_FOUND\r\n'
    }
    case 'touch': {
      const it = ctx.store.touch(req.key, req.exptime)
      ctx.stats.cmdTouch++
      if (it === undefined) ctx.stats.touchMisses++
      return req.noreply ? '' : it !== undefined ? 'TOUCHED\r\n' : 'NOT_FOUND\r\n'
    }
    case 'flush_all': {
      ctx.stats.cmdFlush++
      if (!ctx.options.flushEnabled) return req.noreply ? '' : 'CLIENT_ERROR flush_all not allowed\r\n'
      if (req.delay === undefined) return req.noreply ? '' : 'CLIENT_ERROR invalid exptime argument\r\n'
      ctx.store.flush(req.delay)
      return req.noreply ? '' : 'OK\r\n'
    }
    case 'stats': return stats(req.args, ctx)
    case 'version': return `VERSION ${MEMCACHED_VERSION}\r\n`
    case 'verbosity':
      ctx.verbosity = Math.min(req.level, 2)
      ctx.log.verbosity = ctx.verbosity
      return req.noreply ? '' : 'OK\r\n'
    case 'cache_memlimit': {
      const mb = req.megabytes
      let out: string
      if (mb === undefined) out = 'ERROR\r\n'
      else if (mb < 8) out = 'MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n'
      else if (mb > 1000000000) out = 'MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n'
      else {
        ctx.store.setMemoryLimit(mb * 1024 * 1024)
        out = 'OK\r\n'
      }
      return req.noreply ? '' : out
    }
    case 'shutdown':
      if (!ctx.options.enableShutdown) return 'ERROR: shutdown not enabled\r\n'
      if (req.graceful === undefined) return 'CLIENT_ERROR invalid shutdown mode\r\n'
      ctx.requestShutdown(req.graceful)
      return ''
    case 'meta': return handleMeta(req.command, ctx)
    case 'error':
      if (req.keyTooLong === true) ctx.stats.limitsKeyTooLong++
      return req.noreply ? '' : req.message + '\r\n'
  }
}

/**
 * The most reply one multiget may build (values are copied into it): keeps
 * "get" with thousands of keys naming large values from taking the heap.
 */
const GET_REPLY_MAX = 64 * 1024 * 1024

/** memcached's answer when it cannot hold a multiget's reply: the remaining keys are not looked up. */
function full(out: ReplyBuffer, start: number, stats: ServerContext['stats']): boolean {
  if (out.length - start <= GET_REPLY_MAX) return false
  stats.limitsGetReplyTooLarge++
  out.truncate(start)
  out.text('SERVER_ERROR out of memory writing get response\r\n')
  return true
}

/** The item a retrieval is copying out; reused (a reply never needs two at once). */
const found: RawItem = {buf: Buffer.alloc(0), at: 0, keyLength: 0, valueLength: 0, flags: 0, exptime: 0, cas: 0, version: 0}

function get(req: Extract<TextRequest, {type: 'get'}>, ctx: ServerContext, out: ReplyBuffer): void {
  const {store, stats} = ctx
  const touching = req.touchExptime !== undefined
  const start = out.length
  const detail = ctx.detail !== undefined && ctx.detail.enabled ? ctx.detail : undefined
  for (const key of req.keys) {
    if (touching) {
      const it = store.touch(key, req.touchExptime!)
      stats.cmdTouch++
      if (detail !== undefined) detail.recordGet(key, it !== undefined)
      if (it === undefined) { stats.touchMisses++; continue }
      if (full(out, start, stats)) return
      out.valueLine(it.key, it.flags, it.value.length, req.withCas ? it.cas : undefined)
      out.text(it.value)
    } else {
      const hit = store.getRaw(key, found)
      stats.cmdGet++
      if (detail !== undefined) detail.recordGet(key, hit)
      if (!hit) { stats.getMisses++; continue }
      if (full(out, start, stats)) return
      const valueAt = found.at + found.keyLength
      out.valueLine(key, found.flags, found.valueLength, req.withCas ? found.cas : undefined)
      out.bytes(found.buf, valueAt, valueAt + found.valueLength)
    }
    out.text('\r\n')
  }
  // The keys before a too long one were looked up (and touched) all the same; their values are dropped.
  if (req.keyTooLong) {
    stats.limitsKeyTooLong++
    out.truncate(start)
    out.text('CLIENT_ERROR bad command line format\r\n')
    return
  }
  out.text('END\r\n')
}

function stats(args: string[], ctx: ServerContext): string {
  const sub = args[0]
  switch (sub) {
    case undefined: return formatStats(generalStats(ctx))
    case 'reset':
      resetStats(ctx)
      return 'RESET\r\n'
    case 'settings': return formatStats(settingsStats(ctx))
    case 'items': return formatStats(itemsStats(ctx))
    case 'slabs': return formatStats(slabsStats(ctx))
    case 'sizes': return 'STAT sizes_status disabled\r\nEND\r\n'
    // memcached answers these two without an END line.
    case 'sizes_disable': return 'STAT sizes_status disabled\r\n'
    case 'detail': return detailCommand(args.length >= 2 ? args[1]! : '', ctx)
    case 'cachedump': return cachedump(args, ctx)
    case 'conns': return formatConns(ctx.connections?.() ?? [])
    // Debian's memcached is built with extstore; without a store configured it lists nothing.
    case 'extstore': return 'END\r\n'
    default: return 'ERROR\r\n'
  }
}

function detailCommand(mode: string, ctx: ServerContext): string {
  if (mode === 'on' || mode === 'off') {
    ctx.detail ??= new PrefixStats(false, ctx.options.prefixDelimiter)
    ctx.detail.enabled = mode === 'on'
    return 'OK\r\n'
  }
  if (mode === 'dump') return ctx.detail?.dump() ?? 'END\r\n'
  return 'CLIENT_ERROR usage: stats detail on|off|dump\r\n'
}

function cachedump(args: string[], ctx: ServerContext): string {
  if (args.length < 3) return 'CLIENT_ERROR bad command line\r\n'
  const id = parseU32(args[1]!)
  const limit = parseU32(args[2]!)
  if (id === undefined || limit === undefined) return 'CLIENT_ERROR bad command line format\r\n'
  if (id >= 64) return 'CLIENT_ERROR Illegal slab id\r\n'
  let out = ''
  let n = 0
  for (const it of ctx.store.itemsNewestFirst(id)) {
    out += `ITEM ${it.key} [${it.value.length} b; ${it.exptime} s]\r\n`
    if (++n === limit) break
  }
  return out + 'END\r\n'
}
