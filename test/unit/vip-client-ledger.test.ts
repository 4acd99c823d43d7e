// The VIP client's arithmetic (test/helpers/vip-client.ts, ClientLedger):
// the outage after a fault, failures in a window, and which acknowledged
// writes a server no longer holds — as tables, on made-up timelines.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {ClientLedger} from '../helpers/vip-client.js'

/** A ledger from a compact timeline: [kind, start, end, ok, key?, value?]. */
type Step = ['write' | 'read' | 'connect', number, number, boolean, string?, string?]
function ledgerOf(steps: Step[]): ClientLedger {
  const l = new ClientLedger()
  for (const [kind, start, end, ok, key = 'k', value = 'v'] of steps) {
    if (kind === 'write') ok ? l.writeAcked(key, value, start, end) : l.writeUnknown(key, value, start, end)
    else if (kind === 'read' && ok) l.readAnswered(key, value, start, end)
    else l.failed(kind, start, end)
  }
  return l
}

describe('ClientLedger: outage after a fault', () => {
  const cases: {name: string; steps: Step[]; fault: number; want: {ms: number; failures: number} | undefined}[] = [
    {name: 'no failure: the next request sent after the fault', steps: [['write', 0, 2, true], ['write', 10, 12, true]], fault: 5, want: {ms: 7, failures: 0}},
    {name: 'a request sent before the fault that ends after it does not count',
      steps: [['write', 0, 50, true], ['write', 60, 62, true]], fault: 10, want: {ms: 52, failures: 0}},
    {name: 'failures, refused connects, then a success',
      steps: [['write', 0, 1, true], ['write', 100, 300, false], ['connect', 300, 301, false], ['connect', 311, 312, false], ['write', 1500, 1502, true]], fault: 90, want: {ms: 1412, failures: 3}},
    {name: 'a failed read counts as a failure, an answered read as a success',
      steps: [['read', 100, 300, false], ['read', 400, 401, true]], fault: 100, want: {ms: 301, failures: 1}},
    {name: 'a request sent exactly at the fault counts', steps: [['write', 50, 51, true]], fault: 50, want: {ms: 1, failures: 0}},
    {name: 'nothing succeeded after the fault', steps: [['write', 0, 1, true], ['write', 100, 300, false]], fault: 50, want: undefined},
  ]
  for (const c of cases) it(c.name, () => assert.deepEqual(ledgerOf(c.steps).outageAfter(c.fault), c.want))

  it('measures the gap around a fault from the last success before it to the first success sent after it', () => {
    const l = ledgerOf([['write', 0, 10, true], ['read', 11, 20, true], ['write', 21, 40, false], ['connect', 45, 46, false], ['write', 50, 60, true], ['write', 61, 70, true]])
    assert.deepEqual(l.gapAround(30), {ms: 40, lastOk: 20, okAgain: 60, failures: 1}, 'the failed write was sent before the fault')
    assert.deepEqual(l.gapAround(15), {ms: 50, lastOk: 10, okAgain: 60, failures: 2}, 'a request that ends after the fault is not "before" it, nor "after" when sent before it')
    assert.equal(ledgerOf([['write', 0, 10, false], ['write', 20, 30, true]]).gapAround(5), undefined, 'no success before the fault')
    assert.equal(ledgerOf([['write', 0, 10, true], ['write', 20, 30, false]]).gapAround(15), undefined, 'no success after it')
  })

  it('finds the longest stretch without a success in a window', () => {
    const l = ledgerOf([['write', 0, 10, true], ['write', 11, 20, true], ['write', 21, 200, false], ['connect', 200, 201, false], ['write', 300, 320, true], ['read', 321, 330, true]])
    assert.equal(l.longestGap(0, 400), 300, 'from 20 to 320')
    assert.equal(l.longestGap(100, 310), 210, 'from the window start to its end: no success inside')
    assert.equal(l.longestGap(5, 25), 10, 'from 10 to 20; the window edges 5 and 25 bound the rest')
  })

  it('counts failures sent in [from, to)', () => {
    const l = ledgerOf([['write', 0, 1, false], ['connect', 10, 11, false], ['write', 20, 21, true], ['read', 30, 31, false], ['connect', 40, 41, false]])
    assert.equal(l.failuresBetween(10, 40), 2)
    assert.equal(l.failuresBetween(0, 100), 4)
    assert.equal(l.failuresBetween(41, 100), 0)
    assert.equal(l.failureCount, 4)
    assert.equal(l.ackCount, 1)
  })
})

describe('ClientLedger: acknowledged writes missing on a server', () => {
  it('the last acknowledged value of each key is expected; an older one or none is missing, with its time', () => {
    const l = ledgerOf([['write', 0, 1, true, 'a', 'a1'], ['write', 2, 3, true, 'b', 'b1'], ['write', 4, 5, true, 'a', 'a2'], ['write', 6, 7, true, 'c', 'c1']])
    assert.deepEqual(l.missingAcknowledged(new Map([['a', 'a2'], ['b', 'b1'], ['c', 'c1']])), [])
    assert.deepEqual(l.missingAcknowledged(new Map<string, string | null>([['a', 'a1'], ['b', 'b1'], ['c', null]])), [
      {key: 'a', expected: 'a2', found: 'a1', ackedAt: 5},
      {key: 'c', expected: 'c1', found: null, ackedAt: 7},
    ])
    // A key the server's answer leaves out counts as absent.
    assert.deepEqual(l.missingAcknowledged(new Map([['a', 'a2'], ['c', 'c1']])), [{key: 'b', expected: 'b1', found: null, ackedAt: 3}])
  })

  it('a key with a write of unknown outcome may hold either value, or nothing if it was never acknowledged', () => {
    const l = ledgerOf([['write', 0, 1, true, 'a', 'a1'], ['write', 2, 200, false, 'a', 'a2'], ['write', 3, 200, false, 'n', 'n1']])
    assert.equal(l.isRetired('a'), true)
    assert.deepEqual(l.keys().sort(), ['a', 'n'])
    assert.deepEqual(l.missingAcknowledged(new Map([['a', 'a1'], ['n', null]])), [])
    assert.deepEqual(l.missingAcknowledged(new Map([['a', 'a2'], ['n', 'n1']])), [])
    assert.deepEqual(l.missingAcknowledged(new Map<string, string | null>([['a', null]])), [{key: 'a', expected: 'a1', found: null, ackedAt: 1}])
  })

  it('counts reads that disagree with the ledger as stale, not reads of retired or unknown keys', () => {
    const l = ledgerOf([['write', 0, 1, true, 'a', 'a2'], ['write', 2, 3, false, 'r', 'r1']])
    l.readAnswered('a', 'a2', 4, 5)
    l.readAnswered('a', 'a1', 6, 7)
    l.readAnswered('a', null, 8, 9)
    l.readAnswered('r', null, 10, 11)
    l.readAnswered('never-written', null, 12, 13)
    assert.equal(l.staleReads, 2)
  })
})
