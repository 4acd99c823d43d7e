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
  /** Pairs of the config its ring lacks: only `repctl start` adds them (it reports the keys that move). */
  added: string[]
}

const show = (e: RouterPairEndpoint['endpoint']): string => `${e.host}:${e.port}`

export function routerVerdict(o: Pick<RouterObservation, 'name' | 'process' | 'pid' | 'answering' | 'routes'>, want: readonly RouterPairEndpoint[]): RouterVerdictResult {
  if (o.process === 'unknown') return {verdict: 'unknown', reason: `cannot tell whether router ${o.name} runs (its host could not be asked)`, stale: [], removed: [], added: []}
  if (o.process === 'stopped') return {verdict: 'down', reason: `router ${o.name} is not running: its clients reach no pair`, stale: [], removed: [], added: []}
  if (!o.answering) return {verdict: 'not_serving', reason: `router ${o.name} runs (pid ${o.pid}) but its stats port does not answer`, stale: [], removed: [], added: []}
  const have = o.routes ?? []
  const inRing = (name: string): boolean => have.some((h) => h.name === name)
  const stale = changedRoutes(want, have).filter(inRing)
  const removed = have.filter((h) => !want.some((w) => w.name === h.name)).map((h) => h.name)
  const added = want.filter((w) => !inRing(w.name)).map((w) => w.name)
  const what = [
    ...stale.map((name) => `it sends pair ${name} to ${show(have.find((x) => x.name === name)!.endpoint)}, served now at ${show(want.find((x) => x.name === name)!.endpoint)}`),
    ...added.map((name) => `pair ${name} is not in its ring`),
    ...removed.map((name) => `pair ${name} is no longer in the config`),
  ]
  if (what.length > 0) {
    const membership = added.length + removed.length === 0 ? ''
      : ` (repctl start updates its ring and says how many keys move${removed.length > 0 ? '; dropping a pair needs --yes' : ''})`
    return {verdict: 'stale', reason: `router ${o.name}: ${what.join('; ')}${membership}`, stale, removed, added}
  }
  return {verdict: 'ok', reason: `router ${o.name} sends every pair's keys where it is served`, stale: [], removed: [], added: []}
}
