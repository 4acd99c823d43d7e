// The replication role of this node, repcached 2.x style:
// - without -x: listen on the replication port (master);
// - with -x: connect to the peer; if that fails, listen instead. A node that
//   connected is the slave and keeps its client ports closed until the
//   master's full copy has arrived (marugoto_end).
// - the master stops listening while paired (a third node is refused) and
//   listens again as soon as the link is lost; repcached never reconnects.

import {connect, createServer, isIP, type Server, type Socket} from 'node:net'
import type {Logger} from '../log.js'
import type {StatLine} from '../stats.js'
import {absoluteExpiry, now} from '../store/clock.js'
import type {ItemStore, Mutation} from '../store/item-store.js'
import {REPCACHED_VERSION} from '../version.js'
import {ReplicationLink, type QueueEntry} from './link.js'

export type Role = 'master' | 'slave' | 'none'
export type LinkState = 'listening' | 'connecting' | 'copying' | 'paired' | 'disconnected'

export interface ReplicatorOptions {
  peer: string | undefined
  listenPort: number
  connectPort: number
  queueMax: number
  /** -l: the first address is where we listen and what outgoing links bind to. */
  listenAddress: string | undefined
  /** How long a connect to the peer may take before we give up and listen. */
  connectTimeoutMs: number
  /** Bound on the shutdown drain. */
  drainTimeoutMs: number
}

export class Replicator {
  private role: Role = 'master'
  private state: LinkState = 'disconnected'
  private listener: Server | undefined
  private link: ReplicationLink | undefined
  private copySentTotal = 0
  private copyReceivedTotal = 0
  private clientPortsOpen: (() => void) | undefined
  private stopping = false

  constructor(private readonly store: ItemStore, private readonly options: ReplicatorOptions, private readonly log: Logger) {
    store.onMutation = (m) => this.onMutation(m)
  }

  /**
   * Take up our role. Resolves when client ports may open: at once for a
   * master, after the full copy for a slave. Rejects if the replication port
   * cannot be bound (the node must not serve clients unreplicated by mistake).
   */
  async start(): Promise<void> {
    const peer = this.options.peer
    if (peer !== undefined) {
      const socket = await this.tryConnect(peer)
      if (socket !== undefined) {
        const ready = new Promise<void>((resolve) => { this.clientPortsOpen = resolve })
        this.role = 'slave'
        this.state = 'copying'
        this.log.info('replication: marugoto start')
        this.attach(socket, `${peer}:${this.options.connectPort}`)
        return ready
      }
    }
    await this.listen()
  }

  private tryConnect(peer: string): Promise<Socket | undefined> {
    const {connectPort, listenAddress, connectTimeoutMs} = this.options
    this.state = 'connecting'
    this.log.info(`replication: connect (peer=${peer}:${connectPort})`)
    return new Promise((resolve) => {
      const localAddress = listenAddress !== undefined && isIP(listenAddress) !== 0 ? listenAddress : undefined
      const socket = connect({host: peer, port: connectPort, localAddress})
      const timer = setTimeout(() => { socket.destroy(); done(undefined, 'timed out') }, connectTimeoutMs)
      const done = (s: Socket | undefined, why?: string): void => {
        clearTimeout(timer)
        socket.removeAllListeners('connect')
        socket.removeAllListeners('error')
        if (s === undefined) this.log.info(`replication: cannot reach ${peer}:${connectPort} (${why}); listening as master`)
        resolve(s)
      }
      socket.once('connect', () => done(socket))
      socket.once('error', (e) => done(undefined, e.message))
    })
  }

