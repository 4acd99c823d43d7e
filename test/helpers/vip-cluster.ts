// One pair with a virtual IP on two hosts with their own network, as repctl
// manages two machines: two network namespaces on a bridge
// (test/helpers/netns.ts), each with its own sshd; a repctl config in a temp
// dir naming each node by its host's address, reached over SSH as root with a
// pinned host key, each with its own state dir (the namespaces share one
// filesystem), and the pair's VIP 10.231.0.100/24 on eth0. repctl, its
// supervisor and clients run in the root namespace (10.231.0.254 on the
// bridge). Used by test/e2e/vip.test.ts, vip-supervise.test.ts, vip-faults.test.ts
// and the bench's vip section.
//
// What the fault tests read of `repctl status --json` about the VIP is in
// vipOf() below, one place to reconcile with the status contract.

import assert from 'node:assert/strict'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {StatusReport} from '../../src/cluster/status.js'
import {eventually} from './pair.js'
import {alive, descendants, type TestHost, type TestNetwork} from './netns.js'
import {repctlIn, type Repctl} from './repctl.js'
import {readPid} from './processes.js'
import {createSshNetwork, sshEntry} from './ssh-network.js'
import {clock} from './vip-client.js'
import {sleep} from './wait.js'

export const KEEPALIVED = '/usr/sbin/keepalived'
export const VIP = '10.231.0.100'
export const VIP_CIDR = `${VIP}/24`
/** Inside a namespace every port is ours; the same on both hosts. */
export const PORT = 7211
export const REPLICATION_PORT = 7212
export const NODES = ['node1', 'node2'] as const
export type NodeName = typeof NODES[number]

export const otherOf = (n: NodeName): NodeName => n === 'node1' ? 'node2' : 'node1'

// ---------------------------------------------------------------------------
// The status contract of the keepalived lifecycle (src/cluster/status.ts VipStatus).

export interface KeepalivedView { node: string; pid: number | null; process: 'running' | 'stopped' | 'unknown'; state: string | null }
export interface VipView {
  address: string
  /** The one node whose host holds it; null when none or both do. */
  holder: string | null
  holders: string[]
  /** ok, vip_split, vip_missing, ... */
  verdict: string
  reason: string
  keepalived: KeepalivedView[]
}

/** `pairs[0].vip` of a status report; null when the report has none (no lifecycle yet). */
export function vipOf(s: StatusReport): VipView | null {
  const pair = s.pairs[0] as unknown as {vip?: VipView | null}
  return pair.vip ?? null
}

/** Healthy by repctl's word, with one VIP holder and both keepalived running. */
export function healthyWithVip(code: number, s: StatusReport): boolean {
  const vip = vipOf(s)
  return code === 0 && s.health === 'healthy' && vip?.holder != null && vip.keepalived.every((k) => k.process === 'running')
}

// ---------------------------------------------------------------------------

export {fingerprint} from './ssh-network.js'

export interface VipClusterOptions {
  /** How long one repctl command may take (repctlIn's default otherwise). */
  repctlTimeoutMs?: number
}

export class VipCluster {
  readonly repctl: Repctl
  readonly workDir: string
  readonly homeDir: string
  private lifecycle: Promise<string | false> | undefined
  private destroyed = false

  private constructor(readonly net: TestNetwork, readonly dir: string, readonly cluster: string, private readonly clientKey: string, repctlTimeoutMs?: number) {
    this.workDir = join(dir, 'work')
    this.homeDir = join(dir, 'home')
    this.repctl = repctlIn(this.workDir, this.homeDir, repctlTimeoutMs)
  }

  /** The network, both sshd and the config; nothing started yet (call repctl start). */
  static async create(cluster: string, options: VipClusterOptions = {}): Promise<VipCluster> {
    const {net, dir, clientKey} = await createSshNetwork('repctl-vip-', NODES.length)
    const c = new VipCluster(net, dir, cluster, clientKey, options.repctlTimeoutMs)
    c.writeConfig()
    return c
  }

  /** (Re)writes the repctl config: each node by its host's address over SSH with the host key pinned; the VIP on `vipInterface` (default: the hosts' eth0). */
  writeConfig(o: {vipInterface?: string} = {}): void {
    const lines = [`cluster: ${this.cluster}`, `defaults: { port: ${PORT}, replicationPort: ${REPLICATION_PORT}, memory: 64, snapshotInterval: 1 }`, 'nodes:']
    for (const n of NODES) {
      const h = this.host(n)
      lines.push(`  ${n}:`, `    host: ${h.address}`, `    stateDir: ${JSON.stringify(this.stateDir(n))}`,
        `    ssh: ${sshEntry(h, this.clientKey)}`)
    }
    lines.push('pairs:', '  - nodes: [node1, node2]', `    vip: { address: ${VIP_CIDR}, interface: ${o.vipInterface ?? this.host('node1').interfaceName} }`)
    writeFileSync(this.configFile, lines.join('\n') + '\n')
  }

