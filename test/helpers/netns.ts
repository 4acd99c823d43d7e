// Test "hosts with their own network" (shared/testing/real-hosts.md, the
// netns recipe): each host is a network namespace with one interface, and the
// hosts share one bridge, so a virtual IP (keepalived/VRRP) can move between
// them as between two machines. repctl manages them over SSH (startSshd).
//
// Layout, for a network with id ID (this process's pid in base 36):
//
//   root namespace                      namespace rct-ID-h1       namespace rct-ID-h2
//   bridge rct-ID-br  10.231.0.254/24   eth0  10.231.0.1/24        eth0  10.231.0.2/24
//     ├─ port rct-ID-1  ══ veth ═══════ eth0                        │
//     └─ port rct-ID-2  ══ veth ═════════════════════════════════ eth0
//
// - One address range for the whole suite, 10.231.0.0/24: host i gets .i, the
//   root namespace .254 on the bridge so the test (and repctl) reach the hosts.
//   No default route anywhere: a host can reach the range and its own lo, nothing
//   else (anything else is ENETUNREACH). IPv6 is off on all of it (no link-local chatter).
// - Inside every host, net.ipv4.ip_nonlocal_bind=1: a node must listen on its
//   pair's VIP while the other host holds it, or it would not answer when the
//   VIP moves to it (the alternative, listening on all addresses, is the node's choice).
// - Names start with `rct-` and carry the creating pid. Because the range is
//   one per machine, only one network exists at a time: a lock file
//   (/run/repctl-test-netns.lock, holding the owner's pid) serialises test
//   processes; whoever holds it removes every `rct-` namespace and link left by
//   a run that crashed (killing, by pid, the processes still inside them).
// - cut(a, b) uses bridge port isolation (`bridge link set dev PORT isolated on`):
//   isolated ports do not exchange frames with each other (ARP included: a true
//   silent partition, established TCP connections hang), while traffic between a
//   port and the bridge itself, the root namespace, keeps flowing. So the test can
//   still ask both sides of a cut for their status. Nothing is added to the root
//   namespace's iptables (the REPCTL_TEST chain of partition.ts is another matter).
//   Limit: all isolated ports are cut from each other, so a set of cuts must be
//   "every pair among some hosts"; cut() refuses any other combination.
// - Processes started in a host (spawn, startSshd) are tracked by pid. destroy()
//   kills them by pid, then every pid still inside each namespace (`ip netns pids`:
//   daemons started over SSH are there, and nowhere else), deletes the links,
//   namespaces and bridge, and releases the lock. It is idempotent; call it from an
//   after() hook. A process 'exit' hook runs it too when the hook never ran.

import {spawn as spawnChild, spawnSync, type ChildProcess} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {REQUIRE_TOOLS, which} from './processes.js'
import {Sshd, sshdMissing} from './sshd.js'

/** The suite's one range for namespace hosts; nothing else is ever addressed. */
export const TEST_RANGE = '10.231.0.0/24'
const RANGE_PREFIX = '10.231.0.'
const PREFIX_LENGTH = 24
/** The root namespace's address on the bridge. */
export const ROOT_ADDRESS = `${RANGE_PREFIX}254`
/** Every namespace and link the harness creates starts with this. */
export const NAME_PREFIX = 'rct-'
export const LOCK_FILE = '/run/repctl-test-netns.lock'
const MAX_HOSTS = 99
const LOCK_WAIT_MS = 120_000

// ---------------------------------------------------------------------------
// Availability (skip or fail, like toolMissing / sshdMissing)

let cachedReason: string | undefined | null = null

function unavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  for (const tool of ['ip', 'bridge']) if (which(tool) === undefined) return `${tool} not installed (apt-get install iproute2)`
  // Root is not enough in a container without CAP_SYS_ADMIN/CAP_NET_ADMIN: try the
  // same kinds of link in a throwaway namespace (gone when the command exits).
  const probe = spawnSync('unshare', ['--net', 'sh', '-ec',
    'ip link add rctprobebr type bridge; ip link add rctprobe0 type veth peer name rctprobe1; ip link set rctprobe0 master rctprobebr; bridge link set dev rctprobe0 isolated on'],
  {encoding: 'utf8', timeout: 10_000})
  if (probe.status !== 0) return `cannot create a namespace with a bridge and veth here: ${`${probe.stderr ?? ''}${probe.error?.message ?? ''}`.trim()}`
  return undefined
}

/**
 * Skip reason when namespace hosts (with sshd) cannot be made here, false when
 * they can. With REPCTL_REQUIRE_TOOLS=1 it throws instead: the test fails.
 */
export function netnsMissing(): string | false {
  const ssh = sshdMissing()
  if (ssh !== false) return ssh
  if (cachedReason === null) cachedReason = unavailableReason()
  if (cachedReason === undefined) return false
  if (REQUIRE_TOOLS) throw new Error(`${cachedReason}; root with iproute2 is required (REPCTL_REQUIRE_TOOLS=1) for the namespace host tests`)
  return `SKIPPED LOUDLY: ${cachedReason} — the network namespace host tests did not run`
}

/** Why a tool for a host is missing (skip reason), false when present; throws in CI mode. */
export function programMissing(path: string, apt: string): string | false {
  if (existsSync(path)) return false
  if (REQUIRE_TOOLS) throw new Error(`${path} is required (REPCTL_REQUIRE_TOOLS=1) but not installed; apt-get install ${apt}`)
  return `SKIPPED LOUDLY: ${path} not installed (apt-get install ${apt})`
}

// ---------------------------------------------------------------------------
// Small process tools (everything by pid)

interface Sync { status: number | null; stdout: string; stderr: string }

function ipSync(args: string[]): Sync {
  const r = spawnSync('ip', args, {encoding: 'utf8', timeout: 15_000})
  return {status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error?.message ?? ''}`}
}

function ipMust(args: string[]): string {
  const r = ipSync(args)
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`)
  return r.stdout
}

function bridgeMust(args: string[]): void {
  const r = spawnSync('bridge', args, {encoding: 'utf8', timeout: 15_000})
  if (r.status !== 0) throw new Error(`bridge ${args.join(' ')} failed: ${`${r.stderr ?? ''}${r.error?.message ?? ''}`.trim()}`)
}

export function alive(pid: number): boolean {
  try { process.kill(pid, 0) } catch { return false }
  // A zombie is dead for our purposes (it holds no socket, no namespace).
  try { return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch { /* gone */ }
}

/** The descendants of `pid` (children first), from /proc: the process table is shared with the namespaces. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parent.set(Number(entry), ppid)
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = []
  let level = [pid]
  while (level.length > 0) {
    const next = [...parent].filter(([, pp]) => level.includes(pp)).map(([p]) => p)
    out.push(...next)
    level = next
  }
  return out
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The pids inside a namespace (`ip netns pids`); [] when it does not exist. */
function namespacePids(ns: string): number[] {
  const r = ipSync(['netns', 'pids', ns])
  if (r.status !== 0) return []
  return r.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number).filter((p) => p !== process.pid)
}

/** SIGKILL every pid in the namespace until none is left (bounded). Returns the pids still there. */
function emptyNamespace(ns: string, ms = 5000): number[] {
  const end = Date.now() + ms
  let left = namespacePids(ns).filter(alive)
  while (left.length > 0 && Date.now() < end) {
    for (const p of left) kill(p, 'SIGKILL')
    sleepSync(20)
    left = namespacePids(ns).filter(alive)
  }
  return left
}

// ---------------------------------------------------------------------------
// Processes in a host

