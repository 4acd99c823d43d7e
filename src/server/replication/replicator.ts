// The replication role of this node, repcached 2.x style:
// - without -x: listen on the replication port (master);
// - with -x: connect to the peer; if that fails, listen instead. A node that
//   connected is the slave and keeps its client ports closed until the
//   peer's full copy has arrived (marugoto_end).
// - the master stops listening while paired (a third node is refused) and
//   listens again as soon as the link is lost.
// Beyond repcached: every link starts with the native handshake; with a
// native peer, links are watched by heartbeats and a node with a peer that
// finds itself alone keeps dialling it (backoff 1 s to 10 s) until the pair
// re-forms. Only one side dials (see shouldDial), so one link forms.
// A node that cannot listen (the usual case: two nodes on one address
// sharing one -X port, and the peer holds it) always dials, and tries to
// listen again after each failed dial, so it takes the port if the peer is
// gone: a node with a peer is never left alone for good.

import {connect, createServer, isIP, type Server, type Socket} from 'node:net'
import {connect as tlsConnect, createServer as createTlsServer} from 'node:tls'
import {beginBulkLoad, endBulkLoad} from '../heap.js'
import type {Logger} from '../log.js'
import type {StatLine} from '../stats.js'
import {absoluteExpiry, now} from '../store/clock.js'
import type {ItemStore, Mutation} from '../store/item-store.js'
import {REPCACHED_VERSION} from '../version.js'
import {acceptorHandshake, connectorHandshake, type HandshakeResult} from './handshake.js'
import {ReplicationLink, type LinkMode, type QueueEntry} from './link.js'

export type Role = 'master' | 'slave' | 'none'
export type LinkState = 'listening' | 'connecting' | 'copying' | 'paired' | 'disconnected'

export interface ReplicatorOptions {
  peer: string | undefined
  listenPort: number
  connectPort: number
  queueMax: number
  /** -l: the first address is where we listen and what outgoing links bind to. */
  listenAddress: string | undefined
  /** How long a connect to the peer may take before we give up. */
  connectTimeoutMs: number
  /** Bound on the shutdown drain. */
  drainTimeoutMs: number
  /** Native links: silence longer than this closes the link. */
  timeoutMs: number
  /** Shared secret for the native handshake; required of every peer when set. */
  secret: Buffer | undefined
  /** Dial a lost peer again (off: repcached's behaviour, never again). */
  reconnect: boolean
  /**
   * TLS on the link (--rep-tls-*): each side shows its certificate and
   * requires the other's, signed by `ca`; the dialling side also checks that
   * the certificate names the peer address it dialled (as HTTPS does).
   */
  tls?: {cert: Buffer; key: Buffer; ca: Buffer}
}

const HANDSHAKE_WAIT_MS = 500
const RECONNECT_MIN_MS = 1000
const RECONNECT_MAX_MS = 10_000
/** Deletes remembered for versioning between native peers. */
const TOMBSTONE_MAX_AGE_S = 3600

/** How the node's snapshot fits the start: loaded by a master, left unread by a slave (its copy replaces it). */
export interface SnapshotHooks { load(): void; skip(master: string): void }

interface Counters { copySent: number; copyReceived: number; recopies: number; reconnects: number; heartbeatTimeouts: number; refusedPeers: number; badInput: number }

export class Replicator {
  private role: Role = 'master'
  private state: LinkState = 'disconnected'
  private listener: Server | undefined
  private link: ReplicationLink | undefined
  private lastMode: LinkMode | undefined
  private readonly totals: Counters = {copySent: 0, copyReceived: 0, recopies: 0, reconnects: 0, heartbeatTimeouts: 0, refusedPeers: 0, badInput: 0}
  private clientPortsOpen: (() => void) | undefined
  private stopping = false
  private dialTimer: NodeJS.Timeout | undefined
  private dialDelay = RECONNECT_MIN_MS
  private dialing = false
  /** The socket of the dial in progress: lets accept() tell a connection from ourselves. */
  private outgoing: Socket | undefined
  /** -x and -X name our own listener (seen when a dial came back to us): never dial while listening. */
  private dialsItself = false
  /** The listen failure of this spell alone has been logged (repeats go to -v). */
  private listenFailureLogged = false
  private readonly nodeId: string
  private readonly housekeeping: NodeJS.Timeout

