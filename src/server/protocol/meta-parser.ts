// The meta protocol's request lines (mg, ms, md, ma, mn, me), validated the
// way memcached 1.6.18's proto_text.c does: the same checks in the same
// order, so that each malformed line gets memcached's error string. The
// text parser hands every two-letter command starting with "m" here.

import {parseI32, parseU32, parseU64} from './numbers.js'
import {KEY_MAX_LENGTH} from './text-parser.js'

/** memcached rejects a meta line of more tokens than this (the terminal token included). */
const MAX_FLAG_TOKENS = 20
/** An opaque (O) token longer than this, its O included, is refused. */
const MAX_OPAQUE_LENGTH = 32

/** The flags of one meta request, as memcached's preparse reads them. */
export interface MetaFlags {
  /** Every flag token in request order: return flags (O, k, c, s, t …) are answered in this order. */
  readonly tokens: string[]
  /** b: the key came base64-encoded (already decoded in `key`). */
  base64: boolean
  /** q: quiet mode, the nominal reply is left out. */
  quiet: boolean
  /** v: return the value. */
  value: boolean
  /** u: no LRU bump. */
  noUpdate: boolean
  /** I: invalidate (md) or store as stale on a lower cas (ms). */
  invalidate: boolean
  /** T: new TTL (client exptime). */
  ttl: number | undefined
  /** N: vivify on miss with this TTL. */
  vivify: number | undefined
  /** R: win the recache when the TTL left is below this. */
  recache: number | undefined
  /** F: client flags (ms). */
  clientFlags: number
  /** C: compare cas (0 = none given or C0). */
  cas: bigint
  /** M: mode character (ms, ma), '' = none. */
  mode: string
  /** D, J: ma's delta and initial value. */
  delta: bigint
  initial: bigint
}

export type MetaCommand =
  | {cmd: 'mg'; key: string; flags: MetaFlags}
  | {cmd: 'ms'; key: string; flags: MetaFlags; value: string}
  /** ms whose value is over the item size limit: memcached answers SERVER_ERROR and drops the key's old value. */
  | {cmd: 'ms_too_large'; key: string}
  | {cmd: 'md'; key: string; flags: MetaFlags}
  | {cmd: 'ma'; key: string; flags: MetaFlags}
  | {cmd: 'me'; key: string}
  | {cmd: 'mn'}

/** An ms line that was accepted: its value (`need` bytes with the CRLF) is read next. */
export type MetaSetHeader = Omit<Extract<MetaCommand, {cmd: 'ms'}>, 'value'>

/** What the text parser does with a meta line. */
export type MetaLine =
  | {kind: 'request'; request: MetaCommand}
  | {kind: 'error'; message: string}
  /** ms: read the value, then hand on `header` with it. */
  | {kind: 'data'; header: MetaSetHeader; need: number}
  /** ms refused after its length was known: skip `skip` bytes of value, then answer `message` (or the too-large request). */
  | {kind: 'swallow'; skip: number; message: string; tooLarge?: Extract<MetaCommand, {cmd: 'ms_too_large'}>}

export interface MetaLimits {
  isTooLarge(keyLength: number, flags: number, valueLength: number): boolean
}

const error = (message: string): MetaLine => ({kind: 'error', message})

/**
 * One meta line. `tokens` are the line's tokens (command first), `ntokens`
 * memcached's count (tokens, capped at 23, plus the terminal one).
 */
export function parseMetaLine(tokens: string[], ntokens: number, limits: MetaLimits): MetaLine {
  const cmd = tokens[0]!
  switch (cmd) {
    case 'mn': return {kind: 'request', request: {cmd: 'mn'}}
    case 'me': return debugLine(tokens, ntokens)
    case 'mg': case 'md': case 'ma': {
      if (ntokens < 3) return error('ERROR')
      if (tokens[1]!.length > KEY_MAX_LENGTH) return error('CLIENT_ERROR bad command line format')
      if (ntokens > MAX_FLAG_TOKENS) return error(cmd === 'mg' ? 'CLIENT_ERROR options flags are too long' : 'CLIENT_ERROR options flags too long')
      const parsed = preparse(tokens, 2, ntokens)
      // md and ma word every flag problem alike.
      if (typeof parsed === 'string') return error(cmd === 'mg' ? parsed : 'CLIENT_ERROR invalid or duplicate flag')
      const {key, flags} = parsed
      if (cmd === 'md' && opaqueTooLong(flags)) return error('CLIENT_ERROR opaque token too long')
      if (cmd === 'ma' && flags.mode !== '' && !'I+D-'.includes(flags.mode)) return error('CLIENT_ERROR invalid mode for ma M token')
      return {kind: 'request', request: {cmd, key, flags}}
    }
    case 'ms': return setLine(tokens, ntokens, limits)
    default: return error('ERROR')
  }
}

function debugLine(tokens: string[], ntokens: number): MetaLine {
  const encoded = tokens[1]
  if (ntokens < 3 || encoded!.length > KEY_MAX_LENGTH) return error('CLIENT_ERROR bad command line format')
  let key = encoded!
  if (ntokens >= 4 && tokens[2] === 'b') {
    const decoded = base64Decode(key)
    if (decoded === undefined) return error('CLIENT_ERROR bad command line format')
    key = decoded
  }
  return {kind: 'request', request: {cmd: 'me', key}}
}

