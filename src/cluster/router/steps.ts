// The steps `repctl start` and `repctl stop` add for routers.
// start (after every pair): per router, check nutcracker is there, render the
// ring from where each pair is served now, restart the router only if that
// changed, then a request through it to every pair.
// stop: routers first, so clients get a refused connection rather than a
// router answering SERVER_ERROR for pairs that are going away.

import type {ClusterConfig, RouterConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {HostPool} from '../../hosts/pool.js'
import type {StopOutcome} from '../daemon.js'
import type {Step} from '../plan.js'
import {movedShare} from './ketama.js'
import {requireNutcracker, startRouter, stopRouter} from './nutcracker.js'
import type {RouterPairEndpoint} from './nutcracker-config.js'
import {observeRouter} from './observe.js'
import {probeKeys} from './probe-keys.js'
import {probeRouter} from './probe.js'
import {changedRoutes} from './endpoints.js'
import {observeEndpoints, routesForRepair, wantedRoutes} from './routes.js'

export interface RouterStartResult {
  name: string
  action: 'started' | 'restarted' | 'unchanged'
  pid: number
  /** Ring names of the pairs it gained and lost with this start. */
  added: string[]
  removed: string[]
  /** Share of keys whose pair changed with the ring (0 to 1); null on a first start. */
  movedShare: number | null
}

export interface RingChange { router: string; before: string[] | null; added: string[]; removed: string[] }

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`

/** What each router's ring loses and gains with this config, from the routes on its host. */
export async function ringChanges(config: ClusterConfig, pool: HostPool): Promise<RingChange[]> {
  const names = config.pairs.map((p) => p.name)
  return Promise.all(config.routers.map(async (r) => {
    const o = await observeRouter(pool.for(r), r, config.cluster, names)
    const before = o.routes === null || o.routes.length === 0 ? null : o.routes.map((x) => x.name)
    return {router: r.name, before, added: before === null ? [] : names.filter((n) => !before.includes(n)), removed: before === null ? [] : before.filter((n) => !names.includes(n))}
  }))
}

/** Refuse, before anything starts, to drop a pair from a ring without --yes: its keys would be misses on the other pairs. */
export function confirmRemovals(changes: readonly RingChange[], yes: boolean): string[] {
  const removing = changes.filter((c) => c.removed.length > 0)
  if (removing.length === 0) return []
  const what = removing.map((c) => `router ${c.router} would drop ${c.removed.join(', ')} (${percent(movedShare(c.before!, c.before!.filter((n) => !c.removed.includes(n))).share)} of keys)`).join('; ')
  if (!yes) {
    throw new RepctlError('CONFIRMATION_NEEDED', `pairs were removed from the config: ${what}. Their keys would go to the other pairs, where they are misses: the data of a removed pair is lost to clients. A key another pair held before the removed pair was added comes back with that pair's old value (a stale read) until it expires or is written again`,
      ['add --yes to go on; the removed pairs\' nodes are not in the config any more, so repctl does not stop them: stop them by hand once nothing uses them'])
  }
  return removing.map((c) => `router ${c.router}: removing ${c.removed.join(', ')} from the ring; their keys are lost to clients (their nodes still run: stop them by hand)`)
}

function describeChange(before: string[] | null, after: string[], added: string[], removed: string[]): string {
  if (before === null || (added.length === 0 && removed.length === 0)) return ''
  const m = movedShare(before, after)
  const parts = [...added.map((n) => `+${n}`), ...removed.map((n) => `-${n}`)]
  return `; ring ${parts.join(' ')}: ${percent(m.share)} of keys move`
}

