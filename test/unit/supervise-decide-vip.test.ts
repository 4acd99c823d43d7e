// The supervisor's rules for a pair with a VIP (decide-vip.ts), as tables:
// what it sees of both nodes, both keepalived and the VIP's holders, and
// the one action it takes.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {decideRepair, DEFAULT_POLICY, freshMemory, memoryFromEvents, type Decision, type Obs, type PairMemory} from '../../src/cluster/supervise/decide.js'
import type {VipSeen} from '../../src/cluster/supervise/decide-vip.js'
import type {ProcessState} from '../../src/cluster/observe.js'
import type {VrrpState} from '../../src/cluster/vip/observe.js'

const n = (name: string, process: Obs['process'], role: Obs['role'] = null, state: Obs['state'] = null): Obs =>
  ({name, process, role, state, items: role === null ? null : 10, mode: role === null ? null : 'native', autoReconnect: role === null ? null : true})
const master = (name: string, state: Obs['state'] = 'paired'): Obs => n(name, 'running', 'master', state)
const slave = (name: string): Obs => n(name, 'running', 'slave', 'paired')
const down = (name: string): Obs => n(name, 'stopped')
const legacyMaster = (name: string): Obs => ({...master(name, 'listening'), mode: 'legacy'})

type K = ProcessState | VrrpState
/** keepalived of a and b: a VRRP state means running in that state. */
function vip(holders: string[], ka: K, kb: K, unobserved: string[] = []): VipSeen {
  const k = (node: string, s: K) => (s === 'running' || s === 'stopped' || s === 'unknown'
    ? {node, pid: s === 'stopped' ? null : 100, process: s, state: null}
    : {node, pid: 100, process: 'running' as const, state: s})
  return {address: '10.0.0.100', holders, unobserved, keepalived: [k('a', ka), k('b', kb)]}
}
const T = 1_000_000

function decide(a: Obs, b: Obs, v: VipSeen, mem: PairMemory = freshMemory(), now = T): Decision {
  return decideRepair(a, b, mem, now, DEFAULT_POLICY, v)
}