  get configFile(): string { return join(this.workDir, 'repctl.config.yaml') }

  host(n: NodeName): TestHost { return this.net.hosts[NODES.indexOf(n)]! }
  address(n: NodeName): string { return this.host(n).address }
  /** Each node its own state dir: the hosts share one filesystem. */
  stateDir(n: NodeName): string { return join(this.dir, `state-${n}`) }
  nodeDir(n: NodeName): string { return join(this.stateDir(n), n) }
  nodePid(n: NodeName): number | undefined { return readPid(join(this.nodeDir(n), 'repcached.pid')) }

  /** keepalived of the node: its main process, then that one's descendants (VRRP, checker) and the VRRP pid file's; kill them in reverse. */
  keepalivedPids(n: NodeName): number[] {
    const main = readPid(join(this.nodeDir(n), 'keepalived.pid'))
    const vrrp = readPid(join(this.nodeDir(n), 'keepalived-vrrp.pid'))
    const pids = main === undefined ? [] : [main, ...descendants(main)]
    if (vrrp !== undefined && !pids.includes(vrrp)) pids.push(vrrp)
    return pids.filter(alive)
  }

  /** The rendered keepalived.conf of a node, or undefined. */
  keepalivedConfig(n: NodeName): string | undefined {
    const f = join(this.nodeDir(n), 'keepalived.conf')
    return existsSync(f) ? readFileSync(f, 'utf8') : undefined
  }

  /** `repctl status --json`: any monitoring exit code, the document checked against its schema. */
  async status(): Promise<{code: number; report: StatusReport}> {
    return this.repctl.statusReport()
  }

  /** Poll status until healthyWithVip; fails with the last status (and `context()`) after `ms`. */
  async waitHealthy(ms = 40_000, context: () => string = () => ''): Promise<StatusReport> {
    const end = Date.now() + ms
    for (;;) {
      const {code, report} = await this.status()
      if (healthyWithVip(code, report)) return report
      if (Date.now() > end) assert.fail(`the pair is healthy with one VIP holder within ${ms} ms; last status (exit ${code}):\n${JSON.stringify(report.pairs, null, 1)}\n${context()}`)
      await sleep(300)
    }
  }

  /** Which nodes' hosts have the VIP on their interface now (the truth, asked of the hosts themselves). */
  async holders(): Promise<NodeName[]> {
    const held = await Promise.all(NODES.map((n) => this.host(n).holds(VIP)))
    return NODES.filter((_, i) => held[i])
  }

  /** Wait until exactly `want` hold the VIP; returns how long it took (ms). */
  async waitHolders(want: NodeName[], ms: number): Promise<number> {
    const t0 = clock()
    const ok = await eventually(async () => (await this.holders()).join() === want.join(), ms, 20)
    assert.ok(ok, `the VIP on ${want.join(' and ') || 'no host'} within ${ms} ms; it is on ${(await this.holders()).join(' and ') || 'no host'}`)
    return clock() - t0
  }

  /**
   * Why the VIP tests cannot run yet, or false: after `repctl start`, repctl
   * has started keepalived when a host holds the VIP or a node dir has its pid
   * file within 15 s. Asked once.
   */
  lifecycleMissing(): Promise<string | false> {
    this.lifecycle ??= (async () => {
      const pidFiles = NODES.map((n) => join(this.nodeDir(n), 'keepalived.pid'))
      const seen = await eventually(async () => (await this.holders()).length > 0 || pidFiles.some(existsSync), 15_000, 100)
      return seen ? false : `keepalived lifecycle not merged yet: after repctl start no host holds the VIP ${VIP} within 15 s and no node dir has keepalived.pid`
    })()
    return this.lifecycle
  }

  /** For a process that runs repctl as the tests do (the supervisor). */
  spawnOptions(): {cwd: string; env: Record<string, string>} {
    return {cwd: this.workDir, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.homeDir, LANG: 'C.UTF-8'}}
  }

  /** repctl stop, then the network with every process inside it, then the files. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    try { this.net.heal() } catch { /* destroyed already */ }
    try { await this.repctl.run(['stop']) } finally {
      await this.net.destroy()
      rmSync(this.dir, {recursive: true, force: true})
    }
  }
}
