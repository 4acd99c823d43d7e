// A machine reached over SSH (ssh2): one connection per host, opened on first
// use and reused until close(); commands through exec channels, files through
// SFTP. Every value put into a remote command line goes through shellQuote —
// the remote login shell parses the line, and it must be a POSIX shell (sh,
// bash, dash, ksh, zsh; not fish or csh).
//
// The host's identity is checked like ssh(1) with StrictHostKeyChecking=yes
// (or accept-new with acceptNewHostKey): against a pinned key if one is
// configured, else against known_hosts (the user's file, then the global
// /etc/ssh/ssh_known_hosts). A changed key is never accepted.
//
// Nothing here can hang: the handshake is bounded by connectTimeoutMs, every
// command and SFTP call by its own timer, and a dead connection is noticed by
// SSH keepalives (follow() has no other bound).
//
// The Node.js runtime on the host (nodePath) is found by nodeVersion(): the
// remote PATH first (`command -v node` in the login shell), then
// /usr/local/bin/node and /usr/bin/node — SSH sessions often run with a
// shorter PATH than a login terminal. Until then nodePath is 'node', and
// run()/runDaemon() resolve that name the same way before they use it. A
// nodePath option replaces the search. A runtime reachable only through
// shell start-up files (nvm in ~/.bashrc) is not found: link it into
// /usr/local/bin or set nodePath.

import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {constants as osConstants, homedir} from 'node:os'
import {join, posix} from 'node:path'
import {StringDecoder} from 'node:string_decoder'
import ssh2, {Client, type AnyAuthMethod, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm, type SFTPWrapper} from 'ssh2'
import {ERROR_CATALOGUE, RepctlError} from '../errors.js'
import type {Host, ProcessInfo, RunResult} from './host.js'
import {
  appendKnownHost, checkHostKey, entriesFor, fingerprint, keyTypeOf, knownHostName, knownKeyTypes, matchesPin,
  readKnownHosts, type KnownHostEntry,
} from './known-hosts.js'
import {shellCommand, shellQuote} from './shell-quote.js'

export interface SshHostOptions {
  /** The SSH address: a host name or IP address. */
  host: string
  /** Default 22. */
  port?: number
  user: string
  /** A private key file; default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa (those that exist, in that order). */
  identityFile?: string
  /** An ssh-agent socket; default SSH_AUTH_SOCK; false for none. */
  agent?: string | false
  /** Default ~/.ssh/known_hosts; also where acceptNewHostKey records a key. */
  knownHostsFile?: string
  /** Read (never written) after knownHostsFile; default /etc/ssh/ssh_known_hosts; false for none. */
  globalKnownHostsFile?: string | false
  /** A pinned host key: its fingerprint 'SHA256:...' (or its public key line); replaces known_hosts. */
  hostKey?: string
  /** Record an unknown host key in knownHostsFile instead of refusing it (never a changed one). */
  acceptNewHostKey?: boolean
  /** Bound on connect + handshake + authentication; default 5000. */
  connectTimeoutMs?: number
  /** Bound on each command and file operation without a timeout of its own; default 30000. */
  commandTimeoutMs?: number
  /** For messages; default user@host[:port]. */
  label?: string
  /** The Node.js runtime on the host, instead of searching for it (see the top of this file). */
  nodePath?: string
  /** Called once when acceptNewHostKey recorded a host key. */
  onNewHostKey?: (info: {fingerprint: string; keyType: string; file: string}) => void
}

interface ExecOptions {
  /** Omit for no bound (follow only). */
  timeoutMs?: number
  stdin?: string | Buffer
  /** The command prints the pid of the process it execs as its first stdout line: on timeout or abort it is killed. */
  pidLine?: boolean
  onStdout?: (chunk: Buffer) => void
  signal?: AbortSignal
}

interface ExecResult {
  exitCode: number
  stdout: Buffer
  stderr: Buffer
  timedOut: boolean
  aborted: boolean
}

interface Connection {
  client: Client
  closed: boolean
  sftp?: Promise<SFTPWrapper>
}

/** ssh2's default host key algorithms, in its order. */
const DEFAULT_HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
]
const ALGORITHMS_FOR_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
}
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa']
/** OpenSSH allows 10 sessions per connection (MaxSessions); leave room for SFTP and kills. */
const MAX_CHANNELS = 6
const KILL_TIMEOUT_MS = 5000
const CLOSE_TIMEOUT_MS = 2000
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'ECONNRESET', 'EPIPE', 'EADDRNOTAVAIL'])
/** SFTP status codes (draft-ietf-secsh-filexfer-02). */
const SFTP_NO_SUCH_FILE = 2
const SFTP_PERMISSION_DENIED = 3

