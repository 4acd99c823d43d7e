// Incremental parser for memcached's text protocol. It works on Buffers,
// never decodes as UTF-8, and turns the byte stream into typed requests.
// Validation mirrors memcached 1.6's proto_text.c so that every malformed
// line gets the same answer a real memcached gives.

import {parseMetaLine, type MetaCommand, type MetaSetHeader} from './meta-parser.js'
import {parseI32, parseSmallI32, parseSmallU32, parseU32, parseU64} from './numbers.js'

export const KEY_MAX_LENGTH = 250
/** memcached closes a connection whose pending line has no newline after this many bytes (unless it is a get). */
const LINE_LIMIT = 2048
/**
 * memcached's read buffer: a line (newline included) longer than this can
 * never be seen whole, so memcached closes the connection even when the
 * newline has already arrived (again, unless it is a get).
 */
const READ_BUFFER_SIZE = 16384
/** Our bound for a multiget line, which memcached leaves unbounded. */
export const GET_LINE_LIMIT = 8 * 1024 * 1024
const MAX_TOKENS = 24
/** g s a c i d t: the letters memcached's command dispatch switches on before comparing names. */
const KNOWN_FIRST_LETTERS = [0x67, 0x73, 0x61, 0x63, 0x69, 0x64, 0x74]

export type StorageMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas'

export type TextRequest =
  /** `keyTooLong`: a key after `keys` is over 250 bytes; memcached looks up the keys before it, then fails the whole command. */
  | {type: 'get'; keys: string[]; withCas: boolean; touchExptime: number | undefined; keyTooLong: boolean}
  | {type: 'store'; mode: StorageMode; key: string; flags: number; exptime: number; value: string; cas: number; noreply: boolean}
  /** A value over the item size limit: its bytes were skipped; a set must drop the old value. */
  | {type: 'too_large'; mode: StorageMode; key: string; noreply: boolean}
  | {type: 'delta'; incr: boolean; key: string; delta: bigint; noreply: boolean}
  | {type: 'delete'; key: string; noreply: boolean}
  | {type: 'touch'; key: string; exptime: number; noreply: boolean}
  /** `delay` undefined: not a number (refused only once flush_all is known to be enabled). */
  | {type: 'flush_all'; delay: number | undefined; noreply: boolean}
  | {type: 'stats'; args: string[]}
  | {type: 'version'}
  | {type: 'quit'}
  /** `graceful` undefined: an unknown mode (refused only once shutdown is known to be enabled). */
  | {type: 'shutdown'; graceful: boolean | undefined}
  | {type: 'verbosity'; level: number; noreply: boolean}
  /** `megabytes` undefined: not a number. */
  | {type: 'cache_memlimit'; megabytes: number | undefined; noreply: boolean}
  /** A reply decided by the parser alone (malformed input); silent when noreply. */
  /** `keyTooLong`: refused for a key over 250 bytes (counted as a limit). */
  | {type: 'error'; message: string; noreply: boolean; keyTooLong?: true}
  /** memcached drops such connections without a word. */
  /** `lineTooLong`: closed by one of memcached's line limits (counted as a limit). */
  | {type: 'close'; reason: string; lineTooLong?: true}
  /** The meta protocol (meta-parser.ts, meta-commands.ts). */
  | {type: 'meta'; command: MetaCommand}
  /** Operators' commands (lru_crawler, watch, slabs, lru, extstore, refresh_certs): admin-commands.ts; `ntokens` as memcached counts. */
  | {type: 'admin'; tokens: string[]; ntokens: number}

export interface TextParserLimits {
  /** -I: values whose memcached size exceeds it are skipped, not buffered. */
  isTooLarge(keyLength: number, flags: number, valueLength: number): boolean
}

type Pending =
  /** A value being read: `value` is allocated at its full size once (as memcached allocates the item) and filled as bytes arrive. */
  | {kind: 'data'; header: StoreHeader; value: Buffer; filled: number}
  | {kind: 'meta_data'; header: MetaSetHeader; value: Buffer; filled: number}
  | {kind: 'swallow'; remaining: number}

type StoreHeader = Omit<Extract<TextRequest, {type: 'store'}>, 'value'>
/** A value to read: what the request will be once its data block has arrived. */
type ValueRead = {kind: 'data'; header: StoreHeader} | {kind: 'meta_data'; header: MetaSetHeader}

const EMPTY = Buffer.alloc(0)
/** The smallest buffer a partial request is copied into; grows by doubling (a long multiget line). */
const CARRY_MIN = 4096

