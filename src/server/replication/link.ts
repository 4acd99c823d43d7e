// One live replication connection to the peer. Sends our changes (read from
// the store when written, as repcached does, so a burst on one key sends its
// latest value), streams the full copy, and applies what the peer sends
// without ever echoing it back or answering it (acks aside, on native links).
//
// Legacy links speak repcached 2.x exactly: the acceptor (master) sends the
// copy, values carry absolute expiry. Native links (docs/replication-protocol.md)
// add heartbeats and acks, send remaining lifetimes, and copy in both
// directions with every item and delete versioned, so applying "the newer
// version wins" makes both nodes converge whatever order things arrive in.

import type {Socket} from 'node:net'
import type {Logger} from '../log.js'
import {now} from '../store/clock.js'
import type {Item} from '../store/item.js'
import type {ItemStore} from '../store/item-store.js'
import type {WalkCursor} from '../store/item-table.js'
import {encodeAck, encodeDelete, encodeFlush, encodeFlushVersion, encodeRep, HEARTBEAT, MARUGOTO_END, PeerDecoder, PeerProtocolError, type PeerMessage} from './wire.js'

/** A change waiting to be sent: keys and kinds only; values are read at send time. */
export type QueueEntry = {kind: 'rep' | 'delete'; key: string} | {kind: 'flush'; at: number}

export type LinkMode = 'legacy' | 'native'

/** Stop handing bytes to the socket above this much unsent output (backpressure). */
const SEND_HIGH_WATER = 1024 * 1024
/** Copy items sent per turn of the event loop, so clients keep being served. */
const COPY_BATCH = 2000
const HEARTBEAT_MS = 1000
const ACK_MS = 100

export interface LinkCounters {
  copySent: number
  copyReceived: number
  received: number
  sent: number
  recopies: number
}

export interface LinkEvents {
  /** We have the peer's whole copy (marugoto_end). */
  copyComplete(): void
  /** The link is gone (EOF, reset, bad input, silence); the owner listens again. */
  closed(reason: string, cause: 'heartbeat' | 'bad_input' | 'other'): void
}

export interface LinkOptions {
  mode: LinkMode
  /** Native: the message set both sides speak (2: versioned flush). 1 on legacy links. */
  rev: number
  /** Legacy: only the acceptor (master) copies. Native: both sides do. */
  sendsCopy: boolean
  queueMax: number
  /** Native: silence longer than this closes the link. */
  timeoutMs: number
  peerName: string
  /** Bytes that arrived during the handshake. */
  leftover: Buffer
}

export class ReplicationLink {
  private readonly queue: QueueEntry[] = []
  private queueHead = 0
  /** After a -q overflow: the keys changed since, sent as their current state once the peer reads again. */
  private overflowKeys: Set<string> | undefined
  private overflowFlush: number | undefined
  /** The full copy in progress: a walk over the store's items (deleted ones are skipped by the walk itself). */
  private copyItems: WalkCursor | undefined
  private copyTombstones: [string, number][] = []
  /** The copy opens with our flush state (versioned flush), so the peer drops what it holds older than our last flush first. */
  private copyFlushState = false
  private scheduled = false
  private ended = false
  private readonly decoder: PeerDecoder
  private readonly timers: NodeJS.Timeout[] = []
  private lastReceivedAt = Date.now()
  private lastSentAt = Date.now()
  private applied = 0
  private ackedByUs = 0
  /** Send times of data messages the peer has not acknowledged yet (native). */
  private readonly unacked: number[] = []
  private unackedHead = 0
  private sentData = 0
  private ackedByPeer = 0
  readonly upSince = Math.floor(Date.now() / 1000)
  readonly counters: LinkCounters = {copySent: 0, copyReceived: 0, received: 0, sent: 0, recopies: 0}
  /** We have received the peer's whole copy (legacy master: set at once, it receives none). */
  copyReceived: boolean
  /** Our own copy has gone out (or we send none). */
  copySent: boolean

