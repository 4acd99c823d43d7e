// A machine reached over SSH: the Host methods, each a command line run in
// the remote login shell (ssh-channel.ts) or an SFTP call, over one
// connection per host (ssh-session.ts; its host key checked as ssh(1) does,
// host-key-check.ts). Every value put into a remote command line goes through
// shellQuote — the remote login shell parses the line, and it must be a POSIX
// shell (sh, bash, dash, ksh, zsh; not fish or csh).
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
import {homedir} from 'node:os'
import {join, posix} from 'node:path'
import {StringDecoder} from 'node:string_decoder'
import {ERROR_CATALOGUE, RepctlError} from '../errors.js'
import type {DaemonOptions, Escalation, Host, ProcessInfo, RunOptions, RunResult} from './host.js'
import {checkSudo, rootArgv} from './privilege.js'
import {shellCommand, shellQuote} from './shell-quote.js'
import {SshChannels, type ExecResult} from './ssh-channel.js'
import {SshSession} from './ssh-session.js'

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
  /** How to run a command as root when `user` is not root; default 'none'. */
  escalation?: Escalation
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02). */
const SFTP_NO_SUCH_FILE = 2
const SFTP_PERMISSION_DENIED = 3

/** Tries to listen on argv[1]:argv[2]; exits 0 when it could, else 1 printing the error code. */
const PORT_PROBE = "const s=require('net').createServer();s.once('error',e=>{process.stdout.write(String(e.code));process.exit(1)});" +
  "s.listen({host:process.argv[1],port:Number(process.argv[2]),exclusive:true},()=>s.close(()=>process.exit(0)))"
const SHA256_SCRIPT = "const h=require('crypto').createHash('sha256');const s=require('fs').createReadStream(process.argv[1]);" +
  "s.on('error',()=>process.exit(3));s.on('data',d=>h.update(d));s.on('end',()=>process.stdout.write(h.digest('hex')+'\\n'))"

function sftpCode(e: unknown): number | undefined {
  const code = (e as {code?: unknown}).code
  return typeof code === 'number' ? code : undefined
}

function oneLine(text: string | Buffer): string {
  return String(text).trim().split('\n').filter((l) => l.trim() !== '').pop()?.trim() ?? ''
}

export class SshHost implements Host {
  readonly transport = 'ssh' as const
  readonly label: string
  readonly address: string
  readonly port: number
  readonly user: string
  /** The user named root: a uid-0 login under another name is not recognised (configure escalation there). */
  readonly privileged: boolean
  readonly escalation: Escalation

  private readonly commandTimeoutMs: number
  private readonly session: SshSession
  private readonly channels: SshChannels
  private resolvedNode: string | undefined
  private home: string | undefined
  /** Kill the remote side of running follow()s (on close()). */
  private readonly followers = new Set<() => void>()

