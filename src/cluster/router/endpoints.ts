// Where a router sends a pair's keys (pure). A pair with a VIP: the VIP,
// which follows the serving node by itself. Without one: a node that serves,
// chosen so that the router is restarted (which drops every client's
// connection) only when it must be:
// 1. the node the router already uses, while it still serves;
// 2. else the master;
// 3. else a node that serves at all (a slave whose master is gone takes
//    writes itself after its failover; one still copying does not count);
// 4. else nothing serves: keep what the router has (a restart would not help
//    the pair and would cost every other pair's clients a reconnect), or,
//    for a router not configured yet, the first node (its keys fail fast
//    until the pair is repaired, and never go to another pair).

import type {NodeConfig, PairConfig} from '../../config/schema.js'
import type {NodeObservation} from '../observe.js'
import type {RouterPairEndpoint} from './nutcracker-config.js'

export type EndpointSeen = Pick<NodeObservation, 'name' | 'process' | 'reachable' | 'role' | 'state'>

export interface Endpoint { host: string; port: number }

export interface PairRoute extends RouterPairEndpoint {
  /** 'vip', the node it goes to, or null when no node of the pair serves (kept or first node). */
  via: 'vip' | 'node' | 'none'
  /** The node the endpoint belongs to (null for a VIP). */
  node: string | null
}

const sameEndpoint = (a: Endpoint | undefined, b: Endpoint): boolean => a !== undefined && a.host === b.host && a.port === b.port

/** Whether clients get answers from this node: it runs, answers, and is a master or a slave done copying. */
export function serves(o: EndpointSeen): boolean {
  return o.process === 'running' && o.reachable && (o.role === 'master' || (o.role === 'slave' && o.state === 'paired'))
}

export function routePair(pair: PairConfig, nodes: readonly [NodeConfig, NodeConfig], seen: readonly [EndpointSeen, EndpointSeen] | undefined, current: Endpoint | undefined): PairRoute {
  if (pair.vip !== undefined) return {name: pair.name, endpoint: {host: pair.vip.address, port: nodes[0].port}, via: 'vip', node: null}
  const at = (n: NodeConfig): Endpoint => ({host: n.host, port: n.port})
  const serving = nodes.filter((n, i) => seen !== undefined && serves(seen[i]!))
  const chosen = serving.find((n) => sameEndpoint(current, at(n)))
    ?? serving.find((n) => seen![nodes.indexOf(n)]!.role === 'master')
    ?? serving[0]
  if (chosen !== undefined) return {name: pair.name, endpoint: at(chosen), via: 'node', node: chosen.name}
  const kept = nodes.find((n) => sameEndpoint(current, at(n))) ?? nodes[0]
  return {name: pair.name, endpoint: at(kept), via: 'none', node: kept.name}
}

/** The pairs whose route differs from what the router has (by ring name); a pair the router lacks counts. */
export function changedRoutes(want: readonly RouterPairEndpoint[], have: readonly RouterPairEndpoint[]): string[] {
  return want.filter((w) => !sameEndpoint(have.find((h) => h.name === w.name)?.endpoint, w.endpoint)).map((w) => w.name)
}
