// One SSH connection to a host (ssh2): opened on first use and reused until
// close(), opened again after it is lost. Authentication as ssh(1) does it
// (the agent, then the identity files), the host key checked by
// host-key-check.ts, and every failure turned into an error naming the host.
//
// Nothing here can hang: the handshake is bounded by connectTimeoutMs, and a
// dead connection is noticed by SSH keepalives.

import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join} from 'node:path'
import ssh2, {Client, type AnyAuthMethod, type ConnectConfig, type SFTPWrapper} from 'ssh2'
import {RepctlError} from '../errors.js'
import {decideHostKey, hostKeyAlgorithms} from './host-key-check.js'
import {appendKnownHost, readKnownHosts, type KnownHostEntry} from './known-hosts.js'

export interface SshSessionOptions {
  host: string
  port: number
  user: string
  /** For messages: "label (ssh user@host:port)". */
  where: string
  identityFile?: string
  agent?: string | false
  knownHostsFile: string
  globalKnownHostsFile?: string
  hostKey?: string
  acceptNewHostKey?: boolean
  connectTimeoutMs: number
  onNewHostKey?: (info: {fingerprint: string; keyType: string; file: string}) => void
}

export interface Connection {
  client: Client
  closed: boolean
  sftp?: Promise<SFTPWrapper>
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa']
const CLOSE_TIMEOUT_MS = 2000
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'ECONNRESET', 'EPIPE', 'EADDRNOTAVAIL'])

function errnoCode(e: unknown): string | undefined {
  const code = (e as {code?: unknown}).code
  return typeof code === 'string' ? code : undefined
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}

export class SshSession {
  private conn: Promise<Connection> | undefined
  /** The connection `conn` resolved to, while it is open. */
  private current: Connection | undefined

  constructor(private readonly opts: SshSessionOptions) {}

  /** Whether a connection is open or being opened. */
  get active(): boolean {
    return this.conn !== undefined
  }

  /** The connection, opened (again) when there is none. */
  connection(): Promise<Connection> {
    if (this.conn === undefined) {
      const p = this.connect()
      this.conn = p
      p.catch(() => { if (this.conn === p) this.conn = undefined })
    }
    return this.conn
  }

  /** The connection if one is open or being opened, without opening one. */
  async existing(): Promise<Connection | undefined> {
    return this.conn?.catch(() => undefined)
  }

