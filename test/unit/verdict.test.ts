import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type {LinkState, NodeObservation, ProcessState, Role} from '../../src/cluster/observe.js'
import {clusterHealth, HEALTH_EXIT, pairVerdict, vipVerdict, type Health, type Verdict, type VipVerdict} from '../../src/cluster/verdict.js'
import type {VrrpState} from '../../src/cluster/vip/observe.js'

type Seen = Pick<NodeObservation, 'process' | 'role' | 'state'>
type Obs = Seen & {name: string}

/** Running and answering `stats` with this role and link state. */
const R = (role: Role | null, state: LinkState | null): Seen => ({process: 'running', role, state})
/** Its host could not be asked (pid file unreadable, SSH down), but its port answered. */
const U = (role: Role, state: LinkState): Seen => ({process: 'unknown', role, state})
/** No process: nothing answers, so nothing is known of role or link. */
const STOPPED: Seen = {process: 'stopped', role: null, state: null}
/** Neither its host nor its port answered (host unreachable). */
const UNSEEN: Seen = {process: 'unknown', role: null, state: null}

const n1 = (s: Seen): Obs => ({name: 'node1', ...s})
const n2 = (s: Seen): Obs => ({name: 'node2', ...s})

interface Row {
  situation: string
  a: Seen
  b: Seen
  verdict: Verdict
  master: string | null
  health: Health
  /** Words the reason must contain for the operator to see what is wrong. */
  says?: string[]
}

