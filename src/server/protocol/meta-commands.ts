// The meta protocol's handlers: a parsed meta command in, the reply bytes (a
// latin1 string) out, with memcached 1.6.18's return codes, return flags in
// request order and quiet-mode rules. They change the store only through its
// methods, so every meta mutation reaches replication the way a classic one does.

import type {ServerContext} from '../context.js'
import {logStore} from './watch.js'
import {absoluteExpiry, now} from '../store/clock.js'
import {ItemState} from '../store/item.js'
import type {StoreMode, StoreOutcome} from '../store/item-store.js'
import {base64Encode, type MetaCommand, type MetaFlags} from './meta-parser.js'

const OPAQUE_MAX = 32
const OPAQUE_TOO_LONG = 'CLIENT_ERROR opaque token too long\r\n'

export function handleMeta(c: MetaCommand, ctx: ServerContext): string {
  switch (c.cmd) {
    case 'mn': return 'MN\r\n'
    case 'mg': return metaGet(c.key, c.flags, ctx)
    case 'ms': return metaSet(c.key, c.flags, c.value, ctx)
    case 'ms_too_large':
      ctx.stats.storeTooLarge++
      // memcached drops the key's old value whatever the mode, so no stale data survives the failed store.
      ctx.store.dropAfterFailedSet(c.key)
      return 'SERVER_ERROR object too large for cache\r\n'
    case 'md': return metaDelete(c.key, c.flags, ctx)
    case 'ma': return metaArithmetic(c.key, c.flags, ctx)
    case 'me': return metaDebug(c.key, ctx)
  }
}

/** The k return flag: the key as sent, or base64 with a trailing b for a binary key. */
function keyFlag(key: string, binary: boolean): string {
  return binary ? ` k${base64Encode(key)} b` : ` k${key}`
}

/** The TTL left as mg and ma show it (t): -1 for none; memcached prints it as an unsigned 32-bit number. */
function ttlFlag(exptime: number): string {
  return exptime === 0 ? ' t-1' : ` t${(exptime - now()) >>> 0}`
}

/** The O and k flags a reply carries whatever its code; undefined when an opaque is too long. */
function echoFlags(f: MetaFlags, key: string, binary: boolean): string | undefined {
  let out = ''
  for (const t of f.tokens) {
    if (t[0] === 'O') {
      if (t.length > OPAQUE_MAX) return undefined
      out += ' ' + t
    } else if (t[0] === 'k') {
      out += keyFlag(key, binary)
    }
  }
  return out
}

/** A client's cas as the store compares it: above 2^53 it can only mismatch. */
function casNumber(cas: bigint): number {
  return cas > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(cas)
}

function metaGet(key: string, f: MetaFlags, ctx: ServerContext): string {
  const {store, stats} = ctx
  let it = store.metaPeek(key)
  let created = false
  if (it === undefined && f.vivify !== undefined) {
    it = store.vivify(key)
    created = it !== undefined
  }
  const touching = f.ttl !== undefined
  if (it === undefined) {
    // A miss counts as a get even with T: memcached decides "touch" only where it applies T, on a hit.
    stats.cmdGet++
    stats.getMisses++
    const echo = echoFlags(f, key, f.base64)
    if (echo === undefined) return OPAQUE_TOO_LONG
    return f.quiet ? '' : `EN${echo}\r\n`
  }
  let line = f.value ? `VA ${it.value.length}` : 'HD'
  let {exptime, cas} = it
  let won = false
  for (const t of f.tokens) {
    switch (t[0]) {
      case 'T': {
        const after = store.setExpiry(key, f.ttl!)
        if (after !== undefined) ({exptime, cas} = after)
        break
      }
      case 'N':
        if (created) {
          const after = store.setExpiry(key, f.vivify!)
          if (after !== undefined) ({exptime, cas} = after)
          won = true
        }
        break
      case 'R':
        // Wins the recache when nobody has the token yet and less TTL is left than asked.
        if ((it.state & ItemState.tokenSent) === 0 && !created && exptime !== 0 && exptime < absoluteExpiry(f.recache!)) won = true
        break
      case 's': line += ` s${it.value.length}`; break
      case 't': line += ttlFlag(exptime); break
      case 'c': line += ` c${cas}`; break
      case 'f': line += ` f${it.flags}`; break
      case 'l': line += ` l${now() - it.lastAccess}`; break
      case 'h': line += it.fetched ? ' h1' : ' h0'; break
      case 'O':
        if (t.length > OPAQUE_MAX) return OPAQUE_TOO_LONG
        line += ' ' + t
        break
      case 'k': line += keyFlag(it.key, (it.state & ItemState.binaryKey) !== 0); break
    }
  }
  // Z before X before W, as memcached orders them; a stale item hands its token to the first reader.
  if ((it.state & ItemState.tokenSent) !== 0) line += ' Z'
  if ((it.state & ItemState.stale) !== 0) {
    line += ' X'
    if ((it.state & ItemState.tokenSent) === 0) won = true
  }
  if (won) {
    line += ' W'
    store.markTokenSent(key)
  }
  store.metaRead(key, touching, f.noUpdate)
  // (hits are counted by the store, per slab class, in metaRead)
  if (touching) stats.cmdTouch++
  else stats.cmdGet++
  return f.value ? `${line}\r\n${it.value}\r\n` : `${line}\r\n`
}

