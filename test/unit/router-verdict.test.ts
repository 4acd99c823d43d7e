// A router's verdict (src/cluster/router/verdict.ts) as a table: what was
// seen of the router (process, stats port, the routes in its config file)
// against where each pair is served now.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type {RouterPairEndpoint} from '../../src/cluster/router/nutcracker-config.js'
import type {RouterObservation} from '../../src/cluster/router/observe.js'
import {routersHealth} from '../../src/cluster/router/status.js'
import {routerVerdict, type RouterVerdictResult} from '../../src/cluster/router/verdict.js'

type Seen = Pick<RouterObservation, 'name' | 'process' | 'pid' | 'answering' | 'routes'>

const p1 = {name: 'a+b', endpoint: {host: '10.0.0.1', port: 11211}}
const p2 = {name: 'pair2', endpoint: {host: '10.0.0.100', port: 11411}}
const WANT: RouterPairEndpoint[] = [p1, p2]
const running: Seen = {name: 'app1', process: 'running', pid: 3120, answering: true, routes: WANT}

describe('routerVerdict', () => {
  const table: [string, Seen, RouterPairEndpoint[], RouterVerdictResult][] = [
    ['it runs, answers, and routes every pair where it is served: ok', running, WANT,
      {verdict: 'ok', reason: 'router app1 sends every pair\'s keys where it is served', stale: [], removed: [], added: []}],
    ['the same routes in another order: ok', {...running, routes: [p2, p1]}, WANT,
      {verdict: 'ok', reason: 'router app1 sends every pair\'s keys where it is served', stale: [], removed: [], added: []}],
    ['its host cannot be asked: unknown, whatever else', {...running, process: 'unknown', pid: null, answering: false, routes: null}, WANT,
      {verdict: 'unknown', reason: 'cannot tell whether router app1 runs (its host could not be asked)', stale: [], removed: [], added: []}],
    ['not running: down (its config on the host does not matter)', {...running, process: 'stopped', pid: null, answering: false}, WANT,
      {verdict: 'down', reason: 'router app1 is not running: its clients reach no pair', stale: [], removed: [], added: []}],
    ['running, stats port silent: not_serving, naming the pid', {...running, answering: false}, WANT,
      {verdict: 'not_serving', reason: 'router app1 runs (pid 3120) but its stats port does not answer', stale: [], removed: [], added: []}],
    ['running with stale routes but a silent stats port: not_serving comes first', {...running, answering: false, routes: []}, WANT,
      {verdict: 'not_serving', reason: 'router app1 runs (pid 3120) but its stats port does not answer', stale: [], removed: [], added: []}],
    ['a pair sent to a node that no longer serves it: stale, saying where it goes and where it is served', {...running, routes: [{...p1, endpoint: {host: '10.0.0.2', port: 11311}}, p2]}, WANT,
      {verdict: 'stale', reason: 'router app1: it sends pair a+b to 10.0.0.2:11311, served now at 10.0.0.1:11211', stale: ['a+b'], removed: [], added: []}],
    ['a pair that is not in its ring (added to the config): stale, added, pointing at repctl start (not a route to change)', {...running, routes: [p1]}, WANT,
      {verdict: 'stale', reason: 'router app1: pair pair2 is not in its ring (repctl start updates its ring and says how many keys move)', stale: [], removed: [], added: ['pair2']}],
    ['its config file is gone (running without routes we know): every pair added', {...running, routes: null}, WANT,
      {verdict: 'stale', reason: 'router app1: pair a+b is not in its ring; pair pair2 is not in its ring (repctl start updates its ring and says how many keys move)', stale: [], removed: [], added: ['a+b', 'pair2']}],
  ]
  for (const [what, seen, want, expected] of table) it(what, () => assert.deepEqual(routerVerdict(seen, want), expected))

  it('a pair removed from the config but still in its ring: stale, pointing at repctl start --yes; the removed pair is not a route to change', () => {
    const v = routerVerdict({...running, routes: [p1, p2, {name: 'old', endpoint: {host: '10.0.0.9', port: 11211}}]}, WANT)
    assert.equal(v.verdict, 'stale')
    assert.equal(v.reason, 'router app1: pair old is no longer in the config (repctl start updates its ring and says how many keys move; dropping a pair needs --yes)')
    assert.deepEqual(v.stale, [], 'no pair is sent where it is not served')
    assert.deepEqual(v.removed, ['old'])
  })

  it('a moved pair and a removed one: both said, the moved one stale, the removed one removed', () => {
    const v = routerVerdict({...running, routes: [{...p1, endpoint: {host: '10.0.0.2', port: 11311}}, p2, {name: 'old', endpoint: {host: '10.0.0.9', port: 11211}}]}, WANT)
    assert.equal(v.verdict, 'stale')
    assert.equal(v.reason, 'router app1: it sends pair a+b to 10.0.0.2:11311, served now at 10.0.0.1:11211; pair old is no longer in the config (repctl start updates its ring and says how many keys move; dropping a pair needs --yes)')
    assert.deepEqual(v.stale, ['a+b'])
    assert.deepEqual(v.removed, ['old'])
  })
})

describe('routersHealth', () => {
  const table: [string, Parameters<typeof routersHealth>[0], ReturnType<typeof routersHealth>][] = [
    ['no routers: nothing to add', [], []],
    ['every router ok', ['ok', 'ok'], ['healthy', 'healthy']],
    ['one router down while another serves: degraded', ['down', 'ok'], ['degraded', 'healthy']],
    ['a stale router: degraded', ['stale'], ['degraded']],
    ['the only router down: critical (clients reach nothing)', ['down'], ['critical']],
    ['every router down or not serving: critical', ['down', 'not_serving'], ['critical']],
    ['one unknown, one down: unknown and degraded', ['unknown', 'down'], ['unknown', 'degraded']],
  ]
  for (const [what, verdicts, want] of table) it(what, () => assert.deepEqual(routersHealth(verdicts), want))
})