// node1 is a, node2 is b.
const ROWS: Row[] = [
  // A healthy pair, in either order.
  {situation: 'linked pair, node1 master', a: R('master', 'paired'), b: R('slave', 'paired'), verdict: 'ok', master: 'node1', health: 'healthy', says: ['node1 is master']},
  {situation: 'linked pair after a failover, node2 master', a: R('slave', 'paired'), b: R('master', 'paired'), verdict: 'ok', master: 'node2', health: 'healthy'},

  // The full copy: a slave keeps its client port closed until marugoto_end.
  {situation: 'slave receiving its copy (port closed)', a: R('master', 'copying'), b: R(null, null), verdict: 'copying', master: 'node1', health: 'degraded'},
  {situation: 'slave receiving its copy, seen the other way round', a: R(null, null), b: R('master', 'copying'), verdict: 'copying', master: 'node2', health: 'degraded'},
  {situation: 'copy sent, slave not yet answering', a: R('master', 'paired'), b: R(null, null), verdict: 'copying', master: 'node1', health: 'degraded', says: ['does not answer yet']},
  {situation: 'master still copying, slave already answers', a: R('master', 'copying'), b: R('slave', 'paired'), verdict: 'copying', master: 'node1', health: 'degraded'},
  {situation: 'slave reports copying', a: R('master', 'paired'), b: R('slave', 'copying'), verdict: 'copying', master: 'node1', health: 'degraded'},

  // One node down.
  {situation: 'slave stopped, master listening', a: R('master', 'listening'), b: STOPPED, verdict: 'slave_down', master: 'node1', health: 'degraded', says: ['node2 is down', 'node1 serves alone']},
  {situation: 'slave just died, master has not noticed', a: R('master', 'paired'), b: STOPPED, verdict: 'slave_down', master: 'node1', health: 'degraded', says: ['still reports a link to node2']},
  {situation: 'master stopped, former slave took over', a: STOPPED, b: R('master', 'listening'), verdict: 'slave_down', master: 'node2', health: 'degraded', says: ['node1 is down']},
  {situation: 'master re-listen failed after link loss', a: R('master', 'disconnected'), b: STOPPED, verdict: 'slave_down', master: 'node1', health: 'degraded'},
  {situation: 'master stopped, slave still thinks it is paired', a: STOPPED, b: R('slave', 'paired'), verdict: 'master_down', master: null, health: 'degraded', says: ['node1 is down', 'not (yet) a master', 'still reports a link to node1']},
  {situation: 'master stopped, slave does not answer', a: STOPPED, b: R(null, null), verdict: 'master_down', master: null, health: 'degraded', says: ['does not answer']},
  {situation: 'master stopped, other runs without replication', a: STOPPED, b: R('none', 'disconnected'), verdict: 'master_down', master: null, health: 'degraded'},
  {situation: 'both stopped', a: STOPPED, b: STOPPED, verdict: 'down', master: null, health: 'critical', says: ['no node of the pair is running']},

  // Split brain: two masters are never linked to each other.
  {situation: 'both masters listening (partition healed too late)', a: R('master', 'listening'), b: R('master', 'listening'), verdict: 'split_brain', master: null, health: 'critical', says: ['both masters']},
  {situation: 'both masters, one could not re-listen', a: R('master', 'listening'), b: R('master', 'disconnected'), verdict: 'split_brain', master: null, health: 'critical'},
  {situation: 'both masters, one copying to a third node', a: R('master', 'copying'), b: R('master', 'listening'), verdict: 'split_brain', master: null, health: 'critical'},
  {situation: 'both masters, one with a stale link', a: R('master', 'paired'), b: R('master', 'listening'), verdict: 'split_brain', master: null, health: 'critical'},

  // Both run but no link between them.
  {situation: 'master listening, slave hung (SIGSTOP) or still connecting', a: R('master', 'listening'), b: R(null, null), verdict: 'unpaired', master: 'node1', health: 'degraded', says: ['node2 runs but does not answer', 'no link']},
  {situation: 'master listening, slave with a stale link', a: R('master', 'listening'), b: R('slave', 'paired'), verdict: 'unpaired', master: 'node1', health: 'degraded', says: ['not linked']},
  {situation: 'master listening, other without replication', a: R('master', 'listening'), b: R('none', 'disconnected'), verdict: 'unpaired', master: 'node1', health: 'degraded'},
  {situation: 'master paired, other claims paired without being a slave', a: R('master', 'paired'), b: R('none', 'paired'), verdict: 'unpaired', master: 'node1', health: 'degraded'},
  {situation: 'both without replication', a: R('none', 'disconnected'), b: R('none', 'disconnected'), verdict: 'unpaired', master: null, health: 'degraded', says: ['neither is a master']},
  {situation: 'two slaves', a: R('slave', 'paired'), b: R('slave', 'paired'), verdict: 'unpaired', master: null, health: 'degraded'},
  {situation: 'both run, neither answers', a: R(null, null), b: R(null, null), verdict: 'unpaired', master: null, health: 'degraded', says: ['does not answer']},

  // A host that could not be asked: down for the verdict unless the node answered `stats`,
  // and never "healthy" (exit 3) unless the pair is critical anyway.
  {situation: "master's host unreachable, slave still paired", a: UNSEEN, b: R('slave', 'paired'), verdict: 'master_down', master: null, health: 'unknown', says: ['node1 cannot be observed', 'still reports a link to node1']},
  {situation: "slave's host unreachable, master listening", a: R('master', 'listening'), b: UNSEEN, verdict: 'slave_down', master: 'node1', health: 'unknown', says: ['node2 cannot be observed']},
  {situation: "slave's host unreachable, master still paired", a: R('master', 'paired'), b: UNSEEN, verdict: 'slave_down', master: 'node1', health: 'unknown', says: ['node2 cannot be observed', 'still reports a link to node2']},
  {situation: "slave's host unreachable during its copy", a: R('master', 'copying'), b: UNSEEN, verdict: 'slave_down', master: 'node1', health: 'unknown'},
  {situation: 'both hosts unreachable', a: UNSEEN, b: UNSEEN, verdict: 'down', master: null, health: 'critical', says: ['node1 cannot be observed', 'node2 cannot be observed']},
  {situation: 'one stopped, the other unreachable', a: STOPPED, b: UNSEEN, verdict: 'down', master: null, health: 'critical', says: ['node1 is down', 'node2 cannot be observed']},
  {situation: 'pid file unreadable, node answers as master of a linked pair', a: U('master', 'paired'), b: R('slave', 'paired'), verdict: 'ok', master: 'node1', health: 'unknown'},
  {situation: 'both pid files unreadable, linked pair', a: U('slave', 'paired'), b: U('master', 'paired'), verdict: 'ok', master: 'node2', health: 'unknown'},
  {situation: 'both pid files unreadable, both masters', a: U('master', 'listening'), b: U('master', 'listening'), verdict: 'split_brain', master: null, health: 'critical'},
  {situation: 'pid file unreadable, answering master, other stopped', a: U('master', 'listening'), b: STOPPED, verdict: 'slave_down', master: 'node1', health: 'unknown'},
  {situation: 'pid file unreadable, answering slave, other stopped', a: U('slave', 'paired'), b: STOPPED, verdict: 'master_down', master: null, health: 'unknown'},
]

