// Where a router sends each pair's keys (src/cluster/router/endpoints.ts),
// as a table: the pair's VIP; else the node the router already uses while it
// serves; else the master; else any node that serves; else, with nothing
// serving, keep the current node (or the first node for a new router).

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {changedRoutes, routePair, serves, type Endpoint, type EndpointSeen, type PairRoute} from '../../src/cluster/router/endpoints.js'
import type {NodeConfig, PairConfig} from '../../src/config/schema.js'
import {validateConfig} from '../../src/config/schema.js'
import {findNode} from '../../src/cluster/topology.js'
import {routesForRepair} from '../../src/cluster/router/routes.js'

// Real configs, as validateConfig makes them: a and b on two hosts with distinct
// ports (so host and port both tell them apart), c and d behind a VIP.
const CONFIG = validateConfig({
  cluster: 'shop',
  nodes: {
    a: {host: '10.0.0.1', port: 11211}, b: {host: '10.0.0.2', port: 11311, replicationPort: 11312},
    c: {host: '10.0.0.3', port: 11411, replicationPort: 11412}, d: {host: '10.0.0.4', port: 11411, replicationPort: 11412},
  },
  pairs: [['a', 'b'], {nodes: ['c', 'd'], name: 'pair2', vip: {address: '10.0.0.100/24', interface: 'eth0'}}],
}, '/srv/repctl.config.yaml', '/srv')
const PAIR: PairConfig = CONFIG.pairs[0]!
const VIP_PAIR: PairConfig = CONFIG.pairs[1]!
const NODES = [findNode(CONFIG, 'a'), findNode(CONFIG, 'b')] as const
const VIP_NODES = [findNode(CONFIG, 'c'), findNode(CONFIG, 'd')] as const

const A: Endpoint = {host: '10.0.0.1', port: 11211}
const B: Endpoint = {host: '10.0.0.2', port: 11311}

type Look = Omit<EndpointSeen, 'name'>
const master: Look = {process: 'running', reachable: true, role: 'master', state: 'paired'}
const masterAlone: Look = {...master, state: 'listening'}
const slave: Look = {process: 'running', reachable: true, role: 'slave', state: 'paired'}
const copying: Look = {...slave, state: 'copying'}
const connecting: Look = {...slave, state: 'connecting'}
const unpaired: Look = {process: 'running', reachable: true, role: 'none', state: 'disconnected'}
const stopped: Look = {process: 'stopped', reachable: true, role: null, state: null}
const unknown: Look = {process: 'unknown', reachable: false, role: null, state: null}
/** Its pid runs but it does not answer (frozen): stats gave no role. */
const frozen: Look = {process: 'running', reachable: true, role: null, state: null}

const seen = (a: Look, b: Look): [EndpointSeen, EndpointSeen] => [{name: 'a', ...a}, {name: 'b', ...b}]
const route = (endpoint: Endpoint, via: PairRoute['via'], node: string | null): PairRoute => ({name: 'a+b', endpoint, via, node})

describe('serves: a node clients get answers from', () => {
  const table: [string, Look, boolean][] = [
    ['a linked master', master, true],
    ['a master alone (its slave down)', masterAlone, true],
    ['a slave done copying', slave, true],
    ['a slave still copying', copying, false],
    ['a slave connecting to its master', connecting, false],
    ['a node with no role', unpaired, false],
    ['a stopped node', stopped, false],
    ['a node whose host cannot be asked', unknown, false],
    ['a running node that does not answer', frozen, false],
    ['a master whose host is unreachable (stale observation)', {...master, reachable: false}, false],
  ]
  for (const [what, look, want] of table) it(`${what}: ${want}`, () => assert.equal(serves({name: 'x', ...look}), want))
})

