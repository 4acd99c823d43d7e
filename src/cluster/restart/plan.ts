// `repctl restart` and `repctl upgrade`: the moves decide.ts chose, acted out
// with the steps rejoin and promote are made of. Each move looks at its pair
// again when it is reached, so a pair that went unhealthy meanwhile stops the
// operation before anything more is stopped.

import type {ClusterConfig, NodeConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {HostPool} from '../../hosts/pool.js'
import {localBundleSha256} from '../bundle.js'
import {stopNode} from '../node-control.js'
import {observeForAction, observeNode, type NodeObservation} from '../observe.js'
import {laterSteps, type Plan, type Step} from '../plan.js'
import {planPromote} from '../promote.js'
import {routeAwayStep} from '../router/steps.js'
import {startSteps, verifyPairedStep} from '../start.js'
import {findNode, pairOf, selectPairs} from '../topology.js'
import {pairVerdict} from '../verdict.js'
import {vipPairOf} from '../vip/keepalived.js'
import {keepalivedReadyStep} from '../vip/steps.js'
import {decideRestart, describeMove, type PairRestart} from './decide.js'

/** Which nodes: named ones, one pair, every node (rolling), or (upgrade) those running another bundle. */
export type RestartSelection =
  | {kind: 'nodes'; names: string[]}
  | {kind: 'pair'; pair: string}
  | {kind: 'all'}
  | {kind: 'outdated'}

export interface RestartedNode {
  name: string
  pidBefore: number | null
  pidAfter: number | null
  bundleBefore: string | null
  bundleAfter: string | null
}

export interface RestartResult {
  cluster: string
  operation: 'restart' | 'upgrade'
  dryRun: boolean
  /** sha256 of the server bundle this repctl installs. */
  bundleSha256: string | null
  pairs: PairRestart[]
  nodes: RestartedNode[]
  /** Wall time of the moves (0 with --dry-run). */
  durationMs: number
}

function pairsOf(config: ClusterConfig): [NodeConfig, NodeConfig][] {
  return selectPairs(config, undefined)
}

/**
 * Restart `name`, decided by its role when the step is reached: another actor
 * (a supervisor repairing the node we stopped) may have swapped the roles
 * since the plan was made. A slave: routers away, stop, start on this bundle
 * (full copy), linked again. A master: a switchover to its slave (promote),
 * which restarts it as slave. The pair must be linked first.
 */
async function restartNodeSteps(config: ClusterConfig, pool: HostPool, name: string): Promise<Step[]> {
  const [node, peer] = pairOf(config, name)
  const [on, op] = await observeForAction(pool, [node, peer]) as [NodeObservation, NodeObservation]
  const v = pairVerdict(on, op)
  if (v.verdict !== 'ok') {
    throw new RepctlError('NOT_PAIRED', `pair ${node.name},${peer.name} is not healthy any more (${v.verdict}: ${v.reason}); stopped before restarting ${name}`, ['see repctl status, then run the command again'])
  }
  if (on.role === 'master') {
    // A healthy pair is a planned switchover; anything else is refused by promote itself (never a split-brain heal here).
    return (await planPromote(config, pool, peer.name, async () => false)).steps
  }
  // With a VIP, the restarted node's keepalived must pass its check again before a switchover can move the VIP to it.
  const vipPair = vipPairOf(config, [node.name, peer.name])
  return [
    ...routeAwayStep(config, pool, [node.name]),
    {title: `Stop ${node.name}`, run: async () => { await stopNode(pool.for(node), node) }},
    ...startSteps(pool, node, peer, op),
    verifyPairedStep(pool, peer, node),
    ...(vipPair === undefined ? [] : [keepalivedReadyStep(pool, vipPair, node)]),
  ]
}

export async function planRestart(config: ClusterConfig, pool: HostPool, selection: RestartSelection, dryRun: boolean): Promise<Plan<RestartResult>> {
  const pairs = pairsOf(config)
  const all = pairs.flat()
  // A host that cannot be asked stops only what touches its pair (decideRestart), except an
  // upgrade: it cannot tell which bundle that host's node runs.
  const seen = await Promise.all(all.map((n) => observeNode(pool.for(n), n)))
  const unknown = seen.find((o) => o.hostError !== null)
  if (selection.kind === 'outdated' && unknown?.hostError) {
    throw new RepctlError(unknown.hostError.code, `cannot upgrade: which bundle ${unknown.name} runs cannot be told: ${unknown.hostError.message}`)
  }
  const byName = new Map(seen.map((o) => [o.name, o]))
  let targets: Set<string>
  switch (selection.kind) {
    case 'nodes': targets = new Set(selection.names.map((n) => pairOf(config, n)[0].name)); break
    case 'pair': targets = new Set(selectPairs(config, selection.pair)[0]!.map((n) => n.name)); break
    case 'all': targets = new Set(all.map((n) => n.name)); break
    case 'outdated': targets = new Set(seen.filter((o) => o.outdated === true).map((o) => o.name)); break
  }
  const d = decideRestart(pairs.map(([a, b]) => [byName.get(a.name)!, byName.get(b.name)!]), targets)
  if (d.action === 'refuse') throw new RepctlError(d.code, `cannot ${selection.kind === 'outdated' ? 'upgrade' : 'restart'}: ${d.reason}`, [d.suggestion])
  const order = d.pairs.flatMap((p) => p.moves.map((m) => (m.kind === 'restart_slave' ? m.node : m.from)))
  const result: RestartResult = {
    cluster: config.cluster, operation: selection.kind === 'outdated' ? 'upgrade' : 'restart', dryRun, bundleSha256: localBundleSha256(), pairs: d.pairs,
    nodes: order.map((name) => ({name, pidBefore: byName.get(name)!.pid, pidAfter: null, bundleBefore: byName.get(name)!.bundleSha256, bundleAfter: null})),
    durationMs: 0,
  }
  if (dryRun || order.length === 0) return {steps: [], result: () => result}
  const started = Date.now()
  const steps: Step[] = d.pairs.flatMap((p) => p.moves.map((m) => laterSteps(describeMove(m), () => restartNodeSteps(config, pool, m.kind === 'restart_slave' ? m.node : m.from))))
  steps.push({
    title: `Check the restarted nodes run this repctl's bundle`,
    run: async () => {
      const after = await observeForAction(pool, order.map((n) => findNode(config, n)))
      for (const o of after) {
        const entry = result.nodes.find((n) => n.name === o.name)!
        entry.pidAfter = o.pid
        entry.bundleAfter = o.bundleSha256
        if (o.pid === entry.pidBefore) throw new RepctlError('NODE_START_FAILED', `${o.name} still runs as pid ${o.pid}: it was not restarted`, ['see repctl status and the supervisor\'s events, then run the command again'])
        if (o.outdated !== false) throw new RepctlError('NODE_START_FAILED', `${o.name} does not run this repctl's bundle after its restart (it reports ${o.bundleSha256 ?? 'no checksum'}${o.process === 'running' ? '' : `; ${o.process}`})`)
      }
      result.durationMs = Date.now() - started
      return order.map((n) => `${n}: ${result.bundleSha256?.slice(0, 12) ?? '?'}`).join(', ')
    },
  })
  return {steps, result: () => result}
}

