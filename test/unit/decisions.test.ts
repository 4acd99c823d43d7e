import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:net'
import {after, before, describe, it} from 'node:test'
import type {LinkState, NodeObservation, Role} from '../../src/cluster/observe.js'
import {decidePromote, planPromote, type PromoteDecision} from '../../src/cluster/promote.js'
import {decideRejoin, planRejoin, type RejoinDecision} from '../../src/cluster/rejoin.js'
import {decideStart, planStart, type StartDecision} from '../../src/cluster/start.js'
import {chooseMaster, type SnapshotSeen} from '../../src/cluster/snapshots.js'
import {nodePaths} from '../../src/cluster/topology.js'
import {validateConfig, type ClusterConfig, type NodeConfig} from '../../src/config/schema.js'
import {RepctlError, type ErrorCode} from '../../src/errors.js'
import type {Host, ProcessInfo, RunResult} from '../../src/hosts/host.js'
import {HostPool} from '../../src/hosts/pool.js'
import {freePort} from '../helpers/ports.js'

type Seen = Pick<NodeObservation, 'process' | 'role' | 'state'>
type Obs = Seen & {name: string}

const R = (role: Role | null, state: LinkState | null): Seen => ({process: 'running', role, state})
const STOPPED: Seen = {process: 'stopped', role: null, state: null}
const UNSEEN: Seen = {process: 'unknown', role: null, state: null}
const MASTER = R('master', 'paired')
const SLAVE = R('slave', 'paired')
const ALONE = R('master', 'listening')
/** A slave during its copy keeps its client port closed. */
const RECEIVING = R(null, null)
const COPYING = R('master', 'copying')

const n1 = (s: Seen): Obs => ({name: 'node1', ...s})
const n2 = (s: Seen): Obs => ({name: 'node2', ...s})

/** What the nodes look like once a decision has been carried out. */
function afterStart(d: StartDecision, a: Obs, b: Obs): [Obs, Obs] {
  const role = (n: Obs): Seen => {
    if (d.action === 'start_both') return n.name === d.first ? MASTER : SLAVE
    if (d.action === 'start_slave') return n.name === d.master ? MASTER : SLAVE
    return n
  }
  return [{...a, ...role(a)}, {...b, ...role(b)}]
}

describe('decideStart(preferred, other)', () => {
  const rows: {situation: string; a: Seen; b: Seen; expect: StartDecision | {action: 'refuse'; code: ErrorCode; says: string[]}}[] = [
    {situation: 'healthy pair', a: MASTER, b: SLAVE, expect: {action: 'none', reason: 'already running (node1 is master, the pair is linked)'}},
    {situation: 'healthy pair with node2 as master (after a failover)', a: SLAVE, b: MASTER, expect: {action: 'none', reason: 'already running (node2 is master, the pair is linked)'}},
    {situation: 'copy in progress', a: COPYING, b: RECEIVING, expect: {action: 'none', reason: 'already running (a full copy to the slave is in progress)'}},
    {situation: 'both down: the first named becomes master', a: STOPPED, b: STOPPED, expect: {action: 'start_both', first: 'node1', second: 'node2'}},
    {situation: 'slave down', a: ALONE, b: STOPPED, expect: {action: 'start_slave', node: 'node2', master: 'node1'}},
    {situation: 'former master down, the survivor serves', a: STOPPED, b: ALONE, expect: {action: 'start_slave', node: 'node1', master: 'node2'}},
    {situation: 'slave just died, master has not noticed', a: MASTER, b: STOPPED, expect: {action: 'start_slave', node: 'node2', master: 'node1'}},
    {situation: 'split brain', a: ALONE, b: ALONE, expect: {action: 'refuse', code: 'SPLIT_BRAIN', says: ['both masters']}},
    {situation: 'master down, slave has not taken over yet', a: STOPPED, b: SLAVE, expect: {action: 'refuse', code: 'NOT_PAIRED', says: ['node1 is down', 'could split the pair']}},
    {situation: 'both run without a link (slave hung)', a: ALONE, b: RECEIVING, expect: {action: 'refuse', code: 'NOT_PAIRED', says: ['node2 runs but does not answer']}},
    {situation: 'host of node1 cannot be asked', a: UNSEEN, b: ALONE, expect: {action: 'refuse', code: 'HOST_ERROR', says: ['node1']}},
    {situation: 'host of node2 cannot be asked, even next to a live master', a: MASTER, b: {process: 'unknown', role: 'slave', state: 'paired'}, expect: {action: 'refuse', code: 'HOST_ERROR', says: ['node2']}},
  ]
  for (const row of rows) {
    it(`${row.situation} → ${row.expect.action}${'code' in row.expect ? ` ${row.expect.code}` : ''}`, () => {
      const d = decideStart(n1(row.a), n2(row.b))
      if ('says' in row.expect) {
        assert.equal(d.action, 'refuse')
        assert.ok(d.action === 'refuse')
        assert.equal(d.code, row.expect.code)
        for (const words of row.expect.says) assert.ok(d.reason.includes(words), `"${d.reason}" should say "${words}"`)
      } else {
        assert.deepEqual(d, row.expect)
      }
      // Re-running start after it did its work changes nothing.
      if (d.action === 'start_both' || d.action === 'start_slave') {
        const [a, b] = afterStart(d, n1(row.a), n2(row.b))
        assert.equal(decideStart(a, b).action, 'none')
      }
    })
  }

  it('starts the preferred node as master when both are down, whichever it is', () => {
    assert.deepEqual(decideStart(n2(STOPPED), n1(STOPPED)), {action: 'start_both', first: 'node2', second: 'node1'})
  })

  it('never starts a node that is running', () => {
    for (const a of [MASTER, SLAVE, ALONE, COPYING, RECEIVING, STOPPED]) {
      for (const b of [MASTER, SLAVE, ALONE, COPYING, RECEIVING, STOPPED]) {
        const d = decideStart(n1(a), n2(b))
        const started = d.action === 'start_both' ? [d.first, d.second] : d.action === 'start_slave' ? [d.node] : []
        for (const name of started) assert.equal((name === 'node1' ? a : b).process, 'stopped', JSON.stringify({a, b, d}))
      }
    }
  })
})

