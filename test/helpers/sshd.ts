// Real SSH "hosts" on loopback for tests, exactly as in
// shared/testing/real-hosts.md: one sshd per host, each in its own directory
// with its own host key(s) and config, listening on a loopback alias
// (127.0.0.11, 127.0.0.12) and a port chosen free at run time; started in the
// foreground (-D -e) so the pid is ours, stopped by that pid. Client key pairs
// are generated per test run. An optional non-root user `repuser` is created
// (as root only) and removed with userdel -r.

import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {freePort} from './ports.js'
import {REQUIRE_TOOLS, waitForPort, which} from './processes.js'

export const SSHD = '/usr/sbin/sshd'
export const REP_USER = 'repuser'

/** Skip reason when sshd or ssh-keygen is missing (throws in CI mode, like toolMissing). */
export function sshdMissing(): string | false {
  const missing = [existsSync(SSHD) ? undefined : SSHD, which('ssh-keygen') === undefined ? 'ssh-keygen' : undefined].filter((x) => x !== undefined)
  if (missing.length === 0) return false
  const why = `${missing.join(' and ')} not installed (apt-get install openssh-server)`
  if (REQUIRE_TOOLS) throw new Error(`${why}; required because REPCTL_REQUIRE_TOOLS=1 — .ci/run installs it with apt-get`)
  return `SKIPPED LOUDLY: ${why} — the SSH host tests did not run`
}

export interface KeyPair {
  privateKey: string
  publicKeyFile: string
  /** "ssh-ed25519 AAAA... comment" */
  publicLine: string
  /** The public key blob. */
  blob: Buffer
}

export function keyPair(dir: string, name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): KeyPair {
  const privateKey = join(dir, name)
  rmSync(privateKey, {force: true})
  rmSync(`${privateKey}.pub`, {force: true})
  const r = spawnSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', `repctl-test-${name}`, '-f', privateKey], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
  const publicLine = readFileSync(`${privateKey}.pub`, 'utf8').trim()
  return {privateKey, publicKeyFile: `${privateKey}.pub`, publicLine, blob: Buffer.from(publicLine.split(' ')[1]!, 'base64')}
}

export interface SshdOptions {
  /** A loopback address, 127.0.0.11 or 127.0.0.12; or, with `netns`, that namespace's own address. */
  address: string
  /**
   * Run sshd inside this network namespace (`ip netns exec`, which execs, so the
   * pid is still sshd's): see test/helpers/netns.ts, which checks the address.
   */
  netns?: string
  /** With `netns` only (the namespace is its own network): default 22. Else a free port is chosen. */
  port?: number
  /** Its own directory (created). */
  dir: string
  /** Public key lines allowed to log in (any user; plus each user's ~/.ssh/authorized_keys). */
  authorizedKeys: string[]
  /** Host key types; the first is what the tests pin. Default ['ed25519']. */
  hostKeyTypes?: ('ed25519' | 'rsa' | 'ecdsa')[]
}

const live = new Set<Sshd>()
let exitHook = false

export class Sshd {
  port = 0
  hostKeys: KeyPair[] = []
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined

  private constructor(readonly opts: SshdOptions) {}

  get address(): string { return this.opts.address }
  get dir(): string { return this.opts.dir }
  get pid(): number | undefined { return this.child?.pid }
  get logFile(): string { return join(this.opts.dir, 'sshd.log') }
  /** The first host key (what the server presents to ssh2 by default). */
  get hostKey(): KeyPair { return this.hostKeys[0]! }
  log(): string { return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '' }

  static async start(opts: SshdOptions): Promise<Sshd> {
    if (opts.netns === undefined && !/^127\.\d+\.\d+\.\d+$/.test(opts.address)) throw new Error(`sshd: ${opts.address} is not a loopback address`)
    if (opts.netns === undefined && opts.port !== undefined) throw new Error('sshd: a fixed port is for sshd in a network namespace only; on loopback a free one is chosen')
    const sshd = new Sshd(opts)
    mkdirSync(opts.dir, {recursive: true, mode: 0o700})
    // Without it sshd exits 255 (no systemd here to create it); harmless when it exists or we are not root.
    try { mkdirSync('/run/sshd', {recursive: true, mode: 0o755}) } catch { /* not root: sshd may still run */ }
    writeFileSync(join(opts.dir, 'authorized_keys'), opts.authorizedKeys.map((k) => `${k}\n`).join(''), {mode: 0o600})
    sshd.newHostKeys()
    sshd.port = opts.netns === undefined ? await freePort(opts.address) : opts.port ?? 22
    await sshd.launch()
    live.add(sshd)
    if (!exitHook) {
      exitHook = true
      // Last resort when an after-hook never ran: never leave an sshd behind.
      process.once('exit', () => { for (const s of live) if (s.child?.pid !== undefined) try { process.kill(s.child.pid, 'SIGKILL') } catch { /* gone */ } })
    }
    return sshd
  }