export function startRouterSteps(config: ClusterConfig, pool: HostPool, router: RouterConfig, results: RouterStartResult[]): Step[] {
  const host = () => pool.for(router)
  const names = config.pairs.map((p) => p.name)
  let routes: RouterPairEndpoint[] = []
  return [
    {title: `Check router ${router.name} (nutcracker on ${router.host})`, run: async () => `found ${await requireNutcracker(host(), router)}`},
    {
      title: `Start router ${router.name} (${router.host}:${router.port}, ${config.pairs.length} pairs)`,
      run: async () => {
        const [seen, o] = await Promise.all([observeEndpoints(config, pool), observeRouter(host(), router, config.cluster, names)])
        const before = o.routes === null || o.routes.length === 0 ? null : o.routes.map((x) => x.name)
        const want = wantedRoutes(config, seen, o.routes)
        routes = want.map(({name, endpoint}) => ({name, endpoint}))
        const r = await startRouter(host(), router, {cluster: config.cluster, router, pairs: routes})
        const added = before === null ? [] : names.filter((n) => !before.includes(n))
        const removed = before === null ? [] : before.filter((n) => !names.includes(n))
        results.push({name: router.name, action: r.action, pid: r.pid, added, removed, movedShare: before === null ? null : movedShare(before, names).share})
        const down = want.filter((w) => w.via === 'none').map((w) => `${w.name} (no node serves: sent to ${w.node})`)
        const what = r.action === 'unchanged' ? `already running with this ring, pid ${r.pid}` : `${r.action}, pid ${r.pid}`
        return `${what}${describeChange(before, names, added, removed)}${down.length > 0 ? `; ${down.join(', ')}` : ''}`
      },
    },
    {
      title: `Verify a request goes through router ${router.name} to every pair`,
      run: async () => {
        const keys = probeKeys(names)
        let replies
        try {
          replies = await probeRouter(router.host, router.port, keys.map((k) => k.key))
        } catch (e) {
          throw new RepctlError('ROUTER_NOT_SERVING', `router ${router.name} at ${router.host}:${router.port}: ${(e as Error).message}`)
        }
        const failed = replies.filter((r) => !r.reply.startsWith('END') && !r.reply.startsWith('VALUE'))
        if (failed.length > 0) {
          const at = (key: string) => {
            const pair = keys.find((k) => k.key === key)!.pair
            const e = routes.find((r) => r.name === pair)?.endpoint
            return `pair ${pair}${e === undefined ? '' : ` at ${e.host}:${e.port}`}`
          }
          throw new RepctlError('ROUTER_NOT_SERVING', `router ${router.name} at ${router.host}:${router.port} could not reach ${failed.map((f) => `${at(f.key)} (${f.reply})`).join(', ')}`)
        }
        return `${replies.length} of ${replies.length} pairs answered`
      },
    },
  ]
}

export function stopRouterStep(pool: HostPool, router: RouterConfig, record: (outcome: StopOutcome) => void): Step {
  return {
    title: `Stop router ${router.name}`,
    run: async () => {
      const outcome = await stopRouter(pool.for(router), router)
      record(outcome)
      return outcome === 'not_running' ? 'was not running' : outcome === 'killed' ? 'did not exit on SIGTERM; killed' : 'stopped'
    },
  }
}

/**
 * Before nodes stop or restart on purpose (stop, rejoin, promote): point
 * every running router that sends a pair to one of them at the pair's other
 * node, if that one serves, so the pair's keys keep being served through the
 * routers. Routers that need no change, and pairs with a VIP, are untouched.
 */
export function routeAwayStep(config: ClusterConfig, pool: HostPool, leaving: readonly string[]): Step[] {
  const affected = config.pairs.filter((p) => p.vip === undefined && p.nodes.some((n) => leaving.includes(n)))
  if (config.routers.length === 0 || affected.length === 0) return []
  const names = config.pairs.map((p) => p.name)
  return [{
    title: `Point the routers away from ${leaving.join(', ')}`,
    run: async () => {
      const seen = await observeEndpoints(config, pool)
      for (const n of leaving) {
        const o = seen.get(n)
        if (o !== undefined) seen.set(n, {...o, process: 'stopped'})
      }
      const said: string[] = []
      for (const router of config.routers) {
        const host = pool.for(router)
        const o = await observeRouter(host, router, config.cluster, names)
        if (o.process !== 'running' || o.routes === null) continue
        const want = wantedRoutes(config, seen, o.routes)
        const moved = changedRoutes(want, o.routes).filter((name) => want.find((w) => w.name === name)!.via === 'node')
        if (moved.length === 0) continue
        // A pair the config dropped stays in the ring: only `repctl start --yes` drops one.
        const r = await startRouter(host, router, {cluster: config.cluster, router, pairs: routesForRepair(want, o.routes)})
        said.push(`router ${router.name} ${r.action} (pid ${r.pid}): ${moved.map((name) => `${name} to ${want.find((w) => w.name === name)!.node}`).join(', ')}`)
      }
      return said.length === 0 ? 'no router sends their keys there' : said.join('\n')
    },
  }]
}