const SET_MODES: Record<string, StoreMode> = {'': 'set', S: 'set', E: 'add', A: 'append', P: 'prepend', R: 'replace'}
const SET_CODES: Record<StoreOutcome, string> = {
  stored: 'HD', not_stored: 'NS', exists: 'EX', not_found: 'NF',
  too_large: 'SERVER_ERROR object too large for cache', no_memory: 'SERVER_ERROR out of memory storing object',
}

function metaSet(key: string, f: MetaFlags, value: string, ctx: ServerContext): string {
  const {store, stats} = ctx
  const hasCas = f.tokens.some((t) => t[0] === 'C')
  let mode = SET_MODES[f.mode]!
  // A cas turns set and replace into cas; add ignores it; append and prepend check it themselves.
  if (hasCas && (mode === 'set' || mode === 'replace')) mode = 'cas'
  const cas = hasCas ? casNumber(f.cas) : 0
  const outcome = store.store(mode, key, f.clientFlags, f.ttl ?? 0, value, cas, {invalidate: f.invalidate && mode === 'cas', binaryKey: f.base64})
  if (mode === 'cas' && outcome === 'not_found') stats.casMisses++
  if (outcome === 'no_memory') stats.storeNoMemory++
  if (ctx.events !== undefined && ctx.events.wanted !== 0) logStore(ctx, outcome, mode, key, f.clientFlags, f.ttl ?? 0, value.length)
  const code = SET_CODES[outcome]
  if (code.length > 2) return code + '\r\n'
  if (outcome === 'stored' && f.quiet) return ''
  let line = code
  for (const t of f.tokens) {
    if (t[0] === 'O') line += ' ' + t
    else if (t[0] === 'k') line += keyFlag(key, f.base64)
    else if (t[0] === 'c') line += ` c${outcome === 'stored' ? store.lastStoredCas : 0}`
  }
  return line + '\r\n'
}

function metaDelete(key: string, f: MetaFlags, ctx: ServerContext): string {
  const {store, stats} = ctx
  const echo = echoFlags(f, key, f.base64)!
  const it = store.metaPeek(key)
  if (it === undefined) {
    stats.deleteMisses++
    return `NF${echo}\r\n`
  }
  if (f.tokens.some((t) => t[0] === 'C') && it.cas !== casNumber(f.cas)) {
    stats.deleteMisses++
    return `EX${echo}\r\n`
  }
  if (f.invalidate) {
    store.invalidate(key, f.ttl)
  } else {
    store.delete(key)
  }
  return f.quiet ? '' : `HD${echo}\r\n`
}

function metaArithmetic(key: string, f: MetaFlags, ctx: ServerContext): string {
  const {store, stats} = ctx
  const incr = f.mode === '' || f.mode === 'I' || f.mode === '+'
  const cas = f.tokens.some((t) => t[0] === 'C') ? casNumber(f.cas) : 0
  const r = store.deltaOrCreate(key, incr, f.delta, cas, undefined)
  let value: string
  let created = false
  let quietOk = false
  switch (r.status) {
    case 'ok':
      value = r.value
      quietOk = f.quiet
      break
    case 'non_numeric': return 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n'
    case 'no_memory': return 'SERVER_ERROR out of memory\r\n'
    case 'exists': case 'not_stored': case 'created': {
      const echo = echoFlags(f, key, f.base64)
      return echo === undefined ? OPAQUE_TOO_LONG : `${r.status === 'exists' ? 'EX' : 'NS'}${echo}\r\n`
    }
    case 'not_found': {
      if (f.vivify === undefined) {
        if (incr) stats.incrMisses++
        else stats.decrMisses++
        const echo = echoFlags(f, key, f.base64)
        return echo === undefined ? OPAQUE_TOO_LONG : `NF${echo}\r\n`
      }
      value = f.initial.toString()
      const outcome = store.store('add', key, 0, 0, value, 0)
      if (outcome === 'no_memory' || outcome === 'too_large') return 'SERVER_ERROR Out of memory allocating new item\r\n'
      if (outcome !== 'stored') {
        const echo = echoFlags(f, key, f.base64)
        return echo === undefined ? OPAQUE_TOO_LONG : `NS${echo}\r\n`
      }
      created = true
      break
    }
  }
  let it = store.metaPeek(key)
  let line = f.value ? `VA ${value.length}` : 'HD'
  for (const t of f.tokens) {
    switch (t[0]) {
      case 'c': line += ` c${it?.cas ?? 0}`; break
      case 't': line += ttlFlag(it?.exptime ?? 0); break
      case 'T': it = store.setExpiry(key, f.ttl!) === undefined ? it : store.metaPeek(key); break
      case 'N': if (created) it = store.setExpiry(key, f.vivify!) === undefined ? it : store.metaPeek(key); break
      case 'O':
        if (t.length > OPAQUE_MAX) return OPAQUE_TOO_LONG
        line += ' ' + t
        break
      case 'k': line += keyFlag(key, f.base64); break
    }
  }
  if (quietOk) return ''
  return f.value ? `${line}\r\n${value}\r\n` : `${line}\r\n`
}

function metaDebug(key: string, ctx: ServerContext): string {
  ctx.stats.cmdMeta++
  const it = ctx.store.metaPeek(key)
  if (it === undefined) return 'EN\r\n'
  const t = now()
  const shown = (it.state & ItemState.binaryKey) !== 0 ? base64Encode(it.key) : it.key
  return `ME ${shown} exp=${it.exptime === 0 ? -1 : t - it.exptime} la=${t - it.lastAccess} cas=${it.cas} fetch=${it.fetched ? 'yes' : 'no'} cls=${it.cls} size=${it.size}\r\n`
}