describe('decideRepair with a VIP: one observation, one action', () => {
  const table: [string, Obs, Obs, VipSeen, string, Record<string, string>?, RegExp?][] = [
    ['healthy, VIP on the master: nothing', master('a'), slave('b'), vip(['a'], 'MASTER', 'BACKUP'), 'none'],
    ['healthy, VIP on the slave (the non-preferred host): nothing, it is not moved back', master('a'), slave('b'), vip(['b'], 'BACKUP', 'MASTER'), 'none'],
    ['keepalived dead beside the running node that does not hold the VIP: restart it', master('a'), slave('b'), vip(['a'], 'MASTER', 'stopped'), 'restart_keepalived', {node: 'b'}, /the VIP stays where it is/],
    ['keepalived dead beside the holder, the peer has not taken it (yet): restart it', master('a'), slave('b'), vip(['a'], 'stopped', 'BACKUP'), 'restart_keepalived', {node: 'a'}],
    ['keepalived killed with -9 left its VIP, the peer took it too: restart the dead one (removes the stale copy)', master('a'), slave('b'), vip(['a', 'b'], 'stopped', 'MASTER'), 'restart_keepalived', {node: 'a'}, /removes the stale copy, b keeps serving/],
    ['a network cut: both hold it, both keepalived run: report, never act', master('a'), slave('b'), vip(['a', 'b'], 'MASTER', 'MASTER'), 'report', {}, /network between the hosts is cut/],
    ['stranded: the VIP on a dead node\'s host whose keepalived is dead: restart that keepalived before the rejoin', down('a'), master('b', 'listening'), vip(['a'], 'stopped', 'BACKUP'), 'restart_keepalived', {node: 'a'}, /keeps the VIP from b; restarting keepalived of a removes it/],
    ['stranded and split (the peer took it too): restart the dead host\'s keepalived first', down('a'), master('b', 'listening'), vip(['a', 'b'], 'stopped', 'MASTER'), 'restart_keepalived', {node: 'a'}, /b holds it too/],
    ['both keepalived dead, the stale VIP on the down node\'s host goes first', down('a'), master('b', 'listening'), vip(['a'], 'stopped', 'stopped'), 'restart_keepalived', {node: 'a'}],
    ['node down and its keepalived dead, VIP elsewhere: the node repair first (its keepalived would only sit in FAULT)', down('a'), master('b', 'listening'), vip(['b'], 'stopped', 'MASTER'), 'rejoin', {node: 'a', master: 'b'}],
    ['the node on the VIP\'s host died, VIP moved: rejoin it, the VIP stays', down('a'), master('b', 'listening'), vip(['b'], 'FAULT', 'MASTER'), 'rejoin', {node: 'a'}],
    ['stranded just now, its keepalived runs: wait, it leaves by itself within a second', down('a'), master('b', 'listening'), vip(['a'], 'FAULT', 'BACKUP'), 'wait', {node: 'a'}],
    ['both nodes down, a stale VIP: start the pair (it starts keepalived, removing the stale VIP)', down('a'), down('b'), vip(['a'], 'stopped', 'stopped'), 'start_pair'],
    ['no holder just now, both keepalived run: nothing yet', master('a'), slave('b'), vip([], 'BACKUP', 'BACKUP'), 'none'],
    ['a keepalived that cannot be observed: no VIP action, the node rules still act', down('a'), master('b', 'listening'), vip(['a'], 'unknown', 'MASTER'), 'rejoin', {node: 'a'}],
    ['a host whose addresses cannot be read: no VIP action', master('a'), slave('b'), vip(['a'], 'MASTER', 'stopped', ['b']), 'none'],
  ]
  for (const [name, a, b, v, action, fields, says] of table) {
    it(name, () => {
      const d = decide(a, b, v)
      assert.equal(d.act.action, action, d.act.reason)
      for (const [k, value] of Object.entries(fields ?? {})) assert.equal((d.act as unknown as Record<string, string>)[k], value, k)
      if (says !== undefined) assert.match(d.act.reason, says)
    })
  }

  it('a lasting node split brain with a VIP on both hosts (a cut): reports the cut, never heals (the nodes cannot reach each other)', () => {
    const mem: PairMemory = {...freshMemory(), splitSince: T - 3_600_000}
    const d = decide(legacyMaster('a'), legacyMaster('b'), vip(['a', 'b'], 'MASTER', 'MASTER'), mem)
    assert.equal(d.act.action, 'report')
    assert.match(d.act.reason, /network between the hosts is cut/)
    assert.equal(decideRepair(legacyMaster('a'), legacyMaster('b'), mem, T).act.action, 'heal_split_brain', 'without the VIP the policy heals')
  })

  it('stranded longer than the grace while its keepalived runs: keepalived is stuck, restart it', () => {
    const v = vip(['a'], 'FAULT', 'BACKUP')
    const first = decide(down('a'), master('b', 'listening'), v)
    assert.equal(first.act.action, 'wait')
    const later = decide(down('a'), master('b', 'listening'), v, first.memory, T + DEFAULT_POLICY.vipGraceMs)
    assert.deepEqual([later.act.action, 'node' in later.act && later.act.node], ['restart_keepalived', 'a'])
    assert.match(later.act.reason, /has stayed 3 s on the host of a, which is down/)
  })

  it('no holder longer than the grace with both keepalived running: report (checks failing, or a drain left on), never act', () => {
    const v = vip([], 'FAULT', 'FAULT')
    const first = decide(master('a'), slave('b'), v)
    const later = decide(master('a'), slave('b'), v, first.memory, T + DEFAULT_POLICY.vipGraceMs)
    assert.equal(later.act.action, 'report')
    assert.match(later.act.reason, /no host has held the VIP 10\.0\.0\.100 for 3 s .*\(a: FAULT, b: FAULT\): their checks fail, or a drain was left on/)
    assert.equal(later.vipVerdict, 'vip_missing')
    // A node repair that is due still happens: it is what brings a check back.
    const repair = decide(down('a'), master('b', 'listening'), vip([], 'FAULT', 'FAULT'), first.memory, T + DEFAULT_POLICY.vipGraceMs)
    assert.equal(repair.act.action, 'rejoin')
  })

  it('never moves the VIP away from a healthy node: whatever the rest looks like, a serving holder with a running keepalived is never acted on', () => {
    const nodeStates: Obs[] = [master('x'), slave('x'), master('x', 'listening'), down('x'), n('x', 'running', 'slave', 'copying'), n('x', 'running')]
    const keepalivedStates: K[] = ['MASTER', 'BACKUP', 'FAULT', 'stopped', 'unknown']
    let checked = 0
    for (const other of nodeStates) for (const kOther of keepalivedStates) for (const otherHolds of [false, true]) {
      for (const holderNode of [master('x'), slave('x'), master('x', 'listening')]) {
        for (const [holder, peer] of [['a', 'b'], ['b', 'a']] as const) {
          const nodes = {[holder]: {...holderNode, name: holder}, [peer]: {...other, name: peer}}
          const ks = {[holder]: 'MASTER' as K, [peer]: kOther}
          const v = vip(otherHolds ? [holder, peer] : [holder], ks.a!, ks.b!)
          const d = decide(nodes.a!, nodes.b!, v, {...freshMemory(), splitSince: T - 3_600_000})
          checked++
          const target = 'node' in d.act ? d.act.node : 'drop' in d.act ? d.act.drop : undefined
          assert.ok(!(d.act.action === 'restart_keepalived' && target === holder), `${JSON.stringify({nodes, ks, otherHolds})}: ${d.act.action} ${target}: ${d.act.reason}`)
          assert.ok(!(['rejoin', 'heal_split_brain'].includes(d.act.action) && target === holder), `${JSON.stringify({nodes, ks, otherHolds})}: ${d.act.action} ${target}`)
        }
      }
    }
    assert.ok(checked > 300)
  })
})

