// Three pairs with a VIP each behind one router, on three hosts with their own
// network, as repctl manages machines: network namespaces on a bridge
// (test/helpers/netns.ts), each with its own sshd, repctl over SSH with pinned
// host keys (as test/helpers/vip-cluster.ts does for one pair). Each pair's two
// nodes sit on two different hosts and share one port (a VIP pair must), each
// pair its own port and VIP; the router (nutcracker) runs on host 1:
//
//   host 1 (10.231.0.1): pair1's first node, pair3's second node, router r1 :22121
//   host 2 (10.231.0.2): pair1's second node, pair2's first node
//   host 3 (10.231.0.3): pair2's second node, pair3's first node
//
// Clients run in the root namespace (10.231.0.254) and talk to the router.
// Used by test/e2e/router-vip.test.ts and the bench's router section.

import assert from 'node:assert/strict'
import {rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {ketamaRing} from '../../src/cluster/router/ketama.js'
import type {RouterStatus} from '../../src/cluster/router/status.js'
import type {StatusReport} from '../../src/cluster/status.js'
import {eventually} from './pair.js'
import type {TestHost, TestNetwork} from './netns.js'
import {repctlIn, type Repctl} from './repctl.js'
import {readPid} from './processes.js'
import {createSshNetwork, sshEntry} from './ssh-network.js'
import {sleep} from './wait.js'

export interface VipPairSpec {
  /** The pair's ring name. */
  name: string
  nodes: readonly [string, string]
  /** Index into the network's hosts of each node's host. */
  hosts: readonly [number, number]
  port: number
  replicationPort: number
  vip: string
}

export const VIP_PAIRS: readonly VipPairSpec[] = [
  {name: 'pair1', nodes: ['p1a', 'p1b'], hosts: [0, 1], port: 7311, replicationPort: 7312, vip: '10.231.0.101'},
  {name: 'pair2', nodes: ['p2a', 'p2b'], hosts: [1, 2], port: 7321, replicationPort: 7322, vip: '10.231.0.102'},
  {name: 'pair3', nodes: ['p3a', 'p3b'], hosts: [2, 0], port: 7331, replicationPort: 7332, vip: '10.231.0.103'},
]
export const ROUTER = 'r1'
export const ROUTER_PORT = 22121
const ROUTER_HOST = 0

/** `count` keys `${prefix}${i}` that a router over the pairs `ringNames` sends to `pair` (nutcracker's own ring, computed here). */
export function keysOfPair(ringNames: readonly string[], pair: string, prefix: string, count: number): string[] {
  const ring = ketamaRing(ringNames)
  const out: string[] = []
  for (let i = 0; out.length < count; i++) if (ring.pairFor(`${prefix}${i}`) === pair) out.push(`${prefix}${i}`)
  return out
}

export class RouterVipCluster {
  readonly repctl: Repctl
  readonly workDir: string
  readonly homeDir: string
  private destroyed = false

  private constructor(readonly net: TestNetwork, readonly dir: string, readonly cluster: string, private readonly clientKey: string, repctlTimeoutMs?: number) {
    this.workDir = join(dir, 'work')
    this.homeDir = join(dir, 'home')
    this.repctl = repctlIn(this.workDir, this.homeDir, repctlTimeoutMs)
  }

  /** The network (3 hosts), their sshd and the config; nothing started yet (call repctl start). */
  static async create(cluster: string, options: {repctlTimeoutMs?: number} = {}): Promise<RouterVipCluster> {
    const {net, dir, clientKey} = await createSshNetwork('repctl-router-vip-', 3)
    const c = new RouterVipCluster(net, dir, cluster, clientKey, options.repctlTimeoutMs)
    c.writeConfig()
    return c
  }

  private ssh(h: TestHost): string {
    return sshEntry(h, this.clientKey)
  }

  private writeConfig(): void {
    const lines = [`cluster: ${this.cluster}`, 'defaults: { memory: 64, snapshotInterval: 1 }', 'nodes:']
    for (const p of VIP_PAIRS) {
      p.nodes.forEach((n, i) => {
        const h = this.net.hosts[p.hosts[i]!]!
        lines.push(`  ${n}:`, `    host: ${h.address}`, `    port: ${p.port}`, `    replicationPort: ${p.replicationPort}`,
          `    stateDir: ${JSON.stringify(this.stateDir(n))}`, `    ssh: ${this.ssh(h)}`)
      })
    }
    lines.push('pairs:')
    for (const p of VIP_PAIRS) {
      lines.push(`  - nodes: [${p.nodes.join(', ')}]`, `    name: ${p.name}`, `    vip: { address: ${p.vip}/24, interface: ${this.net.hosts[0]!.interfaceName} }`)
    }
    const rh = this.routerHost
    lines.push('routers:', `  ${ROUTER}:`, `    host: ${rh.address}`, `    port: ${ROUTER_PORT}`, `    stateDir: ${JSON.stringify(this.stateDir(ROUTER))}`, `    ssh: ${this.ssh(rh)}`)
    writeFileSync(this.configFile, lines.join('\n') + '\n')
  }

  get configFile(): string { return join(this.workDir, 'repctl.config.yaml') }
  get routerHost(): TestHost { return this.net.hosts[ROUTER_HOST]! }
  /** Where clients reach the router. */
  get routerEndpoint(): {host: string; port: number} { return {host: this.routerHost.address, port: ROUTER_PORT} }

  pair(name: string): VipPairSpec {
    const p = VIP_PAIRS.find((x) => x.name === name)
    if (p === undefined) throw new Error(`no pair ${name}`)
    return p
  }

  /** The host a node runs on. */
  hostOf(node: string): TestHost {
    const p = VIP_PAIRS.find((x) => x.nodes.includes(node))
    if (p === undefined) throw new Error(`no node ${node}`)
    return this.net.hosts[p.hosts[p.nodes.indexOf(node)]!]!
  }

  /** Each node and the router its own state dir: the hosts share one filesystem. */
  stateDir(name: string): string { return join(this.dir, `state-${name}`) }
  nodePid(node: string): number | undefined { return readPid(join(this.stateDir(node), node, 'repcached.pid')) }

  /** The nodes of `pair` whose hosts hold its VIP now (asked of the hosts). */
  async holders(pair: string): Promise<string[]> {
    const p = this.pair(pair)
    const held = await Promise.all(p.hosts.map((i) => this.net.hosts[i]!.holds(p.vip)))
    return p.nodes.filter((_, i) => held[i])
  }

  /** Wait until exactly `want` holds the pair's VIP; returns how long it took (ms). */
  async waitHolder(pair: string, want: string, ms: number): Promise<number> {
    const t0 = performance.now()
    const ok = await eventually(async () => (await this.holders(pair)).join() === want, ms, 20)
    assert.ok(ok, `the VIP of ${pair} on ${want}'s host within ${ms} ms; it is on ${(await this.holders(pair)).join(' and ') || 'no host'}`)
    return performance.now() - t0
  }

  /** `repctl status --json`: any monitoring exit code, checked against its schema. */
  async status(): Promise<{code: number; report: StatusReport}> {
    return this.repctl.statusReport()
  }

  /** A pair's entry in a status report (status names pairs by their nodes). */
  pairStatus(s: StatusReport, pair: string): StatusReport['pairs'][number] {
    const nodes = this.pair(pair).nodes
    const p = s.pairs.find((x) => x.nodes.join() === nodes.join())
    assert.ok(p !== undefined, `status has pair ${pair} (${nodes.join(',')})`)
    return p
  }

  router(s: StatusReport): RouterStatus {
    const r = s.routers.find((x) => x.name === ROUTER)
    assert.ok(r !== undefined, `status has router ${ROUTER}: ${JSON.stringify(s.routers)}`)
    return r
  }

  /**
   * Healthy by repctl's word: every pair with one VIP holder and both keepalived
   * in a settled state (MASTER and BACKUP), the router ok. Fails with the last
   * status after `ms`.
   */
  async waitHealthy(ms = 60_000): Promise<StatusReport> {
    const end = Date.now() + ms
    for (;;) {
      const {code, report} = await this.status()
      const settled = report.pairs.every((p) => p.vip?.holder != null && p.vip.keepalived.map((k) => k.state).sort().join() === 'BACKUP,MASTER')
      if (code === 0 && report.health === 'healthy' && settled && report.routers[0]?.verdict === 'ok') return report
      if (Date.now() > end) assert.fail(`healthy with a VIP holder per pair and the router ok within ${ms} ms; last status (exit ${code}):\n${JSON.stringify({pairs: report.pairs, routers: report.routers}, null, 1)}`)
      await sleep(300)
    }
  }

  /** repctl stop, then the network with every process inside it, then the files. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    try { await this.repctl.run(['stop']) } finally {
      await this.net.destroy()
      rmSync(this.dir, {recursive: true, force: true})
    }
  }
}