describe('routePair', () => {
  const table: [string, [Look, Look] | undefined, Endpoint | undefined, PairRoute][] = [
    ['both serve, the router uses the slave: it stays there (no restart)', [master, slave], B, route(B, 'node', 'b')],
    ['both serve, the router uses the master: it stays', [master, slave], A, route(A, 'node', 'a')],
    ['both serve, a new router: the master', [slave, master], undefined, route(B, 'node', 'b')],
    ['both serve, the router uses an address of neither node (the config moved them): the master', [slave, master], {host: '10.0.0.9', port: 11211}, route(B, 'node', 'b')],
    ['the router uses a (right host, other port): not a, so the master', [slave, master], {host: '10.0.0.1', port: 11311}, route(B, 'node', 'b')],
    ['the router\'s node died, the other is master: moved to the survivor', [stopped, masterAlone], A, route(B, 'node', 'b')],
    ['the router\'s node is still copying: it does not count, the master does', [master, copying], B, route(A, 'node', 'a')],
    ['a slave connecting does not count either', [connecting, master], A, route(B, 'node', 'b')],
    ['no master, a slave that serves (its master gone): that slave', [unknown, slave], undefined, route(B, 'node', 'b')],
    ['the router\'s node frozen, the other a master: the master', [frozen, masterAlone], A, route(B, 'node', 'b')],
    ['nothing serves: the router keeps its current node (a restart would not help)', [stopped, copying], B, route(B, 'none', 'b')],
    ['nothing serves, a new router: the first node', [stopped, stopped], undefined, route(A, 'none', 'a')],
    ['nothing serves, the router uses neither node: the first node', [unpaired, unknown], {host: '10.0.0.9', port: 1}, route(A, 'none', 'a')],
    ['nodes not observed: keep the current node', undefined, B, route(B, 'none', 'b')],
    ['nodes not observed, a new router: the first node', undefined, undefined, route(A, 'none', 'a')],
  ]
  for (const [what, looks, current, want] of table) {
    it(what, () => assert.deepEqual(routePair(PAIR, NODES, looks === undefined ? undefined : seen(...looks), current), want))
  }

  it('a pair with a VIP: VIP:port whatever its nodes look like or the router has', () => {
    const want: PairRoute = {name: 'pair2', endpoint: {host: '10.0.0.100', port: 11411}, via: 'vip', node: null}
    const looks: ([Look, Look] | undefined)[] = [[master, slave], [stopped, stopped], [unknown, unknown], undefined]
    for (const l of looks) {
      for (const current of [undefined, {host: '10.0.0.3', port: 11411}, {host: '10.0.0.100', port: 11411}]) {
        const s = l === undefined ? undefined : [{name: 'c', ...l[0]}, {name: 'd', ...l[1]}] as [EndpointSeen, EndpointSeen]
        assert.deepEqual(routePair(VIP_PAIR, VIP_NODES, s, current), want)
      }
    }
  })

  it('the route names the pair by its ring name, never by a node', () => {
    const nodes: readonly [NodeConfig, NodeConfig] = [NODES[1], NODES[0]]
    const r = routePair({...PAIR, name: 'orders'}, nodes, [{name: 'b', ...slave}, {name: 'a', ...master}], undefined)
    assert.deepEqual(r, {name: 'orders', endpoint: A, via: 'node', node: 'a'})
  })
})

describe('changedRoutes', () => {
  const have = [{name: 'p1', endpoint: {host: '10.0.0.1', port: 11211}}, {name: 'p2', endpoint: {host: '10.0.0.2', port: 11311}}]
  const table: [string, typeof have, string[]][] = [
    ['the same routes', have, []],
    ['the same routes in another order', [have[1]!, have[0]!], []],
    ['one pair on another host', [have[0]!, {name: 'p2', endpoint: {host: '10.0.0.3', port: 11311}}], ['p2']],
    ['one pair on another port of the same host', [{name: 'p1', endpoint: {host: '10.0.0.1', port: 11212}}, have[1]!], ['p1']],
    ['a pair the router lacks', [...have, {name: 'p3', endpoint: {host: '10.0.0.5', port: 11211}}], ['p3']],
    ['a pair the router has but the config dropped: not a change of route (verdict.ts reports it)', [have[0]!], []],
    ['every pair moved', have.map((h) => ({...h, endpoint: {...h.endpoint, host: '10.0.0.100'}})), ['p1', 'p2']],
  ]
  for (const [what, want, changed] of table) it(what, () => assert.deepEqual(changedRoutes(want, have), changed))

  it('a router with no routes (no config on its host): every pair counts', () => {
    assert.deepEqual(changedRoutes(have, []), ['p1', 'p2'])
  })
})

describe('routesForRepair: what a supervisor\'s restart gives a router', () => {
  const want = [{name: 'p1', endpoint: {host: '10.0.0.2', port: 11311}}, {name: 'p2', endpoint: {host: '10.0.0.3', port: 11211}}]
  it('the wanted routes, where the router had none', () => assert.deepEqual(routesForRepair(want, null), want))
  it('the router\'s pairs, each at its wanted endpoint; a pair its ring lacks is not added (only repctl start adds one)', () => {
    assert.deepEqual(routesForRepair(want, [{name: 'p1', endpoint: {host: '10.0.0.1', port: 11211}}]), [want[0]])
  })
  it('a pair the config dropped stays in the ring at its endpoint: only repctl start --yes drops it', () => {
    const old = {name: 'old', endpoint: {host: '10.0.0.9', port: 11211}}
    assert.deepEqual(routesForRepair(want, [old, {name: 'p1', endpoint: {host: '10.0.0.1', port: 11211}}, {name: 'p2', endpoint: {host: '10.0.0.3', port: 11211}}]), [old, ...want])
  })
  it('what it gives carries only name and endpoint (a PairRoute\'s via and node stay out of nutcracker\'s input)', () => {
    const routes = routesForRepair([route(B, 'node', 'b')], null)
    assert.deepEqual(routes, [{name: 'a+b', endpoint: B}])
  })
})