export interface HostProcess {
  readonly pid: number
  readonly child: ChildProcess
  /** Resolves when it exits (code or signal). */
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  readonly logFile: string
  running(): boolean
  /** Its stdout and stderr so far. */
  log(): string
  /** It and its descendants (a daemon's workers), by pid. */
  tree(): number[]
  /** Signal it and, with `tree`, its descendants, by pid; SIGKILL waits until it exited. */
  kill(signal?: NodeJS.Signals, opts?: {tree?: boolean}): Promise<void>
}

export interface ExecResult { exitCode: number | null; stdout: string; stderr: string; timedOut: boolean }

export type ProbeResult = 'connected' | 'refused' | 'timeout' | 'unreachable'

/** A bounded TCP connect from this process (the root namespace). */
export function tcpProbe(address: string, port: number, timeoutMs = 1000): Promise<ProbeResult> {
  assertInRange(address)
  return new Promise((resolve) => {
    const s = connect({host: address, port})
    const done = (r: ProbeResult): void => { clearTimeout(t); s.destroy(); resolve(r) }
    const t = setTimeout(() => done('timeout'), timeoutMs)
    s.once('connect', () => done('connected'))
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'unreachable'))
  })
}

/** The same probe as a script, for `node -e` inside a namespace: prints the ProbeResult. */
const PROBE_SCRIPT = "const [h,p,ms]=process.argv.slice(1);const s=require('net').connect({host:h,port:+p});" +
  "const d=r=>{process.stdout.write(r);process.exit(0)};setTimeout(()=>d('timeout'),+ms);" +
  "s.once('connect',()=>d('connected'));s.once('error',e=>d(e.code==='ECONNREFUSED'?'refused':'unreachable'))"

function assertInRange(address: string): void {
  const m = /^10\.231\.0\.(\d{1,3})$/.exec(address)
  if (m === null || Number(m[1]) > 255) throw new Error(`netns: ${JSON.stringify(address)} is outside the test range ${TEST_RANGE}`)
}

function assertCidrInRange(cidr: string): void {
  const [addr, len] = cidr.split('/')
  if (addr === undefined || len === undefined || !/^\d{1,2}$/.test(len)) throw new Error(`netns: ${JSON.stringify(cidr)} is not an address/prefix-length`)
  assertInRange(addr)
}

export class TestHost {
  /** Where its files go (sshd, logs, configs); its own, since the filesystem is shared. */
  readonly dir: string
  readonly cidr: string
  private readonly processes = new Set<HostProcess>()
  private sshdProcess: Sshd | undefined
  private spawned = 0

  constructor(
    private readonly network: TestNetwork,
    /** The namespace's name (`ip netns exec NAME ...`). */
    readonly name: string,
    readonly address: string,
    /** Its one interface (inside the namespace). */
    readonly interfaceName: string,
    /** The bridge-side end of its veth, in the root namespace. */
    readonly bridgePort: string,
    dir: string,
  ) {
    this.dir = dir
    this.cidr = `${address}/${PREFIX_LENGTH}`
  }

