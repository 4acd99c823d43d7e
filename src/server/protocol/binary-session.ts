// Binary-protocol glue: bytes in through the frame parser, typed requests to
// the handlers, reply packets out. It also keeps memcached's timing of
// replies where a client can tell the difference:
// - while a value is being read or skipped, nothing is written (so the reply
//   to a too-large set appears only once its body has been skipped);
// - when memcached drops a connection (bad magic, oversized head) the replies
//   it had queued but not yet written are lost; only those it wrote out
//   (after an error, a Noop, a Quit, or when input ran dry) reach the client.

import type {ServerContext} from '../context.js'
import {itemTotalSize} from '../store/slab-classes.js'
import {allowedBeforeAuth, isSasl, refuseUnauthenticated, saslCommand} from './binary-auth.js'
import {handleBinary, type BinaryResult} from './binary-commands.js'
import {BinaryFrameParser} from './binary-parser.js'
import type {ReplyBuffer} from './reply-buffer.js'
import type {ProtocolSession} from './session.js'

type DrainResult = ReturnType<ProtocolSession['drain']>

export class BinarySession implements ProtocolSession {
  private readonly parser: BinaryFrameParser
  /** Replies produced and not yet handed to the connection. */
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** How many of `pending` memcached would already have written. */
  private written = 0
  /** With authentication on: whether this connection has passed SASL. */
  private authenticated = false

  constructor(private readonly ctx: ServerContext, private readonly id: number) {
    const {itemSizeMax, useCas} = ctx.options
    this.parser = new BinaryFrameParser({isTooLarge: (k, f, v) => itemTotalSize(k, f, v, useCas) > itemSizeMax, sasl: ctx.credentials !== undefined})
  }

  push(bytes: Buffer, length: number = bytes.length): void {
    this.parser.push(length === bytes.length ? bytes : bytes.subarray(0, length), true)
  }

  settle(): void {
    this.parser.settle()
  }

  drain(out: ReplyBuffer, budget: number): DrainResult {
    const log = this.ctx.log
    // `watch` lines and `stats conns` name the connection whose requests are handled.
    this.ctx.activeConnection = this.id
    for (;;) {
      const req = this.parser.next()
      if (req === undefined) {
        // memcached writes its queue when it runs out of input, but not in the middle of a body.
        this.release(out, this.parser.inBody ? this.written : this.pending.length)
        return {status: 'wait'}
      }
      if (req.type === 'close') {
        this.release(out, this.written)
        this.drop()
        return {status: 'close', reason: req.reason}
      }
      if (log.verbosity >= 2) log.trace(`<${this.id} binary opcode 0x${req.opcode.toString(16).padStart(2, '0')}${'key' in req ? ' ' + req.key : ''}`)
      const result = this.answer(req)
      for (const p of result.packets) {
        this.pending.push(p)
        this.pendingBytes += p.length
      }
      if (result.flush) this.written = this.pending.length
      if (result.after === 'quit') { this.release(out, this.pending.length); return {status: 'quit'} }
      if (result.after === 'close') { this.release(out, this.pending.length); return {status: 'close', reason: result.reason} }
      if (this.pendingBytes >= budget) { this.release(out, this.pending.length); return {status: 'more'} }
    }
  }

  private answer(req: Parameters<typeof handleBinary>[0]): BinaryResult {
    const credentials = this.ctx.credentials
    if (credentials === undefined) return handleBinary(req, this.ctx)
    if (isSasl(req)) {
      const r = saslCommand(req, this.ctx, credentials)
      if (r.authenticated !== undefined) this.authenticated = r.authenticated
      return r.result
    }
    if (!this.authenticated && !allowedBeforeAuth(req)) return refuseUnauthenticated(req)
    return handleBinary(req, this.ctx)
  }

  /** Hand over the first `count` pending replies. */
  private release(out: ReplyBuffer, count: number): void {
    if (count === 0) return
    for (let i = 0; i < count; i++) {
      const p = this.pending[i]!
      out.bytes(p, 0, p.length)
      this.pendingBytes -= p.length
    }
    this.pending = this.pending.slice(count)
    this.written = Math.max(0, this.written - count)
  }

  private drop(): void {
    this.pending = []
    this.pendingBytes = 0
    this.written = 0
  }
}