describe('decideRejoin(node, peer)', () => {
  type Expect = RejoinDecision | {action: 'refuse'; code: ErrorCode; says: string[]; suggests: string}
  const rows: {situation: string; node: Seen; peer: Seen; expect: Expect}[] = [
    {situation: 'already the slave of a healthy pair', node: SLAVE, peer: MASTER, expect: {action: 'none', reason: 'node1 is already the slave of node2'}},
    {situation: 'already receiving its copy (a second run must not restart it)', node: RECEIVING, peer: COPYING, expect: {action: 'none', reason: 'node1 is receiving its full copy from node2'}},
    {situation: 'down next to a live master', node: STOPPED, peer: ALONE, expect: {action: 'rejoin', restart: false}},
    {situation: 'down next to a master that has not noticed yet', node: STOPPED, peer: MASTER, expect: {action: 'rejoin', restart: false}},
    {situation: 'running with a stale link next to a listening master', node: SLAVE, peer: ALONE, expect: {action: 'rejoin', restart: true}},
    {situation: 'running but hung next to a listening master', node: RECEIVING, peer: ALONE, expect: {action: 'rejoin', restart: true}},
    {situation: 'the master of a healthy pair', node: MASTER, peer: SLAVE, expect: {action: 'refuse', code: 'NO_LIVE_MASTER', says: ['node2 is not a master (slave)'], suggests: 'repctl promote node2'}},
    {situation: 'the master while its slave is down', node: ALONE, peer: STOPPED, expect: {action: 'refuse', code: 'NO_LIVE_MASTER', says: ['node2 is not running'], suggests: 'repctl rejoin node2'}},
    {situation: 'the master while its slave copies', node: COPYING, peer: RECEIVING, expect: {action: 'refuse', code: 'NO_LIVE_MASTER', says: ['node2 is not a master (no answer)'], suggests: 'repctl promote node2'}},
    {situation: 'both down', node: STOPPED, peer: STOPPED, expect: {action: 'refuse', code: 'NO_LIVE_MASTER', says: ['node2 is not running'], suggests: 'repctl start'}},
    {situation: 'down, and the peer is a slave whose master is gone', node: STOPPED, peer: SLAVE, expect: {action: 'refuse', code: 'NO_LIVE_MASTER', says: ['node2 is not a master (slave)'], suggests: 'wait until node2 serves as master'}},
    {situation: 'a slave whose master is down', node: SLAVE, peer: STOPPED, expect: {action: 'refuse', code: 'NO_LIVE_MASTER', says: ['node2 is not running'], suggests: 'repctl rejoin node2'}},
    {situation: 'split brain', node: ALONE, peer: ALONE, expect: {action: 'refuse', code: 'SPLIT_BRAIN', says: ['both masters'], suggests: 'repctl promote node2 --yes'}},
    {situation: 'its own host cannot be asked', node: UNSEEN, peer: ALONE, expect: {action: 'refuse', code: 'HOST_ERROR', says: ['node1'], suggests: 'check the host'}},
    {situation: "the peer's host cannot be asked", node: STOPPED, peer: UNSEEN, expect: {action: 'refuse', code: 'HOST_ERROR', says: ['node2'], suggests: 'check the host'}},
  ]
  for (const row of rows) {
    it(`${row.situation} → ${row.expect.action}${'code' in row.expect ? ` ${row.expect.code}` : ''}`, () => {
      const d = decideRejoin(n1(row.node), n2(row.peer))
      if ('says' in row.expect) {
        assert.ok(d.action === 'refuse', JSON.stringify(d))
        assert.equal(d.code, row.expect.code)
        for (const words of row.expect.says) assert.ok(d.reason.includes(words), `"${d.reason}" should say "${words}"`)
        assert.ok(d.suggestion.includes(row.expect.suggests), `"${d.suggestion}" should suggest "${row.expect.suggests}"`)
      } else {
        assert.deepEqual(d, row.expect)
      }
      // Once rejoined, a second run is a no-op.
      if (d.action === 'rejoin') assert.equal(decideRejoin(n1(SLAVE), n2(MASTER)).action, 'none')
    })
  }
})

