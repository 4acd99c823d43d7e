// The supervisor's rules for a router (pure, table-tested like decide.ts).
// A router is judged at the start of the round, before any pair's repair,
// from its verdict (which compares the routes it runs with to where each pair
// is served now):
// - down: restart it, with the current routes;
// - stale (a pair it sends to a node that no longer serves, while another
//   node of the pair does): restart it with the new route: nutcracker has no
//   reload, and until it restarts that pair's keys fail for its clients;
//   keys never move to another pair either way, since the ring is by name;
// - stale only because its ring has a pair the config dropped, or lacks one
//   the config added: report. Only `repctl start` changes which pairs a ring
//   has (dropping one loses its keys to clients and needs --yes; adding one
//   moves keys, and the supervisor may not have seen the new pair serve); an
//   update for another reason keeps the ring's pairs as they are
//   (routesForRepair);
// - running but its stats port silent: report (it may be busy; a restart
//   would drop every client);
// - its host cannot be asked: report.
// Restarts of a router found down pass the same flapping guard as node
// repairs: at most maxRepairs within windowMs, backoffMs doubling between
// them, then a report. Updates do not: each follows a change of where a pair
// is served (a failover, a planned stop), which is not the router failing,
// and holding one back leaves that pair's keys failing for every client. A
// router that dies of its update is down at the next round, and guarded then.

import type {RouterVerdictResult} from '../router/verdict.js'
import type {RouterCode} from './codes.js'
import {DEFAULT_POLICY, type PastRepair, type SupervisePolicy} from './decide.js'

/** `code` says what the decision means (codes.ts); `reason` says it to a person. */
export interface RouterAction {
  action: 'none' | 'restart_router' | 'update_router' | 'wait' | 'report'
  code: RouterCode
  reason: string
}

export interface RouterMemory {
  /** Times of recent restarts. */
  repairs: number[]
  /** When we gave up on it (flapping); cleared once it is ok, with its restarts (someone repaired it). */
  givenUp: number | undefined
}

export const freshRouterMemory = (): RouterMemory => ({repairs: [], givenUp: undefined})

export function decideRouter(name: string, v: RouterVerdictResult, mem: RouterMemory, now: number, p: SupervisePolicy): {act: RouterAction; memory: RouterMemory} {
  const recent = mem.repairs.filter((t) => now - t < p.windowMs)
  const memory: RouterMemory = {repairs: recent, givenUp: mem.givenUp}
  switch (v.verdict) {
    case 'ok':
      // ok after a give-up: repaired by hand, so it is ours to watch again, from scratch (as a pair's node).
      return {act: {action: 'none', code: 'healthy', reason: v.reason}, memory: {repairs: mem.givenUp === undefined ? recent : [], givenUp: undefined}}
    case 'unknown':
      return {act: {action: 'report', code: 'unreachable', reason: v.reason}, memory}
    case 'not_serving':
      return {act: {action: 'report', code: 'not-serving', reason: v.reason}, memory}
    case 'stale':
      if (v.stale.length === 0) {
        return {act: {action: 'report', code: 'ring-change', reason: `${v.reason}; the supervisor does not change which pairs a ring has: dropping one loses its keys to clients, adding one moves keys`}, memory}
      }
      return {act: {action: 'update_router', code: 'stale-routes', reason: v.reason}, memory}
    case 'down': {
      if (memory.givenUp !== undefined) return {act: {action: 'report', code: 'gave-up', reason: `${v.reason}; not restarting router ${name} again: it was restarted ${recent.length} times within ${Math.round(p.windowMs / 1000)} s (fix it, then restart the supervisor or run repctl start)`}, memory}
      if (recent.length >= p.maxRepairs) {
        return {act: {action: 'report', code: 'gave-up', reason: `${v.reason}; giving up on router ${name}: restarted ${recent.length} times within ${Math.round(p.windowMs / 1000)} s`}, memory: {repairs: recent, givenUp: now}}
      }
      const last = recent.at(-1)
      const wait = last === undefined ? 0 : p.backoffMs * 2 ** (recent.length - 1) - (now - last)
      if (wait > 0) return {act: {action: 'wait', code: 'backoff', reason: `${v.reason}; next restart of router ${name} in ${Math.ceil(wait / 1000)} s (backoff)`}, memory}
      return {act: {action: 'restart_router', code: 'router-down', reason: v.reason}, memory: {repairs: [...recent, now], givenUp: undefined}}
    }
  }
}

/**
 * A restarted supervisor's memory of each router, from its events file (as
 * memoryFromEvents for pairs): the restarts it began within the window, and a
 * give-up, forgotten once the router was seen ok again.
 */
export function routerMemoryFromEvents(events: PastRepair[], now: number, p: SupervisePolicy = DEFAULT_POLICY): Map<string, RouterMemory> {
  const out = new Map<string, RouterMemory>()
  for (const e of events) {
    if (e.pair !== null || typeof e.router !== 'string') continue
    const mem = out.get(e.router) ?? freshRouterMemory()
    const t = Date.parse(e.time)
    if (e.event === 'observed' && e.verdict === 'ok') {
      // As decideRouter: ok after a give-up is a router repaired by hand, watched again from scratch.
      out.set(e.router, mem.givenUp === undefined ? mem : freshRouterMemory())
    } else if (e.event === 'report' && e.code === 'gave-up' && Number.isFinite(t)) {
      out.set(e.router, {...mem, givenUp: t})
    } else if (e.event === 'repairing' && e.action === 'restart_router' && Number.isFinite(t) && now - t < p.windowMs && t <= now) {
      out.set(e.router, {...mem, repairs: [...mem.repairs, t]})
    }
  }
  return out
}