  constructor(private readonly store: ItemStore, private readonly options: ReplicatorOptions, private readonly log: Logger, private readonly snapshot?: SnapshotHooks) {
    store.onMutation = (m) => this.onMutation(m)
    this.nodeId = `${options.listenAddress ?? '*'}:${options.listenPort}`
    this.housekeeping = setInterval(() => store.pruneTombstones(TOMBSTONE_MAX_AGE_S), 10_000)
    this.housekeeping.unref()
  }

  /**
   * Take up our role. Resolves when client ports may open: at once for a
   * master, after the full copy for a slave. Rejects if the replication port
   * cannot be bound (the node must not serve clients unreplicated by mistake).
   */
  async start(): Promise<void> {
    const peer = this.options.peer
    if (peer !== undefined) {
      const ready = new Promise<void>((resolve) => { this.clientPortsOpen = resolve })
      if (await this.dial(peer)) {
        this.snapshot?.skip(`${peer}:${this.options.connectPort}`)
        // The full copy fills the store in one go.
        beginBulkLoad()
        return ready.finally(endBulkLoad)
      }
      this.clientPortsOpen = undefined
    }
    // Loaded before we listen: a slave that connects must get the snapshot's items in its copy.
    this.snapshot?.load()
    await this.listen()
    this.scheduleDial()
  }

  /** Connect, handshake and attach as the slave. False if no link formed. */
  private async dial(peer: string): Promise<boolean> {
    if (this.dialing || this.link !== undefined || this.stopping) return false
    this.dialing = true
    try {
      const socket = await this.tryConnect(peer)
      if (socket === undefined) return false
      const hs = await connectorHandshake(socket, this.handshakeConfig())
      if (this.link !== undefined || this.stopping) { socket.destroy(); return false }
      if (hs.mode === 'refused' && hs.hungUp === true) {
        socket.destroy()
        if (!this.dialsItself) this.log.info(`replication: cannot reach ${peer}:${this.options.connectPort} (${hs.reason})`)
        return false
      }
      if (!this.accepted(hs, socket, `${peer}:${this.options.connectPort}`)) return false
      this.role = 'slave'
      this.log.info('replication: marugoto start')
      this.attach(socket, `${peer}:${this.options.connectPort}`, hs as Exclude<HandshakeResult, {mode: 'refused'}>, 'connector')
      // Our listener, if any, has no more use while we are linked.
      this.listener?.close()
      this.listener = undefined
      return true
    } finally {
      this.dialing = false
      this.outgoing = undefined
    }
  }

  private handshakeConfig(): Parameters<typeof connectorHandshake>[1] {
    return {nodeId: this.nodeId, secret: this.options.secret, parity: this.store.casParity, waitMs: HANDSHAKE_WAIT_MS}
  }

  /** Count and log a refused handshake; true when the peer may be linked. */
  private accepted(hs: HandshakeResult, socket: Socket, name: string): boolean {
    if (hs.mode !== 'refused') return true
    this.totals.refusedPeers++
    this.log.warn(`replication: refused peer ${name}: ${hs.reason}`)
    socket.destroy()
    return false
  }