/**
 * Requests are parsed straight from the bytes pushed, which are usually lent
 * (see ProtocolSession): only what is left unparsed when the lender wants
 * them back — a request split across reads — is copied, into `carry`.
 */
export class TextParser {
  /** The bytes being parsed: a lent read buffer, or `carry`. Valid bytes are [pos, end). */
  private buf: Buffer = EMPTY
  private pos = 0
  private end = 0
  private scanFrom = 0
  private lent = false
  /** Owned room for a partial request, kept while one is pending. */
  private carry: Buffer = EMPTY
  private pending: Pending | undefined
  private line = ''
  /** Where the last line was, when it was parsed without making it a string (made one only if asked for). */
  private lastLineAt = -1
  private lastLineEnd = -1

  constructor(private readonly limits: TextParserLimits) {}

  /** The last command line parsed (for -vv): valid until the next push or settle. */
  get lastLine(): string {
    if (this.lastLineAt !== -1) {
      this.line = this.buf.latin1Slice(this.lastLineAt, this.lastLineEnd)
      this.lastLineAt = -1
    }
    return this.line
  }

  private set lastLine(line: string) {
    this.line = line
    this.lastLineAt = -1
  }

  /** True while a value's data block is being read or skipped (memcached sends no reply meanwhile). */
  get midValue(): boolean {
    return this.pending !== undefined
  }

  /** Bytes received but not yet consumed. */
  get buffered(): number {
    const p = this.pending
    return this.end - this.pos + (p !== undefined && p.kind !== 'swallow' ? p.filled : 0)
  }

  /** `bytes[0 .. length)` arrived; they may be lent: call settle() before the lender reuses them. */
  push(bytes: Buffer, length: number = bytes.length): void {
    if (length === 0) return
    if (this.lastLineAt !== -1) this.lastLine = ''
    let from = 0
    const p = this.pending
    if (p !== undefined && p.kind !== 'swallow') {
      // Everything queued before went into the value already: the new bytes go there first.
      from = Math.min(length, p.value.length - p.filled)
      bytes.copy(p.value, p.filled, 0, from)
      p.filled += from
      if (from === length) return
    }
    if (this.pos >= this.end) {
      this.buf = bytes
      this.pos = from
      this.end = length
      this.scanFrom = from
      this.lent = true
      return
    }
    // A partial request is waiting (in carry, since settle() ran): append to it.
    this.keep(this.end - this.pos + length - from)
    bytes.copy(this.buf, this.end, from, length)
    this.end += length - from
  }

  /** Copy what is not parsed yet out of lent bytes, which are about to be reused. */
  settle(): void {
    if (!this.lent) return
    this.lent = false
    // A line not made a string yet pointed into the lent bytes: it is gone with them.
    if (this.lastLineAt !== -1) this.lastLine = ''
    if (this.pos >= this.end) {
      this.buf = EMPTY
      this.pos = this.end = this.scanFrom = 0
      return
    }
    this.keep(this.end - this.pos)
  }

  /** Move the unparsed bytes to the start of `carry`, with room for `total` bytes in all. */
  private keep(total: number): void {
    const n = this.end - this.pos
    if (this.carry.length < total) {
      const grown = Buffer.allocUnsafe(Math.max(CARRY_MIN, total, this.carry.length * 2))
      this.buf.copy(grown, 0, this.pos, this.end)
      this.carry = grown
    } else if (this.buf !== this.carry || this.pos > 0) {
      this.buf.copy(this.carry, 0, this.pos, this.end)
    }
    this.scanFrom -= this.pos
    this.buf = this.carry
    this.pos = 0
    this.end = n
    this.lent = false
  }

  /** Once nothing is pending, a large carry (a long multiget line) is given back. */
  private releaseCarry(): void {
    if (this.carry.length > CARRY_MIN * 4 && this.buf !== this.carry) this.carry = EMPTY
  }

