// The supervisor's rules for a router (src/cluster/supervise/decide-router.ts)
// as tables: the action per verdict, then the flapping guard over time.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {decideRouter, freshRouterMemory, routerMemoryFromEvents, type RouterMemory} from '../../src/cluster/supervise/decide-router.js'
import {reportKey} from '../../src/cluster/supervise/round.js'
import {DEFAULT_POLICY, type SupervisePolicy} from '../../src/cluster/supervise/decide.js'
import type {RouterVerdictResult} from '../../src/cluster/router/verdict.js'

const P: SupervisePolicy = {...DEFAULT_POLICY, maxRepairs: 3, windowMs: 600_000, backoffMs: 2000}
const T = 10_000_000

const ok: RouterVerdictResult = {verdict: 'ok', reason: 'router app1 sends every pair\'s keys where it is served', stale: [], removed: [], added: []}
const down: RouterVerdictResult = {verdict: 'down', reason: 'router app1 is not running: its clients reach no pair', stale: [], removed: [], added: []}
const stale: RouterVerdictResult = {verdict: 'stale', reason: 'router app1: it sends pair a+b to 10.0.0.2:11311, served now at 10.0.0.1:11211', stale: ['a+b'], removed: [], added: []}
const staleAndRemoved: RouterVerdictResult = {...stale, reason: `${stale.reason}; pair old is no longer in the config`, removed: ['old'], added: []}
const removedOnly: RouterVerdictResult = {verdict: 'stale', reason: 'router app1: pair old is no longer in the config (repctl start --yes updates its ring)', stale: [], removed: ['old'], added: []}
const addedOnly: RouterVerdictResult = {verdict: 'stale', reason: 'router app1: pair new is not in its ring (repctl start updates its ring and says how many keys move)', stale: [], removed: [], added: ['new']}
const notServing: RouterVerdictResult = {verdict: 'not_serving', reason: 'router app1 runs (pid 3120) but its stats port does not answer', stale: [], removed: [], added: []}
const unknown: RouterVerdictResult = {verdict: 'unknown', reason: 'cannot tell whether router app1 runs (its host could not be asked)', stale: [], removed: [], added: []}

const mem = (repairs: number[], givenUp?: number): RouterMemory => ({repairs, givenUp})

