// Operators' commands memcached 1.6.18 parses: lru_crawler (lru-crawler.ts),
// watch (watch.ts), refresh_certs (-Z: server.ts reloads the certificate
// files), and the tuning commands slabs, lru and extstore, which
// change nothing here (our memory is not laid out in memcached's slab pages
// and LRU segments, and there is no external storage) but are answered as
// memcached answers them, valid arguments and invalid ones alike, so that
// scripts and memcached's own tests get the replies they expect.

import type {ServerContext} from '../context.js'
import {lruCrawlerCommand, type AdminControl, type AdminResult} from './lru-crawler.js'
import {parseI32, parseU32} from './numbers.js'
import {watchCommand} from './watch.js'
import {Tunables} from '../tunables.js'

export type {AdminControl, AdminResult, OutputStream} from './lru-crawler.js'

/** Class ids memcached allows in `slabs reassign` and `extstore free_memchunks`. */
const MAX_NUMBER_OF_SLAB_CLASSES = 64

export function adminCommand(tokens: string[], ntokens: number, ctx: ServerContext, ctl: AdminControl): AdminResult {
  const t = tunablesOf(ctx)
  switch (tokens[0]) {
    case 'lru_crawler': return lruCrawlerCommand(tokens, ntokens, ctx, t, ctl)
    case 'watch': return watchCommand(tokens, ntokens, ctx, ctl)
    case 'slabs': return {reply: slabs(tokens, ntokens, ctx, t)}
    // memcached wants at least a subcommand for these two.
    case 'lru': return {reply: ntokens < 3 ? 'ERROR\r\n' : quiet(tokens, ntokens, lru(tokens, ntokens, t))}
    case 'extstore': return {reply: ntokens < 3 ? 'ERROR\r\n' : quiet(tokens, ntokens, extstore(tokens, ntokens, t))}
    // Debian's memcached is built with TLS: it knows the command, and answers it even with noreply.
    case 'refresh_certs': return {reply: ctx.refreshCerts?.() ?? 'Error TLS not enabled\r\n'}
    default: return {reply: 'ERROR\r\n'}
  }
}

function tunablesOf(ctx: ServerContext): Tunables {
  return (ctx.tunables ??= new Tunables(ctx.options.lruCrawlerAtStart))
}

/** memcached's set_noreply_maybe: a last token "noreply" silences the reply. */
function quiet(tokens: string[], ntokens: number, reply: string): string {
  return tokens[ntokens - 2] === 'noreply' ? '' : reply
}

function slabs(tokens: string[], ntokens: number, ctx: ServerContext, t: Tunables): string {
  if (ntokens === 5 && tokens[1] === 'reassign') {
    const src = parseI32(tokens[2]!)
    const dst = parseI32(tokens[3]!)
    if (src === undefined || dst === undefined) return 'CLIENT_ERROR bad command line format\r\n'
    if (src === dst) return 'SAME src and dst class are identical\r\n'
    const largest = ctx.store.options.slabs.classes.length
    // -1 asks memcached to pick a class with a spare page; there is never one here (see below).
    if (src < 0 || src > largest || dst < 0 || dst > largest) return 'BADCLASS invalid src or dst class id\r\n'
    // Our pages are not owned by classes (an emptied page goes to whichever size needs one): none to move.
    return 'NOSPARE source class has no spare pages\r\n'
  }
  if (ntokens >= 4 && tokens[1] === 'automove') {
    let reply = 'OK\r\n'
    if (tokens[2] === 'ratio') {
      const ratio = ntokens < 5 ? undefined : parseDouble(tokens[3]!)
      if (ratio === undefined) reply = 'ERROR\r\n'
      else t.slabAutomoveRatio = ratio
    } else {
      const level = parseU32(tokens[2]!)
      if (level === undefined) reply = 'CLIENT_ERROR bad command line format\r\n'
      else if (level > 2) reply = 'ERROR\r\n'
      else t.slabAutomove = level
    }
    return quiet(tokens, ntokens, reply)
  }
  return 'ERROR\r\n'
}

