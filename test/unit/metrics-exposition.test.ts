// The Prometheus exposition is a pure function of a status report and the
// supervisor's counters: these check what a scraper reads from it.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {parseListenAddress} from '../../src/cluster/metrics/endpoint.js'
import {countEvent, freshCounters, renderExposition} from '../../src/cluster/metrics/exposition.js'
import type {NodeObservation} from '../../src/cluster/observe.js'
import type {StatusReport} from '../../src/cluster/status.js'
import {RepctlError} from '../../src/errors.js'

const NOW = Date.parse('2026-12-06T10:00:00.000Z')
const SHA = 'ab'.repeat(32)
const master: NodeObservation = {
  name: 'node1', host: '127.0.0.1', port: 11211, replicationPort: 11212, transport: 'local', pid: 10, process: 'running', reachable: true, hostError: null,
  role: 'master', state: 'paired', peer: '127.0.0.1:4000', items: 120, bytes: 4096, queue: 2, evictions: 7, connections: 3, lagMs: 250, uptime: 60,
  version: '1.6.18', release: '0.1.0', bundleSha256: SHA, outdated: false, mode: 'native', autoReconnect: true,
  snapshot: {time: '2026-12-06T09:59:30.000Z', items: 100, bytes: 2000}, replicationSecret: true,
}
const down: NodeObservation = {
  ...master, name: 'node"2', pid: null, process: 'stopped', role: null, state: null, peer: null, items: null, bytes: null, queue: null, evictions: null,
  connections: null, lagMs: null, uptime: null, version: null, release: null, bundleSha256: null, outdated: null, snapshot: null,
}
const report: StatusReport = {
  cluster: 'prod', health: 'degraded',
  pairs: [{nodes: ['node1', 'node"2'], master: 'node1', verdict: 'slave_down', reason: 'r', replicationAuth: {authenticated: true, secret: 'generated', summary: 's'}, vip: {
    address: '10.0.0.100', interface: 'eth0', routerId: 1, holder: 'node1', holders: ['node1'], unobserved: [], verdict: 'ok', reason: 'r', keepalived: [],
  }}],
  nodes: [master, down],
  routers: [],
  supervisor: {running: false, pid: null, lastAction: null},
}

const sample = (text: string, series: string): string | undefined => text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1)

describe('renderExposition', () => {
  const text = renderExposition(report, null, NOW)

  it('has HELP and TYPE for every family, once, before its samples', () => {
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '))
    assert.equal(new Set(types).size, types.length)
    for (const t of types) {
      const name = t.split(' ')[2]!
      assert.ok(text.indexOf(`# HELP ${name} `) < text.indexOf(t), name)
      assert.ok(name.startsWith('repctl_'), name)
      if (t.endsWith(' counter')) assert.match(name, /_total$/)
    }
    assert.ok(text.endsWith('\n'))
  })

  it('one series per verdict, 1 for the current one', () => {
    assert.equal(sample(text, 'repctl_pair_verdict{cluster="prod",pair="node1,node\\"2",verdict="slave_down"}'), '1')
    assert.equal(sample(text, 'repctl_pair_verdict{cluster="prod",pair="node1,node\\"2",verdict="ok"}'), '0')
    assert.equal(text.split('\n').filter((l) => l.startsWith('repctl_pair_verdict{')).length, 7)
  })

  it('nodes in base units; what is not known is left out, not 0', () => {
    assert.equal(sample(text, 'repctl_node_replication_lag_seconds{cluster="prod",node="node1"}'), '0.25')
    assert.equal(sample(text, 'repctl_node_snapshot_age_seconds{cluster="prod",node="node1"}'), '30')
    assert.equal(sample(text, 'repctl_node_evictions_total{cluster="prod",node="node1"}'), '7')
    assert.equal(sample(text, 'repctl_node_up{cluster="prod",node="node1"}'), '1')
    assert.equal(sample(text, 'repctl_node_up{cluster="prod",node="node\\"2"}'), '0')
    assert.equal(sample(text, 'repctl_node_items{cluster="prod",node="node\\"2"}'), undefined)
    assert.equal(sample(text, `repctl_node_info{cluster="prod",node="node1",release="0.1.0",bundle_sha256="${SHA}"}`), '1')
    assert.equal(sample(text, 'repctl_node_outdated{cluster="prod",node="node1"}'), '0')
  })

  it('the VIP holder and the link authentication per pair', () => {
    assert.equal(sample(text, 'repctl_pair_vip_holder{cluster="prod",pair="node1,node\\"2",node="node1",vip="10.0.0.100"}'), '1')
    assert.equal(sample(text, 'repctl_pair_vip_holder{cluster="prod",pair="node1,node\\"2",node="node\\"2",vip="10.0.0.100"}'), '0')
    assert.equal(sample(text, 'repctl_pair_replication_authenticated{cluster="prod",pair="node1,node\\"2"}'), '1')
  })

  it('the supervisor: repairs by action and outcome from 0, rounds, the last round', () => {
    const c = freshCounters()
    countEvent(c, {event: 'repairing', action: 'rejoin', outcome: null})
    countEvent(c, {event: 'repair', action: 'rejoin', outcome: 'ok'})
    countEvent(c, {event: 'repair', action: 'rejoin', outcome: 'ok'})
    countEvent(c, {event: 'repair', action: 'start_pair', outcome: 'failed'})
    c.rounds = 3
    c.lastRoundSeconds = 0.042
    const s = renderExposition(report, c, NOW)
    assert.equal(sample(s, 'repctl_supervisor_repairs_total{cluster="prod",action="rejoin",outcome="ok"}'), '2')
    assert.equal(sample(s, 'repctl_supervisor_repairs_total{cluster="prod",action="start_pair",outcome="failed"}'), '1')
    assert.equal(sample(s, 'repctl_supervisor_repairs_total{cluster="prod",action="heal_split_brain",outcome="ok"}'), '0')
    assert.equal(sample(s, 'repctl_supervisor_rounds_total{cluster="prod"}'), '3')
    assert.equal(sample(s, 'repctl_supervisor_last_round_duration_seconds{cluster="prod"}'), '0.042')
    assert.equal(text.includes('repctl_supervisor_'), false, 'status --prometheus has no supervisor counters')
  })
})

describe('parseListenAddress', () => {
  for (const [given, want] of [['9150', {host: '127.0.0.1', port: 9150}], ['0.0.0.0:9150', {host: '0.0.0.0', port: 9150}], ['[::1]:9150', {host: '::1', port: 9150}]] as const) {
    it(`reads ${given}`, () => assert.deepEqual(parseListenAddress(given), want))
  }
  for (const bad of ['', 'abc', '70000', 'host.example:9150', '1.2.3.4:']) {
    it(`refuses ${JSON.stringify(bad)} naming the flag`, () => {
      assert.throws(() => parseListenAddress(bad), (e: unknown) => e instanceof RepctlError && e.code === 'USAGE' && e.message.includes('--metrics'))
    })
  }
})