  async close(): Promise<void> {
    const pending = this.conn
    if (pending === undefined) return
    this.conn = undefined
    this.current = undefined
    const conn = await pending.catch(() => undefined)
    if (conn === undefined || conn.closed) return
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { conn.client.destroy(); resolve() }, CLOSE_TIMEOUT_MS)
      conn.client.once('close', () => { clearTimeout(t); resolve() })
      conn.client.end()
    })
  }

  private async authMethods(): Promise<{methods: AnyAuthMethod[]; tried: string[]; notes: string[]}> {
    const username = this.opts.user
    const methods: AnyAuthMethod[] = []
    const tried: string[] = []
    const notes: string[] = []
    const addKey = async (file: string, explicit: boolean): Promise<void> => {
      let data: Buffer
      try {
        data = await readFile(file)
      } catch (e) {
        if (explicit) notes.push(`cannot read the identity file ${file}: ${(e as Error).message}`)
        return
      }
      const parsed = ssh2.utils.parseKey(data)
      if (parsed instanceof Error) {
        notes.push(/passphrase|encrypted/i.test(parsed.message)
          ? `${file} is protected by a passphrase: load it into ssh-agent (ssh-add ${file}) so repctl can use it`
          : `${file} is not a usable private key: ${parsed.message}`)
        return
      }
      methods.push({type: 'publickey', username, key: data})
      tried.push(file)
    }
    const agent = this.opts.agent === false ? undefined : this.opts.agent ?? process.env.SSH_AUTH_SOCK
    const useAgent = agent !== undefined && agent !== ''
    if (this.opts.identityFile !== undefined) {
      await addKey(this.opts.identityFile, true)
      if (useAgent) { methods.push({type: 'agent', username, agent}); tried.push(`the agent at ${agent}`) }
    } else {
      // As ssh(1): the agent's keys first, then the default identity files.
      if (useAgent) { methods.push({type: 'agent', username, agent}); tried.push(`the agent at ${agent}`) }
      for (const name of DEFAULT_IDENTITIES) {
        const file = join(homedir(), '.ssh', name)
        if (existsSync(file)) await addKey(file, false)
      }
    }
    return {methods, tried, notes}
  }

  private async connect(): Promise<Connection> {
    const {where} = this.opts
    const {methods, tried, notes} = await this.authMethods()
    if (methods.length === 0) {
      const none = this.opts.identityFile === undefined
        ? `no SSH key to log in to ${where} with: none of ~/.ssh/${DEFAULT_IDENTITIES.join(', ~/.ssh/')} is usable and SSH_AUTH_SOCK is not set`
        : `no SSH key to log in to ${where} with`
      throw new RepctlError('SSH_AUTH_FAILED', [none, ...notes].join('; '))
    }

    let known: KnownHostEntry[] = []
    const pin = this.opts.hostKey
    if (pin === undefined) {
      try {
        known = await this.readKnownHosts()
      } catch (e) {
        throw new RepctlError('HOST_ERROR', `cannot read the known hosts file for ${where}: ${(e as Error).message}`, ['make the file readable, or pin the host key as ssh.hostKey'])
      }
    }

    let hostKeyError: RepctlError | undefined
    const config: ConnectConfig = {
      host: this.opts.host,
      port: this.opts.port,
      username: this.opts.user,
      authHandler: methods,
      readyTimeout: this.opts.connectTimeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      algorithms: {serverHostKey: hostKeyAlgorithms(known, this.opts.host, this.opts.port, pin)},
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        this.verifyHostKey(key, known).then(() => verify(true), (e: unknown) => {
          hostKeyError = e instanceof RepctlError ? e : new RepctlError('HOST_ERROR', `cannot check the host key of ${where}: ${(e as Error).message}`)
          verify(false)
        })
      },
    }

    const started = Date.now()
    return new Promise<Connection>((resolve, reject) => {
      const client = new Client()
      const conn: Connection = {client, closed: false}
      let settled = false
      const fail = (e: RepctlError): void => {
        if (settled) return
        settled = true
        clearTimeout(hardTimer)
        client.destroy()
        reject(e)
      }
      // ssh2's readyTimeout covers connect, handshake and authentication; this is the backstop.
      const hardTimer = setTimeout(() => fail(this.timeoutError(Date.now() - started)), this.opts.connectTimeoutMs + 2000)
      client.on('ready', () => {
        if (settled) return
        settled = true
        clearTimeout(hardTimer)
        this.current = conn
        resolve(conn)
      })
      client.on('error', (e: Error & {level?: string}) => {
        if (!settled) fail(hostKeyError ?? this.connectError(e, Date.now() - started, tried, notes))
      })
      client.on('close', () => {
        conn.closed = true
        // Lost (or ended): the next call connects again.
        if (this.current === conn) { this.current = undefined; this.conn = undefined }
        fail(hostKeyError ?? new RepctlError('HOST_UNREACHABLE', `${where} closed the SSH connection during the handshake`))
      })
      try {
        client.connect(config)
        // ssh2 without its native binding (package.json denies its install script) writes a
        // packet in several pieces: with Nagle on, each command would wait for delayed ACKs.
        client.setNoDelay(true)
      } catch (e) {
        fail(new RepctlError('HOST_ERROR', `cannot connect to ${where}: ${(e as Error).message}`))
      }
    })
  }

  private async readKnownHosts(): Promise<KnownHostEntry[]> {
    const mine = await readKnownHosts(this.opts.knownHostsFile)
    if (this.opts.globalKnownHostsFile === undefined) return mine
    return [...mine, ...await readKnownHosts(this.opts.globalKnownHostsFile).catch(() => [])]
  }

  /** Resolves when `key` is this host's key (recording it when new and allowed); rejects with what to do. */
  private async verifyHostKey(key: Buffer, known: KnownHostEntry[]): Promise<void> {
    const {where, knownHostsFile} = this.opts
    const decision = decideHostKey({
      key, address: this.opts.host, port: this.opts.port, where, pin: this.opts.hostKey, known,
      knownHostsFile, globalKnownHostsFile: this.opts.globalKnownHostsFile, acceptNew: this.opts.acceptNewHostKey === true,
    })
    if (decision.action === 'accept') return
    if (decision.action === 'refuse') throw decision.error
    try {
      await appendKnownHost(knownHostsFile, this.opts.host, this.opts.port, key)
    } catch (e) {
      throw new RepctlError('HOST_ERROR', `cannot record the host key of ${where} in ${knownHostsFile}: ${(e as Error).message}`)
    }
    this.opts.onNewHostKey?.({fingerprint: decision.fingerprint, keyType: decision.keyType, file: knownHostsFile})
  }

  private timeoutError(elapsedMs: number): RepctlError {
    const timeout = this.opts.connectTimeoutMs
    return new RepctlError('SSH_TIMEOUT', `${this.opts.where} did not complete the SSH handshake within ${seconds(Math.max(elapsedMs, timeout))} (connect timeout ${seconds(timeout)})`)
  }

  private connectError(e: Error & {level?: string}, elapsedMs: number, tried: string[], notes: string[]): RepctlError {
    const {where} = this.opts
    const code = errnoCode(e)
    if (e.level === 'client-authentication') {
      const what = [`SSH login to ${where} failed: the host accepted none of the keys offered for ${this.opts.user} (${tried.join(', ')})`, ...notes].join('; ')
      return new RepctlError('SSH_AUTH_FAILED', what)
    }
    if (e.level === 'client-timeout' || code === 'ETIMEDOUT') return this.timeoutError(elapsedMs)
    if (code !== undefined && UNREACHABLE_CODES.has(code)) {
      const why = code === 'ECONNREFUSED' ? 'connection refused (nothing listens on that port)'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' ? `the name ${this.opts.host} does not resolve`
        : code === 'ECONNRESET' ? 'the connection was reset'
        : e.message
      return new RepctlError('HOST_UNREACHABLE', `cannot reach ${where} over SSH: ${why}`)
    }
    if (e.level === 'client-dns') return new RepctlError('HOST_UNREACHABLE', `cannot reach ${where} over SSH: ${e.message}`)
    return new RepctlError('HOST_ERROR', `SSH connection to ${where} failed: ${e.message}`)
  }
}