describe('decidePromote(node, peer)', () => {
  type Expect = PromoteDecision | {action: 'refuse'; code: ErrorCode; says: string[]}
  const rows: {situation: string; node: Seen; peer: Seen; expect: Expect}[] = [
    {situation: 'already the master of a healthy pair', node: MASTER, peer: SLAVE, expect: {action: 'none', reason: 'node1 is already the master'}},
    {situation: 'the slave of a healthy pair: planned switchover', node: SLAVE, peer: MASTER, expect: {action: 'switchover'}},
    {situation: 'split brain: keep this node\'s data (needs confirmation)', node: ALONE, peer: ALONE, expect: {action: 'heal_split_brain'}},
    {situation: 'split brain, one master could not re-listen', node: R('master', 'disconnected'), peer: ALONE, expect: {action: 'heal_split_brain'}},
    {situation: 'the master while its slave is down', node: ALONE, peer: STOPPED, expect: {action: 'none', reason: 'node1 is already the master (node2 is down: repctl rejoin node2)'}},
    {situation: 'down', node: STOPPED, peer: ALONE, expect: {action: 'refuse', code: 'NODE_DOWN', says: ['node1 is not running']}},
    {situation: 'both down', node: STOPPED, peer: STOPPED, expect: {action: 'refuse', code: 'NODE_DOWN', says: ['node1 is not running']}},
    {situation: 'the master during a copy', node: COPYING, peer: RECEIVING, expect: {action: 'refuse', code: 'NOT_PAIRED', says: ['copy', 'wait']}},
    {situation: 'the slave during its copy', node: RECEIVING, peer: COPYING, expect: {action: 'refuse', code: 'NOT_PAIRED', says: ['copy']}},
    {situation: 'a slave whose master is down', node: SLAVE, peer: STOPPED, expect: {action: 'refuse', code: 'NOT_PAIRED', says: ['node2 is down']}},
    {situation: 'both run without a link', node: ALONE, peer: RECEIVING, expect: {action: 'refuse', code: 'NOT_PAIRED', says: ['no link']}},
    {situation: 'its own host cannot be asked', node: UNSEEN, peer: ALONE, expect: {action: 'refuse', code: 'HOST_ERROR', says: ['cannot be observed']}},
    {situation: "the peer's host cannot be asked", node: ALONE, peer: UNSEEN, expect: {action: 'refuse', code: 'HOST_ERROR', says: ['cannot be observed']}},
  ]
  for (const row of rows) {
    it(`${row.situation} → ${row.expect.action}${'code' in row.expect ? ` ${row.expect.code}` : ''}`, () => {
      const d = decidePromote(n1(row.node), n2(row.peer))
      if ('says' in row.expect) {
        assert.ok(d.action === 'refuse', JSON.stringify(d))
        assert.equal(d.code, row.expect.code)
        for (const words of row.expect.says) assert.ok(d.reason.includes(words), `"${d.reason}" should say "${words}"`)
      } else {
        assert.deepEqual(d, row.expect)
      }
      // After a switchover or a heal, node1 is master of a linked pair: promoting it again is a no-op.
      if (d.action === 'switchover' || d.action === 'heal_split_brain') assert.equal(decidePromote(n1(MASTER), n2(SLAVE)).action, 'none')
    })
  }
})

