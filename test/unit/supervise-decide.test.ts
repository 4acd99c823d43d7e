import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {decideRepair, DEFAULT_POLICY, freshMemory, memoryFromEvents, type PairMemory, type RepairAction, type SupervisePolicy} from '../../src/cluster/supervise/decide.js'
import type {NodeObservation} from '../../src/cluster/observe.js'

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state' | 'items' | 'mode' | 'autoReconnect'>
const n = (name: string, process: Obs['process'], role: Obs['role'] = null, state: Obs['state'] = null, items: number | null = null): Obs =>
  ({name, process, role, state, items, mode: role === null ? null : 'legacy', autoReconnect: role === null ? null : true})
const master = (name: string, state: Obs['state'] = 'paired', items = 10): Obs => n(name, 'running', 'master', state, items)
const slave = (name: string): Obs => n(name, 'running', 'slave', 'paired', 10)
const down = (name: string): Obs => n(name, 'stopped')
const lost = (name: string): Obs => n(name, 'unknown')
const T = 1_000_000

describe('decideRepair: one observation, one action', () => {
  const table: [string, Obs, Obs, string, Record<string, string>][] = [
    ['healthy pair: nothing', master('a'), slave('b'), 'none', {code: 'healthy'}],
    ['copy in progress: nothing', master('a', 'copying'), n('b', 'running'), 'none', {code: 'copying'}],
    ['slave dead, master alive: rejoin it', master('a', 'listening'), down('b'), 'rejoin', {node: 'b', master: 'a', code: 'slave-down'}],
    ['master dead, survivor took over: rejoin the dead one', down('a'), master('b', 'listening'), 'rejoin', {node: 'a', master: 'b', code: 'slave-down'}],
    ['both down: start the pair, first node as master', down('a'), down('b'), 'start_pair', {first: 'a', second: 'b', code: 'pair-down'}],
    ['survivor not yet a master: wait, never act into a split', down('a'), n('b', 'running', 'slave', 'connecting', 5), 'wait', {code: 'settling'}],
    ['unreachable host: report, never act', lost('a'), master('b', 'listening'), 'report', {code: 'unreachable'}],
    ['both unreachable: report', lost('a'), lost('b'), 'report', {code: 'unreachable'}],
    ['split brain just seen: wait for the grace period', master('a', 'listening'), master('b', 'listening'), 'wait', {code: 'split-grace'}],
  ]
  for (const [name, a, b, action, fields] of table) {
    it(name, () => {
      const d = decideRepair(a, b, freshMemory(), T)
      assert.equal(d.act.action, action, d.act.reason)
      for (const [k, v] of Object.entries(fields)) assert.equal((d.act as unknown as Record<string, string>)[k], v, k)
    })
  }
})

describe('decideRepair: split brain policy', () => {
  const seen = (since: number): PairMemory => ({...freshMemory(), splitSince: since})
  it('heals after the grace period, keeping the node with more items by default', () => {
    const d = decideRepair(master('a', 'listening', 5), master('b', 'listening', 9), seen(T - DEFAULT_POLICY.splitBrainGraceMs - 1), T)
    assert.deepEqual([d.act.action, 'keep' in d.act && d.act.keep, 'drop' in d.act && d.act.drop], ['heal_split_brain', 'b', 'a'])
  })
  it('keep-first keeps the first node whatever it holds', () => {
    const p: SupervisePolicy = {...DEFAULT_POLICY, splitBrain: 'keep-first'}
    const d = decideRepair(master('a', 'listening', 1), master('b', 'listening', 9), seen(T - 60_000), T, p)
    assert.equal('keep' in d.act && d.act.keep, 'a')
  })
  it('manual only reports', () => {
    const d = decideRepair(master('a', 'listening'), master('b', 'listening'), seen(T - 60_000), T, {...DEFAULT_POLICY, splitBrain: 'manual'})
    assert.equal(d.act.action, 'report')
    assert.match(d.act.reason, /repctl promote/)
  })
  it('remembers when the split began, and forgets it once healed', () => {
    const first = decideRepair(master('a', 'listening'), master('b', 'listening'), freshMemory(), T)
    assert.equal(first.memory.splitSince, T)
    const healed = decideRepair(master('a'), slave('b'), first.memory, T + 1000)
    assert.equal(healed.memory.splitSince, undefined)
  })
})

