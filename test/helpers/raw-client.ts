// A byte-level client: send exact bytes, read exact bytes. Used to compare
// our replies with the real memcached's, byte for byte.

import {connect, type Socket} from 'node:net'

export class RawClient {
  private buf = Buffer.alloc(0)
  private closed = false
  private waiters: (() => void)[] = []

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.wake() })
    socket.on('close', () => { this.closed = true; this.wake() })
    socket.on('error', () => { this.closed = true; this.wake() })
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({port, host})
      s.once('connect', () => resolve(new RawClient(s)))
      s.once('error', reject)
    })
  }

  get isClosed(): boolean { return this.closed }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  private changed(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((f) => f !== done); resolve(false) }, ms)
      const done = (): void => { clearTimeout(t); resolve(true) }
      this.waiters.push(done)
    })
  }

  send(data: string | Buffer): void {
    if (!this.closed) this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)
  }

  /** Take everything received so far. */
  take(): Buffer {
    const b = this.buf
    this.buf = Buffer.alloc(0)
    return b
  }

  /** Wait until `done(received)` holds, the peer closes, or timeout; returns and clears what arrived. */
  async readUntil(done: (b: Buffer) => boolean, timeoutMs = 2000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    while (!done(this.buf) && !this.closed) {
      const left = deadline - Date.now()
      if (left <= 0) break
      await this.changed(left)
    }
    return this.take()
  }

  /** Read until no byte has arrived for `quietMs` (or the peer closed). */
  async readQuiet(quietMs = 60, timeoutMs = 2000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed && Date.now() < deadline) {
      if (!(await this.changed(quietMs))) break
    }
    return this.take()
  }

  /** Send and wait for a reply ending in `terminator`. */
  async request(data: string | Buffer, terminator = '\r\n', timeoutMs = 2000): Promise<string> {
    this.send(data)
    const t = Buffer.from(terminator, 'latin1')
    const b = await this.readUntil((x) => x.length >= t.length && x.subarray(x.length - t.length).equals(t), timeoutMs)
    return b.toString('latin1')
  }

  close(): void {
    this.socket.destroy()
  }
}
