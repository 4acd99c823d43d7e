// Every pair's route for one router, from the nodes as observed (pure), and
// the same observed from the hosts.

import type {ClusterConfig, NodeConfig, RouterConfig} from '../../config/schema.js'
import type {HostPool} from '../../hosts/pool.js'
import {observeNode} from '../observe.js'
import {findNode} from '../topology.js'
import {routePair, type EndpointSeen, type PairRoute} from './endpoints.js'
import type {RouterPairEndpoint} from './nutcracker-config.js'

/** `current`: the router's routes as on its host (null: none yet), so a pair still served where it is keeps its route. */
export function wantedRoutes(config: ClusterConfig, seen: ReadonlyMap<string, EndpointSeen>, current: readonly RouterPairEndpoint[] | null): PairRoute[] {
  return config.pairs.map((pair) => {
    const nodes = [findNode(config, pair.nodes[0]), findNode(config, pair.nodes[1])] as const
    const a = seen.get(nodes[0].name)
    const b = seen.get(nodes[1].name)
    return routePair(pair, nodes, a === undefined || b === undefined ? undefined : [a, b], current?.find((r) => r.name === pair.name)?.endpoint)
  })
}

/**
 * The routes a supervisor's restart (or a planned stop's) gives a router: its
 * ring as it is — the same pairs — with each pair's endpoint as wanted now.
 * Only `repctl start` changes which pairs a ring has, and says how many keys
 * move: dropping a pair loses its keys to clients (`--yes`), and adding one
 * the supervisor has not seen serve would fail its share of keys. A router
 * without a ring yet (no config on its host) gets every wanted route.
 */
export function routesForRepair(want: readonly RouterPairEndpoint[], have: readonly RouterPairEndpoint[] | null): RouterPairEndpoint[] {
  if (have === null) return want.map(({name, endpoint}) => ({name, endpoint}))
  return have.map(({name, endpoint}) => ({name, endpoint: want.find((w) => w.name === name)?.endpoint ?? endpoint}))
}

/** The nodes of every pair without a VIP (a VIP pair's route needs no observation). */
export function nodesToObserve(config: ClusterConfig): NodeConfig[] {
  return config.pairs.filter((p) => p.vip === undefined).flatMap((p) => p.nodes.map((n) => findNode(config, n)))
}

export async function observeEndpoints(config: ClusterConfig, pool: HostPool): Promise<Map<string, EndpointSeen>> {
  const nodes = nodesToObserve(config)
  const seen = await Promise.all(nodes.map((n) => observeNode(pool.for(n), n)))
  return new Map(seen.map((o) => [o.name, o]))
}

export function findRouter(config: ClusterConfig, name: string): RouterConfig | undefined {
  return config.routers.find((r) => r.name === name)
}
