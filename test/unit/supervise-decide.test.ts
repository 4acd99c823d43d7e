import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {decideRepair, DEFAULT_POLICY, freshMemory, type PairMemory, type SupervisePolicy} from '../../src/cluster/supervise/decide.js'
import type {NodeObservation} from '../../src/cluster/observe.js'

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state' | 'items'>
const n = (name: string, process: Obs['process'], role: Obs['role'] = null, state: Obs['state'] = null, items: number | null = null): Obs => ({name, process, role, state, items})
const master = (name: string, state: Obs['state'] = 'paired', items = 10): Obs => n(name, 'running', 'master', state, items)
const slave = (name: string): Obs => n(name, 'running', 'slave', 'paired', 10)
const down = (name: string): Obs => n(name, 'stopped')
const lost = (name: string): Obs => n(name, 'unknown')
const T = 1_000_000

describe('decideRepair: one observation, one action', () => {
  const table: [string, Obs, Obs, string, Record<string, string>?][] = [
    ['healthy pair: nothing', master('a'), slave('b'), 'none'],
    ['copy in progress: nothing', master('a', 'copying'), n('b', 'running'), 'none'],
    ['slave dead, master alive: rejoin it', master('a', 'listening'), down('b'), 'rejoin', {node: 'b', master: 'a'}],
    ['master dead, survivor took over: rejoin the dead one', down('a'), master('b', 'listening'), 'rejoin', {node: 'a', master: 'b'}],
    ['both down: start the pair, first node as master', down('a'), down('b'), 'start_pair', {first: 'a', second: 'b'}],
    ['survivor not yet a master: wait, never act into a split', down('a'), n('b', 'running', 'slave', 'connecting', 5), 'wait'],
    ['unreachable host: report, never act', lost('a'), master('b', 'listening'), 'report'],
    ['both unreachable: report', lost('a'), lost('b'), 'report'],
    ['split brain just seen: wait for the grace period', master('a', 'listening'), master('b', 'listening'), 'wait'],
  ]
  for (const [name, a, b, action, fields] of table) {
    it(name, () => {
      const d = decideRepair(a, b, freshMemory(), T)
      assert.equal(d.act.action, action, d.act.reason)
      for (const [k, v] of Object.entries(fields ?? {})) assert.equal((d.act as unknown as Record<string, string>)[k], v, k)
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
    for (let i = 0; i < 100; i++) {
      const d = decideRepair(down('a'), down('b'), mem, T + i * 100)
      mem = d.memory
      if (d.act.action === 'start_pair') starts++
    }
    assert.ok(starts <= DEFAULT_POLICY.maxRepairs)
  })
})
