import type {ClusterConfig, NodeConfig} from '../config/schema.js'
import type {HostPool} from '../hosts/pool.js'
import {stopNode, type StopOutcome} from './node-control.js'
import {observeNode} from './observe.js'
import type {Plan} from './plan.js'
import {findNode} from './topology.js'
import {vipPairOfNode} from './vip/keepalived.js'
import {stopKeepalivedStep} from './vip/steps.js'
import {routeAwayStep, stopRouterStep} from './router/steps.js'

export interface StopResult { nodes: {name: string; outcome: StopOutcome}[]; routers: {name: string; outcome: StopOutcome}[] }

/**
 * Stop the named nodes (all when none are named). Slaves go first, so that a
 * master stopping later does not hand its role to a node about to stop. A
 * node whose pair has a VIP: its keepalived goes first of all, so the VIP
 * leaves its host (for the peer, if that serves) before the node stops answering.
 */
export async function planStop(config: ClusterConfig, pool: HostPool, names: string[]): Promise<Plan<StopResult>> {
  // Routers are named like nodes: `repctl stop app1` stops that router only; no names, every router first.
  const routerNames = new Set(config.routers.map((r) => r.name))
  const routers = names.length === 0 ? config.routers : config.routers.filter((r) => names.includes(r.name))
  const nodeNames = names.filter((n) => !routerNames.has(n))
  const nodes = names.length === 0 ? config.nodes : nodeNames.map((n) => findNode(config, n))
  const roles = await Promise.all(nodes.map(async (n) => (await observeNode(pool.for(n), n)).role))
  const ordered: NodeConfig[] = nodes.map((n, i) => ({n, slaveFirst: roles[i] === 'slave' ? 0 : 1})).sort((x, y) => x.slaveFirst - y.slaveFirst).map((x) => x.n)
  const result: StopResult = {nodes: [], routers: []}
  const routerSteps = routers.map((router) => stopRouterStep(pool, router, (outcome) => result.routers.push({name: router.name, outcome})))
  const keepalivedSteps = ordered.flatMap((node) => {
    const pair = vipPairOfNode(config, node.name)
    return pair === undefined ? [] : [stopKeepalivedStep(pool, pair, node)]
  })
  return {
    // Stopping some nodes only: routers that stay up send those nodes' pairs to the peers first.
    steps: [...routerSteps, ...(names.length === 0 ? [] : routeAwayStep(config, pool, ordered.map((n) => n.name))), ...keepalivedSteps, ...ordered.map((node) => ({
      title: `Stop ${node.name}`,
      run: async () => {
        const outcome = await stopNode(pool.for(node), node)
        result.nodes.push({name: node.name, outcome})
        return outcome === 'not_running' ? 'was not running' : outcome === 'killed' ? 'did not exit on SIGTERM; killed' : 'stopped'
      },
    }))],
    result: () => result,
  }
}