  /** Run a command inside the namespace to its end (bounded); never throws for an exit code. */
  exec(cmd: string, args: string[], opts: {timeoutMs?: number} = {}): Promise<ExecResult> {
    this.network.assertUsable()
    return new Promise((resolve, reject) => {
      const child = spawnChild('ip', ['netns', 'exec', this.name, cmd, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
      let stdout = ''
      let stderr = ''
      let timedOut = false
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
      const timer = setTimeout(() => { timedOut = true; if (child.pid !== undefined) kill(child.pid, 'SIGKILL') }, opts.timeoutMs ?? 15_000)
      child.once('error', (e) => { clearTimeout(timer); reject(e) })
      child.once('close', (code) => { clearTimeout(timer); resolve({exitCode: code, stdout, stderr, timedOut}) })
    })
  }

  /** exec that throws (with its stderr) unless the command exits 0. */
  async must(cmd: string, args: string[], opts: {timeoutMs?: number} = {}): Promise<string> {
    const r = await this.exec(cmd, args, opts)
    if (r.exitCode !== 0) throw new Error(`${this.name}: ${cmd} ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}): ${r.stderr.trim()}`)
    return r.stdout
  }

  /**
   * Start a long-running process inside the namespace (`ip netns exec` execs, so
   * the pid is the command's), output appended to a log in the host's dir.
   * destroy() kills it (and its descendants) by pid.
   */
  spawn(cmd: string, args: string[], opts: {logName?: string} = {}): HostProcess {
    this.network.assertUsable()
    this.spawned += 1
    const logFile = join(this.dir, opts.logName ?? `${basename(cmd)}-${this.spawned}.log`)
    const fd = openSync(logFile, 'a')
    let child: ChildProcess
    try {
      child = spawnChild('ip', ['netns', 'exec', this.name, cmd, ...args], {stdio: ['ignore', fd, fd]})
    } finally {
      closeSync(fd)
    }
    if (child.pid === undefined) throw new Error(`${this.name}: could not start ${cmd}`)
    const pid = child.pid
    const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.once('exit', (code, signal) => resolve({code, signal})))
    const running = (): boolean => child.exitCode === null && child.signalCode === null
    const proc: HostProcess = {
      pid,
      child,
      exited,
      logFile,
      running,
      log: () => existsSync(logFile) ? readFileSync(logFile, 'utf8') : '',
      // Once it exited its pid may be reused and its orphans have a new parent: nothing to name by pid (destroy() finds orphans in the namespace).
      tree: () => running() ? [pid, ...descendants(pid)] : [],
      kill: async (signal = 'SIGKILL', o = {}) => {
        const pids = o.tree === true ? proc.tree() : running() ? [pid] : []
        for (const p of pids) kill(p, signal)
        if (signal !== 'SIGKILL') return
        await exited
        const end = Date.now() + 3000
        while (pids.some(alive) && Date.now() < end) await sleep(20)
      },
    }
    this.processes.add(proc)
    return proc
  }

  /**
   * A real sshd inside the namespace on this host's address, port 22 (the
   * namespace is its own network), host key generated now (pin `hostKey`), root
   * login with the given keys (as in test/helpers/sshd.ts).
   */
  async startSshd(opts: {authorizedKeys: string[]; port?: number}): Promise<Sshd> {
    this.network.assertUsable()
    if (this.sshdProcess !== undefined) throw new Error(`${this.name}: sshd already started`)
    this.sshdProcess = await Sshd.start({address: this.address, netns: this.name, port: opts.port, dir: join(this.dir, 'sshd'), authorizedKeys: opts.authorizedKeys})
    return this.sshdProcess
  }

  get sshd(): Sshd | undefined { return this.sshdProcess }

  /** The IPv4 addresses on `iface` (default: the host's interface) as ip shows them, 'a.b.c.d/len'. */
  async addresses(iface = this.interfaceName): Promise<string[]> {
    const out = await this.must('ip', ['-o', '-4', 'addr', 'show', 'dev', iface])
    return out.split('\n').map((l) => /\binet (\S+)/.exec(l)?.[1]).filter((a): a is string => a !== undefined)
  }

  /** Whether this host has `address` (no prefix length) on its interface: who holds a VIP. */
  async holds(address: string): Promise<boolean> {
    return (await this.addresses()).some((a) => a.startsWith(`${address}/`))
  }

  /** Remove an address from the interface, as a dead host would lose it (a killed keepalived leaves its VIP). */
  /**
   * Take an address off the interface as a dead host would lose it. Already gone is fine: a
   * keepalived killed with -9 usually leaves its VIP, but its VRRP child, told of the parent's
   * death, sometimes releases it first.
   */
  async removeAddress(cidr: string, iface = this.interfaceName): Promise<void> {
    assertCidrInRange(cidr)
    if (!(await this.addresses(iface)).includes(cidr)) return
    await this.must('ip', ['addr', 'del', cidr, 'dev', iface])
  }

  /** A bounded TCP connect from inside this host: connected, refused (reachable, nothing listening), timeout or unreachable. */
  async tcpProbe(address: string, port: number, timeoutMs = 1000): Promise<ProbeResult> {
    assertInRange(address)
    const r = await this.exec(process.execPath, ['-e', PROBE_SCRIPT, address, String(port), String(timeoutMs)], {timeoutMs: timeoutMs + 10_000})
    const out = r.stdout.trim()
    if (out === 'connected' || out === 'refused' || out === 'timeout' || out === 'unreachable') return out
    throw new Error(`${this.name}: probe of ${address}:${port} failed: ${r.stderr.trim()}`)
  }

  /** Cut the network between this host and `other` only (both directions); see the top of the file. */
  cut(other: TestHost): void { this.network.cut(this, other) }

  /** Heal the cut to `other`, or every cut of this host. */
  heal(other?: TestHost): void {
    if (other !== undefined) this.network.heal(this, other)
    else for (const h of this.network.hosts) if (h !== this && this.network.isCut(this, h)) this.network.heal(this, h)
  }

  /** The pids inside the namespace now (all of them: sshd, its sessions, daemons started over SSH). */
  pids(): number[] { return namespacePids(this.name) }

  /** Tracked processes (spawn, sshd) and everything else inside, by pid. */
  async killAll(): Promise<void> {
    const waits: Promise<unknown>[] = []
    for (const p of this.processes) {
      for (const pid of p.tree()) kill(pid, 'SIGKILL')
      waits.push(p.exited)
    }
    if (this.sshdProcess !== undefined) waits.push(this.sshdProcess.stop())
    const left = emptyNamespace(this.name)
    await Promise.all(waits)
    this.processes.clear()
    if (left.length > 0) throw new Error(`${this.name}: pids ${left.join(', ')} would not die`)
  }

  /** Synchronous last resort (process exit): SIGKILL by pid, nothing awaited; sshd is among the namespace's pids. */
  killAllSync(): void {
    for (const p of this.processes) for (const pid of p.tree()) kill(pid, 'SIGKILL')
    emptyNamespace(this.name)
  }

  /** Pids this harness started in the host (spawn and sshd), alive or not. */
  startedPids(): number[] {
    return [...[...this.processes].map((p) => p.pid), ...(this.sshdProcess?.pid === undefined ? [] : [this.sshdProcess.pid])]
  }
}

// ---------------------------------------------------------------------------
// The network

export interface TestNetworkOptions {
  /** How many hosts (namespaces), 1..99; host i has 10.231.0.i. */
  hosts: number
  /** Where host dirs go; default a new temp dir, removed by destroy(). */
  dir?: string
  /** The interface name inside every host; default eth0. */
  interfaceName?: string
}

const liveNetworks = new Set<TestNetwork>()
let exitHook = false

export class TestNetwork {
  readonly hosts: TestHost[] = []
  destroyed = false
  private readonly cuts = new Set<string>()
  private readonly ownsDir: boolean