  /** The next complete request, or undefined when more bytes are needed. */
  next(): TextRequest | undefined {
    if (this.pending !== undefined) return this.continuePending()
    const buf = this.buf
    const end = this.end
    const nl = buf.indexOf(10, Math.max(this.pos, this.scanFrom))
    if (nl === -1 || nl >= end) {
      this.scanFrom = end
      const waiting = end - this.pos
      if (waiting > LINE_LIMIT && !this.isLongGet()) return {type: 'close', reason: 'line too long', lineTooLong: true}
      if (waiting > GET_LINE_LIMIT) return {type: 'close', reason: 'multiget line too long', lineTooLong: true}
      if (waiting === 0) this.releaseCarry()
      return undefined
    }
    if (nl - this.pos >= READ_BUFFER_SIZE && !this.isLongGet()) return {type: 'close', reason: 'line too long', lineTooLong: true}
    let lineEnd = nl
    if (lineEnd - this.pos > 1 && buf[lineEnd - 1] === 13) lineEnd--
    const quick = this.singleKeyGet(buf, this.pos, lineEnd)
    if (quick !== undefined) {
      this.pos = nl + 1
      this.scanFrom = this.pos
      return quick
    }
    let line = buf.latin1Slice(this.pos, lineEnd)
    // C string semantics: a NUL ends the command. Searched in the line only, so a long pipeline stays linear.
    const zero = line.indexOf('\0')
    if (zero !== -1) line = line.slice(0, zero)
    this.pos = nl + 1
    this.scanFrom = this.pos
    this.lastLine = line
    return this.parseLine(line)
  }

  /**
   * `get <key>` and `gets <key>`, most of what a cache is asked, parsed
   * straight from the bytes: the same request parseLine makes of the line,
   * without the line and its tokens as strings. Anything else (a NUL, a
   * second key, a key over 250 bytes) is left to parseLine: undefined.
   */
  private singleKeyGet(buf: Buffer, start: number, end: number): TextRequest | undefined {
    if (buf[start] !== 103 || buf[start + 1] !== 101 || buf[start + 2] !== 116) return undefined
    let at = start + 3
    const withCas = buf[at] === 115
    if (withCas) at++
    if (buf[at] !== 32) return undefined
    while (at < end && buf[at] === 32) at++
    const keyStart = at
    while (at < end) {
      const c = buf[at]!
      if (c === 32 || c === 0) break
      at++
    }
    const keyEnd = at
    while (at < end && buf[at] === 32) at++
    if (at !== end || keyEnd === keyStart || keyEnd - keyStart > KEY_MAX_LENGTH) return undefined
    this.lastLine = ''
    this.lastLineAt = start
    this.lastLineEnd = end
    return {type: 'get', keys: [buf.latin1Slice(keyStart, keyEnd)], withCas, touchExptime: undefined, keyTooLong: false}
  }

  /** Drop every byte received and not parsed yet (a watcher's input: memcached's logger thread never reads it). */
  discardBuffered(): void {
    this.pos = this.scanFrom = this.end
    this.pending = undefined
  }

  private isLongGet(): boolean {
    let p = this.pos
    const buf = this.buf
    while (p < this.end && buf[p] === 32) p++
    if (p - this.pos > 100) return false
    const head = buf.latin1Slice(p, Math.min(p + 5, this.end))
    return head.startsWith('get ') || head.startsWith('gets ')
  }

  /** Finish a value read or a swallow; undefined when more bytes are needed. */
  private continuePending(): TextRequest | undefined {
    const p = this.pending!
    if (p.kind === 'swallow') {
      const take = Math.min(this.end - this.pos, p.remaining)
      this.pos += take
      this.scanFrom = this.pos
      p.remaining -= take
      if (p.remaining > 0) return undefined
      this.pending = undefined
      return this.next()
    }
    if (p.filled < p.value.length) return undefined
    this.pending = undefined
    return this.valueRequest(p, p.value, 0, p.value.length)
  }

  /** Read a value and its CRLF (`need` bytes): at once when they are here, else as they arrive. */
  private readValue(read: ValueRead, need: number): TextRequest | undefined {
    if (this.end - this.pos >= need) {
      const start = this.pos
      this.pos += need
      this.scanFrom = this.pos
      return this.valueRequest(read, this.buf, start, need)
    }
    const value = Buffer.allocUnsafe(need)
    const have = this.end - this.pos
    this.buf.copy(value, 0, this.pos, this.end)
    this.pos = this.scanFrom = this.end
    this.pending = read.kind === 'data' ? {kind: 'data', header: read.header, value, filled: have} : {kind: 'meta_data', header: read.header, value, filled: have}
    return undefined
  }