describe('decideRepair: flapping guard', () => {
  it('watches a node again once the pair is healthy after a give-up (repaired by hand)', () => {
    const mem: PairMemory = {...freshMemory(), repairs: {b: [T - 3000, T - 2000, T - 1000]}, givenUp: {b: T - 500}}
    assert.equal(decideRepair(master('a', 'listening'), down('b'), mem, T).act.action, 'report')
    const healthy = decideRepair(master('a'), slave('b'), mem, T + 1000)
    assert.deepEqual([healthy.memory.givenUp, healthy.memory.repairs], [{}, {}])
    assert.equal(decideRepair(master('a', 'listening'), down('b'), healthy.memory, T + 2000).act.action, 'rejoin')
  })
  it('backs off between repairs of a node, doubling, then gives up and reports', () => {
    let mem = freshMemory()
    let t = T
    const actions: string[] = []
    for (let round = 0; round < 40; round++) {
      const d = decideRepair(master('a', 'listening'), down('b'), mem, t)
      mem = d.memory
      actions.push(d.act.action)
      t += 1000
    }
    assert.equal(actions.filter((a) => a === 'rejoin').length, DEFAULT_POLICY.maxRepairs, 'at most maxRepairs repairs in the window')
    assert.ok(actions.includes('wait'), 'backs off between repairs')
    assert.equal(actions.at(-1), 'report', 'then only reports')
    assert.ok(mem.givenUp.b !== undefined)
    // Gaps between repairs grow.
    const rounds = actions.flatMap((a, i) => (a === 'rejoin' ? [i] : []))
    assert.ok(rounds[2]! - rounds[1]! > rounds[1]! - rounds[0]!, `gaps grow: ${rounds.join(',')}`)
  })
  it('never loops hot on a pair whose nodes keep dying: start_pair is guarded too', () => {
    let mem = freshMemory()
    let starts = 0
    let last: RepairAction | undefined
    for (let i = 0; i < 100; i++) {
      const d = decideRepair(down('a'), down('b'), mem, T + i * 100)
      mem = d.memory
      if (d.act.action === 'start_pair') {
        assert.deepEqual([d.act.first, d.act.second, d.act.code], ['a', 'b', 'pair-down'])
        starts++
      }
      last = d.act
    }
    // 10 s of rounds: started at once, after the 2 s and the 4 s back-off, then given up on.
    assert.equal(starts, DEFAULT_POLICY.maxRepairs, 'the pair was started, maxRepairs times')
    assert.deepEqual([last?.action, last?.code], ['report', 'gave-up'])
  })
})

describe('decideRepair: native nodes that re-pair by themselves', () => {
  const nativeMaster = (name: string, items = 10): Obs => ({...master(name, 'listening', items), mode: 'native', autoReconnect: true})
  const longAgo = (): PairMemory => ({...freshMemory(), splitSince: T - 3_600_000})
  it('a lasting split between them means a cut network: report, never restart one (it would drop its writes)', () => {
    for (const splitBrain of ['keep-larger', 'keep-first'] as const) {
      const d = decideRepair(nativeMaster('a', 1), nativeMaster('b', 9), longAgo(), T, {...DEFAULT_POLICY, splitBrain})
      assert.equal(d.act.action, 'report', splitBrain)
      assert.match(d.act.reason, /network between them is cut/)
    }
  })
  it('one legacy node (a real repcached never dials back) is healed by the policy', () => {
    const d = decideRepair(nativeMaster('a', 1), {...nativeMaster('b', 9), mode: 'legacy'}, longAgo(), T)
    assert.equal(d.act.action, 'heal_split_brain')
  })
  it('a node started with --rep-no-reconnect is healed by the policy', () => {
    const d = decideRepair(nativeMaster('a', 1), {...nativeMaster('b', 9), autoReconnect: false}, longAgo(), T)
    assert.deepEqual([d.act.action, 'keep' in d.act && d.act.keep], ['heal_split_brain', 'b'])
  })
})