  private newHostKeys(): void {
    this.hostKeys = (this.opts.hostKeyTypes ?? ['ed25519']).map((t) => keyPair(this.opts.dir, `ssh_host_${t}_key`, t))
  }

  private config(): string {
    const d = this.opts.dir
    return [
      `Port ${this.port}`,
      `ListenAddress ${this.opts.address}`,
      ...this.hostKeys.map((k) => `HostKey ${k.privateKey}`),
      `PidFile ${join(d, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(d, 'authorized_keys')} .ssh/authorized_keys`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n')
  }

  private async launch(): Promise<void> {
    const cfg = join(this.opts.dir, 'sshd_config')
    writeFileSync(cfg, this.config(), {mode: 0o600})
    const t = spawnSync(SSHD, ['-t', '-f', cfg], {encoding: 'utf8'})
    if (t.status !== 0) throw new Error(`sshd -t rejected ${cfg}: ${t.stderr}`)
    const fd = openSync(this.logFile, 'a')
    try {
      const sshd = [SSHD, '-D', '-e', '-f', cfg]
      const netns = this.opts.netns
      const argv = netns === undefined ? sshd : ['ip', 'netns', 'exec', netns, ...sshd]
      this.child = spawn(...freshRootShell(this.opts.dir, argv), {stdio: ['ignore', fd, fd]})
    } finally {
      closeSync(fd)
    }
    const child = this.child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    const gaveUp = (): string | undefined => child.exitCode !== null || child.signalCode !== null ? `sshd exited (${child.exitCode ?? child.signalCode}):\n${this.log()}` : undefined
    await waitForPort(this.port, this.opts.address, 5000, gaveUp)
  }

  /** Stop it (by pid), optionally give it new host keys, and start it again on the same port. */
  async restart(opts: {newHostKeys?: boolean} = {}): Promise<void> {
    await this.stop()
    if (opts.newHostKeys === true) this.newHostKeys()
    await this.launch()
    live.add(this)
  }

  /**
   * Runs a command in the mount namespace of this sshd's sessions (see
   * freshRootShell), so a mount a test makes is the one the SSH host sees.
   */
  inMountNamespace(cmd: string, args: string[]): {status: number | null; stdout: string; stderr: string} {
    if (this.child?.pid === undefined) throw new Error('sshd is not running')
    return spawnSync('nsenter', ['-t', String(this.child.pid), '-m', '--', cmd, ...args], {encoding: 'utf8'})
  }

  /** The pids of this sshd's per-connection processes (children of the listener). */
  sessionPids(): number[] {
    if (this.child?.pid === undefined) return []
    const r = spawnSync('pgrep', ['-P', String(this.child.pid)], {encoding: 'utf8'})
    return r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number)
  }

  /** sessionPids() and all their descendants (the per-connection sshd forks a child for the user's side). */
  sessionTree(): number[] {
    const all: number[] = []
    let level = this.sessionPids()
    while (level.length > 0) {
      all.push(...level)
      level = level.flatMap((p) => spawnSync('pgrep', ['-P', String(p)], {encoding: 'utf8'}).stdout.split('\n').filter((l) => l.trim() !== '').map(Number))
    }
    return all
  }

  async stop(): Promise<void> {
    const child = this.child
    live.delete(this)
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await this.exited
    clearTimeout(timer)
  }
}

const ROOT_BASHRC = '/root/.bashrc'
const SKEL_BASHRC = '/etc/skel/.bashrc'