  private listen(): Promise<void> {
    this.role = 'master'
    this.state = 'listening'
    const server = createServer((socket) => this.accept(socket))
    this.listener = server
    const {listenPort, listenAddress} = this.options
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        this.listener = undefined
        const where = `${listenAddress ?? '*'}:${listenPort}`
        reject(new Error(`failed to listen for replication on ${where}: ${e.code === 'EADDRINUSE' ? 'another process is using it; pick another port with -X' : e.message}`))
      })
      server.listen({port: listenPort, host: listenAddress}, () => {
        server.removeAllListeners('error')
        server.on('error', (e) => this.log.warn(`replication listener error: ${e.message}`))
        this.log.info('replication: listen')
        resolve()
      })
    })
  }

  private accept(socket: Socket): void {
    if (this.link !== undefined || this.stopping) { socket.destroy(); return }
    this.log.info(`replication: accept (peer=${socket.remoteAddress}:${socket.remotePort})`)
    // One peer at a time: a third node is refused while we are paired.
    this.listener?.close()
    this.listener = undefined
    this.state = 'copying'
    const link = this.attach(socket, `${socket.remoteAddress}:${socket.remotePort}`)
    link.startCopy()
  }

  private attach(socket: Socket, name: string): ReplicationLink {
    const link = new ReplicationLink(socket, this.store, this.log, this.options.queueMax, name, {
      copyComplete: () => {
        this.state = 'paired'
        this.openClientPorts()
      },
      closed: (reason) => this.linkLost(link, reason),
    })
    this.link = link
    return link
  }

  private openClientPorts(): void {
    const open = this.clientPortsOpen
    this.clientPortsOpen = undefined
    open?.()
  }

  private linkLost(link: ReplicationLink, reason: string): void {
    if (this.link !== link) return
    this.copySentTotal += link.counters.copySent
    this.copyReceivedTotal += link.counters.copyReceived
    this.link = undefined
    if (this.stopping) return
    this.log.warn(`replication: link to ${link.peerName} lost (${reason}); serving alone and listening`)
    this.listen().then(
      () => this.openClientPorts(),
      (e: Error) => {
        this.state = 'disconnected'
        this.log.warn(`replication: ${e.message}`)
        this.openClientPorts()
      },
    )
  }

  private onMutation(m: Mutation): void {
    const link = this.link
    if (link === undefined || m.origin !== 'local') return
    let entry: QueueEntry
    if (m.kind === 'flush') {
      const at = m.delay > 0 ? absoluteExpiry(m.delay) : 0
      entry = {kind: 'flush', at: at > now() ? at : 0}
    } else {
      entry = {kind: m.kind === 'store' ? 'rep' : 'delete', key: m.key}
    }
    link.enqueue(entry)
  }

  /** Shutdown: stop accepting, drain what the peer has not yet got (bounded), close. */
  async stop(): Promise<void> {
    this.stopping = true
    this.listener?.close()
    this.listener = undefined
    const link = this.link
    if (link !== undefined) {
      const drained = await link.drain(this.options.drainTimeoutMs)
      this.log.info(drained ? 'replication: cleanup complete' : 'replication: cleanup timed out; unsent changes dropped')
    }
  }

  /** repcached's three stats lines, then ours (see docs/replication-protocol.md). */
  statLines(): StatLine[] {
    const link = this.link
    const state = link === undefined ? this.state : link.copyDone ? 'paired' : 'copying'
    const queued = link?.queueLength ?? 0
    return replicationLines({
      queueFree: this.options.queueMax - queued, role: this.role, state, peer: link?.peerName ?? '-', queued,
      copySent: this.copySentTotal + (link?.counters.copySent ?? 0),
      copyReceived: this.copyReceivedTotal + (link?.counters.copyReceived ?? 0),
      upSince: link?.upSince ?? 0,
    })
  }
}

interface ReplicationView { queueFree: number; role: Role; state: LinkState; peer: string; queued: number; copySent: number; copyReceived: number; upSince: number }

function replicationLines(v: ReplicationView): StatLine[] {
  return [
    ['replication', 'MASTER'],
    ['repcached_version', REPCACHED_VERSION],
    ['repcached_qi_free', v.queueFree],
    ['repl_role', v.role],
    ['repl_state', v.state],
    ['repl_peer', v.peer],
    ['repl_mode', 'legacy'],
    ['repl_queue', v.queued],
    ['repl_copy_sent', v.copySent],
    ['repl_copy_received', v.copyReceived],
    ['repl_link_up_since', v.upSince],
  ]
}

/** The same lines for a node started with -X 0 (replication off), so parsers find every name. */
export function replicationOffLines(): StatLine[] {
  return replicationLines({queueFree: 0, role: 'none', state: 'disconnected', peer: '-', queued: 0, copySent: 0, copyReceived: 0, upSince: 0})
}
