// What promote does with a pair's VIP (decideVipMove, pure): drain the old
// master's keepalived only when its host holds the VIP and the new master's
// keepalived can take it; refuse a switchover (before anything changes)
// when it cannot; go on with a heal anyway.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type {ProcessState} from '../../src/cluster/observe.js'
import type {VrrpState} from '../../src/cluster/vip/observe.js'
import {decideVipMove, type VipMoveDecision} from '../../src/cluster/vip/switchover.js'

type K = ProcessState | VrrpState
const k = (node: string, s: K) => (s === 'running' || s === 'stopped' || s === 'unknown'
  ? {node, pid: s === 'stopped' ? null : 100, process: s, state: null}
  : {node, pid: 100, process: 'running' as const, state: s})
const seen = (holders: string[], old: K, fresh: K, unobserved: string[] = []) =>
  ({address: '10.0.0.100', holders, unobserved, keepalived: [k('old', old), k('new', fresh)]})

describe('decideVipMove(seen, to, from, heal)', () => {
  const table: [string, ReturnType<typeof seen>, boolean, VipMoveDecision['action'], RegExp?, string?][] = [
    ['the VIP on the old master\'s host, the new one BACKUP: drain', seen(['old'], 'MASTER', 'BACKUP'), false, 'drain'],
    ['on both hosts (the new master holds it too): drain the old one so only the new one holds it', seen(['old', 'new'], 'MASTER', 'MASTER'), false, 'drain'],
    ['already on the new master\'s host: nothing', seen(['new'], 'BACKUP', 'MASTER'), false, 'none', /on new's host already/],
    ['on no host: nothing (promote does not fix that)', seen([], 'FAULT', 'FAULT'), false, 'none', /on no host; not moved/],
    ['the new master\'s keepalived is not running: refuse before anything changes', seen(['old'], 'MASTER', 'stopped'), false, 'refuse', /cannot move to new's: keepalived of new is stopped/, 'VIP_NOT_MOVED'],
    ['the new master\'s keepalived is in FAULT (check failing, or drained): refuse', seen(['old'], 'MASTER', 'FAULT'), false, 'refuse', /keepalived of new is FAULT/, 'VIP_NOT_MOVED'],
    ['a host that cannot be asked: refuse', seen(['old'], 'MASTER', 'BACKUP', ['new']), false, 'refuse', /cannot be asked/, 'HOST_ERROR'],
    ['healing a split brain, the kept node\'s keepalived cannot take it: go on without moving it', seen(['old'], 'MASTER', 'stopped'), true, 'none', /stays on old's host until its node stops/],
    ['healing a split brain with a working keepalived: drain like a switchover', seen(['old'], 'MASTER', 'BACKUP'), true, 'drain'],
  ]
  for (const [name, s, heal, action, says, code] of table) {
    it(name, () => {
      const d = decideVipMove(s, 'new', 'old', heal, 'old,new')
      assert.equal(d.action, action, JSON.stringify(d))
      const text = d.action === 'none' ? d.note : d.action === 'refuse' ? d.reason : ''
      if (says !== undefined) assert.match(text, says)
      if (code !== undefined) {
        assert.ok(d.action === 'refuse' && d.code === code)
        if (d.code === 'VIP_NOT_MOVED') assert.match(d.suggestion, /repctl start --pair old,new/)
      }
    })
  }
})
