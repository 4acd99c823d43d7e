// Client listeners: TCP on each -l address (or all interfaces), or a unix
// socket with -s. Enforces -c the way memcached does: a connection over the
// limit is told "ERROR Too many open connections" and closed.

import {addressText, type ConnectionInfo} from './stats-conns.js'
import {now} from './store/clock.js'
import {existsSync, readFileSync, unlinkSync} from 'node:fs'
import {createServer, type Server, type Socket} from 'node:net'
import {createSecureContext, createServer as createTlsServer, type TlsOptions} from 'node:tls'
import {Connection} from './connection.js'
import type {ServerContext} from './context.js'

const TLS_HANDSHAKE_TIMEOUT_MS = 10_000

export interface ListenAddress { host: string | undefined; port: number; notls?: boolean }

/** "-l" entries: "addr", "addr:port", "[v6]:port"; port defaults to -p; "notls:" exempts one from -Z, as in memcached. */
export function listenAddresses(listen: string[], port: number): ListenAddress[] {
  if (listen.length === 0) return [{host: undefined, port}]
  return listen.map((raw) => {
    const notls = raw.startsWith('notls:')
    const entry = notls ? raw.slice('notls:'.length) : raw
    const extra = notls ? {notls} : {}
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
    if (bracket !== null) return {host: bracket[1], port: bracket[2] === undefined ? port : Number(bracket[2]), ...extra}
    const colon = entry.split(':')
    if (colon.length === 2 && /^\d+$/.test(colon[1]!)) return {host: colon[0], port: Number(colon[1]), ...extra}
    return {host: entry, port, ...extra}
  })
}

export class ClientListeners {
  private readonly servers: Server[] = []
  private readonly sockets = new Set<Socket>()
  private nextId = 16
  /** Ports actually bound (useful with -p 0). */
  readonly boundPorts: number[] = []

  /** Listeners and clients as `stats conns` numbers them (one sequence, like memcached's fds). */
  private readonly listening: {id: number; server: Server; unixPath?: string}[] = []
  private readonly clients = new Map<number, Connection>()

  private readonly tlsServers: ReturnType<typeof createTlsServer>[] = []

  /** `tls`: -Z's certificate, key and client verification; every TCP listener speaks TLS (but notls: ones). */
  constructor(private readonly ctx: ServerContext, private readonly tls?: TlsOptions) {
    ctx.connections = () => this.describe()
    if (tls !== undefined) ctx.refreshCerts = () => this.refreshCerts()
  }