// ---------------------------------------------------------------------------
// The plans built on those decisions refuse (or ask) before any step runs.
// Each node's `stats` comes from a scripted binary-protocol responder on
// loopback; its host is a stand-in that fails on anything but looking.

type Scripted = {kind: 'stopped'} | {kind: 'unknown'} | {kind: 'running'; role: Role; state: LinkState}

/** Answers memcached binary STAT requests with repl_role / repl_state. */
class StatsResponder {
  private server: Server | undefined
  lines: Record<string, string> = {}

  async start(port: number): Promise<void> {
    const server = createServer((socket) => {
      let buf = Buffer.alloc(0)
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        while (buf.length >= 24) {
          const total = 24 + buf.readUInt32BE(8)
          if (buf.length < total) break
          const opaque = buf.readUInt32BE(12)
          buf = buf.subarray(total)
          const frames = [...Object.entries(this.lines), ['', ''] as const].map(([k, v]) => {
            const key = Buffer.from(k)
            const value = Buffer.from(v)
            const header = Buffer.alloc(24)
            header[0] = 0x81
            header[1] = 0x10
            header.writeUInt16BE(key.length, 2)
            header.writeUInt32BE(key.length + value.length, 8)
            header.writeUInt32BE(opaque, 12)
            return Buffer.concat([header, key, value])
          })
          socket.write(Buffer.concat(frames))
        }
      })
      socket.on('error', () => {})
    })
    this.server = server
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  }

  stop(): Promise<void> {
    return new Promise((resolve) => { if (this.server === undefined) resolve(); else this.server.close(() => resolve()) })
  }
}

const PIDS: Record<string, number> = {node1: 4001, node2: 4002}

/** A host where every node's pid file and process are as scripted, and nothing can be changed. */
class LookOnlyHost implements Host {
  readonly label = '127.0.0.1 (scripted)'
  readonly transport = 'local' as const
  readonly nodePath = process.execPath
  readonly privileged = false
  readonly escalation = 'none' as const
  readonly changes: string[] = []

  constructor(private readonly nodes: () => Map<string, {node: NodeConfig; script: Scripted}>) {}

  private byPidFile(path: string): {node: NodeConfig; script: Scripted} | undefined {
    return [...this.nodes().values()].find((e) => nodePaths(e.node).pidFile === path)
  }

  async readFile(path: string): Promise<string | undefined> {
    const entry = this.byPidFile(path)
    if (entry === undefined || entry.script.kind === 'stopped') return undefined
    if (entry.script.kind === 'unknown') throw new Error('ssh: connect to host timed out')
    return `${PIDS[entry.node.name]}\n`
  }

  async processInfo(pid: number): Promise<ProcessInfo> {
    const entry = [...this.nodes().values()].find((e) => PIDS[e.node.name] === pid)
    return entry === undefined ? {alive: false} : {alive: true, commandLine: `node ${nodePaths(entry.node).bundle} -d`}
  }

  private refuse(what: string): never {
    this.changes.push(what)
    throw new Error(`planning must not ${what}`)
  }

  run(): Promise<RunResult> { return this.refuse('run a command') }
  runDaemon(): Promise<RunResult> { return this.refuse('start a daemon') }
  writeFile(): Promise<void> { return this.refuse('write a file') }
  makePrivateDir(): Promise<void> { return this.refuse('make a directory') }
  sha256(): Promise<string | undefined> { return this.refuse('hash a file') }
  upload(): Promise<void> { return this.refuse('upload') }
  signal(): Promise<boolean> { return this.refuse('signal a process') }
  portFree(): Promise<boolean> { return this.refuse('probe a port') }
  nodeVersion(): Promise<string | undefined> { return this.refuse('ask the runtime') }
  homeDir(): Promise<string> { return this.refuse('ask the home directory') }
  tail(): Promise<string> { return this.refuse('read a log') }
  follow(): Promise<void> { return this.refuse('follow a log') }
  async close(): Promise<void> {}
}

