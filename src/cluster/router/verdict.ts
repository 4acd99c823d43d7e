// A router's verdict (pure): whether clients of the router reach every pair
// where it is served now.

import {changedRoutes} from './endpoints.js'
import type {RouterPairEndpoint} from './nutcracker-config.js'
import type {RouterObservation} from './observe.js'

export type RouterVerdict = 'ok' | 'stale' | 'not_serving' | 'down' | 'unknown'

export interface RouterVerdictResult {
  verdict: RouterVerdict
  reason: string
  /** Pairs whose keys the router sends elsewhere than where they are served now, or not at all (ring names). */
  stale: string[]
  /**
   * Pairs still in its ring that the config no longer has. Only `repctl start
   * --yes` drops them (their keys are lost to clients), so a router stale for
   * these alone is not the supervisor's to restart.
   */
  removed: string[]
}

const show = (e: RouterPairEndpoint['endpoint']): string => `${e.host}:${e.port}`

export function routerVerdict(o: Pick<RouterObservation, 'name' | 'process' | 'pid' | 'answering' | 'routes'>, want: readonly RouterPairEndpoint[]): RouterVerdictResult {
  if (o.process === 'unknown') return {verdict: 'unknown', reason: `cannot tell whether router ${o.name} runs (its host could not be asked)`, stale: [], removed: []}
  if (o.process === 'stopped') return {verdict: 'down', reason: `router ${o.name} is not running: its clients reach no pair`, stale: [], removed: []}
  if (!o.answering) return {verdict: 'not_serving', reason: `router ${o.name} runs (pid ${o.pid}) but its stats port does not answer`, stale: [], removed: []}
  const have = o.routes ?? []
  const stale = changedRoutes(want, have)
  const removed = have.filter((h) => !want.some((w) => w.name === h.name)).map((h) => h.name)
  if (stale.length > 0) {
    const what = stale.map((name) => {
      const h = have.find((x) => x.name === name)
      const w = want.find((x) => x.name === name)!
      return h === undefined ? `pair ${name} is not in its ring (serving at ${show(w.endpoint)})` : `it sends pair ${name} to ${show(h.endpoint)}, served now at ${show(w.endpoint)}`
    })
    return {verdict: 'stale', reason: `router ${o.name}: ${[...what, ...removed.map((name) => `pair ${name} is no longer in the config`)].join('; ')}`, stale, removed}
  }
  if (removed.length > 0) return {verdict: 'stale', reason: `router ${o.name}: ${removed.map((name) => `pair ${name} is no longer in the config`).join('; ')} (repctl start --yes updates its ring)`, stale, removed}
  return {verdict: 'ok', reason: `router ${o.name} sends every pair's keys where it is served`, stale: [], removed: []}
}