  private tryConnect(peer: string): Promise<Socket | undefined> {
    const {connectPort, listenAddress, connectTimeoutMs} = this.options
    if (this.link === undefined) this.state = this.listener === undefined ? 'connecting' : this.state
    this.log.info(`replication: connect (peer=${peer}:${connectPort})`)
    return new Promise((resolve) => {
      const localAddress = listenAddress !== undefined && isIP(listenAddress) !== 0 ? listenAddress : undefined
      const tls = this.options.tls
      const plain = connect({host: peer, port: connectPort, localAddress})
      this.outgoing = plain
      // TLS over the plain socket, so that the link still leaves from the -l address.
      const socket: Socket = tls === undefined ? plain : tlsConnect({socket: plain, host: peer, ...tls, servername: isIP(peer) === 0 ? peer : undefined})
      if (plain !== socket) plain.on('error', () => {}) // reported by the TLS socket
      const ready = tls === undefined ? 'connect' : 'secureConnect'
      const timer = setTimeout(() => { socket.destroy(); done(undefined, 'timed out') }, connectTimeoutMs)
      const done = (s: Socket | undefined, why?: string): void => {
        clearTimeout(timer)
        socket.removeAllListeners(ready)
        socket.removeAllListeners('error')
        if (s === undefined) {
          socket.on('error', () => {})
          this.log.info(`replication: cannot reach ${peer}:${connectPort} (${why})`)
        }
        resolve(s)
      }
      socket.once(ready, () => done(socket))
      socket.once('error', (e) => {
        if (tls !== undefined) this.totals.refusedPeers++
        done(undefined, tls === undefined ? e.message : `TLS: ${e.message}`)
      })
    })
  }