describe('pairVerdict: what the operator sees for each situation', () => {
  for (const row of ROWS) {
    it(`${row.situation} → ${row.verdict} (${row.health}, exit ${HEALTH_EXIT[row.health]})`, () => {
      const a = n1(row.a)
      const b = n2(row.b)
      const v = pairVerdict(a, b)
      assert.equal(v.verdict, row.verdict, v.reason)
      assert.equal(v.master, row.master)
      assert.notEqual(v.reason, '')
      for (const words of row.says ?? []) assert.ok(v.reason.includes(words), `reason "${v.reason}" should say "${words}"`)
      const health = clusterHealth([v.verdict], [a, b])
      assert.equal(health, row.health)
      assert.equal(HEALTH_EXIT[health], {healthy: 0, degraded: 1, critical: 2, unknown: 3}[row.health])
    })
  }

  it('the table names every verdict and every health', () => {
    const verdicts: Verdict[] = ['ok', 'copying', 'slave_down', 'master_down', 'split_brain', 'unpaired', 'down']
    assert.deepEqual(new Set(ROWS.map((r) => r.verdict)), new Set(verdicts))
    assert.deepEqual(new Set(ROWS.map((r) => r.health)), new Set(Object.keys(HEALTH_EXIT)))
  })
})

describe('pairVerdict over every combination of observations', () => {
  const roles: (Role | null)[] = ['master', 'slave', 'none', null]
  const states: (LinkState | null)[] = ['paired', 'listening', 'connecting', 'copying', 'disconnected', null]
  const processes: ProcessState[] = ['running', 'stopped', 'unknown']
  // A stopped node is not asked for stats: it has no role and no state.
  const all: Seen[] = processes.flatMap((process) => process === 'stopped' ? [STOPPED] : roles.flatMap((role) => states.map((state) => ({process, role, state}))))
  const serving = (s: Seen): boolean => s.process === 'running' || (s.process === 'unknown' && s.role !== null)
  const pairs = all.flatMap((a) => all.map((b) => [n1(a), n2(b)] as const))

  it(`is the same whichever node is named first (${pairs.length} pairs)`, () => {
    for (const [a, b] of pairs) {
      const ab = pairVerdict(a, b)
      const ba = pairVerdict(b, a)
      assert.deepEqual([ba.verdict, ba.master], [ab.verdict, ab.master], JSON.stringify({a, b}))
    }
  })

  it('names as master only a serving node whose role is master', () => {
    for (const [a, b] of pairs) {
      const v = pairVerdict(a, b)
      if (v.master === null) continue
      const m = v.master === 'node1' ? a : b
      assert.equal(m.role, 'master', JSON.stringify({a, b, v}))
      assert.ok(serving(m), JSON.stringify({a, b, v}))
    }
  })

  it('says ok only for one master and one slave that both report the link', () => {
    for (const [a, b] of pairs) {
      if (pairVerdict(a, b).verdict !== 'ok') continue
      assert.deepEqual([a.role, b.role].sort(), ['master', 'slave'], JSON.stringify({a, b}))
      assert.deepEqual([a.state, b.state], ['paired', 'paired'])
      assert.ok(serving(a) && serving(b))
    }
  })

  it('says down exactly when no node serves, split_brain exactly when both serve as masters', () => {
    for (const [a, b] of pairs) {
      const v = pairVerdict(a, b).verdict
      assert.equal(v === 'down', !serving(a) && !serving(b), JSON.stringify({a, b, v}))
      assert.equal(v === 'split_brain', serving(a) && serving(b) && a.role === 'master' && b.role === 'master', JSON.stringify({a, b, v}))
    }
  })

  it('says slave_down or master_down exactly when one node serves, by the live node\'s role', () => {
    for (const [a, b] of pairs) {
      const v = pairVerdict(a, b).verdict
      const one = serving(a) !== serving(b)
      assert.equal(v === 'slave_down' || v === 'master_down', one, JSON.stringify({a, b, v}))
      if (one) assert.equal(v, (serving(a) ? a : b).role === 'master' ? 'slave_down' : 'master_down')
    }
  })

  it('is never healthy while a node could not be asked, nor better than critical when the pair is down', () => {
    for (const [a, b] of pairs) {
      const v = pairVerdict(a, b).verdict
      const h = clusterHealth([v], [a, b])
      if (v === 'down' || v === 'split_brain') assert.equal(h, 'critical')
      else if (a.process === 'unknown' || b.process === 'unknown') assert.equal(h, 'unknown')
      else assert.equal(h, v === 'ok' ? 'healthy' : 'degraded')
    }
  })
})