  constructor(
    private readonly socket: Socket,
    private readonly store: ItemStore,
    private readonly log: Logger,
    private readonly opts: LinkOptions,
    private readonly events: LinkEvents,
  ) {
    const native = opts.mode === 'native'
    this.decoder = new PeerDecoder(store.options.itemSizeMax, native)
    this.copyReceived = !native && opts.sendsCopy
    this.copySent = !opts.sendsCopy
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 1000)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('drain', () => this.pump())
    socket.on('error', (e) => this.close(`socket error: ${e.message}`))
    socket.on('end', () => this.close('peer closed the connection'))
    socket.on('close', () => this.close('connection closed'))
    if (native) {
      this.timers.push(setInterval(() => this.heartbeat(), Math.min(HEARTBEAT_MS, opts.timeoutMs / 3) / 4), setInterval(() => this.sendAck(), ACK_MS))
      for (const t of this.timers) t.unref()
    }
    if (opts.leftover.length > 0) setImmediate(() => this.onData(opts.leftover))
  }

  get mode(): LinkMode { return this.opts.mode }
  get peerName(): string { return this.opts.peerName }
  get queueLength(): number { return this.queue.length - this.queueHead + (this.overflowKeys?.size ?? 0) }
  get isOpen(): boolean { return !this.ended }
  /** Both copies are done: the pair is in step. */
  get inStep(): boolean { return this.copyReceived && this.copySent }

  /** Age of the oldest change the peer has not acknowledged (native), in ms. */
  get lagMs(): number {
    const oldest = this.unacked[this.unackedHead]
    return oldest === undefined ? 0 : Date.now() - oldest
  }

  /** Send every live item (and, native, every remembered delete), then marugoto_end. */
  startCopy(): void {
    if (!this.opts.sendsCopy) return
    this.copyItems = this.store.startWalk()
    if (this.opts.mode === 'native') this.copyTombstones = this.store.tombstoneEntries()
    this.copyFlushState = this.versionedFlush
    this.log.info('replication: marugoto copying')
    this.schedule()
  }

  /** A local change to send. More than -q waiting switches to re-sending the changed keys' current state. */
  enqueue(entry: QueueEntry): void {
    if (this.ended) return
    if (this.overflowKeys !== undefined) {
      if (entry.kind === 'flush') { this.overflowFlush = entry.at; this.overflowKeys.clear() } else this.overflowKeys.add(entry.key)
    } else if (this.queue.length - this.queueHead >= this.opts.queueMax) {
      this.overflow(entry)
    } else {
      this.queue.push(entry)
    }
    this.schedule()
  }

  private overflow(entry: QueueEntry): void {
    // repcached drops the link here and the pair stays unreplicated; we keep
    // the set of changed keys instead (bounded by the key space) and re-send them.
    const keys = new Set<string>()
    let flush: number | undefined
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const e = this.queue[i]!
      if (e.kind === 'flush') { flush = e.at; keys.clear() } else keys.add(e.key)
    }
    if (entry.kind === 'flush') { flush = entry.at; keys.clear() } else keys.add(entry.key)
    this.queue.length = 0
    this.queueHead = 0
    this.overflowKeys = keys
    this.overflowFlush = flush
    this.counters.recopies++
    this.log.warn(`replication: more than ${this.opts.queueMax} changes waiting for ${this.opts.peerName} (-q); re-sending the current state of every changed key instead`)
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
    const room = (): boolean => socket.writableLength + out.length < SEND_HIGH_WATER
    while (this.queueHead < this.queue.length && room()) out += this.render(this.queue[this.queueHead++]!)
    if (this.queueHead === this.queue.length) { this.queue.length = 0; this.queueHead = 0 }
    else if (this.queueHead > 4096) { this.queue.splice(0, this.queueHead); this.queueHead = 0 }
    if (this.overflowKeys !== undefined && this.queueHead === this.queue.length && room()) out += this.overflowBatch(room)
    if (this.copyItems !== undefined && this.queueLength === 0) out += this.copyBatch(room)
    if (out.length > 0) {
      socket.write(out, 'latin1')
      this.lastSentAt = Date.now()
    }
    if (socket.writableLength < SEND_HIGH_WATER && (this.queueLength > 0 || this.copyItems !== undefined)) this.schedule()
  }

  private overflowBatch(room: () => boolean): string {
    let out = ''
    if (this.overflowFlush !== undefined) { out += this.renderFlush(this.overflowFlush); this.overflowFlush = undefined; this.noteSent() }
    const keys = this.overflowKeys!
    for (const key of keys) {
      if (!room()) break
      keys.delete(key)
      out += this.render({kind: 'rep', key})
    }
    if (keys.size === 0) {
      this.overflowKeys = undefined
      this.log.info(`replication: re-sent the changed keys to ${this.opts.peerName}; back to queuing`)
    }
    return out
  }

  private copyBatch(room: () => boolean): string {
    const walk = this.copyItems!
    let out = ''
    let n = 0
    let finished = false
    const t = Date.now()
    if (this.copyFlushState) {
      out += this.renderFlush(0)
      this.copyFlushState = false
      this.noteSent(t)
    }
    // Items stored after the copy began are also in the queue; meeting them here too is harmless.
    // Items are encoded in the same turn they are read, so none goes out older than a queued change.
    while (n < COPY_BATCH && room()) {
      if (walk.done) { finished = true; break }
      for (const it of this.store.walkItems(walk, 1)) {
        out += this.encodeItem(it)
        this.noteSent(t) // the peer acknowledges copy messages too: count them alike, or the lag would read low
        this.counters.copySent++
        n++
      }
    }
    if (finished) {
      for (const [key, cas] of this.copyTombstones) {
        if (this.store.peek(key) !== undefined) continue
        out += encodeDelete(key, cas)
        this.noteSent()
      }
      this.copyTombstones = []
      this.copyItems = undefined
      this.copySent = true
      out += MARUGOTO_END
      this.noteSent()
      this.log.info(`replication: marugoto owari (${this.counters.copySent} items sent)`)
      if (this.inStep) this.log.info('replication: start')
    }
    return out
  }

  private encodeItem(it: Item): string {
    // Legacy: the cas a client sees, as repcached sends it (0 with -C).
    if (this.opts.mode === 'legacy') return encodeRep(it.key, it.flags, it.exptime, it.cas, it.value)
    // Native: the remaining lifetime, so the peer's clock does not matter; the version, which the peer orders by (-C or not).
    const ttl = it.exptime === 0 ? 0 : Math.max(1, it.exptime - now())
    // Revision 3: the meta marks too, so that a failover neither revives what md … I made stale nor hands out its win token again.
    return encodeRep(it.key, it.flags, ttl, it.version, it.value, this.opts.rev >= 3 ? it.state : 0)
  }

  /** Flushes are versioned on native links of revision 2 (with -C too); elsewhere repcached's flush_all. */
  private get versionedFlush(): boolean {
    return this.opts.mode === 'native' && this.opts.rev >= 2 && this.store.versioned
  }

  /** A flush as this link carries it: repcached's `flush_all` (absolute `at`, 0 = now), or our whole flush state, read now. */
  private renderFlush(at: number): string {
    if (!this.versionedFlush) return encodeFlush(at)
    const f = this.store.flushState()
    return encodeFlushVersion(f.floor, f.issued, f.pending)
  }

  private render(e: QueueEntry): string {
    this.noteSent()
    if (e.kind === 'flush') return this.renderFlush(e.at)
    if (this.opts.mode === 'legacy') {
      // repcached: a queued delete goes out as delete; a queued change as the item, or delete if it is gone.
      const it = e.kind === 'rep' ? this.store.peek(e.key) : undefined
      return it === undefined ? encodeDelete(e.key) : this.encodeItem(it)
    }
    // Native: always the key's current version, whatever the queued kind.
    const it = this.store.peek(e.key)
    return it !== undefined ? this.encodeItem(it) : encodeDelete(e.key, this.store.tombstone(e.key) ?? this.store.newCas())
  }

  private noteSent(at = Date.now()): void {
    this.counters.sent++
    if (this.opts.mode === 'native') {
      this.sentData++
      this.unacked.push(at)
    }
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return
    this.lastReceivedAt = Date.now()
    this.decoder.push(chunk)
    try {
      for (let m = this.decoder.next(); m !== undefined; m = this.decoder.next()) this.apply(m)
    } catch (e) {
      if (!(e instanceof PeerProtocolError)) throw e
      this.log.warn(`replication: bad input from ${this.opts.peerName}, closing the link: ${e.message}`)
      this.close(`bad input: ${e.message}`, 'bad_input')
    }
  }

  private apply(m: PeerMessage): void {
    const native = this.opts.mode === 'native'
    switch (m.type) {
      case 'hb':
        return
      case 'ack': {
        const newly = Math.min(m.count, this.sentData) - this.ackedByPeer
        if (newly > 0) {
          this.ackedByPeer += newly
          this.unackedHead += newly
          if (this.unackedHead > 4096) { this.unacked.splice(0, this.unackedHead); this.unackedHead = 0 }
        }
        return
      }
      default:
        break
    }
    this.counters.received++
    this.applied++
    switch (m.type) {
      case 'rep': {
        const exptime = native ? (m.exptime === 0 ? 0 : now() + m.exptime) : m.exptime
        this.store.applyPeerItem(m.key, m.flags, exptime, m.cas, m.value, native, m.state)
        if (!this.copyReceived) this.counters.copyReceived++
        return
      }
      case 'delete':
        this.store.applyPeerDelete(m.key, m.cas)
        return
      case 'flush':
        this.store.applyPeerFlush(m.at)
        return
      case 'flush_version':
        this.store.applyPeerFlushState(m.floor, m.issued, m.pending)
        return
      case 'marugoto_end':
        if (this.copyReceived) return
        this.copyReceived = true
        this.log.info(`replication: marugoto owari (${this.counters.copyReceived} items received)`)
        if (this.inStep) this.log.info('replication: start')
        this.events.copyComplete()
    }
  }

  private heartbeat(): void {
    if (this.ended) return
    const t = Date.now()
    if (t - this.lastReceivedAt > this.opts.timeoutMs) {
      this.log.warn(`replication: nothing from ${this.opts.peerName} for ${t - this.lastReceivedAt} ms; declaring the link dead`)
      this.close(`no heartbeat for ${t - this.lastReceivedAt} ms`, 'heartbeat')
      return
    }
    // Beat often enough that a peer with a short --rep-timeout never mistakes an idle link for a dead one.
    if (t - this.lastSentAt >= Math.min(HEARTBEAT_MS, this.opts.timeoutMs / 3) && this.socket.writableLength < SEND_HIGH_WATER) {
      this.socket.write(HEARTBEAT)
      this.lastSentAt = t
    }
  }

  private sendAck(): void {
    if (this.ended || this.applied === this.ackedByUs || this.socket.writableLength >= SEND_HIGH_WATER) return
    this.ackedByUs = this.applied
    this.socket.write(encodeAck(this.applied))
  }

  /** Shutdown: send what is queued (and the rest of a copy), bounded by `timeoutMs`, then close. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.ended && (this.queueLength > 0 || this.copyItems !== undefined || this.socket.writableLength > 0)) {
      if (Date.now() >= deadline) { this.close('shutdown drain timed out'); return false }
      this.pump()
      await new Promise((r) => setTimeout(r, 5))
    }
    if (!this.ended) {
      this.ended = true
      this.stopTimers()
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, deadline - Date.now()))
        this.socket.end(() => { clearTimeout(t); resolve() })
      })
      this.socket.destroy()
    }
    return true
  }

  private stopTimers(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers.length = 0
  }

  close(reason: string, cause: 'heartbeat' | 'bad_input' | 'other' = 'other'): void {
    if (this.ended) return
    this.ended = true
    this.stopTimers()
    this.queue.length = 0
    this.queueHead = 0
    this.overflowKeys = undefined
    this.copyItems = undefined
    this.socket.destroy()
    this.log.info(`replication: close (${reason})`)
    this.events.closed(reason, cause)
  }
}