  private listen(): Promise<void> {
    this.role = 'master'
    if (this.listener !== undefined) { this.state = 'listening'; return Promise.resolve() }
    const tls = this.options.tls
    let server: Server
    if (tls === undefined) {
      server = createServer((socket) => { void this.accept(socket) })
    } else {
      const tlsServer = createTlsServer({...tls, requestCert: true, rejectUnauthorized: true, handshakeTimeout: 10_000}, (socket) => { void this.accept(socket) })
      tlsServer.on('tlsClientError', (e, socket) => {
        this.totals.refusedPeers++
        this.log.warn(`replication: refused peer ${socket.remoteAddress ?? '?'}: TLS: ${e.message}`)
      })
      server = tlsServer
    }
    this.listener = server
    const {listenPort, listenAddress} = this.options
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        if (this.listener === server) this.listener = undefined
        reject(new ListenError(`${listenAddress ?? '*'}:${listenPort}`, e))
      })
      server.listen({port: listenPort, host: listenAddress}, () => {
        server.removeAllListeners('error')
        server.on('error', (e) => this.log.warn(`replication listener error: ${e.message}`))
        this.state = 'listening'
        this.listenFailureLogged = false
        this.log.info('replication: listen')
        resolve()
      })
    })
  }

  private async accept(socket: Socket): Promise<void> {
    const name = `${socket.remoteAddress}:${socket.remotePort}`
    socket.on('error', () => {})
    if (this.link !== undefined || this.stopping) { socket.destroy(); return }
    if (this.isOwnDial(socket)) {
      socket.destroy()
      if (!this.dialsItself) this.log.warn(`replication: ${this.options.peer}:${this.options.connectPort} is this node's own listener; waiting for the peer to dial instead`)
      this.dialsItself = true
      return
    }
    this.log.info(`replication: accept (peer=${name})`)
    const hs = await acceptorHandshake(socket, this.handshakeConfig())
    if (this.link !== undefined || this.stopping) { socket.destroy(); return }
    if (!this.accepted(hs, socket, name)) return
    // One peer at a time: a third node is refused while we are paired.
    this.listener?.close()
    this.listener = undefined
    this.role = 'master'
    this.attach(socket, name, hs as Exclude<HandshakeResult, {mode: 'refused'}>, 'acceptor')
  }

  private attach(socket: Socket, name: string, hs: Exclude<HandshakeResult, {mode: 'refused'}>, side: 'acceptor' | 'connector'): void {
    this.cancelDial()
    this.listenFailureLogged = false
    this.lastMode = hs.mode
    if (hs.mode === 'native') {
      this.store.casParity = hs.parity
      this.store.versioned = true
    }
    this.state = 'copying'
    const link = new ReplicationLink(socket, this.store, this.log, {
      mode: hs.mode,
      rev: hs.mode === 'native' ? hs.rev : 1,
      sendsCopy: hs.mode === 'native' || side === 'acceptor',
      queueMax: this.options.queueMax,
      timeoutMs: this.options.timeoutMs,
      peerName: name,
      leftover: hs.leftover,
    }, {
      copyComplete: () => this.openClientPorts(),
      closed: (reason, cause) => this.linkLost(link, reason, cause),
    })
    this.link = link
    this.log.info(`replication: ${hs.mode} link with ${name}${hs.mode === 'native' ? ` (revision ${hs.rev})` : ''}`)
    link.startCopy()
  }

  private openClientPorts(): void {
    const open = this.clientPortsOpen
    this.clientPortsOpen = undefined
    open?.()
  }

  private linkLost(link: ReplicationLink, reason: string, cause: 'heartbeat' | 'bad_input' | 'other'): void {
    if (this.link !== link) return
    this.totals.copySent += link.counters.copySent
    this.totals.copyReceived += link.counters.copyReceived
    this.totals.recopies += link.counters.recopies
    if (cause === 'heartbeat') this.totals.heartbeatTimeouts++
    if (cause === 'bad_input') this.totals.badInput++
    this.link = undefined
    if (this.stopping) return
    this.log.warn(`replication: link to ${link.peerName} lost (${reason}); serving alone and listening`)
    this.listenAlone()
  }

  /** Serve alone: listen; if we cannot, dial the peer at once, then with backoff (see scheduleDial). */
  private listenAlone(): void {
    this.listen().then(
      () => { this.openClientPorts(); this.scheduleDial() },
      (e: Error) => {
        this.state = 'disconnected'
        this.reportListenFailure(e)
        this.openClientPorts()
        this.scheduleDial(true)
      },
    )
  }

  private reportListenFailure(e: Error): void {
    const {peer, connectPort} = this.options
    const dialling = this.shouldDial()
    if (dialling) this.state = 'connecting'
    const message = e instanceof ListenError && e.inUse && this.sharesPort()
      ? `cannot listen on ${e.where}: in use, by the peer that shares this address and port (or by another process); dialling ${peer}:${connectPort} instead`
      : `${e.message}${dialling ? `; dialling the peer at ${peer}:${connectPort} meanwhile` : ''}`
    if (this.listenFailureLogged) this.log.info(`replication: ${message}`)
    else this.log.warn(`replication: ${message}`)
    this.listenFailureLogged = true
  }

  /** -x and -X name our own replication address: only one of the pair can listen on it. */
  private sharesPort(): boolean {
    const {peer, listenPort, connectPort, listenAddress} = this.options
    return listenPort === connectPort && listenAddress !== undefined && listenAddress === peer
  }

  /** An incoming connection that is our own dial come back to us. */
  private isOwnDial(socket: Socket): boolean {
    const out = this.outgoing
    if (out?.localPort === undefined || socket.remotePort !== out.localPort) return false
    const plain = (a: string | undefined): string | undefined => a?.replace(/^::ffff:/, '')
    return plain(socket.remoteAddress) === plain(out.localAddress)
  }

  /**
   * Which side dials a lost peer. A node that could not listen must: nobody
   * can reach it otherwise (and as it accepts nothing, one link still forms).
   * Of two listening nodes, the one with the lower replication port (then the
   * lower address), so both do not dial at once; a legacy peer never dials,
   * so then we always do. A node that holds a port it shares with its peer
   * never dials: the address it would dial is its own.
   */
  private shouldDial(): boolean {
    const {peer, listenPort, connectPort, listenAddress, reconnect} = this.options
    if (!reconnect || peer === undefined) return false
    if (this.listener === undefined) return true
    if (this.sharesPort() || this.dialsItself) return false
    if (this.lastMode === 'legacy') return true
    if (listenPort !== connectPort) return listenPort < connectPort
    return listenAddress === undefined || listenAddress < peer
  }

  /**
   * Dial the peer after the backoff (`soon`: at once, the first try after we
   * found we cannot listen). A node without a listener tries to listen again
   * after each failed dial: if the peer is gone, the port may be free now.
   */
  private scheduleDial(soon = false): void {
    if (this.dialTimer !== undefined || this.stopping || this.link !== undefined || !this.shouldDial()) return
    const delay = soon ? 0 : this.dialDelay
    if (!soon) this.dialDelay = Math.min(RECONNECT_MAX_MS, this.dialDelay * 2)
    this.dialTimer = setTimeout(() => {
      this.dialTimer = undefined
      void this.dial(this.options.peer!).then((linked) => {
        if (linked) {
          this.totals.reconnects++
          this.log.info(`replication: reconnected to ${this.options.peer}:${this.options.connectPort}`)
        } else if (this.listener === undefined && this.link === undefined && !this.stopping) {
          this.listen().then(() => this.scheduleDial(), (e: Error) => { this.reportListenFailure(e); this.scheduleDial() })
        } else {
          this.scheduleDial()
        }
      })
    }, delay)
    this.dialTimer.unref()
  }

  private cancelDial(): void {
    if (this.dialTimer !== undefined) clearTimeout(this.dialTimer)
    this.dialTimer = undefined
    this.dialDelay = RECONNECT_MIN_MS
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
    this.cancelDial()
    clearInterval(this.housekeeping)
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
    const state: LinkState = link === undefined ? this.state : link.inStep ? 'paired' : 'copying'
    const queued = link?.queueLength ?? 0
    return replicationLines({
      queueFree: Math.max(0, this.options.queueMax - queued), role: this.role, state, peer: link?.peerName ?? '-', queued,
      mode: link?.mode ?? this.lastMode ?? 'legacy',
      lagMs: link?.mode === 'native' ? link.lagMs : undefined,
      copySent: this.totals.copySent + (link?.counters.copySent ?? 0),
      copyReceived: this.totals.copyReceived + (link?.counters.copyReceived ?? 0),
      upSince: link?.upSince ?? 0,
      recopies: this.totals.recopies + (link?.counters.recopies ?? 0),
      reconnects: this.totals.reconnects,
      heartbeatTimeouts: this.totals.heartbeatTimeouts,
      badInput: this.totals.badInput,
      refusedPeers: this.totals.refusedPeers,
      reconnect: this.options.reconnect && this.options.peer !== undefined,
    })
  }
}

