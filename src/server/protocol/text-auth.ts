// ASCII authentication (-Y), as memcached 1.6.18 answers it (checked against
// it, test/integration/auth.test.ts): until a client authenticates, the only
// command is `set <any key> <flags> <exptime> <bytes>` whose data is
// "user password" (more words are ignored, noreply too). Success answers
// STORED and the connection goes on as usual. Anything else gets an error
// and the connection stays unauthenticated; memcached keeps one reply buffer
// in this state, so of the errors produced from one read only the last is
// sent, and we do the same.

import type {Credentials} from '../auth.js'
import type {ServerContext} from '../context.js'

/** memcached closes a connection that sends this much without a newline before authenticating. */
const LINE_MAX = 2048
/**
 * memcached would wait for any announced length; the data is only a user
 * and a password, so a longer one is refused at once rather than buffered
 * (not in memcached, which stalls such a connection).
 */
const DATA_MAX = 4096
const REFUSED = 'CLIENT_ERROR unauthenticated\r\n'

export type GateResult =
  /** Needs more input; `reply` is what to send meanwhile ('' for nothing). */
  | {outcome: 'wait'; reply: string}
  | {outcome: 'ok'; reply: string; rest: Buffer}
  | {outcome: 'close'; why: string}

export class AsciiAuthGate {
  private buf: Buffer = Buffer.alloc(0)
  /** Data bytes (with the closing CRLF) announced by the `set` line; -1 while reading that line. */
  private need = -1

  constructor(private readonly ctx: ServerContext, private readonly credentials: Credentials) {}

  push(chunk: Buffer): GateResult {
    // The chunk is lent (see ProtocolSession): what is kept is a copy.
    this.buf = Buffer.concat([this.buf, chunk])
    let reply = ''
    for (;;) {
      if (this.need === -1) {
        const nl = this.buf.indexOf(0x0a)
        if (nl === -1) return this.buf.length > LINE_MAX ? {outcome: 'close', why: `${this.buf.length} bytes without a newline before authenticating`} : {outcome: 'wait', reply}
        const tokens = this.buf.latin1Slice(0, nl).split(' ').filter((t) => t !== '')
        this.buf = this.buf.subarray(nl + 1)
        const size = tokens.length >= 5 && tokens[0] === 'set' ? dataLength(tokens[4]!) : undefined
        if (size === undefined || size > DATA_MAX) {
          reply = REFUSED
          continue
        }
        this.need = size + 2
      }
      if (this.buf.length < this.need) return {outcome: 'wait', reply}
      const data = this.buf.subarray(0, this.need)
      this.buf = this.buf.subarray(this.need)
      this.need = -1
      if (data[data.length - 2] !== 0x0d || data[data.length - 1] !== 0x0a) {
        reply = 'CLIENT_ERROR bad command line termination\r\n'
        continue
      }
      const words = data.latin1Slice(0, data.length - 2).split(' ').filter((t) => t !== '')
      if (words.length < 2) {
        reply = 'CLIENT_ERROR bad authentication token format\r\n'
        continue
      }
      this.ctx.stats.authCmds++
      if (this.credentials.check(words[0]!, words[1]!)) {
        this.ctx.log.info(`ASCII client authenticated as ${words[0]}`)
        const rest = this.buf
        this.buf = Buffer.alloc(0)
        return {outcome: 'ok', reply: 'STORED\r\n', rest}
      }
      this.ctx.stats.authErrors++
      this.ctx.log.info(`ASCII client failed to authenticate as ${words[0]}`)
      reply = 'CLIENT_ERROR authentication failure\r\n'
    }
  }
}

/** memcached's safe_strtoul on the length token (a trailing CR is white space to it). */
function dataLength(token: string): number | undefined {
  const m = /^\+?(\d+)[\t\n\v\f\r ]*$/.exec(token)
  if (m === null) return undefined
  const n = Number(m[1])
  return n <= 0xffffffff ? n : undefined
}