/**
 * The command that runs `argv` (which ends by exec'ing sshd, so the pid stays
 * sshd's) with root's ~/.bashrc replaced, for that sshd's sessions only, by a
 * fresh host's (Debian's /etc/skel one, else an empty file).
 *
 * Why: sshd runs every command through the login shell, and Debian's bash
 * sources ~/.bashrc when started by sshd. A test machine's root account is the
 * machine's, not the test's: one image's root .bashrc runs `pyenv rehash`,
 * which waits 60 s on a stale lock, so every command over SSH timed out and
 * the suite tested that machine's dotfiles instead of repctl. The test hosts
 * stand for freshly installed hosts, so their root gets a fresh .bashrc. The
 * swap is a bind mount in a private mount namespace (unshare -m), so nothing
 * of the machine changes and it ends with sshd. repctl's own answer to a slow
 * login shell is the SSH_TIMEOUT hint.
 */
function freshRootShell(dir: string, argv: string[]): [string, string[]] {
  if (process.getuid?.() !== 0 || !existsSync(ROOT_BASHRC)) return [argv[0]!, argv.slice(1)]
  const fresh = join(dir, 'root.bashrc')
  writeFileSync(fresh, existsSync(SKEL_BASHRC) ? readFileSync(SKEL_BASHRC) : '', {mode: 0o644})
  // unshare without --fork execs sh, which execs argv: still one pid.
  return ['unshare', ['-m', '--propagation', 'slave', '--', 'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', fresh, ROOT_BASHRC, ...argv]]
}

/** Why the non-root user cannot be created here, or false when it can. */
export function repUserMissing(): string | false {
  if (process.getuid?.() !== 0) return 'creating the test user repuser needs root'
  for (const tool of ['useradd', 'usermod', 'userdel']) {
    if (which(tool) === undefined && !existsSync(`/usr/sbin/${tool}`)) {
      if (REQUIRE_TOOLS) throw new Error(`${tool} is required (REPCTL_REQUIRE_TOOLS=1) to create the test user`)
      return `${tool} not installed`
    }
  }
  return false
}

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`)
}

function userExists(name: string): boolean {
  return spawnSync('id', ['-u', name], {stdio: 'ignore'}).status === 0
}

/** Create `repuser` (a leftover from a crashed run is removed first) allowed to log in with `publicLine`; returns its home. */
export async function createRepUser(publicLine: string): Promise<{user: string; home: string; uid: number}> {
  if (userExists(REP_USER)) await removeRepUser()
  must('useradd', ['-m', '-s', '/bin/bash', REP_USER])
  must('usermod', ['-p', '*', REP_USER]) // else "account is locked" with UsePAM no
  const home = spawnSync('sh', ['-c', `getent passwd ${REP_USER} | cut -d: -f6`], {encoding: 'utf8'}).stdout.trim()
  must('install', ['-d', '-m', '700', '-o', REP_USER, '-g', REP_USER, join(home, '.ssh')])
  const tmp = join(home, '.ssh', 'authorized_keys.tmp')
  writeFileSync(tmp, `${publicLine}\n`)
  must('install', ['-m', '600', '-o', REP_USER, '-g', REP_USER, tmp, join(home, '.ssh', 'authorized_keys')])
  rmSync(tmp)
  const uid = Number(spawnSync('id', ['-u', REP_USER], {encoding: 'utf8'}).stdout.trim())
  return {user: REP_USER, home, uid}
}

/**
 * userdel -r repuser. A process still running as the user makes userdel fail: the tests stop
 * theirs by pid first, but the per-connection sshd processes of its closed sessions can linger
 * for a moment as zombies (PID 1 of a container may reap late), so retry, then force.
 */
export async function removeRepUser(): Promise<void> {
  let last = ''
  const end = Date.now() + 5000
  while (userExists(REP_USER)) {
    if (Date.now() > end) {
      const r = spawnSync('userdel', ['-f', '-r', REP_USER], {encoding: 'utf8'})
      if (userExists(REP_USER)) throw new Error(`userdel -r ${REP_USER} failed: ${last}; userdel -f: ${r.stderr}`)
      return
    }
    last = spawnSync('userdel', ['-r', REP_USER], {encoding: 'utf8'}).stderr
    if (userExists(REP_USER)) await new Promise((r) => setTimeout(r, 200))
  }
}