function lru(tokens: string[], ntokens: number, t: Tunables): string {
  const sub = tokens[1]
  if (sub === 'tune' && ntokens >= 7) {
    const hot = parseU32(tokens[2]!)
    const warm = parseU32(tokens[3]!)
    const hotFactor = parseDouble(tokens[4]!)
    const warmFactor = parseDouble(tokens[5]!)
    if (hot === undefined || warm === undefined || hotFactor === undefined || warmFactor === undefined) return 'ERROR\r\n'
    // memcached adds the two as 32-bit unsigned numbers.
    if (((hot + warm) >>> 0) > 80) return 'ERROR hot and warm pcts must not exceed 80\r\n'
    if (warmFactor <= 0 || hotFactor <= 0) return 'ERROR hot/warm age factors must be greater than 0\r\n'
    Object.assign(t, {hotLruPct: hot, warmLruPct: warm, hotMaxFactor: hotFactor, warmMaxFactor: warmFactor})
    return 'OK\r\n'
  }
  if (sub === 'mode' && ntokens >= 4) {
    if (tokens[2] !== 'flat' && tokens[2] !== 'segmented') return 'ERROR\r\n'
    t.lruSegmented = tokens[2] === 'segmented'
    return 'OK\r\n'
  }
  if (sub === 'temp_ttl' && ntokens >= 4) {
    const ttl = parseI32(tokens[2]!)
    if (ttl === undefined) return 'ERROR\r\n'
    t.tempLru = ttl >= 0
    if (ttl >= 0) t.temporaryTtl = ttl
    return 'OK\r\n'
  }
  return 'ERROR\r\n'
}

/** extstore settings taking an unsigned number, and the Tunables field each sets. */
const EXTSTORE_UNSIGNED: Record<string, 'extItemSize' | 'extItemAge' | 'extLowTtl' | 'extRecacheRate' | 'extCompactUnder' | 'extDropUnder' | 'extMaxSleep'> = {
  item_size: 'extItemSize', item_age: 'extItemAge', low_ttl: 'extLowTtl', recache_rate: 'extRecacheRate',
  compact_under: 'extCompactUnder', drop_under: 'extDropUnder', max_sleep: 'extMaxSleep',
}

function extstore(tokens: string[], ntokens: number, t: Tunables): string {
  if (ntokens < 4) return 'ERROR\r\n'
  const sub = tokens[1]!
  let ok: boolean
  if (sub === 'free_memchunks' && ntokens > 4) {
    const cls = parseU32(tokens[2]!)
    ok = cls !== undefined && parseU32(tokens[3]!) !== undefined && cls < MAX_NUMBER_OF_SLAB_CLASSES
  } else if (Object.hasOwn(EXTSTORE_UNSIGNED, sub)) {
    const n = parseU32(tokens[2]!)
    ok = n !== undefined
    if (n !== undefined) t[EXTSTORE_UNSIGNED[sub]!] = n
  } else if (sub === 'drop_unread') {
    const n = parseU32(tokens[2]!)
    ok = n !== undefined
    if (n !== undefined) t.extDropUnread = n !== 0
  } else if (sub === 'max_frag') {
    const f = parseDouble(tokens[2]!)
    ok = f !== undefined
    if (f !== undefined) t.extMaxFrag = f
  } else {
    ok = false
  }
  return ok ? 'OK\r\n' : 'ERROR\r\n'
}

/** C's strtod as memcached's safe_strtod uses it: a number ending the token (or before white space), in range. */
export function parseDouble(s: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?(?:inf(?:inity)?|nan(?:\([0-9a-z_]*\))?|0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?\d+)?|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?))/i.exec(s)
  if (m === null) return undefined
  const rest = s.slice(m[0].length)
  if (rest !== '' && !/^[ \t\n\v\f\r]/.test(rest)) return undefined
  const text = m[1]!.toLowerCase()
  const sign = text.startsWith('-') ? -1 : 1
  const body = text.replace(/^[+-]/, '')
  let v: number
  if (body.startsWith('inf')) return sign * Infinity
  if (body.startsWith('nan')) return NaN
  if (body.startsWith('0x')) {
    const [mant, exp] = body.slice(2).split('p')
    const [int, frac = ''] = mant!.split('.')
    v = (parseInt(int || '0', 16) + (frac === '' ? 0 : parseInt(frac, 16) / 16 ** frac.length)) * 2 ** Number(exp ?? 0)
  } else {
    v = Number(body)
  }
  // strtod reports ERANGE on overflow and on underflow to zero.
  if (!Number.isFinite(v) || (v === 0 && /[1-9]/.test(body.split(/[ep]/)[0]!))) return undefined
  return sign * v
}