describe('decideRepair with a VIP: the flapping guard counts keepalived apart from its node', () => {
  it('backs off between restarts of a keepalived, doubling, then gives up with a report naming it and the command to run by hand', () => {
    let mem = freshMemory()
    let t = T
    const actions: string[] = []
    let last: Decision | undefined
    for (let round = 0; round < 40; round++) {
      last = decide(master('a'), slave('b'), vip(['a'], 'MASTER', 'stopped'), mem, t)
      mem = last.memory
      actions.push(last.act.action)
      t += 1000
    }
    assert.equal(actions.filter((a) => a === 'restart_keepalived').length, DEFAULT_POLICY.maxRepairs)
    assert.ok(actions.includes('wait'), 'backs off between restarts')
    const rounds = actions.flatMap((a, i) => (a === 'restart_keepalived' ? [i] : []))
    assert.ok(rounds[2]! - rounds[1]! > rounds[1]! - rounds[0]!, `gaps grow: ${rounds.join(',')}`)
    assert.equal(last!.act.action, 'report')
    assert.ok(last!.act.action === 'report' && last!.act.node === 'b' && last!.act.daemon === 'keepalived')
    assert.match(last!.act.reason, /keepalived of b keeps failing; gave up repairing it: repair it by hand \(repctl start --pair a,b/)
    assert.ok(mem.givenUp['b/keepalived'] !== undefined)
    assert.equal(mem.givenUp.b, undefined, 'the node itself is not given up on')
    assert.deepEqual(mem.repairs.b, undefined)
  })

  it('a keepalived given up on does not hold up its node\'s repair', () => {
    const mem: PairMemory = {...freshMemory(), givenUp: {'a/keepalived': T - 1000}}
    // a is down, its keepalived dead and holding the VIP: the restart is refused by the guard; the rejoin of a goes ahead.
    const d = decide(down('a'), master('b', 'listening'), vip(['a'], 'stopped', 'BACKUP'), mem)
    assert.deepEqual([d.act.action, 'node' in d.act && d.act.node], ['rejoin', 'a'])
    // Nothing else to do: the give-up is said.
    const idle = decide(master('a'), slave('b'), vip(['b'], 'stopped', 'MASTER'), mem)
    assert.equal(idle.act.action, 'report')
  })

  it('a pair whose nodes are healthy but whose keepalived is down is not healthy: the give-up stays until the VIP is ok too', () => {
    const mem: PairMemory = {...freshMemory(), repairs: {'b/keepalived': [T - 3000, T - 2000, T - 1000]}, givenUp: {'b/keepalived': T - 500}}
    const stillDown = decide(master('a'), slave('b'), vip(['a'], 'MASTER', 'stopped'), mem, T + 1000)
    assert.equal(stillDown.act.action, 'report')
    assert.ok(stillDown.memory.givenUp['b/keepalived'] !== undefined)
    const repaired = decide(master('a'), slave('b'), vip(['a'], 'MASTER', 'BACKUP'), stillDown.memory, T + 2000)
    assert.deepEqual([repaired.memory.givenUp, repaired.memory.repairs], [{}, {}])
  })

  it('a restarted supervisor counts the keepalived restarts and give-ups of its events apart from node repairs', () => {
    const at = (ms: number): string => new Date(ms).toISOString()
    const ev = (ms: number, node: string | null, action: string | null, event: string, daemon: 'node' | 'keepalived' | null, reason = 'r') => ({time: at(ms), pair: 'a,b', node, event, action, reason, daemon})
    const mem = memoryFromEvents([
      ev(T - 5000, 'b', 'restart_keepalived', 'repairing', 'keepalived'),
      ev(T - 4000, 'b', 'rejoin', 'repairing', 'node'),
      ev(T - 3000, 'b', 'restart_keepalived', 'repairing', 'keepalived'),
      ev(T - 1000, 'a', 'report', 'report', 'keepalived'),
    ], T).get('a,b')!
    assert.deepEqual(mem.repairs, {'b/keepalived': [T - 5000, T - 3000], b: [T - 4000]})
    assert.deepEqual(Object.keys(mem.givenUp), ['a/keepalived'])
    // An old events file (no daemon): a give-up is the node's.
    assert.deepEqual(Object.keys(memoryFromEvents([{time: at(T - 1000), pair: 'a,b', node: 'b', event: 'report', action: 'report', reason: 'r'}], T).get('a,b')!.givenUp), ['b'])
  })
})