class ScriptedPool extends HostPool {
  constructor(private readonly host: Host) { super() }
  override for(): Host { return this.host }
}

describe('plans refuse or ask for confirmation before any step', () => {
  let config: ClusterConfig
  const responders = new Map<string, StatsResponder>()
  const scripts = new Map<string, {node: NodeConfig; script: Scripted}>()
  let host: LookOnlyHost
  let pool: ScriptedPool

  before(async () => {
    const [p1, p2] = [await freePort(), await freePort()]
    config = validateConfig({
      nodes: {node1: {host: '127.0.0.1', port: p1, replicationPort: await freePort()}, node2: {host: '127.0.0.1', port: p2, replicationPort: await freePort()}},
      defaults: {stateDir: '/nonexistent/repctl-state'},
    }, 'test config', '/')
    for (const node of config.nodes) {
      const r = new StatsResponder()
      await r.start(node.port)
      responders.set(node.name, r)
    }
    host = new LookOnlyHost(() => scripts)
    pool = new ScriptedPool(host)
  })
  after(async () => { await Promise.all([...responders.values()].map((r) => r.stop())) })

  function script(s1: Scripted, s2: Scripted): void {
    for (const [node, s] of [[config.nodes[0]!, s1], [config.nodes[1]!, s2]] as const) {
      scripts.set(node.name, {node, script: s})
      responders.get(node.name)!.lines = s.kind === 'running' ? {pid: String(PIDS[node.name]), repl_role: s.role, repl_state: s.state, repl_peer: '-'} : {}
    }
  }
  const running = (role: Role, state: LinkState): Scripted => ({kind: 'running', role, state})

  async function refusal(p: Promise<unknown>): Promise<RepctlError> {
    const e = await p.then(() => undefined, (err: unknown) => err)
    assert.ok(e instanceof RepctlError, `expected a RepctlError, got ${String(e)}`)
    return e
  }

  it('split brain: start refuses and names promote', async () => {
    script(running('master', 'listening'), running('master', 'listening'))
    const e = await refusal(planStart(config, pool, undefined))
    assert.equal(e.code, 'SPLIT_BRAIN')
    assert.match(e.message, /pair node1,node2: node1 and node2 are both masters/)
    assert.ok(e.suggestions.some((s) => s.includes('repctl promote NODE --yes')))
  })

  it('split brain: rejoin refuses and names the promote that keeps the peer', async () => {
    script(running('master', 'listening'), running('master', 'listening'))
    const e = await refusal(planRejoin(config, pool, 'node2'))
    assert.equal(e.code, 'SPLIT_BRAIN')
    assert.deepEqual(e.suggestions, ["keep one node's data: repctl promote node1 --yes (drops node2's divergent data)"])
  })

  it('split brain: promote without confirmation refuses, naming the data it would drop', async () => {
    script(running('master', 'listening'), running('master', 'listening'))
    let asked = 0
    const e = await refusal(planPromote(config, pool, 'node1', async () => { asked++; return false }))
    assert.equal(asked, 1)
    assert.equal(e.code, 'CONFIRMATION_NEEDED')
    assert.match(e.message, /restarting node2 as its slave; the data node2 holds now is dropped/)
  })

  it('split brain: promote with confirmation plans the heal, and nothing ran while planning', async () => {
    script(running('master', 'listening'), running('master', 'listening'))
    const plan = await planPromote(config, pool, 'node1', async () => true)
    assert.equal(plan.steps[0]!.title, 'Stop node2 (its divergent data is dropped)')
    assert.ok(plan.steps.some((s) => s.title === 'Start node2 as slave of node1 (full copy)'))
    assert.deepEqual(plan.result(), {node: 'node1', previousMaster: null, action: 'heal_split_brain', vip: null})
    assert.deepEqual(host.changes, [])
  })

  it('healthy pair: start, rejoin of the slave and promote of the master are no-ops (no confirmation asked)', async () => {
    script(running('master', 'paired'), running('slave', 'paired'))
    const start = await planStart(config, pool, undefined)
    assert.equal(start.steps.length, 1)
    assert.deepEqual(start.result().pairs, [{nodes: ['node1', 'node2'], master: 'node1', started: [], alreadyRunning: true, restoredFrom: null}])
    const rejoin = await planRejoin(config, pool, 'node2')
    assert.deepEqual(rejoin.result(), {node: 'node2', master: 'node1', restarted: false, changed: false})
    const promote = await planPromote(config, pool, 'node1', async () => assert.fail('no confirmation is needed'))
    assert.deepEqual(promote.result(), {node: 'node1', previousMaster: 'node1', action: 'none', vip: null})
    for (const plan of [start, rejoin, promote]) for (const step of plan.steps) await step.run()
    assert.deepEqual(host.changes, [])
  })

  it('the pair down: rejoin refuses and suggests repctl start', async () => {
    script({kind: 'stopped'}, {kind: 'stopped'})
    const e = await refusal(planRejoin(config, pool, 'node2'))
    assert.equal(e.code, 'NO_LIVE_MASTER')
    assert.match(e.message, /cannot rejoin node2: no live master to rejoin: node1 is not running/)
    assert.deepEqual(e.suggestions, ['start the pair with repctl start'])
  })

  it('the pair down: promote refuses with NODE_DOWN', async () => {
    script({kind: 'stopped'}, {kind: 'stopped'})
    const e = await refusal(planPromote(config, pool, 'node1', async () => true))
    assert.equal(e.code, 'NODE_DOWN')
  })

  it('a host that cannot be asked: every plan refuses with HOST_ERROR', async () => {
    script({kind: 'unknown'}, running('master', 'listening'))
    for (const p of [planStart(config, pool, undefined), planRejoin(config, pool, 'node1'), planPromote(config, pool, 'node2', async () => true)]) {
      assert.equal((await refusal(p)).code, 'HOST_ERROR')
    }
  })

  it('a slave that is down next to a live master: start plans that slave only', async () => {
    script(running('master', 'listening'), {kind: 'stopped'})
    const plan = await planStart(config, pool, undefined)
    assert.deepEqual(plan.result().pairs, [{nodes: ['node1', 'node2'], master: 'node1', started: ['node2'], alreadyRunning: false, restoredFrom: null}])
    assert.ok(plan.steps.some((s) => s.title === 'Start node2 as slave of node1 (full copy)'))
    assert.ok(!plan.steps.some((s) => s.title.startsWith('Start node1')))
    assert.deepEqual(host.changes, [])
  })
})