  /**
   * `refresh_certs`: read -Z's certificate, key and CA files again and use them for new clients
   * (connected ones keep theirs). On an error the ones in use stay, and the reply says what failed.
   */
  private refreshCerts(): string {
    const o = this.ctx.options
    const read = (what: string, file: string): Buffer => {
      try {
        return readFileSync(file)
      } catch (e) {
        throw new Error(`Error loading the ${what}: ${file} : ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
      }
    }
    try {
      const cert = read('certificate chain', o.tlsCert!)
      const key = o.tlsKey === undefined ? cert : read('key', o.tlsKey)
      const ca = o.tlsCa === undefined ? undefined : read('CA certificate', o.tlsCa)
      // Checked before any listener takes it: a bad pair must leave every listener as it was.
      try {
        createSecureContext({cert, key, ca})
      } catch (e) {
        throw new Error(`Error validating the certificate: ${(e as Error).message}`)
      }
      for (const s of this.tlsServers) s.setSecureContext({...this.tls, cert, key, ca})
      return 'OK\r\n'
    } catch (e) {
      return `${(e as Error).message}\r\n`
    }
  }

  /** memcached gives each listener a connection structure, counted in total_connections and connection_structures. */
  private listened(l: {id: number; server: Server; unixPath?: string}): void {
    this.listening.push(l)
    const s = this.ctx.stats
    s.totalConnections++
    s.connectionStructures = Math.max(s.connectionStructures, this.sockets.size + this.listening.length)
  }

  /** `stats conns`. */
  private describe(): ConnectionInfo[] {
    const t = now()
    const out: ConnectionInfo[] = []
    // A listener has never had a command: memcached counts from its clock's start, 62 s before the process's.
    for (const l of this.listening) {
      const a = l.server.address()
      const addr = typeof a === 'object' && a !== null ? addressText(a.family, a.address, a.port) : addressText(undefined, undefined, undefined, l.unixPath)
      out.push({id: l.id, addr, listenAddr: undefined, state: 'conn_listening', secsSinceLastCmd: t - this.ctx.startedAt + 60})
    }
    const unixPath = this.ctx.options.unixSocket
    for (const [id, c] of this.clients) {
      const s = c.socket
      out.push({
        id,
        addr: addressText(s.remoteFamily, s.remoteAddress, s.remotePort, unixPath),
        listenAddr: addressText(s.remoteFamily, s.localAddress, s.localPort, unixPath),
        state: id === this.ctx.activeConnection ? 'conn_parse_cmd' : c.state,
        secsSinceLastCmd: t - c.lastActive,
      })
    }
    return out
  }

  async open(): Promise<void> {
    const o = this.ctx.options
    if (o.unixSocket !== undefined) {
      const path = o.unixSocket
      if (existsSync(path)) unlinkSync(path) // a stale socket from a crashed run, as memcached does
      const server = this.newServer()
      // -a is the socket's permission bits; a umask makes the socket appear with them, no window with wider ones.
      const previous = process.umask(~o.unixMask & 0o777)
      try {
        await listen(server, {path, backlog: o.backlog}, `unix socket ${path}`)
        this.listened({id: this.nextId++, server, unixPath: path})
      } finally {
        process.umask(previous)
      }
      return
    }
    for (const addr of listenAddresses(o.listen, o.port)) {
      const server = this.newServer(addr.notls !== true)
      const where = `${addr.host ?? '*'}:${addr.port}`
      await listen(server, {host: addr.host, port: addr.port, backlog: o.backlog}, `TCP ${where}`)
      this.listened({id: this.nextId++, server})
      const a = server.address()
      if (a !== null && typeof a === 'object') this.boundPorts.push(a.port)
    }
  }

  private newServer(withTls = false): Server {
    let server: Server
    if (withTls && this.tls !== undefined) {
      let tlsServer: ReturnType<typeof createTlsServer>
      try {
        // A client counts against -c once its handshake is done; until then it has 10 s (Node's default: 120).
        tlsServer = createTlsServer({...this.tls, noDelay: true, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS}, (socket) => this.accept(socket))
      } catch (e) {
        throw new Error(`-Z: the certificate or key is not usable (${(e as Error).message}); check -o ssl_chain_cert, ssl_key and ssl_ca_cert`)
      }
      this.tlsServers.push(tlsServer)
      tlsServer.on('tlsClientError', (e, socket) => {
        this.ctx.stats.tlsHandshakeErrors++
        this.ctx.log.info(`TLS handshake with ${socket.remoteAddress ?? 'a client'} failed: ${e.message}`)
      })
      server = tlsServer
    } else {
      // Paused so that the connection can move the socket's reads to the shared read buffer first (socket-reads.ts).
      server = createServer({noDelay: true, pauseOnConnect: true}, (socket) => this.accept(socket))
    }
    this.servers.push(server)
    return server
  }

  private accept(socket: Socket): void {
    const s = this.ctx.stats
    if (this.sockets.size >= this.ctx.options.maxConnections) {
      s.rejectedConnections++
      socket.on('error', () => {})
      socket.resume() // (paused on accept) whatever the client sends meanwhile is read and dropped
      socket.end('ERROR Too many open connections\r\n')
      return
    }
    // memcached counts connections it serves (refused ones only as rejected), its listeners included.
    s.totalConnections++
    const id = this.nextId++
    const connection = new Connection(socket, this.ctx, id)
    socket = connection.socket
    this.sockets.add(socket)
    this.clients.set(id, connection)
    s.currConnections = this.sockets.size
    s.connectionStructures = Math.max(s.connectionStructures, this.sockets.size + this.listening.length)
    this.ctx.log.trace(`<${id} new auto-negotiating client connection`)
    const {remoteAddress, remotePort} = socket
    this.ctx.events?.connectionEvent('new', id, remoteAddress, remotePort)
    socket.on('close', (hadError) => {
      this.ctx.events?.connectionEvent('close', id, remoteAddress, remotePort, hadError ? 'error' : connection.closeReason)
      this.sockets.delete(socket)
      this.clients.delete(id)
      s.currConnections = this.sockets.size
      this.ctx.log.trace(`<${id} connection closed.`)
    })
  }

  /** Stop accepting and drop every client. */
  async close(): Promise<void> {
    const closing = this.servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve())))
    for (const sock of this.sockets) sock.destroy()
    await Promise.all(closing)
  }
}

function listen(server: Server, opts: {host?: string | undefined; port?: number; path?: string; backlog: number}, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      const hint = e.code === 'EADDRINUSE' ? 'another process is using it; pick another port with -p or stop that process'
        : e.code === 'EACCES' ? 'permission denied; ports below 1024 need root'
        : e.code === 'EADDRNOTAVAIL' ? 'no such local address; check -l'
        : e.message
      reject(new Error(`failed to listen on ${what}: ${hint}`))
    }
    server.once('error', onError)
    server.listen(opts, () => {
      server.off('error', onError)
      server.on('error', (e) => process.stderr.write(`listener error on ${what}: ${e.message}\n`))
      resolve()
    })
  })
}
