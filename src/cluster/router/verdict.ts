// A router's verdict (pure): whether clients of the router reach every pair
// where it is served now.

import {changedRoutes} from './endpoints.js'
import type {RouterPairEndpoint} from './nutcracker-config.js'
import type {RouterObservation} from './observe.js'

export type RouterVerdict = 'ok' | 'stale' | 'not_serving' | 'down' | 'unknown'

export interface RouterVerdictResult {
  verdict: RouterVerdict
  reason: string
  /** Pairs whose keys the router sends elsewhere than where they are served now (ring names). */
  stale: string[]
}

const show = (e: RouterPairEndpoint['endpoint']): string => `${e.host}:${e.port}`

export function routerVerdict(o: Pick<RouterObservation, 'name' | 'process' | 'pid' | 'answering' | 'routes'>, want: readonly RouterPairEndpoint[]): RouterVerdictResult {
  if (o.process === 'unknown') return {verdict: 'unknown', reason: `cannot tell whether router ${o.name} runs (its host could not be asked)`, stale: []}
  if (o.process === 'stopped') return {verdict: 'down', reason: `router ${o.name} is not running: its clients reach no pair`, stale: []}
  if (!o.answering) return {verdict: 'not_serving', reason: `router ${o.name} runs (pid ${o.pid}) but its stats port does not answer`, stale: []}
  const have = o.routes ?? []
  const stale = changedRoutes(want, have)
  if (stale.length > 0) {
    const what = stale.map((name) => {
      const h = have.find((x) => x.name === name)
      const w = want.find((x) => x.name === name)!
      return h === undefined ? `pair ${name} is not in its ring (serving at ${show(w.endpoint)})` : `it sends pair ${name} to ${show(h.endpoint)}, served now at ${show(w.endpoint)}`
    })
    const gone = have.filter((h) => !want.some((w) => w.name === h.name)).map((h) => `pair ${h.name} is no longer in the config`)
    return {verdict: 'stale', reason: `router ${o.name}: ${[...what, ...gone].join('; ')}`, stale}
  }
  const gone = have.filter((h) => !want.some((w) => w.name === h.name))
  if (gone.length > 0) return {verdict: 'stale', reason: `router ${o.name}: ${gone.map((h) => `pair ${h.name} is no longer in the config`).join('; ')} (repctl start --yes updates its ring)`, stale: gone.map((h) => h.name)}
  return {verdict: 'ok', reason: `router ${o.name} sends every pair's keys where it is served`, stale: []}
}