describe('chooseMaster: a pair whose nodes are both down starts from its newest snapshot', () => {
  const valid = (time: string, items = 5): SnapshotSeen => ({valid: true, snapshot: {time, items, bytes: 100}})
  const none: SnapshotSeen = {valid: false, reason: 'no such file'}
  const damaged: SnapshotSeen = {valid: false, reason: 'checksum mismatch (the file is damaged)'}
  const table: [string, SnapshotSeen, SnapshotSeen, string, string | null][] = [
    ['no snapshots: the first node, empty', none, none, 'a', null],
    ['only the second has one: the second', none, valid('2026-11-24T03:00:00.000Z'), 'b', '2026-11-24T03:00:00.000Z'],
    ['only the first has one: the first', valid('2026-11-24T03:00:00.000Z'), none, 'a', '2026-11-24T03:00:00.000Z'],
    ['the newer wins', valid('2026-11-24T03:00:00.000Z'), valid('2026-11-24T03:00:01.000Z'), 'b', '2026-11-24T03:00:01.000Z'],
    ['a tie keeps the first', valid('2026-11-24T03:00:00.000Z'), valid('2026-11-24T03:00:00.000Z'), 'a', '2026-11-24T03:00:00.000Z'],
    ['a damaged newer file does not count', valid('2026-11-24T03:00:00.000Z'), damaged, 'a', '2026-11-24T03:00:00.000Z'],
  ]
  for (const [name, sa, sb, first, from] of table) {
    it(name, () => {
      const c = chooseMaster('a', sa, 'b', sb)
      assert.deepEqual([c.first, c.second, c.from?.time ?? null], [first, first === 'a' ? 'b' : 'a', from])
      if (from === null) assert.match(c.why, /starts empty/)
    })
  }
})
