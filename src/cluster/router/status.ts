// Each router as `repctl status` reports it: its process, its verdict, and
// per pair where it sends the keys, where the pair is served now, and the
// router's counters for it.

import type {ClusterConfig} from '../../config/schema.js'
import type {HostPool} from '../../hosts/pool.js'
import type {Health} from '../verdict.js'
import type {EndpointSeen} from './endpoints.js'
import {observeRouter, type RouterObservation} from './observe.js'
import {wantedRoutes} from './routes.js'
import {routerVerdict, type RouterVerdict} from './verdict.js'

export interface RouterPairStatus {
  name: string
  /** Where the router sends the pair's keys (host:port, from its config); null when it has no route for it. */
  endpoint: string | null
  /** Where the pair is served now: its VIP, a serving node, or (via none) where it would be sent though no node serves. */
  servedAt: string
  via: 'vip' | 'node' | 'none'
  node: string | null
  /** The router's counters for the pair since it started; null when its stats port did not answer. */
  requests: number | null
  responses: number | null
  errors: number | null
  timeouts: number | null
  connections: number | null
}

export interface RouterStatus extends Omit<RouterObservation, 'routes' | 'stats'> {
  verdict: RouterVerdict
  reason: string
  uptime: number | null
  clientConnections: number | null
  /** Client requests the router could not forward to a pair. */
  forwardErrors: number | null
  pairs: RouterPairStatus[]
}

const show = (e: {host: string; port: number}): string => `${e.host}:${e.port}`

export async function gatherRouterStatus(config: ClusterConfig, pool: HostPool, seen: ReadonlyMap<string, EndpointSeen>): Promise<RouterStatus[]> {
  const names = config.pairs.map((p) => p.name)
  return Promise.all(config.routers.map(async (router) => {
    const o = await observeRouter(pool.for(router), router, config.cluster, names)
    const want = wantedRoutes(config, seen, o.routes)
    const v = routerVerdict(o, want)
    const {routes, stats, ...rest} = o
    return {
      ...rest, verdict: v.verdict, reason: v.reason,
      uptime: stats?.uptime ?? null, clientConnections: stats?.clientConnections ?? null, forwardErrors: stats?.forwardErrors ?? null,
      pairs: want.map((w) => {
        const have = routes?.find((r) => r.name === w.name)
        const s = stats?.pairs.find((p) => p.name === w.name)
        return {
          name: w.name, endpoint: have === undefined ? null : show(have.endpoint), servedAt: show(w.endpoint), via: w.via, node: w.node,
          requests: s?.requests ?? null, responses: s?.responses ?? null, errors: s?.errors ?? null, timeouts: s?.timeouts ?? null, connections: s?.connections ?? null,
        }
      }),
    }
  }))
}

const ROUTER_SEVERITY: Record<RouterVerdict, Health> = {ok: 'healthy', stale: 'degraded', not_serving: 'degraded', down: 'degraded', unknown: 'unknown'}

/** A router down is degraded while another serves; every router down leaves clients nothing: critical. */
export function routersHealth(verdicts: readonly RouterVerdict[]): Health[] {
  if (verdicts.length > 0 && verdicts.every((v) => v === 'down' || v === 'not_serving')) return ['critical']
  return verdicts.map((v) => ROUTER_SEVERITY[v])
}