/** Tries to listen on argv[1]:argv[2]; exits 0 when it could, else 1 printing the error code. */
const PORT_PROBE = "const s=require('net').createServer();s.once('error',e=>{process.stdout.write(String(e.code));process.exit(1)});" +
  "s.listen({host:process.argv[1],port:Number(process.argv[2]),exclusive:true},()=>s.close(()=>process.exit(0)))"
const SHA256_SCRIPT = "const h=require('crypto').createHash('sha256');const s=require('fs').createReadStream(process.argv[1]);" +
  "s.on('error',()=>process.exit(3));s.on('data',d=>h.update(d));s.on('end',()=>process.stdout.write(h.digest('hex')+'\\n'))"

/** Waiters for a limited number of open channels. */
class Slots {
  private active = 0
  private readonly waiting: (() => void)[] = []
  constructor(private limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r))
    this.active++
    let released = false
    return () => {
      if (released) return
      released = true
      this.active--
      this.waiting.shift()?.()
    }
  }

  /** The server refused a channel while `active` were open: never ask for more than that again. */
  lower(): boolean {
    if (this.active <= 1) return false
    this.limit = Math.max(1, this.active - 1)
    return true
  }
}

function errnoCode(e: unknown): string | undefined {
  const code = (e as {code?: unknown}).code
  return typeof code === 'string' ? code : undefined
}

function sftpCode(e: unknown): number | undefined {
  const code = (e as {code?: unknown}).code
  return typeof code === 'number' ? code : undefined
}

function oneLine(text: string | Buffer): string {
  return String(text).trim().split('\n').filter((l) => l.trim() !== '').pop()?.trim() ?? ''
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}

export class SshHost implements Host {
  readonly transport = 'ssh' as const
  readonly label: string
  readonly address: string
  readonly port: number
  readonly user: string

  private readonly knownHostsFile: string
  private readonly globalKnownHostsFile: string | undefined
  private readonly connectTimeoutMs: number
  private readonly commandTimeoutMs: number
  private conn: Promise<Connection> | undefined
  /** The connection `conn` resolved to, while it is open. */
  private current: Connection | undefined
  private readonly slots = new Slots(MAX_CHANNELS)
  private resolvedNode: string | undefined
  private home: string | undefined
  /** Kill the remote side of running follow()s (on close()). */
  private readonly followers = new Set<() => void>()
  /** Remote kills under way (close() lets them finish). */
  private readonly kills = new Set<Promise<void>>()

  constructor(private readonly opts: SshHostOptions) {
    if (opts.host === '') throw new Error('SshHost: empty host')
    this.address = opts.host
    this.port = opts.port ?? 22
    this.user = opts.user
    this.label = opts.label ?? `${opts.user}@${opts.host}${this.port === 22 ? '' : `:${this.port}`}`
    this.knownHostsFile = opts.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts')
    this.globalKnownHostsFile = opts.globalKnownHostsFile === false ? undefined : opts.globalKnownHostsFile ?? '/etc/ssh/ssh_known_hosts'
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30_000
  }

  /** The runtime found by nodeVersion() (or given); 'node' (resolved through the remote PATH) until then. */
  get nodePath(): string {
    return this.resolvedNode ?? this.opts.nodePath ?? 'node'
  }

  /** For messages: "label (ssh user@host:port)", or just "user@host:port". */
  private get where(): string {
    const target = `${this.user}@${this.address}:${this.port}`
    return this.label === target || this.label === `${this.user}@${this.address}` ? target : `${this.label} (ssh ${target})`
  }

  // ---------------------------------------------------------------- connection

  private connection(): Promise<Connection> {
    if (this.conn === undefined) {
      const p = this.connect()
      this.conn = p
      p.catch(() => { if (this.conn === p) this.conn = undefined })
    }
    return this.conn
  }

