// The rolling restart's plan is a pure function of what was observed: one node
// of a pair at a time, the slave first, a master by switchover, and nothing at
// all when a pair it would touch is not healthy.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {decideRestart, type RestartDecision} from '../../src/cluster/restart/decide.js'
import type {NodeObservation} from '../../src/cluster/observe.js'

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state'>
const master = (name: string): Obs => ({name, process: 'running', role: 'master', state: 'paired'})
const slave = (name: string): Obs => ({name, process: 'running', role: 'slave', state: 'paired'})
const down = (name: string): Obs => ({name, process: 'stopped', role: null, state: null})
const copying = (name: string, role: 'master' | 'slave'): Obs => ({name, process: 'running', role, state: 'copying'})
const unknown = (name: string): Obs => ({name, process: 'unknown', role: null, state: null})

const cases: {what: string; pairs: [Obs, Obs][]; targets: string[]; want: RestartDecision | {refuse: string}}[] = [
  {
    what: 'both nodes: slave first, then the master by switchover', pairs: [[master('a'), slave('b')]], targets: ['a', 'b'],
    want: {action: 'restart', pairs: [{nodes: ['a', 'b'], masterBefore: 'a', moves: [{kind: 'restart_slave', node: 'b', master: 'a'}, {kind: 'switchover', to: 'b', from: 'a'}], masterAfter: 'b'}]},
  },
  {
    what: 'the slave only (the second node is master)', pairs: [[slave('a'), master('b')]], targets: ['a'],
    want: {action: 'restart', pairs: [{nodes: ['a', 'b'], masterBefore: 'b', moves: [{kind: 'restart_slave', node: 'a', master: 'b'}], masterAfter: 'b'}]},
  },
  {
    what: 'the master only: a switchover restarts it as slave', pairs: [[master('a'), slave('b')]], targets: ['a'],
    want: {action: 'restart', pairs: [{nodes: ['a', 'b'], masterBefore: 'a', moves: [{kind: 'switchover', to: 'b', from: 'a'}], masterAfter: 'b'}]},
  },
  {
    what: 'an untouched unhealthy pair does not matter', pairs: [[master('a'), slave('b')], [master('c'), down('d')]], targets: ['b'],
    want: {action: 'restart', pairs: [{nodes: ['a', 'b'], masterBefore: 'a', moves: [{kind: 'restart_slave', node: 'b', master: 'a'}], masterAfter: 'a'}]},
  },
  {what: 'nothing targeted: nothing to do', pairs: [[master('a'), slave('b')]], targets: [], want: {action: 'restart', pairs: []}},
  {what: 'a slave down: refused', pairs: [[master('a'), down('b')]], targets: ['a'], want: {refuse: 'NOT_PAIRED'}},
  {what: 'a copy in progress: refused', pairs: [[copying('a', 'master'), copying('b', 'slave')]], targets: ['b'], want: {refuse: 'NOT_PAIRED'}},
  {what: 'split brain: refused', pairs: [[master('a'), {...master('b'), state: 'listening'}]], targets: ['a', 'b'], want: {refuse: 'NOT_PAIRED'}},
  {what: 'any targeted pair unhealthy refuses the whole operation', pairs: [[master('a'), slave('b')], [down('c'), master('d')]], targets: ['a', 'b', 'c', 'd'], want: {refuse: 'NOT_PAIRED'}},
  {what: 'a host that cannot be asked: refused', pairs: [[master('a'), unknown('b')]], targets: ['a'], want: {refuse: 'HOST_ERROR'}},
]

describe('decideRestart', () => {
  for (const c of cases) {
    it(c.what, () => {
      const d = decideRestart(c.pairs, new Set(c.targets))
      if ('refuse' in c.want) {
        assert.equal(d.action, 'refuse')
        assert.equal(d.action === 'refuse' && d.code, c.want.refuse)
        assert.match(d.action === 'refuse' ? d.reason : '', /not healthy|cannot tell/)
      } else {
        assert.deepEqual(d, c.want)
      }
    })
  }
})
