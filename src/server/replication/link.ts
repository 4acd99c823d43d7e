// One live replication connection to the peer. Sends our changes (read from
// the store when written, as repcached does, so a burst on one key sends its
// latest value), streams the full copy to a new slave, and applies what the
// peer sends without ever echoing it back or answering it.

import type {Socket} from 'node:net'
import type {Logger} from '../log.js'
import type {ItemStore} from '../store/item-store.js'
import {encodeDelete, encodeFlush, encodeRep, MARUGOTO_END, PeerDecoder, PeerProtocolError, type PeerMessage} from './wire.js'

/** A change waiting to be sent: keys and kinds only; values are read at send time. */
export type QueueEntry = {kind: 'rep' | 'delete'; key: string} | {kind: 'flush'; at: number}

/** Stop handing bytes to the socket above this much unsent output (backpressure). */
const SEND_HIGH_WATER = 1024 * 1024
/** Copy items sent per turn of the event loop, so clients keep being served. */
const COPY_BATCH = 2000

export interface LinkCounters {
  copySent: number
  copyReceived: number
  received: number
  sent: number
}

export interface LinkEvents {
  /** The slave side got marugoto_end: the copy is complete. */
  copyComplete(): void
  /** The link is gone (EOF, reset, bad input, overflow); the owner listens again. */
  closed(reason: string): void
}

export class ReplicationLink {
  private readonly queue: QueueEntry[] = []
  private queueHead = 0
  private copyKeys: string[] | undefined
  private copyPos = 0
  private scheduled = false
  private ended = false
  private readonly decoder: PeerDecoder
  readonly upSince = Math.floor(Date.now() / 1000)
  readonly counters: LinkCounters = {copySent: 0, copyReceived: 0, received: 0, sent: 0}
  /** The slave has received marugoto_end (or, on the master, the copy went out). */
  copyDone = false

  constructor(
    private readonly socket: Socket,
    private readonly store: ItemStore,
    private readonly log: Logger,
    private readonly queueMax: number,
    readonly peerName: string,
    private readonly events: LinkEvents,
  ) {
    this.decoder = new PeerDecoder(store.options.itemSizeMax)
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 1000)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('drain', () => this.pump())
    socket.on('error', (e) => this.close(`socket error: ${e.message}`))
    socket.on('end', () => this.close('peer closed the connection'))
    socket.on('close', () => this.close('connection closed'))
  }

  get queueLength(): number { return this.queue.length - this.queueHead }
  get copying(): boolean { return this.copyKeys !== undefined }
  get isOpen(): boolean { return !this.ended }

  /** Master side: send every live item, then marugoto_end, interleaved with live changes. */
  startCopy(): void {
    this.copyKeys = this.store.liveKeys()
    this.copyPos = 0
    this.log.info('replication: marugoto copying')
    this.schedule()
  }

  /** A local change to send. Overflowing -q drops the link, as repcached does. */
  enqueue(entry: QueueEntry): void {
    if (this.ended) return
    if (this.queueLength >= this.queueMax) {
      this.close(`replication queue overflow (-q ${this.queueMax})`)
      return
    }
    this.queue.push(entry)
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled || this.ended) return
    this.scheduled = true
    setImmediate(() => { this.scheduled = false; this.pump() })
  }

  private pump(): void {
    if (this.ended) return
    const socket = this.socket
    let out = ''
    while (this.queueHead < this.queue.length && socket.writableLength + out.length < SEND_HIGH_WATER) {
      out += this.render(this.queue[this.queueHead++]!)
      this.counters.sent++
    }
    if (this.queueHead === this.queue.length) { this.queue.length = 0; this.queueHead = 0 }
    else if (this.queueHead > 4096) { this.queue.splice(0, this.queueHead); this.queueHead = 0 }
    if (this.copyKeys !== undefined && this.queueLength === 0) out += this.copyBatch(socket.writableLength + out.length)
    if (out.length > 0) socket.write(out, 'latin1')
    if (socket.writableLength < SEND_HIGH_WATER && (this.queueLength > 0 || this.copyKeys !== undefined)) this.schedule()
  }

  private copyBatch(pending: number): string {
    const keys = this.copyKeys!
    let out = ''
    let n = 0
    while (this.copyPos < keys.length && n < COPY_BATCH && pending + out.length < SEND_HIGH_WATER) {
      const it = this.store.peek(keys[this.copyPos++]!)
      if (it === undefined) continue // gone since the snapshot: nothing to copy
      out += encodeRep(it.key, it.flags, it.exptime, it.cas, it.value)
      this.counters.copySent++
      n++
    }
    if (this.copyPos >= keys.length) {
      this.copyKeys = undefined
      this.copyDone = true
      out += MARUGOTO_END
      this.log.info(`replication: marugoto owari (${this.counters.copySent} items)`)
      this.log.info('replication: start')
    }
    return out
  }

  private render(e: QueueEntry): string {
    if (e.kind === 'flush') return encodeFlush(e.at)
    if (e.kind === 'delete') return encodeDelete(e.key)
    const it = this.store.peek(e.key)
    return it === undefined ? encodeDelete(e.key) : encodeRep(it.key, it.flags, it.exptime, it.cas, it.value)
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return
    this.decoder.push(chunk)
    try {
      for (let m = this.decoder.next(); m !== undefined; m = this.decoder.next()) this.apply(m)
    } catch (e) {
      if (!(e instanceof PeerProtocolError)) throw e
      this.log.warn(`replication: bad input from ${this.peerName}, closing the link: ${e.message}`)
      this.close(`bad input: ${e.message}`)
    }
  }

  private apply(m: PeerMessage): void {
    this.counters.received++
    switch (m.type) {
      case 'rep':
        this.store.applyPeerItem(m.key, m.flags, m.exptime, m.cas, m.value)
        if (!this.copyDone) this.counters.copyReceived++
        return
      case 'delete':
        this.store.applyPeerDelete(m.key)
        return
      case 'flush':
        this.store.applyPeerFlush(m.at)
        return
      case 'marugoto_end':
        if (this.copyDone) return
        this.copyDone = true
        this.log.info(`replication: marugoto owari (${this.counters.copyReceived} items received)`)
        this.log.info('replication: start')
        this.events.copyComplete()
    }
  }

  /** Shutdown: send what is queued (and the rest of a copy), bounded by `timeoutMs`, then close. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.ended && (this.queueLength > 0 || this.copyKeys !== undefined || this.socket.writableLength > 0)) {
      if (Date.now() >= deadline) { this.close('shutdown drain timed out'); return false }
      this.pump()
      await new Promise((r) => setTimeout(r, 5))
    }
    if (!this.ended) {
      this.ended = true
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()))
        this.socket.end(() => { clearTimeout(t); resolve() })
      })
      this.socket.destroy()
    }
    return true
  }

  close(reason: string): void {
    if (this.ended) return
    this.ended = true
    this.queue.length = 0
    this.queueHead = 0
    this.copyKeys = undefined
    this.socket.destroy()
    this.log.info(`replication: close (${reason})`)
    this.events.closed(reason)
  }
}