  private async authMethods(): Promise<{methods: AnyAuthMethod[]; tried: string[]; notes: string[]}> {
    const username = this.user
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
    const {methods, tried, notes} = await this.authMethods()
    if (methods.length === 0) {
      const none = this.opts.identityFile === undefined
        ? `no SSH key to log in to ${this.where} with: none of ~/.ssh/${DEFAULT_IDENTITIES.join(', ~/.ssh/')} is usable and SSH_AUTH_SOCK is not set`
        : `no SSH key to log in to ${this.where} with`
      throw new RepctlError('SSH_AUTH_FAILED', [none, ...notes].join('; '))
    }

    let known: KnownHostEntry[] = []
    const pin = this.opts.hostKey
    if (pin === undefined) {
      try {
        known = await this.readKnownHosts()
      } catch (e) {
        throw new RepctlError('HOST_ERROR', `cannot read the known hosts file for ${this.where}: ${(e as Error).message}`, ['make the file readable, or pin the host key as ssh.hostKey'])
      }
    }
    // Ask the server first for a key of a type we already know for it (as ssh(1) does), so that a
    // host known by its RSA key is not reported as changed because it also has an Ed25519 key.
    const preferredTypes = pin === undefined ? knownKeyTypes(known, this.address, this.port) : pinnedKeyType(pin)
    const preferred = preferredTypes.flatMap((t) => ALGORITHMS_FOR_KEY_TYPE[t] ?? [])
    const serverHostKey = [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])]

    let hostKeyError: RepctlError | undefined
    const config: ConnectConfig = {
      host: this.address,
      port: this.port,
      username: this.user,
      authHandler: methods,
      readyTimeout: this.connectTimeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      algorithms: {serverHostKey},
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        this.verifyHostKey(key, known).then(() => verify(true), (e: unknown) => {
          hostKeyError = e instanceof RepctlError ? e : new RepctlError('HOST_ERROR', `cannot check the host key of ${this.where}: ${(e as Error).message}`)
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
      const hardTimer = setTimeout(() => fail(this.timeoutError(Date.now() - started)), this.connectTimeoutMs + 2000)
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
        fail(hostKeyError ?? new RepctlError('HOST_UNREACHABLE', `${this.where} closed the SSH connection during the handshake`))
      })
      try {
        client.connect(config)
        // ssh2 without its native binding (package.json denies its install script) writes a
        // packet in several pieces: with Nagle on, each command would wait for delayed ACKs.
        client.setNoDelay(true)
      } catch (e) {
        fail(new RepctlError('HOST_ERROR', `cannot connect to ${this.where}: ${(e as Error).message}`))
      }
    })
  }

  private async readKnownHosts(): Promise<KnownHostEntry[]> {
    const mine = await readKnownHosts(this.knownHostsFile)
    if (this.globalKnownHostsFile === undefined) return mine
    return [...mine, ...await readKnownHosts(this.globalKnownHostsFile).catch(() => [])]
  }

  private timeoutError(elapsedMs: number): RepctlError {
    const waited = Math.max(elapsedMs, this.connectTimeoutMs)
    return new RepctlError('SSH_TIMEOUT', `${this.where} did not complete the SSH handshake within ${seconds(waited)} (connect timeout ${seconds(this.connectTimeoutMs)})`)
  }

  private connectError(e: Error & {level?: string}, elapsedMs: number, tried: string[], notes: string[]): RepctlError {
    const code = errnoCode(e)
    if (e.level === 'client-authentication') {
      const what = [`SSH login to ${this.where} failed: the host accepted none of the keys offered for ${this.user} (${tried.join(', ')})`, ...notes].join('; ')
      return new RepctlError('SSH_AUTH_FAILED', what)
    }
    if (e.level === 'client-timeout' || code === 'ETIMEDOUT') return this.timeoutError(elapsedMs)
    if (code !== undefined && UNREACHABLE_CODES.has(code)) {
      const why = code === 'ECONNREFUSED' ? 'connection refused (nothing listens on that port)'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' ? `the name ${this.address} does not resolve`
        : code === 'ECONNRESET' ? 'the connection was reset'
        : e.message
      return new RepctlError('HOST_UNREACHABLE', `cannot reach ${this.where} over SSH: ${why}`)
    }
    if (e.level === 'client-dns') return new RepctlError('HOST_UNREACHABLE', `cannot reach ${this.where} over SSH: ${e.message}`)
    return new RepctlError('HOST_ERROR', `SSH connection to ${this.where} failed: ${e.message}`)
  }

  /** Resolves when `key` is this host's key (recording it when new and allowed); rejects with what to do. */
  private async verifyHostKey(key: Buffer, known: KnownHostEntry[]): Promise<void> {
    const fp = fingerprint(key)
    let type = 'unknown'
    try { type = keyTypeOf(key) } catch { /* reported with the fingerprint only */ }
    const pin = this.opts.hostKey
    if (pin !== undefined) {
      if (matchesPin(pin, key)) return
      throw new RepctlError('HOST_KEY_CHANGED',
        `the SSH host key of ${this.where} (${type} ${fp}) does not match the pinned ssh.hostKey ${pin.trim()}: either the host was replaced or reinstalled, or someone is intercepting the connection`,
        [`verify the host's key out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then correct ssh.hostKey; repctl never accepts a changed key`])
    }
    const verdict = checkHostKey(known, this.address, this.port, key)
    if (verdict === 'match') return
    const name = knownHostName(this.address, this.port)
    if (verdict === 'changed') {
      const lines = entriesFor(known, this.address, this.port).map((e) => e.line)
      throw new RepctlError('HOST_KEY_CHANGED',
        `the SSH host key of ${this.where} has CHANGED: it presented ${type} ${fp}, which is not the key recorded for ${name} in ${this.knownHostsFile}${this.globalKnownHostsFile === undefined ? '' : ` or ${this.globalKnownHostsFile}`} (line${lines.length === 1 ? '' : 's'} ${lines.join(', ')}); either the host was reinstalled or someone is intercepting the connection`,
        [`verify the new key out of band; if it is right, remove the old entry (ssh-keygen -R '${name}' -f ${this.knownHostsFile}) and connect again; repctl never accepts a changed key, not even with --accept-new-host-key`])
    }
    if (this.opts.acceptNewHostKey === true) {
      try {
        await appendKnownHost(this.knownHostsFile, this.address, this.port, key)
      } catch (e) {
        throw new RepctlError('HOST_ERROR', `cannot record the host key of ${this.where} in ${this.knownHostsFile}: ${(e as Error).message}`)
      }
      this.opts.onNewHostKey?.({fingerprint: fp, keyType: type, file: this.knownHostsFile})
      return
    }
    throw new RepctlError('HOST_KEY_UNKNOWN',
      `the SSH host key of ${this.where} is not known: it presented ${type} ${fp}, and ${name} is not in ${this.knownHostsFile}; if that fingerprint is the host's, rerun with --accept-new-host-key, add the key to known_hosts, or pin it as ssh.hostKey`,
      [
        `check the fingerprint on the host itself (ssh-keygen -lf /etc/ssh/ssh_host_${type === 'ssh-ed25519' ? 'ed25519' : type.startsWith('ecdsa') ? 'ecdsa' : 'rsa'}_key.pub)`,
        `then rerun with --accept-new-host-key to record it in ${this.knownHostsFile}`,
        `or add it yourself: ssh-keyscan${this.port === 22 ? '' : ` -p ${this.port}`} ${this.address} >> ${this.knownHostsFile}`,
        `or pin it in the config: ssh.hostKey: "${fp}"`,
      ])
  }

  // ---------------------------------------------------------------- exec

  /** Run a command line in the remote login shell, bounded by opts.timeoutMs. */
  private async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const conn = await this.connection()
    for (;;) {
      const release = await this.slots.acquire()
      try {
        return await this.execOnce(conn, command, opts)
      } catch (e) {
        // MaxSessions on the server is lower than our limit: wait for a channel and try again.
        if (e instanceof ChannelRefused && this.slots.lower()) continue
        if (e instanceof ChannelRefused) throw new RepctlError('HOST_ERROR', `${this.where} refused to open an SSH channel: ${e.message}`)
        throw e
      } finally {
        release()
      }
    }
  }

  private execOnce(conn: Connection, command: string, opts: ExecOptions): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = []
      const err: Buffer[] = []
      let pidText: string | undefined = opts.pidLine === true ? '' : undefined
      let pid: number | undefined
      let exit: {code: number | null; signal?: string} | undefined
      let channel: ClientChannel | undefined
      let done = false
      let timedOut = false
      let aborted = false

      const cleanup = (): void => {
        done = true
        if (timer !== undefined) clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
      }
      const stop = (): void => {
        if (pid !== undefined) void this.killRemote(pid)
        channel?.close()
        finish()
      }
      const finish = (): void => {
        if (done) return
        cleanup()
        let exitCode: number
        if (timedOut) exitCode = 124
        else if (aborted) exitCode = 130
        else if (exit === undefined) {
          reject(conn.closed
            ? new RepctlError('HOST_UNREACHABLE', `lost the SSH connection to ${this.where}`)
            : new RepctlError('HOST_ERROR', `${this.where} closed a command's channel without an exit status`))
          return
        } else if (exit.code !== null) exitCode = exit.code
        else {
          const n = exit.signal === undefined ? undefined : (osConstants.signals as Record<string, number>)[exit.signal]
          exitCode = n === undefined ? 1 : 128 + n
        }
        resolve({exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut, aborted})
      }
      const onAbort = (): void => { aborted = true; stop() }
      const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; stop() }, opts.timeoutMs)
      if (opts.signal?.aborted === true) { aborted = true; finish(); return }
      opts.signal?.addEventListener('abort', onAbort, {once: true})

      const onStdout = (d: Buffer): void => {
        if (pidText !== undefined) {
          // The first line is the pid of the process the command execs.
          const text = pidText + d.toString('latin1')
          const nl = text.indexOf('\n')
          if (nl === -1) { pidText = text; return }
          const n = Number(text.slice(0, nl).trim())
          if (Number.isInteger(n) && n > 0) {
            pid = n
            if (done && (timedOut || aborted)) void this.killRemote(n) // stopped before the pid was known
          }
          pidText = undefined
          d = Buffer.from(text.slice(nl + 1), 'latin1')
          if (d.length === 0) return
        }
        if (opts.onStdout !== undefined) opts.onStdout(d)
        else out.push(d)
      }

      try {
        conn.client.exec(command, (e: Error | undefined, ch: ClientChannel) => {
          if (e !== undefined) {
            if (done) return
            cleanup()
            reject(conn.closed ? new RepctlError('HOST_UNREACHABLE', `lost the SSH connection to ${this.where}`) : new ChannelRefused(e.message))
            return
          }
          channel = ch
          if (done) { ch.close(); return }
          ch.on('data', onStdout)
          ch.stderr.on('data', (d: Buffer) => err.push(d))
          ch.on('exit', (code: number | null, signal?: string) => { exit = {code, ...(signal === undefined ? {} : {signal})} })
          ch.on('close', finish)
          ch.on('error', () => undefined) // reported through close without an exit status
          if (opts.stdin === undefined) ch.end()
          else ch.end(opts.stdin)
        })
      } catch (e) {
        // ssh2 throws when the connection is not open (any more).
        cleanup()
        reject(new RepctlError('HOST_UNREACHABLE', `lost the SSH connection to ${this.where}: ${(e as Error).message}`))
      }
    })
  }

  /** Best effort: TERM a remote process whose command we gave up on (bounded; never throws; close() waits for it). */
  private killRemote(pid: number): Promise<void> {
    const kill = (async () => {
      const conn = await this.conn?.catch(() => undefined)
      if (conn === undefined || conn.closed) return
      await this.execOnce(conn, `kill -s TERM ${shellQuote(String(pid))} 2>/dev/null`, {timeoutMs: KILL_TIMEOUT_MS}).catch(() => undefined)
    })()
    this.kills.add(kill)
    void kill.finally(() => this.kills.delete(kill))
    return kill
  }

  /** exec for repctl's own scripts: a timeout is an error naming the operation. */
  private async script(command: string, what: string, opts: Omit<ExecOptions, 'timeoutMs'> = {}): Promise<ExecResult> {
    const r = await this.exec(command, {...opts, timeoutMs: this.commandTimeoutMs})
    if (r.timedOut) throw new RepctlError('SSH_TIMEOUT', `${what} on ${this.where} did not finish within ${seconds(this.commandTimeoutMs)}`)
    return r
  }

  private hostError(what: string, r: ExecResult | string): RepctlError {
    const why = typeof r === 'string' ? r : oneLine(r.stderr) || `exit code ${r.exitCode}`
    return new RepctlError('HOST_ERROR', `${what} on ${this.where} failed: ${why}`, [hintFor(why)])
  }

  /**
   * A shell snippet that sets N to the Node.js runtime (empty when none):
   * the given or found path, else `command -v node`, /usr/local/bin/node, /usr/bin/node.
   */
  private nodeFinder(): string {
    const candidates = this.resolvedNode !== undefined ? [this.resolvedNode]
      : this.opts.nodePath !== undefined ? [this.opts.nodePath]
      : ['node', '/usr/local/bin/node', '/usr/bin/node']
    const list = candidates.map((c) => `"$(command -v ${shellQuote(c)} 2>/dev/null)"`).join(' ')
    return `N=''; for c in ${list}; do case $c in /*) if [ -x "$c" ]; then N=$c; break; fi;; esac; done`
  }

  private async program(file: string): Promise<string> {
    if (file === 'node' && this.resolvedNode === undefined) await this.nodeVersion().catch(() => undefined)
    return file === 'node' ? this.resolvedNode ?? file : file
  }

  // ---------------------------------------------------------------- Host

  async run(file: string, args: string[], opts: {timeoutMs?: number} = {}): Promise<RunResult> {
    const argv = [await this.program(file), ...args]
    const r = await this.exec(`echo $$ && exec ${shellCommand(argv)}`, {timeoutMs: opts.timeoutMs ?? this.commandTimeoutMs, pidLine: true})
    return {exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8')}
  }

  /**
   * `cd <cwd> && <file> <args...> >> <logFile> 2>&1 < /dev/null`, with the
   * command exec'd in place of the shell (so a timeout can kill it by pid).
   * The program daemonizes itself: its daemon inherits only the log file and
   * /dev/null, never the channel, so the channel closes when the program exits
   * and the daemon outlives the SSH session (it must leave the session itself,
   * setsid, as repcached's -d does; without a pty sshd sends no SIGHUP).
   */
  async runDaemon(file: string, args: string[], opts: {cwd: string; logFile: string; timeoutMs: number}): Promise<RunResult> {
    const argv = [await this.program(file), ...args]
    const log = shellQuote(opts.logFile)
    const line = `cd ${shellQuote(opts.cwd)} && (umask 077 && : >> ${log}) && echo $$ && exec ${shellCommand(argv)} >> ${log} 2>&1 < /dev/null`
    const r = await this.exec(line, {timeoutMs: opts.timeoutMs, pidLine: true})
    return {exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8')}
  }

  async readFile(path: string): Promise<string | undefined> {
    const sftp = await this.sftp(`reading ${path}`)
    try {
      const data = await this.bounded(`reading ${path}`, new Promise<Buffer>((resolve, reject) => {
        sftp.readFile(path, (e: Error | undefined, buf: Buffer) => e === undefined ? resolve(buf) : reject(e))
      }))
      return data.toString('utf8')
    } catch (e) {
      if (e instanceof RepctlError) throw e
      if (sftpCode(e) === SFTP_NO_SUCH_FILE) return undefined
      throw this.hostError(`reading ${path}`, (e as Error).message)
    }
  }

  async writeFile(path: string, data: string | Buffer, mode: number): Promise<void> {
    const tmp = shellQuote(`${path}.tmp-${randomBytes(4).toString('hex')}`)
    const line = `umask 077; if cat > ${tmp} && chmod ${shellQuote(octalMode(mode))} ${tmp} && mv -f ${tmp} ${shellQuote(path)}; then exit 0; fi; rm -f ${tmp}; exit 1`
    const r = await this.script(line, `writing ${path}`, {stdin: data})
    if (r.exitCode !== 0) throw this.hostError(`writing ${path}`, r)
  }

  async makePrivateDir(path: string): Promise<void> {
    const p = shellQuote(path)
    const r = await this.script(`umask 077 && mkdir -p -- ${p} && chmod 700 -- ${p}`, `creating the directory ${path}`)
    if (r.exitCode !== 0) throw this.hostError(`creating the directory ${path}`, r)
  }

  async sha256(path: string): Promise<string | undefined> {
    const p = shellQuote(path)
    const line = `[ -f ${p} ] && [ -r ${p} ] || exit 3; ` +
      `if command -v sha256sum >/dev/null 2>&1; then sha256sum < ${p}; ` +
      `elif command -v shasum >/dev/null 2>&1; then shasum -a 256 < ${p}; ` +
      `else ${this.nodeFinder()}; [ -n "$N" ] || exit 4; exec "$N" -e ${shellQuote(SHA256_SCRIPT)} -- ${p}; fi`
    const r = await this.script(line, `hashing ${path}`)
    const hex = /^[0-9a-f]{64}/.exec(r.stdout.toString('latin1'))
    return r.exitCode === 0 && hex !== null ? hex[0] : undefined
  }

  /** SFTP to a temporary name beside the target, chmod, then rename over the target (atomic). */
  async upload(localPath: string, remotePath: string, mode: number): Promise<void> {
    const dir = posix.dirname(remotePath)
    const mk = await this.script(`umask 077 && mkdir -p -- ${shellQuote(dir)}`, `creating the directory ${dir}`)
    if (mk.exitCode !== 0) throw this.hostError(`creating the directory ${dir}`, mk)
    const sftp = await this.sftp(`uploading ${localPath} to ${remotePath}`)
    const tmp = `${remotePath}.tmp-${randomBytes(4).toString('hex')}`
    const call = (what: string, f: (cb: (e: Error | null | undefined) => void) => void): Promise<void> =>
      this.bounded(what, new Promise<void>((resolve, reject) => f((e) => e === undefined || e === null ? resolve() : reject(e))))
    try {
      await call(`uploading ${localPath} to ${remotePath}`, (cb) => sftp.fastPut(localPath, tmp, {mode}, cb))
      await call(`chmod of ${tmp}`, (cb) => sftp.chmod(tmp, mode, cb))
      try {
        await call(`renaming ${tmp}`, (cb) => sftp.ext_openssh_rename(tmp, remotePath, cb))
      } catch (e) {
        if (e instanceof RepctlError || sftpCode(e) !== undefined) throw e
        // No posix-rename@openssh.com extension on this server: mv replaces the target atomically too.
        const mv = await this.script(`mv -f -- ${shellQuote(tmp)} ${shellQuote(remotePath)}`, `renaming ${tmp}`)
        if (mv.exitCode !== 0) throw this.hostError(`renaming ${tmp} to ${remotePath}`, mv)
      }
    } catch (e) {
      await this.script(`rm -f -- ${shellQuote(tmp)}`, `removing ${tmp}`).catch(() => undefined)
      if (e instanceof RepctlError) throw e
      const code = sftpCode(e)
      const why = code === SFTP_PERMISSION_DENIED ? 'permission denied'
        : code === SFTP_NO_SUCH_FILE ? 'no such file or directory'
        : `${(e as Error).message}${await this.spaceNote(dir)}`
      throw this.hostError(`uploading ${localPath} to ${remotePath}`, why)
    }
  }

  /** " (only N KiB free in DIR)" when the disk looks full — SFTP reports ENOSPC as a bare "Failure". */
  private async spaceNote(dir: string): Promise<string> {
    try {
      const r = await this.script(`df -Pk -- ${shellQuote(dir)} | tail -n 1`, `checking free space in ${dir}`)
      const avail = Number(r.stdout.toString('utf8').trim().split(/\s+/)[3])
      return Number.isFinite(avail) && avail < 1024 ? ` (the disk is full: ${avail} KiB free in ${dir})` : ''
    } catch {
      return ''
    }
  }

  async processInfo(pid: number): Promise<ProcessInfo> {
    const p = shellQuote(String(checkPid(pid)))
    const proc = shellQuote(`/proc/${pid}`)
    const cmdline = shellQuote(`/proc/${pid}/cmdline`)
    // kill -0 fails with EPERM for another user's process: /proc still tells it is alive.
    const line = `if kill -0 ${p} 2>/dev/null || [ -e ${proc} ]; then if [ -r ${cmdline} ]; then printf C; cat ${cmdline} 2>/dev/null; fi; exit 0; fi; exit 1`
    const r = await this.script(line, `looking up process ${pid}`)
    if (r.exitCode === 1) return {alive: false}
    if (r.exitCode !== 0) throw this.hostError(`looking up process ${pid}`, r)
    const out = r.stdout.toString('utf8')
    if (!out.startsWith('C')) return {alive: true}
    const raw = out.slice(1)
    if (raw === '') return {alive: false} // a zombie
    return {alive: true, commandLine: raw.split('\0').filter((x) => x !== '').join(' ')}
  }

  async signal(pid: number, signal: NodeJS.Signals): Promise<boolean> {
    if (!/^SIG[A-Z0-9+-]+$/.test(signal)) throw new Error(`not a signal name: ${signal}`)
    const r = await this.script(`kill -s ${shellQuote(signal.slice(3))} ${shellQuote(String(checkPid(pid)))}`, `sending ${signal} to process ${pid}`)
    return r.exitCode === 0
  }

  /**
   * Tries to listen on address:port with a tiny `node -e` (as LocalHost does),
   * so the answer holds for a server started as this user. Where that cannot
   * tell (no runtime yet, or a port below 1024 for a non-root user) it reads
   * the listening sockets from `ss -ltn`.
   */
  async portFree(address: string, port: number): Promise<boolean> {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`not a port: ${port}`)
    const line = `${this.nodeFinder()}; [ -n "$N" ] || exit 3; exec "$N" -e ${shellQuote(PORT_PROBE)} -- ${shellQuote(address)} ${shellQuote(String(port))}`
    const r = await this.script(line, `checking port ${address}:${port}`)
    if (r.exitCode === 0) return true
    const code = r.stdout.toString('utf8').trim()
    if (r.exitCode === 1 && code !== 'EACCES') return false
    return this.portFreeBySs(address, port)
  }

  private async portFreeBySs(address: string, port: number): Promise<boolean> {
    const r = await this.script('ss -Hltn', `listing the listening sockets`)
    if (r.exitCode !== 0) throw this.hostError(`checking port ${address}:${port} (no Node.js runtime, and ss failed)`, r)
    const wanted = new Set([`${address}:${port}`, `[${address}]:${port}`, `[::ffff:${address}]:${port}`, `0.0.0.0:${port}`, `*:${port}`, `[::]:${port}`])
    for (const l of r.stdout.toString('utf8').split('\n')) {
      const local = l.trim().split(/\s+/)[3]
      if (local === undefined) continue
      // An address may carry an interface: 127.0.0.1%lo:11211.
      if (wanted.has(local.replace(/%[^:\]]+(?=\]?:\d+$)/, ''))) return false
    }
    return true
  }

  /** $HOME of the SSH user (asked once, then cached). */
  async homeDir(): Promise<string> {
    if (this.home !== undefined) return this.home
    const r = await this.script('if [ -n "$HOME" ]; then printf \'%s\\n\' "$HOME"; else cd && pwd; fi', 'asking for the home directory')
    const home = r.stdout.toString('utf8').replace(/\n$/, '')
    if (r.exitCode !== 0 || !home.startsWith('/')) throw this.hostError(`finding the home directory of ${this.user}`, r)
    this.home = home
    return home
  }

  async nodeVersion(): Promise<string | undefined> {
    const line = `${this.nodeFinder()}; [ -n "$N" ] || exit 127; V=$("$N" --version 2>/dev/null) || exit 126; printf '%s\\n%s\\n' "$N" "$V"`
    const r = await this.script(line, 'looking for Node.js')
    if (r.exitCode !== 0) return undefined
    const [path, version] = r.stdout.toString('utf8').split('\n')
    const m = /^v?(\d+\.\d+\.\d+\S*)$/.exec(version?.trim() ?? '')
    if (path === undefined || path === '' || m === null) return undefined
    this.resolvedNode = path
    return m[1]
  }

  async tail(path: string, lines: number): Promise<string> {
    if (lines <= 0) return ''
    const p = shellQuote(path)
    const r = await this.script(`[ -e ${p} ] || exit 0; exec tail -n ${shellQuote(String(Math.floor(lines)))} -- ${p}`, `reading ${path}`)
    if (r.exitCode !== 0) throw this.hostError(`reading ${path}`, r)
    return r.stdout.toString('utf8')
  }

  /** `tail -F` in a channel (from the end; a replaced or truncated file is followed anew) until `signal` aborts. */
  async follow(path: string, onData: (text: string) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    const decoder = new StringDecoder('utf8')
    const local = new AbortController()
    const stopAll = (): void => local.abort()
    signal.addEventListener('abort', stopAll, {once: true})
    this.followers.add(stopAll)
    try {
      const r = await this.exec(`echo $$ && exec tail -n 0 -F -- ${shellQuote(path)}`, {
        pidLine: true,
        signal: local.signal,
        onStdout: (d) => { const t = decoder.write(d); if (t !== '') onData(t) },
      })
      const rest = decoder.end()
      if (rest !== '') onData(rest)
      if (!r.aborted) throw this.hostError(`following ${path}`, r)
    } finally {
      signal.removeEventListener('abort', stopAll)
      this.followers.delete(stopAll)
    }
  }

  async close(): Promise<void> {
    const pending = this.conn
    if (pending === undefined) return
    // Stop remote tails first: they would otherwise linger until their next write.
    for (const stop of [...this.followers]) stop()
    await Promise.all([...this.kills])
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

  // ---------------------------------------------------------------- SFTP

  /** The connection's SFTP session, opened on first use; waiting for it is bounded per caller. */
  private async sftp(purpose: string): Promise<SFTPWrapper> {
    const conn = await this.connection()
    let p = conn.sftp
    if (p === undefined) {
      const opening = new Promise<SFTPWrapper>((resolve, reject) => {
        conn.client.sftp((e: Error | undefined, sftp: SFTPWrapper) => {
          if (e !== undefined) { reject(new RepctlError('HOST_ERROR', `${this.where} refused an SFTP session: ${e.message}`, ['enable the sftp subsystem in the host\'s sshd_config (Subsystem sftp internal-sftp)'])); return }
          sftp.on('close', () => { if (conn.sftp === opening) conn.sftp = undefined })
          resolve(sftp)
        })
      })
      conn.sftp = p = opening
      opening.catch(() => { if (conn.sftp === opening) conn.sftp = undefined })
    }
    try {
      return await this.bounded(`opening an SFTP session for ${purpose}`, p)
    } catch (e) {
      if (conn.sftp === p) conn.sftp = undefined // a hung open is not reused
      throw e
    }
  }

  /** `p`, or SSH_TIMEOUT after commandTimeoutMs. */
  private bounded<T>(what: string, p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new RepctlError('SSH_TIMEOUT', `${what} on ${this.where} did not finish within ${seconds(this.commandTimeoutMs)}`)), this.commandTimeoutMs)
      p.then((v) => { clearTimeout(t); resolve(v) }, (e: unknown) => { clearTimeout(t); reject(e) })
    })
  }
}

/** The server would not open one more channel (MaxSessions). */
class ChannelRefused extends Error {}

function octalMode(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`not a file mode: ${mode}`)
  return mode.toString(8).padStart(4, '0')
}

function checkPid(pid: number): number {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`not a process id: ${pid}`)
  return pid
}

function pinnedKeyType(pin: string): string[] {
  const m = /^(\S+)\s+[A-Za-z0-9+/]+={0,2}(\s|$)/.exec(pin.trim())
  return m === null ? [] : [m[1]!]
}

/** What to do about a failed file operation, from the reason the host gave. */
function hintFor(why: string): string {
  if (/no space left|disk is full|quota/i.test(why)) return 'free space on the host\'s disk (or move the node\'s state directory), then retry'
  if (/permission denied|operation not permitted|read-only/i.test(why)) return 'give the SSH user write access to the node\'s state directory, or choose a state directory it owns'
  return ERROR_CATALOGUE.HOST_ERROR.hint
}
