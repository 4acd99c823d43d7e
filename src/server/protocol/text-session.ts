import type {ServerContext} from '../context.js'
import type {ProtocolSession} from './session.js'
import {AsciiAuthGate} from './text-auth.js'
import {handleText} from './text-commands.js'
import {TextParser} from './text-parser.js'
import {itemTotalSize} from '../store/slab-classes.js'

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
  private held = ''
  /** memcached's nreqs: requests left before it yields (and writes). */
  private nreqs: number
  /** With -Y: stands before the parser until the client has authenticated. */
  private gate: AsciiAuthGate | undefined
  private gateReply = ''
  private refused: string | undefined

  constructor(private readonly ctx: ServerContext, private readonly id: number) {
    const {itemSizeMax, useCas} = ctx.options
    this.parser = new TextParser({isTooLarge: (k, f, v) => itemTotalSize(k, f, v, useCas) > itemSizeMax})
    this.nreqs = ctx.options.reqsPerEvent
    if (ctx.options.authFile !== undefined && ctx.credentials !== undefined) this.gate = new AsciiAuthGate(ctx, ctx.credentials)
  }

  push(chunk: Buffer): void {
    if (this.gate === undefined) {
      if (this.refused === undefined) this.parser.push(chunk)
      return
    }
    const r = this.gate.push(chunk)
    if (r.outcome === 'close') {
      this.gate = undefined
      this.refused = r.why
    } else if (r.outcome === 'wait') {
      if (r.reply !== '') this.gateReply = r.reply // one reply buffer while unauthenticated, as in memcached
    } else {
      this.gate = undefined
      this.held = r.reply
      if (r.rest.length > 0) this.parser.push(r.rest)
    }
  }

  drain(budget: number): ReturnType<ProtocolSession['drain']> {
    if (this.refused !== undefined) return {reply: '', status: 'close', reason: `not authenticated: ${this.refused}`}
    if (this.gate !== undefined) {
      const reply = this.gateReply
      this.gateReply = ''
      return {reply, status: 'wait'}
    }
    let reply = this.held
    this.held = ''
    /** How much of `reply` memcached would already have written (up to its last get or yield). */
    let written = 0
    const log = this.ctx.log
    for (;;) {
      const req = this.parser.next()
      if (req === undefined) {
        this.nreqs = this.ctx.options.reqsPerEvent
        if (this.parser.midValue && written < reply.length) {
          this.held = reply.slice(written)
          return {reply: reply.slice(0, written), status: 'wait'}
        }
        return {reply, status: 'wait'}
      }
      if (log.verbosity >= 2) log.trace(`<${this.id} ${this.parser.lastLine}`)
      if (req.type === 'quit') return {reply, status: 'quit'}
      if (req.type === 'close') {
        if (req.lineTooLong === true) this.ctx.stats.limitsLineTooLong++
        return {reply: reply.slice(0, written), status: 'close', reason: req.reason}
      }
      const out = handleText(req, this.ctx)
      if (req.type === 'meta' && req.command.cmd === 'mn') {
        // mn makes memcached write everything queued so far at once, like a get.
        reply += out
        written = reply.length
      } else if (req.type !== 'get') {
        reply += out
      } else if (req.keyTooLong) {
        // memcached discards every reply it has not written yet before this error.
        reply = reply.slice(0, written) + out
      } else {
        reply += out
        written = reply.length
      }
      if (--this.nreqs < 0) {
        written = reply.length
        this.nreqs = this.ctx.options.reqsPerEvent - 1
      }
      if (req.type === 'shutdown' && this.ctx.options.enableShutdown && req.graceful !== undefined) return {reply, status: 'close', reason: 'shutdown'}
      if (reply.length >= budget) return {reply, status: 'more'}
    }
  }
}
