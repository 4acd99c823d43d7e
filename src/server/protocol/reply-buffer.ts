// Reply bytes are built in one Buffer and written with one write per read,
// values copied once, straight from the store's pages. Strings per reply
// (and their flattening when Node writes them) were a good share of the
// server's user CPU per request (bench/history.md, 2026-12-06).
//
// The connection module lends one ReplyBuffer to every session in turn;
// when the socket cannot take a reply at once it keeps a reference to those
// bytes, so the buffer lets go of its memory (`disown`) and starts afresh.

/** Below this, bytes are copied one by one: cheaper than setting up a copy for a few bytes. */
const SMALL_COPY = 32
const FIRST_SIZE = 16 * 1024
/** A buffer grown past this for one large reply is not kept for the next ones. */
const KEEP_MAX = 1024 * 1024

export class ReplyBuffer {
  private buf: Buffer = Buffer.allocUnsafe(FIRST_SIZE)
  /** Bytes of reply so far: buf[0 .. length). */
  length = 0

  /** Append a string whose characters are all below 256 (protocol text, keys). */
  text(s: string): void {
    const n = s.length
    this.room(n)
    const b = this.buf
    let at = this.length
    if (n <= SMALL_COPY) {
      for (let i = 0; i < n; i++) b[at++] = s.charCodeAt(i)
    } else {
      b.latin1Write(s, at, n)
    }
    this.length += n
  }

  bytes(src: Buffer, start: number, end: number): void {
    const n = end - start
    this.room(n)
    const b = this.buf
    if (n <= SMALL_COPY) {
      let at = this.length
      for (let i = start; i < end; i++) b[at++] = src[i]!
    } else {
      src.copy(b, this.length, start, end)
    }
    this.length += n
  }

  /** Append a whole number >= 0 in decimal (flags, lengths, cas values: all below 2^53). */
  decimal(n: number): void {
    this.room(16)
    this.length = writeDecimal(this.buf, this.length, n)
  }

  /**
   * `VALUE <key> <flags> <bytes>[ <cas>]\r\n`, the line before each value a
   * retrieval returns, written in one go (it is most of a get's reply).
   */
  valueLine(key: string, flags: number, bytes: number, cas: number | undefined): void {
    const n = key.length
    this.room(n + 60)
    const b = this.buf
    let at = this.length
    b[at] = 86; b[at + 1] = 65; b[at + 2] = 76; b[at + 3] = 85; b[at + 4] = 69; b[at + 5] = 32 // "VALUE "
    at += 6
    for (let i = 0; i < n; i++) b[at++] = key.charCodeAt(i)
    b[at++] = 32
    at = writeDecimal(b, at, flags)
    b[at++] = 32
    at = writeDecimal(b, at, bytes)
    if (cas !== undefined) {
      b[at++] = 32
      at = writeDecimal(b, at, cas)
    }
    b[at] = 13; b[at + 1] = 10
    this.length = at + 2
  }

  /** Drop everything after the first `n` bytes. */
  truncate(n: number): void {
    if (n < this.length) this.length = n
  }

  /** The reply so far (a view: valid until the buffer is next written to). */
  view(from = 0, to = this.length): Buffer {
    return this.buf.subarray(from, to)
  }

  /** Start a new reply in the same memory. */
  clear(): void {
    this.length = 0
    if (this.buf.length > KEEP_MAX) this.buf = Buffer.allocUnsafe(FIRST_SIZE)
  }

  /** The bytes written so far now belong to someone else (a socket still sending them): use new memory from here on. */
  disown(): void {
    this.buf = Buffer.allocUnsafe(FIRST_SIZE)
    this.length = 0
  }

  private room(n: number): void {
    const need = this.length + n
    if (need <= this.buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
    this.buf.copy(grown, 0, 0, this.length)
    this.buf = grown
  }
}

/** `n` (a whole number, 0 <= n < 2^53) in decimal at b[at..]; returns the end. The caller made room (16 bytes at most). */
function writeDecimal(b: Buffer, at: number, n: number): number {
  if (n < 10) {
    b[at] = 48 + n
    return at + 1
  }
  let digits = 1
  if (n < 2147483648) {
    // Small integers (flags, lengths, most cas values): integer arithmetic.
    for (let x = n; x >= 10; x = (x / 10) | 0) digits++
    let end = at + digits
    for (let x = n; end > at; x = (x / 10) | 0) b[--end] = 48 + (x % 10)
    return at + digits
  }
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++
  let end = at + digits
  for (let x = n; end > at; x = Math.floor(x / 10)) b[--end] = 48 + (x % 10)
  return at + digits
}