describe('decideRouter: one verdict, one action (nothing repaired before)', () => {
  const table: [string, RouterVerdictResult, string, RegExp][] = [
    ['ok: nothing', ok, 'none', /sends every pair's keys/],
    ['down: restart it with the current routes', down, 'restart_router', /^router app1 is not running/],
    ['stale: restart it with the new routes (nutcracker has no reload)', stale, 'update_router', /sends pair a\+b to 10\.0\.0\.2:11311/],
    ['stale and a pair removed: update the moved route (the removed pair is kept, see routesForRepair)', staleAndRemoved, 'update_router', /pair old is no longer in the config/],
    ['only a pair removed from the config: report; dropping it loses its keys, which repctl start --yes confirms', removedOnly, 'report', /repctl start --yes/],
    ['only a pair added to the config: report; adding it moves keys and its nodes may not serve yet, which repctl start checks', addedOnly, 'report', /does not change which pairs a ring has/],
    ['stats port silent: report (a restart would drop every client of a router that may only be busy)', notServing, 'report', /stats port does not answer/],
    ['host cannot be asked: report, never act', unknown, 'report', /cannot tell/],
  ]
  for (const [what, v, action, says] of table) {
    it(what, () => {
      const d = decideRouter('app1', v, freshRouterMemory(), T, P)
      assert.equal(d.act.action, action, d.act.reason)
      assert.match(d.act.reason, says)
      assert.deepEqual(d.memory, mem(action === 'restart_router' ? [T] : []), 'only a restart of a router found down is counted')
    })
  }
})

describe('decideRouter: the flapping guard', () => {
  it('backs off after a restart, doubling: 2 s after the first, 4 s after the second', () => {
    const after1 = decideRouter('app1', down, mem([T - 1500]), T, P)
    assert.equal(after1.act.action, 'wait')
    assert.match(after1.act.reason, /next restart of router app1 in 1 s \(backoff\)/)
    assert.deepEqual(after1.memory, mem([T - 1500]), 'waiting counts nothing')
    assert.equal(decideRouter('app1', down, mem([T - 2000]), T, P).act.action, 'restart_router', '2 s after one restart')
    const after2 = decideRouter('app1', down, mem([T - 10_000, T - 3000]), T, P)
    assert.equal(after2.act.action, 'wait', '3 s after the second: 4 s are due')
    assert.match(after2.act.reason, /in 1 s/)
    const again = decideRouter('app1', down, mem([T - 10_000, T - 4000]), T, P)
    assert.equal(again.act.action, 'restart_router')
    assert.deepEqual(again.memory.repairs, [T - 10_000, T - 4000, T])
  })

  it('updates are never held back: each follows a pair served elsewhere, not the router failing (5 failovers in a minute: 5 updates)', () => {
    let m = freshRouterMemory()
    for (let i = 0; i < 5; i++) {
      const d = decideRouter('app1', stale, m, T + i * 10_000, P)
      assert.equal(d.act.action, 'update_router', `update ${i + 1}: ${d.act.reason}`)
      m = d.memory
    }
    assert.deepEqual(m, freshRouterMemory(), 'updates are not counted as restarts')
    // Even with the guard given up on restarts of a crashing router, a route change is applied.
    assert.equal(decideRouter('app1', stale, mem([T - 3000, T - 2000, T - 1000], T - 500), T, P).act.action, 'update_router')
  })

  it('gives up after maxRepairs within the window, says so once, and then reports', () => {
    const giving = decideRouter('app1', down, mem([T - 60_000, T - 50_000, T - 30_000]), T, P)
    assert.equal(giving.act.action, 'report')
    assert.match(giving.act.reason, /giving up on router app1: restarted 3 times within 600 s/)
    assert.equal(giving.memory.givenUp, T)
    const later = decideRouter('app1', down, giving.memory, T + 5000, P)
    assert.equal(later.act.action, 'report')
    assert.match(later.act.reason, /not restarting router app1 again: it was restarted 3 times within 600 s \(fix it, then restart the supervisor or run repctl start\)/)
    // Given up even once the old restarts leave the window: a person must look.
    assert.equal(decideRouter('app1', down, later.memory, T + P.windowMs + 1, P).act.action, 'report')
  })

  it('restarts older than the window do not count', () => {
    const d = decideRouter('app1', down, mem([T - P.windowMs - 3, T - P.windowMs - 2, T - P.windowMs - 1]), T, P)
    assert.equal(d.act.action, 'restart_router')
    assert.deepEqual(d.memory.repairs, [T], 'the old ones are forgotten')
  })

  it('ok after a give-up clears it and starts afresh: repaired by hand, the next failure is restarted at once', () => {
    const gaveUp = mem([T - 60_000, T - 50_000, T - 30_000], T - 20_000)
    const healthy = decideRouter('app1', ok, gaveUp, T, P)
    assert.equal(healthy.act.action, 'none')
    assert.equal(healthy.memory.givenUp, undefined)
    const next = decideRouter('app1', down, healthy.memory, T + 1000, P)
    assert.equal(next.act.action, 'restart_router', next.act.reason)
  })

  it('ok between restarts (no give-up) keeps counting them: a router that dies after every restart is given up on', () => {
    let m = freshRouterMemory()
    const actions: string[] = []
    for (let i = 0; i < 4; i++) {
      const now = T + i * 60_000
      m = decideRouter('app1', ok, m, now - 1000, P).memory
      const d = decideRouter('app1', down, m, now, P)
      actions.push(d.act.action)
      m = d.memory
    }
    assert.deepEqual(actions, ['restart_router', 'restart_router', 'restart_router', 'report'])
  })

  it('unknown and not_serving keep the count and the give-up as they are', () => {
    const m = mem([T - 1000], T - 500)
    for (const v of [unknown, notServing, removedOnly]) assert.deepEqual(decideRouter('app1', v, m, T, P).memory, m, v.verdict)
  })
})

describe('routerMemoryFromEvents: a restarted supervisor keeps its router guard (from the events\' fields)', () => {
  const at = (ms: number): string => new Date(ms).toISOString()
  const ev = (ms: number, fields: Record<string, unknown>) => ({time: at(ms), pair: null, router: 'app1', node: null, action: null, daemon: 'nutcracker', reason: 'said in any words', ...fields}) as Parameters<typeof routerMemoryFromEvents>[0][number]
  const restart = (ms: number) => ev(ms, {event: 'repairing', action: 'restart_router', code: 'router-down', verdict: 'down'})

  it('counts the restarts begun within the window, so one restarted maxRepairs times is given up on at once', () => {
    const events = [restart(T - P.windowMs - 1), restart(T - 30_000), restart(T - 20_000), restart(T - 10_000), ev(T - 9000, {event: 'repair', action: 'restart_router', code: 'router-down', verdict: 'down', outcome: 'ok'})]
    const m = routerMemoryFromEvents(events, T, P).get('app1')!
    assert.deepEqual(m.repairs, [T - 30_000, T - 20_000, T - 10_000])
    const d = decideRouter('app1', down, m, T, P)
    assert.deepEqual([d.act.action, d.act.code], ['report', 'gave-up'])
  })

  it('remembers a give-up until the router is seen ok, and pairs\' events are not its', () => {
    const gaveUp = ev(T - 5000, {event: 'report', action: 'report', code: 'gave-up', verdict: 'down'})
    assert.equal(routerMemoryFromEvents([gaveUp], T, P).get('app1')?.givenUp, T - 5000)
    assert.equal(decideRouter('app1', down, routerMemoryFromEvents([gaveUp], T, P).get('app1')!, T, P).act.code, 'gave-up')
    const healthy = ev(T - 1000, {event: 'observed', code: 'healthy', verdict: 'ok'})
    assert.deepEqual(routerMemoryFromEvents([restart(T - 9000), gaveUp, healthy], T, P).get('app1'), freshRouterMemory())
    const pairs = [{...restart(T - 1000), pair: 'a,b', router: null}]
    assert.equal(routerMemoryFromEvents(pairs, T, P).size, 0)
  })
})

describe('reportKey: a report is said once, by what it means', () => {
  const base = {node: null, daemon: 'nutcracker' as const, verdict: 'down' as const, vipVerdict: null}
  it('the same code and verdict are the same report, however the reason reads', () => {
    assert.equal(reportKey({...base, code: 'backoff'}), reportKey({...base, code: 'backoff'}))
  })
  it('another code, node, daemon or verdict is a new report', () => {
    const k = reportKey({...base, code: 'backoff'})
    for (const other of [{...base, code: 'gave-up' as const}, {...base, code: 'backoff' as const, verdict: 'unknown' as const}, {...base, code: 'backoff' as const, node: 'n1'}, {...base, code: 'backoff' as const, daemon: 'node' as const}]) {
      assert.notEqual(reportKey(other), k, JSON.stringify(other))
    }
  })
})
