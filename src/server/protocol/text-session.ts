import type {ServerContext} from '../context.js'
import type {ProtocolSession} from './session.js'
import {AsciiAuthGate} from './text-auth.js'
import {handleText} from './text-commands.js'
import {TextParser} from './text-parser.js'
import type {ReplyBuffer} from './reply-buffer.js'
import {itemTotalSize} from '../store/slab-classes.js'
import {adminCommand, type OutputStream} from './admin-commands.js'

export class TextSession implements ProtocolSession {
  private readonly parser: TextParser
  /**
   * Replies held back while a value is still arriving. memcached queues
   * replies and writes them only when it needs more input for a command
   * line, right after a get, and after every -R requests (21 in its first
   * round, as it counts); it writes nothing while it reads or skips a
   * value's data, and drops what is still queued when it closes a
   * connection or refuses a get for a too long key. We keep to the same
   * points, so that replies arrive (or are lost) exactly when memcached's
   * would.
   */
  private held: Buffer | undefined
  /** memcached's nreqs: requests left before it yields (and writes). */
  private nreqs: number
  /** With -Y: stands before the parser until the client has authenticated. */
  private gate: AsciiAuthGate | undefined
  private gateReply = ''
  private refused: string | undefined
  /** Output after a request returned (a metadump, a watch): sent before anything else is read. */
  private stream: OutputStream | undefined
  private wake: () => void = () => {}

  constructor(private readonly ctx: ServerContext, private readonly id: number) {
    const {itemSizeMax, useCas} = ctx.options
    this.parser = new TextParser({isTooLarge: (k, f, v) => itemTotalSize(k, f, v, useCas) > itemSizeMax})
    this.nreqs = ctx.options.reqsPerEvent
    if (ctx.options.authFile !== undefined && ctx.credentials !== undefined) this.gate = new AsciiAuthGate(ctx, ctx.credentials)
  }

  push(bytes: Buffer, length: number = bytes.length): void {
    if (this.gate === undefined) {
      if (this.refused === undefined) this.parser.push(bytes, length)
      return
    }
    const r = this.gate.push(bytes.subarray(0, length))
    if (r.outcome === 'close') {
      this.gate = undefined
      this.refused = r.why
    } else if (r.outcome === 'wait') {
      if (r.reply !== '') this.gateReply = r.reply // one reply buffer while unauthenticated, as in memcached
    } else {
      this.gate = undefined
      this.held = Buffer.from(r.reply, 'latin1')
      if (r.rest.length > 0) this.parser.push(r.rest)
    }
  }

  settle(): void {
    this.parser.settle()
  }

  setWake(wake: () => void): void {
    this.wake = wake
  }

  state(): string | undefined {
    if (this.stream !== undefined) return 'conn_watch'
    if (this.ctx.activeConnection === this.id) return 'conn_parse_cmd'
    return this.parser.midValue ? 'conn_nread' : undefined
  }

  close(): void {
    this.stream?.close()
    this.stream = undefined
  }

  drain(out: ReplyBuffer, budget: number): ReturnType<ProtocolSession['drain']> {
    if (this.refused !== undefined) return {status: 'close', reason: `not authenticated: ${this.refused}`}
    if (this.gate !== undefined) {
      out.text(this.gateReply)
      this.gateReply = ''
      return {status: 'wait'}
    }
    // `watch` lines and `stats conns` name the connection whose requests are handled.
    this.ctx.activeConnection = this.id
    if (this.stream !== undefined) {
      // memcached hands the connection to its crawler or logger thread, which reads nothing from it.
      if (!this.stream.keepsInput) this.parser.discardBuffered()
      if (this.stream.fill(out, budget) === 'open') return {status: 'wait'}
      this.stream = undefined
      // What was pipelined behind it waits for the client's next bytes, as in memcached.
      return {status: 'wait'}
    }
    const held = this.held
    if (held !== undefined) {
      out.bytes(held, 0, held.length)
      this.held = undefined
    }
    /** How much of the reply memcached would already have written (up to its last get or yield). */
    let written = 0
    /** Requests whose replies memcached still holds (a metadump or watch refuses to start behind them). */
    let stacked = held !== undefined ? 1 : 0
    const log = this.ctx.log
    for (;;) {
      const req = this.parser.next()
      if (req === undefined) {
        // Out of input with replies still queued, memcached writes them and looks for the next request once more: with
        // its count spent, that look is a yield too.
        if (this.nreqs === 0 && written < out.length && !this.parser.midValue) this.ctx.stats.connYields++
        this.nreqs = this.ctx.options.reqsPerEvent
        if (this.parser.midValue && written < out.length) {
          this.held = Buffer.from(out.view(written))
          out.truncate(written)
        }
        return {status: 'wait'}
      }
      if (log.verbosity >= 2) log.trace(`<${this.id} ${this.parser.lastLine}`)
      if (req.type === 'quit') return {status: 'quit'}
      if (req.type === 'close') {
        if (req.lineTooLong === true) this.ctx.stats.limitsLineTooLong++
        out.truncate(written)
        return {status: 'close', reason: req.reason}
      }
      const isGet = req.type === 'get'
      // memcached discards every reply it has not written yet before a too long key's error.
      if (isGet && req.keyTooLong) out.truncate(written)
      if (req.type === 'admin') {
        const r = adminCommand(req.tokens, req.ntokens, this.ctx, {stacked: stacked > 0, wake: this.wake})
        out.text(r.reply)
        if (r.stream !== undefined) {
          this.stream = r.stream
          return this.drain(out, budget)
        }
      } else {
        handleText(req, this.ctx, out)
      }
      stacked++
      // After a get, and after mn (a fence), memcached writes everything queued so far at once.
      if ((isGet && !req.keyTooLong) || (req.type === 'meta' && req.command.cmd === 'mn')) { written = out.length; stacked = 0 }
      if (--this.nreqs < 0) {
        this.ctx.stats.connYields++
        written = out.length
        stacked = 0
        this.nreqs = this.ctx.options.reqsPerEvent - 1
      }
      if (req.type === 'shutdown' && this.ctx.options.enableShutdown && req.graceful !== undefined) return {status: 'close', reason: 'shutdown'}
      if (out.length >= budget) return {status: 'more'}
    }
  }
}
