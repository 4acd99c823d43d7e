import type {ClusterConfig} from '../config/schema.js'
import type {HostPool} from '../hosts/pool.js'
import {observeNode, type NodeObservation} from './observe.js'
import {linkAuth, secretMode, type LinkAuth} from './replication-secret.js'
import {supervisorInfo, type SupervisorInfo} from './supervise/presence.js'
import {clusterHealth, HEALTH_EXIT, pairVerdict, type Health, type Verdict} from './verdict.js'

/** `repctl status --json`: a stable contract (see README). */
export interface StatusReport {
  cluster: string
  health: Health
  pairs: {nodes: [string, string]; master: string | null; verdict: Verdict; reason: string; replicationAuth: LinkAuth}[]
  nodes: NodeObservation[]
  supervisor: SupervisorInfo
}

export async function gatherStatus(config: ClusterConfig, pool: HostPool): Promise<StatusReport> {
  const nodes = await Promise.all(config.nodes.map((n) => observeNode(pool.for(n), n, true)))
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const pairs = config.pairs.map(({nodes: [a, b]}) => {
    const [oa, ob] = [byName.get(a)!, byName.get(b)!]
    const v = pairVerdict(oa, ob)
    const mode = secretMode(config.nodes.find((n) => n.name === a)!)
    return {nodes: [a, b] as [string, string], master: v.master, verdict: v.verdict, reason: v.reason, replicationAuth: linkAuth(mode, oa, ob)}
  })
  return {cluster: config.cluster, health: clusterHealth(pairs.map((p) => p.verdict), nodes), pairs, nodes, supervisor: await supervisorInfo(config.cluster)}
}

export function statusExitCode(report: StatusReport): number {
  return HEALTH_EXIT[report.health]
}