  private constructor(
    readonly id: string,
    readonly bridge: string,
    readonly dir: string,
    ownsDir: boolean,
  ) {
    this.ownsDir = ownsDir
  }

  get rootAddress(): string { return ROOT_ADDRESS }

  assertUsable(): void {
    if (this.destroyed) throw new Error(`test network ${this.id} was destroyed`)
  }

  static async create(opts: TestNetworkOptions): Promise<TestNetwork> {
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) throw new Error(`createTestNetwork: hosts must be 1..${MAX_HOSTS}, got ${opts.hosts}`)
    const iface = opts.interfaceName ?? 'eth0'
    if (!/^[a-z][a-z0-9]{0,14}$/.test(iface)) throw new Error(`createTestNetwork: interfaceName ${JSON.stringify(iface)} must be 1-15 lower-case letters/digits`)
    await acquireLock()
    const id = process.pid.toString(36)
    const ownsDir = opts.dir === undefined
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'repctl-netns-'))
    const net = new TestNetwork(id, `${NAME_PREFIX}${id}-br`, dir, ownsDir)
    liveNetworks.add(net)
    if (!exitHook) {
      exitHook = true
      // Last resort when an after-hook never ran: no namespace, link or process left behind.
      process.once('exit', () => { for (const n of liveNetworks) n.destroySync() })
    }
    try {
      removeLeftovers()
      assertRangeFree()
      net.build(opts.hosts, iface)
    } catch (e) {
      net.destroySync()
      throw e
    }
    return net
  }

  private build(count: number, iface: string): void {
    ipMust(['link', 'add', this.bridge, 'type', 'bridge'])
    disableIpv6(this.bridge)
    ipMust(['link', 'set', this.bridge, 'up'])
    ipMust(['addr', 'add', `${ROOT_ADDRESS}/${PREFIX_LENGTH}`, 'dev', this.bridge])
    for (let i = 1; i <= count; i++) {
      const ns = `${NAME_PREFIX}${this.id}-h${i}`
      const port = `${NAME_PREFIX}${this.id}-${i}`
      const address = `${RANGE_PREFIX}${i}`
      ipMust(['netns', 'add', ns])
      const hostDir = join(this.dir, `h${i}`)
      mkdirSync(hostDir, {recursive: true, mode: 0o700})
      this.hosts.push(new TestHost(this, ns, address, iface, port, hostDir))
      // Before the interface exists, so it never gets an IPv6 link-local address.
      const sysctl = spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w',
        'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.all.disable_ipv6=1',
        // A node listens on its pair's VIP while the other host holds it (see the top of the file).
        'net.ipv4.ip_nonlocal_bind=1'], {encoding: 'utf8'})
      if (sysctl.status !== 0) throw new Error(`sysctl in ${ns} failed: ${sysctl.stderr}`)
      ipMust(['link', 'add', port, 'type', 'veth', 'peer', 'name', iface, 'netns', ns])
      disableIpv6(port)
      ipMust(['link', 'set', port, 'master', this.bridge, 'up'])
      ipMust(['-n', ns, 'link', 'set', 'lo', 'up'])
      ipMust(['-n', ns, 'addr', 'add', `${address}/${PREFIX_LENGTH}`, 'dev', iface])
      ipMust(['-n', ns, 'link', 'set', iface, 'up'])
    }
  }

  isCut(a: TestHost, b: TestHost): boolean { return this.cuts.has(pairKey(a, b)) }

  cut(a: TestHost, b: TestHost): void {
    this.assertUsable()
    if (a === b) throw new Error(`cut: ${a.name} cannot be cut from itself`)
    const next = new Set(this.cuts).add(pairKey(a, b))
    this.applyCuts(next)
  }

  heal(a?: TestHost, b?: TestHost): void {
    this.assertUsable()
    const next = new Set(this.cuts)
    if (a === undefined || b === undefined) next.clear()
    else next.delete(pairKey(a, b))
    this.applyCuts(next)
  }

  /** Isolate exactly the ports of hosts in some cut; refuse sets isolation cannot express. */
  private applyCuts(next: Set<string>): void {
    const isolated = this.hosts.filter((h) => this.hosts.some((o) => o !== h && next.has(pairKey(h, o))))
    for (const h of isolated) {
      for (const o of isolated) {
        if (h !== o && !next.has(pairKey(h, o))) {
          throw new Error(`cut: bridge port isolation cuts every isolated host from every other; ${h.name} and ${o.name} would be cut too. Cut every pair among the hosts involved, or heal first`)
        }
      }
    }
    for (const h of this.hosts) bridgeMust(['link', 'set', 'dev', h.bridgePort, 'isolated', isolated.includes(h) ? 'on' : 'off'])
    this.cuts.clear()
    for (const k of next) this.cuts.add(k)
  }

  /** Kill every process started and every process inside the hosts (by pid), delete namespaces, links, bridge. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    const errors: string[] = []
    for (const h of this.hosts) {
      try { await h.killAll() } catch (e) { errors.push((e as Error).message) }
    }
    this.destroySync()
    if (errors.length > 0) throw new Error(`test network ${this.id}: ${errors.join('; ')}`)
  }

  /** The same, synchronously (for the exit hook and failed creation). */
  destroySync(): void {
    if (this.destroyed) return
    this.destroyed = true
    liveNetworks.delete(this)
    for (const h of this.hosts) h.killAllSync()
    for (const h of this.hosts) {
      // Deleting the root-side end removes its peer at once; a deleted namespace is torn down later by the kernel.
      ipSync(['link', 'del', h.bridgePort])
      ipSync(['netns', 'del', h.name])
    }
    ipSync(['link', 'del', this.bridge])
    if (this.ownsDir) rmSync(this.dir, {recursive: true, force: true})
    releaseLock()
  }
}