describe('clusterHealth', () => {
  const running = {process: 'running' as const}
  const unknown = {process: 'unknown' as const}
  const cases: {name: string; verdicts: Verdict[]; nodes: Pick<NodeObservation, 'process'>[]; health: Health}[] = [
    {name: 'every pair ok', verdicts: ['ok', 'ok'], nodes: [running, running, running, running], health: 'healthy'},
    {name: 'no pairs at all', verdicts: [], nodes: [], health: 'healthy'},
    {name: 'one pair copying', verdicts: ['ok', 'copying'], nodes: [running, running, running, running], health: 'degraded'},
    {name: 'one pair with a node down', verdicts: ['slave_down', 'ok'], nodes: [running, running, running, running], health: 'degraded'},
    {name: 'master_down', verdicts: ['master_down'], nodes: [running, running], health: 'degraded'},
    {name: 'unpaired', verdicts: ['unpaired'], nodes: [running, running], health: 'degraded'},
    {name: 'a split brain beside a healthy pair', verdicts: ['ok', 'split_brain'], nodes: [running, running, running, running], health: 'critical'},
    {name: 'a pair down beside a degraded one', verdicts: ['copying', 'down'], nodes: [running, running, running, running], health: 'critical'},
    {name: 'healthy verdicts but a node could not be asked', verdicts: ['ok', 'ok'], nodes: [running, unknown, running, running], health: 'unknown'},
    {name: 'degraded and a node could not be asked', verdicts: ['slave_down'], nodes: [running, unknown], health: 'unknown'},
    {name: 'critical wins over unknown', verdicts: ['down', 'ok'], nodes: [unknown, unknown, running, running], health: 'critical'},
  ]
  for (const c of cases) {
    it(`${c.name} → ${c.health}`, () => assert.equal(clusterHealth(c.verdicts, c.nodes), c.health))
  }

  it('maps health to the monitoring-plugin exit codes', () => {
    assert.deepEqual(HEALTH_EXIT, {healthy: 0, degraded: 1, critical: 2, unknown: 3})
  })
})