describe('memoryFromEvents: a restarted supervisor keeps its flapping guard', () => {
  const at = (ms: number): string => new Date(ms).toISOString()
  const ev = (ms: number, node: string | null, action: string | null, event = 'repairing', pair = 'a,b', reason = 'r') => ({time: at(ms), pair, node, event, action, reason})
  it('counts the repairs begun within the window, per node, and nothing else', () => {
    const mem = memoryFromEvents([
      ev(T - DEFAULT_POLICY.windowMs - 1, 'b', 'rejoin'), // too old
      ev(T - 5000, 'b', 'rejoin'),
      ev(T - 4000, 'b', 'rejoin', 'repair'), // the end of the same repair: not a second one
      ev(T - 3000, 'b', 'rejoin'),
      ev(T - 2000, 'a', 'start_pair'), // both nodes of the pair
      {time: 'garbage', pair: 'a,b', node: 'b', event: 'repairing', action: 'rejoin', reason: 'r'},
      ev(T - 1000, 'x', 'rejoin', 'repairing', 'x,y'),
    ], T)
    assert.deepEqual(mem.get('a,b')?.repairs, {b: [T - 5000, T - 3000, T - 2000], a: [T - 2000]})
    assert.deepEqual(mem.get('x,y')?.repairs, {x: [T - 1000]})
  })
  it('so a node repaired maxRepairs times before the restart is given up on at once', () => {
    const mem = memoryFromEvents([ev(T - 30_000, 'b', 'rejoin'), ev(T - 20_000, 'b', 'rejoin'), ev(T - 10_000, 'b', 'rejoin')], T)
    const d = decideRepair(master('a', 'listening'), down('b'), mem.get('a,b')!, T)
    assert.equal(d.act.action, 'report')
    assert.match(d.act.reason, /giving up/)
  })
  it('remembers a give-up until the pair was seen healthy (someone repaired the node by hand)', () => {
    const gaveUp = ev(T - 5000, 'b', 'report', 'report')
    assert.ok(memoryFromEvents([gaveUp], T).get('a,b')?.givenUp.b !== undefined)
    const healed = memoryFromEvents([ev(T - 9000, 'b', 'rejoin'), gaveUp, ev(T - 1000, null, null, 'observed', 'a,b', 'ok: a is master, the pair is linked')], T)
    assert.deepEqual([healed.get('a,b')?.givenUp, healed.get('a,b')?.repairs], [{}, {}])
  })
})

describe('memoryFromEvents reads the events\' fields, not their wording', () => {
  const at = (ms: number): string => new Date(ms).toISOString()
  const ev = (ms: number, fields: Record<string, unknown>) => ({time: at(ms), pair: 'a,b', node: null, action: null, reason: 'said in any words', ...fields}) as Parameters<typeof memoryFromEvents>[0][number]
  const gaveUp = ev(T - 5000, {event: 'report', node: 'b', action: 'report', daemon: 'node', code: 'gave-up', verdict: 'slave_down', vipVerdict: null})
  it('a give-up is a report whose code says so, whatever its reason', () => {
    assert.ok(memoryFromEvents([gaveUp], T).get('a,b')?.givenUp.b !== undefined)
  })
  it('a report naming a node for another reason is no give-up', () => {
    const waited = ev(T - 5000, {event: 'report', node: 'b', action: 'report', daemon: 'node', code: 'unreachable', verdict: 'master_down', vipVerdict: null})
    assert.deepEqual(memoryFromEvents([waited], T).get('a,b')?.givenUp ?? {}, {})
  })
  it('a wholly healthy pair (verdict ok, no VIP or its VIP ok) forgets the give-up, however the reason reads', () => {
    for (const vipVerdict of [null, 'ok']) {
      const healthy = ev(T - 1000, {event: 'observed', code: 'healthy', verdict: 'ok', vipVerdict, reason: 'pair fine'})
      assert.deepEqual(memoryFromEvents([gaveUp, healthy], T).get('a,b')?.givenUp, {}, String(vipVerdict))
    }
  })
  it('a pair ok whose VIP is not does not, even when its reason begins "ok:"', () => {
    const vipMissing = ev(T - 1000, {event: 'observed', code: 'vip-missing', verdict: 'ok', vipVerdict: 'vip_missing', reason: 'ok: a is master, the pair is linked'})
    assert.ok(memoryFromEvents([gaveUp, vipMissing], T).get('a,b')?.givenUp.b !== undefined)
  })
  it('so a restarted supervisor still gives up on a node it gave up on', () => {
    const d = decideRepair(master('a', 'listening'), down('b'), memoryFromEvents([gaveUp], T).get('a,b')!, T)
    assert.deepEqual([d.act.action, d.act.code], ['report', 'gave-up'])
  })
})
