// The only module that touches client sockets: reads, picks the protocol
// from the first byte, pipelines requests, coalesces the replies of one read
// into one write, and stops reading from a client that does not read its
// replies (so the server never buffers without bound).

import type {Socket} from 'node:net'
import type {ServerContext} from './context.js'
import {deliverReads} from './socket-reads.js'
import {now} from './store/clock.js'
import type {ProtocolSession} from './protocol/session.js'
import {BinarySession} from './protocol/binary-session.js'
import {ReplyBuffer} from './protocol/reply-buffer.js'
import {TextSession} from './protocol/text-session.js'

/** Reply bytes gathered before they are handed to the socket. */
const REPLY_BUDGET = 256 * 1024
/** Above this much unsent output we stop reading the client until it drains. */
const OUTPUT_HIGH_WATER = 1024 * 1024

export type SessionFactory = (firstByte: number, ctx: ServerContext, id: number) => ProtocolSession

/**
 * Replies are built here, one connection at a time; lent to the socket when
 * written (a write the kernel takes at once leaves it free for the next).
 */
const replies = new ReplyBuffer()

/** Binary request magic: memcached picks the protocol from a connection's first byte. */
const BINARY_REQUEST_MAGIC = 0x80

export const chooseSession: SessionFactory = (firstByte, ctx, id) => {
  const mode = ctx.options.protocol
  const binary = mode === 'binary' || (mode === 'auto' && firstByte === BINARY_REQUEST_MAGIC)
  return binary ? new BinarySession(ctx, id) : new TextSession(ctx, id)
}

export class Connection {
  private session: ProtocolSession | undefined
  private waitingForDrain = false
  private closed = false
  /** Why the connection ended, as `watch connevents` reports it: the client left or quit (normal), or the server closed it. */
  closeReason: 'normal' | 'error' | 'idle_timeout' | 'shutdown' = 'normal'
  /** Unix seconds when the client last sent bytes (`stats conns`). */
  lastActive = now()
  /** The client's socket (not always the one accepted: see socket-reads.ts). */
  readonly socket: Socket

  /** `accepted` has not started reading (the listener's `pauseOnConnect`). */
  constructor(
    accepted: Socket,
    private readonly ctx: ServerContext,
    readonly id: number,
    private readonly sessions: SessionFactory = chooseSession,
  ) {
    const socket = deliverReads(accepted, (bytes, length) => this.onRead(bytes, length))
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('error', (e) => ctx.log.info(`<${id} connection error: ${e.message}`))
    socket.on('close', () => { this.closed = true; this.session?.close?.() })
    if (ctx.options.idleTimeout > 0) {
      socket.setTimeout(ctx.options.idleTimeout * 1000, () => {
        ctx.stats.idleKicks++
        this.closeReason = 'idle_timeout'
        ctx.log.info(`<${id} idle timeout, closing`)
        socket.destroy()
      })
    }
  }

  /** `bytes` is lent until this returns (socket-reads.ts): the session copies what it keeps. */
  private onRead(bytes: Buffer, length: number): void {
    this.ctx.stats.bytesRead += length
    this.lastActive = now()
    if (this.closed || length === 0) return
    if (this.session === undefined) {
      this.session = this.sessions(bytes[0]!, this.ctx, this.id)
      // Output made outside a request (watch, metadump slices) is sent by the same pump, under the same backpressure.
      this.session.setWake?.(() => this.wakeSoon())
    }
    this.session.push(bytes, length)
    if (!this.waitingForDrain) this.pump()
    this.session.settle()
  }

  /** memcached's state name for `stats conns`. */
  get state(): string {
    if (this.waitingForDrain) return 'conn_mwrite'
    return this.session?.state?.() ?? 'conn_read'
  }

  private wakeScheduled = false

  /** Later, never inside another connection's drain (replies are built in one shared buffer). */
  private wakeSoon(): void {
    if (this.wakeScheduled) return
    this.wakeScheduled = true
    setImmediate(() => {
      this.wakeScheduled = false
      if (!this.closed && !this.waitingForDrain) this.pump()
    })
  }

  private pump(): void {
    const session = this.session!
    const socket = this.socket
    for (;;) {
      if (this.closed) return
      let result: ReturnType<ProtocolSession['drain']>
      const out = replies
      out.clear()
      try {
        result = session.drain(out, REPLY_BUDGET)
      } catch (e) {
        // A bug must cost one connection, never the server.
        this.ctx.log.warn(`<${this.id} internal error, closing connection: ${(e as Error).stack ?? String(e)}`)
        // Text clients get memcached's error line; a binary client would read it as a broken frame, so it is only closed.
        if (session instanceof TextSession) socket.end('SERVER_ERROR internal error\r\n')
        else socket.destroy()
        return
      }
      const {status} = result
      if (out.length > 0) {
        this.ctx.stats.bytesWritten += out.length
        socket.write(out.view())
        // Not all taken by the kernel: the socket holds on to those bytes until it is.
        if (socket.writableLength > 0) out.disown()
      }
      // Closed at once, as memcached closes its end after `quit` (not waiting for the client's).
      if (status === 'quit') { this.closed = true; socket.destroySoon(); return }
      if (status === 'close') {
        this.closed = true
        this.closeReason = result.reason === 'shutdown' ? 'shutdown' : 'error'
        this.ctx.log.info(`<${this.id} closing: ${result.reason ?? 'protocol'}`)
        socket.destroySoon()
        return
      }
      if (socket.writableLength > OUTPUT_HIGH_WATER) {
        this.ctx.stats.limitsOutputStalls++
        this.waitingForDrain = true
        socket.pause()
        socket.once('drain', () => {
          this.waitingForDrain = false
          socket.resume()
          this.pump()
        })
        return
      }
      if (status === 'wait') return
    }
  }
}