/** Create a bridge and `hosts` namespaces on it (see the top of the file). Call destroy() in an after() hook. */
export function createTestNetwork(opts: TestNetworkOptions): Promise<TestNetwork> {
  return TestNetwork.create(opts)
}

function pairKey(a: TestHost, b: TestHost): string {
  return [a.name, b.name].sort().join('|')
}

function disableIpv6(link: string): void {
  try { writeFileSync(`/proc/sys/net/ipv6/conf/${link}/disable_ipv6`, '1') } catch { /* no IPv6 here */ }
}

/** Namespaces and links of the prefix: only a crashed run's, since we hold the lock. */
function removeLeftovers(): void {
  const namespaces = ipSync(['netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(NAME_PREFIX))
  for (const ns of namespaces) {
    const left = emptyNamespace(ns)
    if (left.length > 0) throw new Error(`leftover namespace ${ns}: pids ${left.join(', ')} would not die`)
  }
  const links = ipSync(['-o', 'link', 'show']).stdout.split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '').filter((n) => n.startsWith(NAME_PREFIX))
  // Ports before bridges: a port's deletion takes its namespace end with it.
  for (const link of links.sort((a, b) => Number(a.endsWith('-br')) - Number(b.endsWith('-br')))) ipSync(['link', 'del', link])
  for (const ns of namespaces) ipMust(['netns', 'del', ns])
}

function assertRangeFree(): void {
  const users = ipSync(['-o', '-4', 'addr', 'show']).stdout.split('\n')
    .filter((l) => l.includes(` ${RANGE_PREFIX}`)).map((l) => /^\d+: (\S+)/.exec(l)?.[1] ?? '?')
  if (users.length > 0) throw new Error(`the test range ${TEST_RANGE} is already in use on this machine (${users.join(', ')}); the namespace hosts need it to themselves`)
}

// ---------------------------------------------------------------------------
// One network per machine at a time (the range is fixed): a pid lock file.

let lockHeld = false

async function acquireLock(): Promise<void> {
  if (lockHeld) throw new Error('createTestNetwork: this process already has a test network; destroy() it first (the range is one per machine)')
  const end = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const fd = openSync(LOCK_FILE, 'wx', 0o644)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      lockHeld = true
      return
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create ${LOCK_FILE}: ${(e as Error).message}`)
    }
    let owner = NaN
    try { owner = Number(readFileSync(LOCK_FILE, 'utf8').trim()) } catch { continue /* released meanwhile */ }
    if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
      // The owner crashed: its leftovers are removed once we hold the lock.
      rmSync(LOCK_FILE, {force: true})
      continue
    }
    if (Date.now() > end) throw new Error(`${LOCK_FILE}: test network held by pid ${owner} for over ${LOCK_WAIT_MS / 1000} s (another test run?); remove the file if that pid is not a test`)
    await sleep(200)
  }
}

function releaseLock(): void {
  if (!lockHeld) return
  lockHeld = false
  try {
    if (Number(readFileSync(LOCK_FILE, 'utf8').trim()) === process.pid) rmSync(LOCK_FILE, {force: true})
  } catch { /* gone */ }
}
