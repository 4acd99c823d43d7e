/**
 * One protocol's view of a connection: bytes in, reply bytes out. The
 * connection module owns the socket and calls these; sessions never see it.
 */
export interface ProtocolSession {
  push(chunk: Buffer): void
  /**
   * Handle buffered requests until input runs dry or about `budget` reply
   * bytes are ready. `status`: 'wait' = needs more input, 'more' = stopped at
   * the budget, 'quit' = write the reply then close, 'close' = drop now.
   */
  drain(budget: number): {reply: string | Buffer; status: 'wait' | 'more' | 'quit' | 'close'; reason?: string}
}