function setLine(tokens: string[], ntokens: number, limits: MetaLimits): MetaLine {
  if (ntokens < 3) return error('ERROR')
  if (tokens[1]!.length > KEY_MAX_LENGTH || ntokens === 3) return error('CLIENT_ERROR bad command line format')
  if (ntokens > MAX_FLAG_TOKENS) return error('CLIENT_ERROR options flags too long')
  const vlen = parseI32(tokens[2]!)
  if (vlen === undefined || vlen < 0 || vlen > 2147483645) return error('CLIENT_ERROR bad command line format')
  const skip = vlen + 2
  const parsed = preparse(tokens, 3, ntokens)
  if (typeof parsed === 'string') return {kind: 'swallow', skip, message: parsed}
  const {key, flags} = parsed
  if (opaqueTooLong(flags)) return {kind: 'swallow', skip, message: 'CLIENT_ERROR opaque token too long'}
  if (flags.mode !== '' && !'EAPRS'.includes(flags.mode)) return {kind: 'swallow', skip, message: 'CLIENT_ERROR invalid mode for ms M token'}
  if (limits.isTooLarge(key.length, flags.clientFlags, vlen)) {
    return {kind: 'swallow', skip, message: 'SERVER_ERROR object too large for cache', tooLarge: {cmd: 'ms_too_large', key}}
  }
  return {kind: 'data', header: {cmd: 'ms', key, flags}, need: skip}
}

function opaqueTooLong(flags: MetaFlags): boolean {
  return flags.tokens.some((t) => t.charCodeAt(0) === 0x4f && t.length > MAX_OPAQUE_LENGTH)
}

/**
 * memcached's _meta_flag_preparse: every flag token from `start`, by its
 * first character. Returns the (decoded) key and flags, or the error line.
 * Like memcached it reads every flag before it answers, and a flag whose
 * number is bad keeps the first message given ("bad command line format"
 * for F, which sets none).
 */
function preparse(tokens: string[], start: number, ntokens: number): {key: string; flags: MetaFlags} | string {
  const flags: MetaFlags = {
    tokens: tokens.slice(start, ntokens - 1), base64: false, quiet: false, value: false, noUpdate: false, invalidate: false,
    ttl: undefined, vivify: undefined, recache: undefined, clientFlags: 0, cas: 0n, mode: '', delta: 1n, initial: 0n,
  }
  let key = tokens[1]!
  let message: string | undefined
  let failed = false
  const fail = (m: string | undefined): void => {
    failed = true
    if (m !== undefined) message = m
  }
  const seen = new Set<number>()
  for (const t of flags.tokens) {
    const o = t.charCodeAt(0)
    if (o >= 127 || seen.has(o)) return 'CLIENT_ERROR duplicate flag'
    seen.add(o)
    const arg = t.slice(1)
    switch (t[0]) {
      case 'b': {
        const decoded = base64Decode(key)
        if (decoded === undefined) fail('CLIENT_ERROR error decoding key')
        else key = decoded
        flags.base64 = true
        break
      }
      case 'N': case 'T': case 'R': {
        const n = parseI32(arg)
        if (n === undefined) { fail('CLIENT_ERROR bad token in command line format'); break }
        if (t[0] === 'N') flags.vivify = n
        else if (t[0] === 'T') flags.ttl = n
        else flags.recache = n
        break
      }
      case 'F': {
        const n = parseU32(arg)
        if (n === undefined) fail(undefined)
        else flags.clientFlags = n
        break
      }
      case 'C': {
        const n = parseU64(arg)
        if (n === undefined) fail('CLIENT_ERROR bad token in command line format')
        else flags.cas = n
        break
      }
      case 'M':
        if (t.length !== 2) fail('CLIENT_ERROR incorrect length for M token')
        else flags.mode = t[1]!
        break
      case 'J': case 'D': {
        const n = parseU64(arg)
        if (n === undefined) fail(t[0] === 'J' ? 'CLIENT_ERROR invalid numeric initial value' : 'CLIENT_ERROR invalid numeric delta value')
        else if (t[0] === 'J') flags.initial = n
        else flags.delta = n
        break
      }
      case 'v': flags.value = true; break
      case 'u': flags.noUpdate = true; break
      case 'q': flags.quiet = true; break
      case 'I': flags.invalidate = true; break
      case 'l': case 'h': case 'O': case 'P': case 'L': case 'k': case 's': case 't': case 'c': case 'f':
        break
      default:
        return 'CLIENT_ERROR invalid flag'
    }
  }
  if (failed) return message ?? 'CLIENT_ERROR bad command line format'
  return {key, flags}
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/**
 * memcached's base64_decode: characters outside the alphabet are skipped,
 * the rest must come in groups of four, and decoding stops after the first
 * group with padding. undefined where memcached's returns 0 (failure, or nothing decoded).
 */
export function base64Decode(s: string): string | undefined {
  const sextets: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '=') sextets.push(-1)
    else {
      const v = B64.indexOf(c)
      if (v !== -1) sextets.push(v)
    }
  }
  if (sextets.length === 0 || sextets.length % 4 !== 0) return undefined
  let out = ''
  let pad = 0
  for (let i = 0; i < sextets.length; i += 4) {
    const b = sextets.slice(i, i + 4).map((v) => { if (v === -1) { pad++; return 0 } return v })
    const bytes = [((b[0]! << 2) | (b[1]! >> 4)) & 0xff, ((b[1]! << 4) | (b[2]! >> 2)) & 0xff, ((b[2]! << 6) | b[3]!) & 0xff]
    if (pad === 0) { out += String.fromCharCode(...bytes); continue }
    if (pad > 2) return undefined
    out += String.fromCharCode(...bytes.slice(0, 3 - pad))
    break
  }
  return out === '' ? undefined : out
}

export function base64Encode(s: string): string {
  return Buffer.from(s, 'latin1').toString('base64')
}