  constructor(private readonly opts: SshHostOptions) {
    if (opts.host === '') throw new Error('SshHost: empty host')
    this.address = opts.host
    this.port = opts.port ?? 22
    this.user = opts.user
    this.privileged = opts.user === 'root'
    this.escalation = opts.escalation ?? 'none'
    this.label = opts.label ?? `${opts.user}@${opts.host}${this.port === 22 ? '' : `:${this.port}`}`
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30_000
    this.session = new SshSession({
      host: opts.host, port: this.port, user: opts.user, where: this.where,
      identityFile: opts.identityFile, agent: opts.agent,
      knownHostsFile: opts.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts'),
      globalKnownHostsFile: opts.globalKnownHostsFile === false ? undefined : opts.globalKnownHostsFile ?? '/etc/ssh/ssh_known_hosts',
      hostKey: opts.hostKey, acceptNewHostKey: opts.acceptNewHostKey,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
      onNewHostKey: opts.onNewHostKey,
    })
    this.channels = new SshChannels(this.session, this.where, this.commandTimeoutMs)
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

  /** [program, ...args], as root when asked (privilege.ts). */
  private async argv(file: string, args: string[], asRoot: boolean | undefined): Promise<string[]> {
    const argv = [await this.program(file), ...args]
    return asRoot === true ? rootArgv(this, argv) : argv
  }

  async run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const argv = await this.argv(file, args, opts.asRoot)
    const r = await this.channels.exec(`echo $$ && exec ${shellCommand(argv)}`, {timeoutMs: opts.timeoutMs ?? this.commandTimeoutMs, pidLine: true})
    const result = {exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8')}
    checkSudo(this, argv, file, result.stderr)
    return result
  }

  /**
   * `cd <cwd> && <file> <args...> >> <logFile> 2>&1 < /dev/null`, with the
   * command exec'd in place of the shell (so a timeout can kill it by pid).
   * The program daemonizes itself: its daemon inherits only the log file and
   * /dev/null, never the channel, so the channel closes when the program exits
   * and the daemon outlives the SSH session (it must leave the session itself,
   * setsid, as repcached's -d does; without a pty sshd sends no SIGHUP).
   */
  async runDaemon(file: string, args: string[], opts: DaemonOptions): Promise<RunResult> {
    const argv = await this.argv(file, args, opts.asRoot)
    const log = shellQuote(opts.logFile)
    const line = `cd ${shellQuote(opts.cwd)} && (umask 077 && : >> ${log}) && echo $$ && exec ${shellCommand(argv)} >> ${log} 2>&1 < /dev/null`
    const r = await this.channels.exec(line, {timeoutMs: opts.timeoutMs, pidLine: true})
    return {exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8')}
  }

  async readFile(path: string): Promise<string | undefined> {
    const sftp = await this.channels.sftp(`reading ${path}`)
    try {
      const data = await this.channels.bounded(`reading ${path}`, new Promise<Buffer>((resolve, reject) => {
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
    const r = await this.channels.script(line, `writing ${path}`, {stdin: data})
    if (r.exitCode !== 0) throw this.hostError(`writing ${path}`, r)
  }

  async makePrivateDir(path: string): Promise<void> {
    const p = shellQuote(path)
    const r = await this.channels.script(`umask 077 && mkdir -p -- ${p} && chmod 700 -- ${p}`, `creating the directory ${path}`)
    if (r.exitCode !== 0) throw this.hostError(`creating the directory ${path}`, r)
  }

  async sha256(path: string): Promise<string | undefined> {
    const p = shellQuote(path)
    const line = `[ -f ${p} ] && [ -r ${p} ] || exit 3; ` +
      `if command -v sha256sum >/dev/null 2>&1; then sha256sum < ${p}; ` +
      `elif command -v shasum >/dev/null 2>&1; then shasum -a 256 < ${p}; ` +
      `else ${this.nodeFinder()}; [ -n "$N" ] || exit 4; exec "$N" -e ${shellQuote(SHA256_SCRIPT)} -- ${p}; fi`
    const r = await this.channels.script(line, `hashing ${path}`)
    const hex = /^[0-9a-f]{64}/.exec(r.stdout.toString('latin1'))
    return r.exitCode === 0 && hex !== null ? hex[0] : undefined
  }

  /** SFTP to a temporary name beside the target, chmod, then rename over the target (atomic). */
  async upload(localPath: string, remotePath: string, mode: number): Promise<void> {
    const dir = posix.dirname(remotePath)
    const mk = await this.channels.script(`umask 077 && mkdir -p -- ${shellQuote(dir)}`, `creating the directory ${dir}`)
    if (mk.exitCode !== 0) throw this.hostError(`creating the directory ${dir}`, mk)
    const sftp = await this.channels.sftp(`uploading ${localPath} to ${remotePath}`)
    const tmp = `${remotePath}.tmp-${randomBytes(4).toString('hex')}`
    const call = (what: string, f: (cb: (e: Error | null | undefined) => void) => void): Promise<void> =>
      this.channels.bounded(what, new Promise<void>((resolve, reject) => f((e) => e === undefined || e === null ? resolve() : reject(e))))
    try {
      await call(`uploading ${localPath} to ${remotePath}`, (cb) => sftp.fastPut(localPath, tmp, {mode}, cb))
      await call(`chmod of ${tmp}`, (cb) => sftp.chmod(tmp, mode, cb))
      try {
        await call(`renaming ${tmp}`, (cb) => sftp.ext_openssh_rename(tmp, remotePath, cb))
      } catch (e) {
        if (e instanceof RepctlError || sftpCode(e) !== undefined) throw e
        // No posix-rename@openssh.com extension on this server: mv replaces the target atomically too.
        const mv = await this.channels.script(`mv -f -- ${shellQuote(tmp)} ${shellQuote(remotePath)}`, `renaming ${tmp}`)
        if (mv.exitCode !== 0) throw this.hostError(`renaming ${tmp} to ${remotePath}`, mv)
      }
    } catch (e) {
      await this.channels.script(`rm -f -- ${shellQuote(tmp)}`, `removing ${tmp}`).catch(() => undefined)
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
      const r = await this.channels.script(`df -Pk -- ${shellQuote(dir)} | tail -n 1`, `checking free space in ${dir}`)
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
    const r = await this.channels.script(line, `looking up process ${pid}`)
    if (r.exitCode === 1) return {alive: false}
    if (r.exitCode !== 0) throw this.hostError(`looking up process ${pid}`, r)
    const out = r.stdout.toString('utf8')
    if (!out.startsWith('C')) return {alive: true}
    const raw = out.slice(1)
    if (raw === '') return {alive: false} // a zombie
    return {alive: true, commandLine: raw.split('\0').filter((x) => x !== '').join(' ')}
  }

  async signal(pid: number, signal: NodeJS.Signals, opts: {asRoot?: boolean} = {}): Promise<boolean> {
    if (!/^SIG[A-Z0-9+-]+$/.test(signal)) throw new Error(`not a signal name: ${signal}`)
    const kill = ['kill', '-s', signal.slice(3), String(checkPid(pid))]
    const argv = opts.asRoot === true && !this.privileged ? rootArgv(this, kill) : kill
    const r = await this.channels.script(shellCommand(argv), `sending ${signal} to process ${pid}`)
    checkSudo(this, argv, 'kill', r.stderr.toString('utf8'))
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
    const r = await this.channels.script(line, `checking port ${address}:${port}`)
    if (r.exitCode === 0) return true
    const code = r.stdout.toString('utf8').trim()
    if (r.exitCode === 1 && code !== 'EACCES') return false
    return this.portFreeBySs(address, port)
  }

  private async portFreeBySs(address: string, port: number): Promise<boolean> {
    const r = await this.channels.script('ss -Hltn', `listing the listening sockets`)
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
    const r = await this.channels.script('if [ -n "$HOME" ]; then printf \'%s\\n\' "$HOME"; else cd && pwd; fi', 'asking for the home directory')
    const home = r.stdout.toString('utf8').replace(/\n$/, '')
    if (r.exitCode !== 0 || !home.startsWith('/')) throw this.hostError(`finding the home directory of ${this.user}`, r)
    this.home = home
    return home
  }

  async nodeVersion(): Promise<string | undefined> {
    const line = `${this.nodeFinder()}; [ -n "$N" ] || exit 127; V=$("$N" --version 2>/dev/null) || exit 126; printf '%s\\n%s\\n' "$N" "$V"`
    const r = await this.channels.script(line, 'looking for Node.js')
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
    const r = await this.channels.script(`[ -e ${p} ] || exit 0; exec tail -n ${shellQuote(String(Math.floor(lines)))} -- ${p}`, `reading ${path}`)
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
      const r = await this.channels.exec(`echo $$ && exec tail -n 0 -F -- ${shellQuote(path)}`, {
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
    if (!this.session.active) return
    // Stop remote tails first: they would otherwise linger until their next write.
    for (const stop of [...this.followers]) stop()
    await this.channels.drain()
    await this.session.close()
  }
}

function octalMode(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`not a file mode: ${mode}`)
  return mode.toString(8).padStart(4, '0')
}

function checkPid(pid: number): number {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`not a process id: ${pid}`)
  return pid
}


/** What to do about a failed file operation, from the reason the host gave. */
function hintFor(why: string): string {
  if (/no space left|disk is full|quota/i.test(why)) return 'free space on the host\'s disk (or move the node\'s state directory), then retry'
  if (/permission denied|operation not permitted|read-only/i.test(why)) return 'give the SSH user write access to the node\'s state directory, or choose a state directory it owns'
  return ERROR_CATALOGUE.HOST_ERROR.hint
}
