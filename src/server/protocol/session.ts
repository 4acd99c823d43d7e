import type {ReplyBuffer} from './reply-buffer.js'

/**
 * One protocol's view of a connection: bytes in, reply bytes out. The
 * connection module owns the socket and calls these; sessions never see it.
 */
export interface ProtocolSession {
  /**
   * `bytes[0 .. length)` arrived. They are lent, not given: valid until
   * `settle()`, after which the connection reuses the buffer for the next
   * read (of any connection). Requests may be parsed straight from them.
   */
  push(bytes: Buffer, length: number): void
  /** The lent bytes are about to be overwritten: copy what is still needed (a request not yet handled). */
  settle(): void
  /**
   * Handle buffered requests until input runs dry or about `budget` reply
   * bytes are ready, appending the replies to send now to `out` (empty on
   * call). `status`: 'wait' = needs more input, 'more' = stopped at the
   * budget, 'quit' = write the reply then close, 'close' = drop now (after
   * writing what `out` holds).
   */
  drain(out: ReplyBuffer, budget: number): {status: 'wait' | 'more' | 'quit' | 'close'; reason?: string}
  /**
   * Called once by the connection after creating the session: a session with
   * output produced outside a request (watch lines, the next slice of a
   * metadump) calls `wake` (from anywhere: the connection defers it), and the connection then calls drain() (unless the
   * client is not reading its replies: it resumes when it does).
   */
  setWake?(wake: () => void): void
  /** memcached's name for what the connection waits for, when not just the next command (`stats conns`). */
  state?(): string | undefined
  /** The connection is gone: stop producing output (release a dump, a watch). */
  close?(): void
}
