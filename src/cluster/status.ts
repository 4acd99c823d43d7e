import type {ClusterConfig} from '../config/schema.js'
import type {HostPool} from '../hosts/pool.js'
import {observeNode, type NodeObservation} from './observe.js'
import {linkAuth, secretMode, type LinkAuth} from './replication-secret.js'
import {supervisorInfo, type SupervisorInfo} from './supervise/presence.js'
import {clusterHealth, HEALTH_EXIT, pairVerdict, vipVerdict, type Health, type Verdict, type VipVerdict} from './verdict.js'
import {vipPairOf} from './vip/keepalived.js'
import {observeVip, type KeepalivedObservation} from './vip/observe.js'
import {gatherRouterStatus, routersHealth, type RouterStatus} from './router/status.js'

/** A pair's VIP as status reports it: where it is (the interface is the truth), each keepalived, a verdict. */
export interface VipStatus {
  address: string
  interface: string
  routerId: number
  /** The one node whose host holds it; null when none or both do. */
  holder: string | null
  holders: string[]
  /** Nodes whose host could not be asked. */
  unobserved: string[]
  verdict: VipVerdict
  reason: string
  keepalived: KeepalivedObservation[]
}

/** `repctl status --json`: a stable contract (see README). */
export interface StatusReport {
  cluster: string
  health: Health
  pairs: {nodes: [string, string]; master: string | null; verdict: Verdict; reason: string; replicationAuth: LinkAuth; vip: VipStatus | null}[]
  nodes: NodeObservation[]
  /** The cluster's routers (nutcracker); empty without `routers` in the config. */
  routers: RouterStatus[]
  supervisor: SupervisorInfo
}

export async function gatherStatus(config: ClusterConfig, pool: HostPool): Promise<StatusReport> {
  const nodes = await Promise.all(config.nodes.map((n) => observeNode(pool.for(n), n, true)))
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const pairs = await Promise.all(config.pairs.map(async ({nodes: [a, b]}) => {
    const [oa, ob] = [byName.get(a)!, byName.get(b)!]
    const v = pairVerdict(oa, ob)
    const mode = secretMode(config.nodes.find((n) => n.name === a)!)
    const vipPair = vipPairOf(config, [a, b])
    let vip: VipStatus | null = null
    if (vipPair !== undefined) {
      const seen = await observeVip(pool, vipPair)
      const vv = vipVerdict(seen, [oa, ob])
      vip = {
        address: seen.address, interface: seen.interface, routerId: seen.routerId, holder: seen.holders.length === 1 ? seen.holders[0]! : null,
        holders: seen.holders, unobserved: seen.unobserved, verdict: vv.verdict, reason: vv.reason, keepalived: seen.keepalived,
      }
    }
    return {nodes: [a, b] as [string, string], master: v.master, verdict: v.verdict, reason: v.reason, replicationAuth: linkAuth(mode, oa, ob), vip}
  }))
  const vipVerdicts = pairs.flatMap((p) => (p.vip === null ? [] : [p.vip.verdict]))
  const routers = await gatherRouterStatus(config, pool, byName)
  const health = clusterHealth(pairs.map((p) => p.verdict), nodes, vipVerdicts, routersHealth(routers.map((r) => r.verdict)))
  return {cluster: config.cluster, health, pairs, nodes, routers, supervisor: await supervisorInfo(config.cluster)}
}

export function statusExitCode(report: StatusReport): number {
  return HEALTH_EXIT[report.health]
}