/** The replication port could not be bound; `inUse`: something else holds it. */
class ListenError extends Error {
  readonly inUse: boolean
  constructor(readonly where: string, cause: NodeJS.ErrnoException) {
    const inUse = cause.code === 'EADDRINUSE'
    super(`failed to listen for replication on ${where}: ${inUse ? 'another process is using it; pick another port with -X' : cause.message}`)
    this.inUse = inUse
  }
}

interface ReplicationView {
  queueFree: number; role: Role; state: LinkState; peer: string; queued: number; mode: LinkMode; lagMs: number | undefined
  copySent: number; copyReceived: number; upSince: number; recopies: number; reconnects: number; heartbeatTimeouts: number; refusedPeers: number; badInput: number
  reconnect: boolean
}

function replicationLines(v: ReplicationView): StatLine[] {
  const lines: StatLine[] = [
    ['replication', 'MASTER'],
    ['repcached_version', REPCACHED_VERSION],
    ['repcached_qi_free', v.queueFree],
    ['repl_role', v.role],
    ['repl_state', v.state],
    ['repl_peer', v.peer],
    ['repl_mode', v.mode],
    ['repl_queue', v.queued],
    ['repl_copy_sent', v.copySent],
    ['repl_copy_received', v.copyReceived],
    ['repl_link_up_since', v.upSince],
  ]
  if (v.lagMs !== undefined) lines.push(['repl_lag_ms', v.lagMs])
  lines.push(
    ['repl_recopies', v.recopies],
    ['repl_reconnects', v.reconnects],
    ['repl_heartbeat_timeouts', v.heartbeatTimeouts],
    ['repl_refused_peers', v.refusedPeers],
    ['repl_bad_input', v.badInput],
    ['repl_reconnect', v.reconnect ? 1 : 0],
  )
  return lines
}

/** The same lines for a node started with -X 0 (replication off), so parsers find every name. */
export function replicationOffLines(): StatLine[] {
  return replicationLines({
    queueFree: 0, role: 'none', state: 'disconnected', peer: '-', queued: 0, mode: 'legacy', lagMs: undefined,
    copySent: 0, copyReceived: 0, upSince: 0, recopies: 0, reconnects: 0, heartbeatTimeouts: 0, refusedPeers: 0, badInput: 0, reconnect: false,
  })
}