describe('vipVerdict: where clients of the VIP land', () => {
  const KA = (process: ProcessState, state: VrrpState | null = null): {process: ProcessState; state: VrrpState | null; pid: number | null} => ({process, state, pid: process === 'stopped' ? null : 900})
  const UP = R('master', 'paired')
  const rows: {situation: string; holders: string[]; unobserved?: string[]; k: [ReturnType<typeof KA>, ReturnType<typeof KA>]; a?: Seen; b?: Seen; verdict: VipVerdict; holder: string | null; health: Health; says: string[]}[] = [
    {situation: 'on node1\'s host, both keepalived running', holders: ['node1'], k: [KA('running', 'MASTER'), KA('running', 'BACKUP')], verdict: 'ok', holder: 'node1', health: 'healthy', says: ['on the host of node1']},
    {situation: 'on both hosts (a cut between them)', holders: ['node1', 'node2'], k: [KA('running', 'MASTER'), KA('running', 'MASTER')], verdict: 'vip_split', holder: null, health: 'critical', says: ['node1 and node2 at once']},
    {situation: 'on no host', holders: [], k: [KA('running', 'FAULT'), KA('running', 'FAULT')], verdict: 'vip_missing', holder: null, health: 'critical', says: ['no host holds', 'node1: running, FAULT']},
    {situation: 'on no host that could be asked, node2\'s host unreachable', holders: [], unobserved: ['node2'], k: [KA('running', 'BACKUP'), KA('unknown')], verdict: 'unknown', holder: null, health: 'unknown', says: ['node2 could not be asked']},
    {situation: 'on the host of a node that is down (its keepalived killed)', holders: ['node1'], a: STOPPED, k: [KA('stopped'), KA('running', 'BACKUP')], verdict: 'vip_stranded', holder: 'node1', health: 'critical', says: ['node1, which is down']},
    {situation: 'keepalived of the serving peer is down', holders: ['node1'], k: [KA('running', 'MASTER'), KA('stopped')], verdict: 'keepalived_down', holder: 'node1', health: 'degraded', says: ['keepalived of node2 is not running', 'cannot move to']},
    {situation: 'keepalived of the holder is down (VIP still there)', holders: ['node1'], k: [KA('stopped'), KA('running', 'BACKUP')], verdict: 'keepalived_down', holder: 'node1', health: 'degraded', says: ['cannot move away from']},
    {situation: 'keepalived of a stopped node is down: nothing to say', holders: ['node1'], b: STOPPED, k: [KA('running', 'MASTER'), KA('stopped')], verdict: 'ok', holder: 'node1', health: 'healthy', says: ['node1']},
    {situation: 'whether the peer\'s keepalived runs cannot be told', holders: ['node1'], k: [KA('running', 'MASTER'), KA('unknown')], verdict: 'unknown', holder: 'node1', health: 'unknown', says: ['cannot be told']},
  ]
  for (const r of rows) {
    it(`${r.situation} → ${r.verdict}`, () => {
      const a = n1(r.a ?? UP)
      const b = n2(r.b ?? R('slave', 'paired'))
      const v = vipVerdict({address: '10.0.0.100', holders: r.holders, unobserved: r.unobserved ?? [], keepalived: [{node: 'node1', ...r.k[0]}, {node: 'node2', ...r.k[1]}]}, [a, b])
      assert.equal(v.verdict, r.verdict)
      assert.equal(v.holder, r.holder)
      for (const w of r.says) assert.ok(v.reason.includes(w), `"${v.reason}" should say "${w}"`)
      // The node verdict is healthy in these rows unless a node is down: the VIP's own severity shows.
      const nodeVerdict = pairVerdict(a, b).verdict
      const expected = nodeVerdict === 'ok' ? r.health : clusterHealth([nodeVerdict], [a, b], [r.verdict])
      assert.equal(clusterHealth([nodeVerdict], [a, b], [v.verdict]), expected)
    })
  }
})