  /** The request a data block (value and CRLF) `data[start .. start + need)` completes. */
  private valueRequest(p: ValueRead, data: Buffer, start: number, need: number): TextRequest {
    const vlen = need - 2
    if (data[start + vlen] !== 13 || data[start + vlen + 1] !== 10) {
      // ms always answers this one, q or not.
      return {type: 'error', message: 'CLIENT_ERROR bad data chunk', noreply: p.kind === 'data' && p.header.noreply}
    }
    const value = data.latin1Slice(start, start + vlen)
    if (p.kind === 'meta_data') return {type: 'meta', command: {cmd: 'ms', key: p.header.key, flags: p.header.flags, value}}
    // Built field by field, in the type's order: a spread here gave every set request a slow, ever-changing shape.
    const h = p.header
    return {type: 'store', mode: h.mode, key: h.key, flags: h.flags, exptime: h.exptime, value, cas: h.cas, noreply: h.noreply}
  }

  private parseLine(line: string): TextRequest | undefined {
    const tokens = tokenize(line)
    // ntokens as memcached counts it: at most 23 tokens plus the terminal one.
    const ntokens = Math.min(tokens.length, MAX_TOKENS - 1) + 1
    const cmd = tokens[0]
    if (cmd === undefined || cmd.length < 2) return err('ERROR')
    if (cmd.length === 2 && cmd.charCodeAt(0) === 0x6d) return this.meta(tokens, ntokens)
    switch (cmd) {
      case 'get': case 'gets': case 'bget':
        if (ntokens < 3) return err('ERROR')
        return this.retrieval(tokens, 1, cmd === 'gets', undefined)
      case 'gat': case 'gats': {
        if (ntokens < 3) return err('ERROR')
        const exptime = parseI32(tokens[1]!)
        if (exptime === undefined) return err('CLIENT_ERROR invalid exptime argument')
        return this.retrieval(tokens, 2, cmd === 'gats', exptime)
      }
      case 'set': case 'add': case 'replace': case 'append': case 'prepend':
        if (ntokens !== 6 && ntokens !== 7) return err('ERROR')
        return this.storage(cmd, tokens, ntokens)
      case 'cas':
        if (ntokens !== 7 && ntokens !== 8) return err('ERROR')
        return this.storage(cmd, tokens, ntokens)
      case 'incr': case 'decr': {
        if (ntokens !== 4 && ntokens !== 5) return err('ERROR')
        const noreply = isNoreply(tokens, ntokens)
        const key = tokens[1]!
        if (key.length > KEY_MAX_LENGTH) return keyTooLong(noreply)
        const delta = parseU64(tokens[2]!)
        if (delta === undefined) return err('CLIENT_ERROR invalid numeric delta argument', noreply)
        return {type: 'delta', incr: cmd === 'incr', key, delta, noreply}
      }
      case 'delete': {
        if (ntokens < 3 || ntokens > 5) return err('ERROR')
        let noreply = false
        if (ntokens > 3) {
          const holdIsZero = tokens[2] === '0'
          noreply = isNoreply(tokens, ntokens)
          const valid = (ntokens === 4 && (holdIsZero || noreply)) || (ntokens === 5 && holdIsZero && noreply)
          if (!valid) return err('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]', noreply)
        }
        const key = tokens[1]!
        if (key.length > KEY_MAX_LENGTH) return keyTooLong(noreply)
        return {type: 'delete', key, noreply}
      }
      case 'touch': {
        if (ntokens !== 4 && ntokens !== 5) return err('ERROR')
        const noreply = isNoreply(tokens, ntokens)
        const key = tokens[1]!
        if (key.length > KEY_MAX_LENGTH) return keyTooLong(noreply)
        const exptime = parseI32(tokens[2]!)
        if (exptime === undefined) return err('CLIENT_ERROR invalid exptime argument', noreply)
        return {type: 'touch', key, exptime, noreply}
      }
      case 'flush_all': {
        if (ntokens < 2 || ntokens > 4) return err('ERROR')
        const noreply = isNoreply(tokens, ntokens)
        const delay = ntokens === (noreply ? 3 : 2) ? 0 : parseI32(tokens[1]!)
        return {type: 'flush_all', delay, noreply}
      }
      case 'stats':
        return {type: 'stats', args: tokens.slice(1)}
      case 'version':
        return {type: 'version'}
      case 'quit':
        return {type: 'quit'}
      case 'shutdown':
        if (ntokens === 2) return {type: 'shutdown', graceful: false}
        if (ntokens === 3 && tokens[1] === 'graceful') return {type: 'shutdown', graceful: true}
        return {type: 'shutdown', graceful: undefined}
      case 'verbosity': {
        if (ntokens !== 3 && ntokens !== 4) return err('ERROR')
        const noreply = isNoreply(tokens, ntokens)
        const level = parseU32(tokens[1]!)
        if (level === undefined) return err('CLIENT_ERROR bad command line format', noreply)
        return {type: 'verbosity', level, noreply}
      }
      case 'cache_memlimit': {
        if (ntokens !== 3 && ntokens !== 4) return err('ERROR')
        const noreply = isNoreply(tokens, ntokens)
        return {type: 'cache_memlimit', megabytes: parseU32(tokens[1]!), noreply}
      }
      case 'lru_crawler': case 'watch': case 'slabs': case 'lru': case 'extstore': case 'refresh_certs':
        return {type: 'admin', tokens, ntokens}
      default: {
        // memcached dispatches on the first letter first: an unknown command
        // starting with one of its command letters (or a two-letter m-command,
        // the meta protocol) is a plain ERROR, never taken for HTTP.
        if (KNOWN_FIRST_LETTERS.includes(cmd.charCodeAt(0)) || (cmd.length === 2 && cmd.charCodeAt(0) === 0x6d)) return err('ERROR')
        if (tokens[ntokens - 2]!.startsWith('HTTP/')) return {type: 'close', reason: 'HTTP request'}
        return err('ERROR')
      }
    }
  }

  /** A meta command line (mg, ms, md, ma, mn, me): parsed by meta-parser.ts; ms reads or skips its value here. */
  private meta(tokens: string[], ntokens: number): TextRequest | undefined {
    const line = parseMetaLine(tokens, ntokens, this.limits)
    switch (line.kind) {
      case 'request': return {type: 'meta', command: line.request}
      case 'error': return err(line.message)
      case 'swallow':
        this.pending = {kind: 'swallow', remaining: line.skip}
        return line.tooLarge !== undefined ? {type: 'meta', command: line.tooLarge} : err(line.message)
      case 'data':
        return this.readValue({kind: 'meta_data', header: line.header}, line.need)
    }
  }

  private retrieval(tokens: string[], first: number, withCas: boolean, touchExptime: number | undefined): TextRequest {
    let keys = first === 1 && tokens.length === 2 ? [tokens[1]!] : tokens.slice(first)
    let keyTooLong = false
    for (let i = 0; i < keys.length; i++) {
      if (keys[i]!.length > KEY_MAX_LENGTH) {
        keys = keys.slice(0, i)
        keyTooLong = true
        break
      }
    }
    return {type: 'get', keys, withCas, touchExptime, keyTooLong}
  }

  private storage(mode: StorageMode, tokens: string[], ntokens: number): TextRequest | undefined {
    const noreply = isNoreply(tokens, ntokens)
    const key = tokens[1]!
    if (key.length > KEY_MAX_LENGTH) return keyTooLong(noreply)
    const flags = parseSmallU32(tokens[2]!)
    const exptime = parseSmallI32(tokens[3]!)
    const vlen = parseSmallI32(tokens[4]!)
    if (flags === undefined || exptime === undefined || vlen === undefined) return err('CLIENT_ERROR bad command line format', noreply)
    let cas = 0
    if (mode === 'cas') {
      const c = parseU64(tokens[5]!)
      if (c === undefined) return err('CLIENT_ERROR bad command line format', noreply)
      // Our cas values are below 2^53; a larger one can only be a mismatch.
      cas = c > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(c)
    }
    if (vlen < 0 || vlen > 2147483645) return err('CLIENT_ERROR bad command line format', noreply)
    if (this.limits.isTooLarge(key.length, flags, vlen)) {
      this.pending = {kind: 'swallow', remaining: vlen + 2}
      return {type: 'too_large', mode, key, noreply}
    }
    return this.readValue({kind: 'data', header: {type: 'store', mode, key, flags, exptime, cas, noreply}}, vlen + 2)
  }
}

function keyTooLong(noreply: boolean): TextRequest {
  return {type: 'error', message: 'CLIENT_ERROR bad command line format', noreply, keyTooLong: true}
}

function err(message: string, noreply = false): TextRequest {
  return {type: 'error', message, noreply}
}

/** memcached's set_noreply_maybe: the last real token is "noreply". */
function isNoreply(tokens: string[], ntokens: number): boolean {
  return tokens[ntokens - 2] === 'noreply'
}

/** Split on spaces only (tabs are part of tokens in memcached), dropping empty tokens. */
export function tokenize(line: string): string[] {
  const out: string[] = []
  let start = -1
  for (let i = 0; i < line.length; i++) {
    if (line.charCodeAt(i) === 32) {
      if (start !== -1) { out.push(line.slice(start, i)); start = -1 }
    } else if (start === -1) {
      start = i
    }
  }
  if (start !== -1) out.push(line.slice(start))
  return out
}
