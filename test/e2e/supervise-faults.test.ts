// Fault injection under write load, with `repctl supervise` running as an
// operator runs it: real nodes started by `repctl start`, killed, frozen and
// cut off with iptables, while writers keep setting and deleting keys. Each
// scenario checks what a user sees afterwards (one master, a linked slave,
// no stale value, the acknowledged writes a kill can cost, counted) and
// prints its timings as test diagnostics — the figures of the README's
// "What happens when…" table come from here.

import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {after, describe, it, type TestContext} from 'node:test'
import type {SuperviseEvent} from '../../src/cluster/supervise/round.js'
import {checkLedger, readKeys, Writer, type Endpoint} from '../helpers/load.js'
import {eventually, stat} from '../helpers/pair.js'
import {HOST_A, HOST_B, Partition, partitionMissing} from '../helpers/partition.js'
import {freePort} from '../helpers/ports.js'
import {REPCTL_BIN, repctlIn, type RepctlRun} from '../helpers/repctl.js'
import {assertValid} from '../helpers/schemas.js'

const root = mkdtempSync(join(tmpdir(), 'repctl-faults-'))
const home = join(root, 'home')
mkdirSync(home)
const pids = new Set<number>()
let partition: Partition | undefined

after(() => {
  partition?.remove()
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  rmSync(root, {recursive: true, force: true})
})

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const ENV = {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8'}

interface NodeInfo { name: string; host: string; port: number; pidFile: string }

/** A cluster of one pair on two loopback "hosts", its supervisor, and its cleanup. */
class Cluster {
  readonly dir: string
  readonly nodes: [NodeInfo, NodeInfo]
  readonly events: SuperviseEvent[] = []
  private supervisor: ChildProcess | undefined
  private constructor(readonly name: string, dir: string, nodes: [NodeInfo, NodeInfo]) {
    this.dir = dir
    this.nodes = nodes
  }

  static async create(name: string): Promise<Cluster> {
    const dir = join(root, name)
    mkdirSync(dir)
    const [p1, r1, p2, r2] = [await freePort(HOST_A), await freePort(HOST_A), await freePort(HOST_B), await freePort(HOST_B)]
    const state = join(dir, 'state')
    writeFileSync(join(dir, 'repctl.config.yaml'), `cluster: ${name}
defaults: { stateDir: ${JSON.stringify(state)}, memory: 256, snapshotInterval: 1 }
nodes:
  node1: { host: ${HOST_A}, port: ${p1}, replicationPort: ${r1} }
  node2: { host: ${HOST_B}, port: ${p2}, replicationPort: ${r2} }
pairs: [[node1, node2]]
`)
    return new Cluster(name, dir, [
      {name: 'node1', host: HOST_A, port: p1, pidFile: join(state, 'node1', 'repcached.pid')},
      {name: 'node2', host: HOST_B, port: p2, pidFile: join(state, 'node2', 'repcached.pid')},
    ])
  }

  endpoints(): Endpoint[] { return this.nodes.map((n) => ({host: n.host, port: n.port})) }

  repctl(args: string[]): Promise<RepctlRun> {
    return repctlIn(this.dir, home).run(args)
  }

  async start(): Promise<void> {
    const r = await this.repctl(['start'])
    assert.equal(r.code, 0, `repctl start: ${r.stdout}\n${r.stderr}`)
    for (const n of this.nodes) pids.add(this.pid(n)!)
  }

  pid(n: NodeInfo): number | undefined {
    try {
      const pid = Number(readFileSync(n.pidFile, 'utf8').trim())
      return Number.isInteger(pid) && pid > 0 ? pid : undefined
    } catch { return undefined }
  }

  async role(n: NodeInfo): Promise<string> {
    try {
      return `${await stat(n.port, 'repl_role', n.host)}/${await stat(n.port, 'repl_state', n.host)}`
    } catch { return 'down' }
  }

  /** One master and one slave, linked, both answering. */
  async healthy(): Promise<boolean> {
    const roles = (await Promise.all(this.nodes.map((n) => this.role(n)))).sort()
    return roles[0] === 'master/paired' && roles[1] === 'slave/paired'
  }

  async roles(): Promise<string> {
    return (await Promise.all(this.nodes.map(async (n) => `${n.name}=${await this.role(n)}`))).join(' ')
  }

  /** Wait for the pair to be healthy; returns how long it took. */
  async waitHealthy(since: number, timeoutMs = 30_000): Promise<number> {
    const ok = await eventually(() => this.healthy(), timeoutMs, 50)
    assert.ok(ok, `the pair is healthy again within ${timeoutMs} ms: ${await this.roles()}\nevents:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}`)
    return Date.now() - since
  }

  async master(): Promise<NodeInfo> {
    for (const n of this.nodes) if ((await this.role(n)).startsWith('master')) return n
    throw new Error(`no master: ${await this.roles()}`)
  }

  startSupervisor(extra: string[] = []): void {
    const child = spawn(process.execPath, [REPCTL_BIN, 'supervise', '--json', '--interval', '1', ...extra], {cwd: this.dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe']})
    this.supervisor = child
    pids.add(child.pid!)
    createInterface({input: child.stdout!}).on('line', (line) => {
      const e = JSON.parse(line) as SuperviseEvent
      assertValid('supervise', {events: [e], unit: null})
      this.events.push(e)
    })
    let err = ''
    child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
    child.once('exit', (code, signal) => { if (code !== 0 && signal === null) this.events.push({time: new Date().toISOString(), pair: 'supervisor,exit', router: null, node: null, event: 'report', reason: `supervisor exited ${code}: ${err}`, action: null, daemon: null, outcome: null, durationMs: null, code: null, verdict: null, vipVerdict: null}) })
  }

  get supervisorPid(): number | undefined { return this.supervisor?.pid }

  async stopSupervisor(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.supervisor
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill(signal)
    await exited
  }

  /** Resolves with the first event (from now on) that matches. */
  async waitEvent(match: (e: SuperviseEvent) => boolean, timeoutMs = 30_000): Promise<SuperviseEvent> {
    const from = this.events.length
    const end = Date.now() + timeoutMs
    while (Date.now() < end) {
      const e = this.events.slice(from).find(match)
      if (e !== undefined) return e
      await sleep(20)
    }
    throw new Error(`no matching supervisor event within ${timeoutMs} ms; events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}`)
  }

  async cleanup(): Promise<void> {
    await this.stopSupervisor()
    await this.repctl(['stop'])
  }
}

/** Every live process running this node's server bundle (read from /proc). */
function serverPids(c: Cluster, n: NodeInfo): number[] {
  const bundle = join(c.dir, 'state', n.name, 'repcached.mjs')
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (argv.includes(bundle)) out.push(Number(entry))
    } catch { /* gone */ }
  }
  return out.sort((a, b) => a - b)
}

/** Both nodes hold the same state for every key the writers touched. */
async function assertConverged(c: Cluster, writers: Writer[]): Promise<void> {
  const keys = writers.flatMap((w) => [...new Set([...w.acked.keys(), ...w.uncertain.keys()])])
  const converged = await eventually(async () => {
    const [a, b] = await Promise.all(c.endpoints().map((ep) => readKeys(ep, keys)))
    return keys.every((k) => a!.get(k) === b!.get(k))
  }, 10_000, 200)
  if (!converged) {
    const [a, b] = await Promise.all(c.endpoints().map((ep) => readKeys(ep, keys)))
    const diff = keys.filter((k) => a!.get(k) !== b!.get(k)).slice(0, 10).map((k) => `${k}: ${a!.get(k)} / ${b!.get(k)}`)
    assert.fail(`the nodes differ on ${keys.filter((k) => a!.get(k) !== b!.get(k)).length} keys, e.g.\n${diff.join('\n')}`)
  }
}

function writers(c: Cluster, count: number, opts: {deleteEvery?: number; targets?: Endpoint[]} = {}): Writer[] {
  return Array.from({length: count}, (_, i) => new Writer({targets: opts.targets ?? c.endpoints(), prefix: `${c.name}-w${i}-`, keys: 3000, deleteEvery: opts.deleteEvery, requestTimeoutMs: 1000}).start())
}

const acks = (ws: Writer[]): number => ws.reduce((s, w) => s + w.ackCount, 0)

/** Wait until the writers have had `n` more writes acknowledged. */
async function writeSome(ws: Writer[], n: number): Promise<void> {
  const target = acks(ws) + n
  assert.ok(await eventually(async () => acks(ws) >= target, 20_000, 10), `writers got ${target - acks(ws)} acknowledgements short`)
}

describe('repctl supervise under faults, with writes running throughout', {timeout: 600_000}, () => {
  it('kill -9 of the master: the survivor serves, the dead node comes back as its slave', {timeout: 120_000}, async (t: TestContext) => {
    const c = await Cluster.create('kill-master')
    try {
      await c.start()
      c.startSupervisor()
      const ws = writers(c, 2, {deleteEvery: 7})
      await writeSome(ws, 3000)
      const master = await c.master()
      const killedAt = Date.now()
      process.kill(c.pid(master)!, 'SIGKILL')
      const repair = await c.waitEvent((e) => e.event === 'repair' && e.action === 'rejoin')
      assert.deepEqual([repair.node, repair.outcome], [master.name, 'ok'], repair.reason)
      const healedMs = await c.waitHealthy(killedAt)
      assert.equal((await c.role(master)).startsWith('slave'), true, 'the dead master is back as the slave')
      await writeSome(ws, 1000)
      await Promise.all(ws.map((w) => w.stop()))
      // What the new master lost: acknowledged by the old master, never replicated.
      const now = await c.master()
      const ledger = await checkLedger(now, ws)
      await assertConverged(c, ws)
      const lostRecent = ledger.wrong.filter(([k]) => (ws.find((w) => w.acked.has(k))!.ackTimes.get(k) ?? 0) <= killedAt)
      assert.equal(ledger.wrong.length, lostRecent.length, `only writes acknowledged before the kill can be missing: ${JSON.stringify(ledger.wrong.slice(0, 5))}`)
      assert.deepEqual(ledger.wrongUncertain, [])
      t.diagnostic(`kill -9 master: healthy again after ${healedMs} ms (repair ${repair.durationMs} ms); ${ledger.wrong.length} of ${ledger.checked} acknowledged keys lost (replication is asynchronous); ${acks(ws)} writes acknowledged`)
    } finally { await c.cleanup() }
  })

  it('kill -9 of the slave: it comes back as the slave, nothing is lost', {timeout: 120_000}, async (t: TestContext) => {
    const c = await Cluster.create('kill-slave')
    try {
      await c.start()
      c.startSupervisor()
      const master = await c.master()
      const slave = c.nodes.find((n) => n !== master)!
      // Writers that only know the master: killing the slave must cost them nothing.
      const ws = writers(c, 2, {deleteEvery: 5, targets: [master]})
      await writeSome(ws, 2000)
      const killedAt = Date.now()
      process.kill(c.pid(slave)!, 'SIGKILL')
      const healedMs = await c.waitHealthy(killedAt)
      assert.equal(await c.role(slave), 'slave/paired')
      await writeSome(ws, 1000)
      await Promise.all(ws.map((w) => w.stop()))
      assert.equal(ws.reduce((s, w) => s + w.failures, 0), 0, 'no write failed')
      for (const n of c.nodes) assert.deepEqual((await checkLedger(n, ws)).wrong, [], `${n.name} holds every acknowledged write`)
      t.diagnostic(`kill -9 slave: healthy again after ${healedMs} ms; no write failed or was lost`)
    } finally { await c.cleanup() }
  })

  it('SIGSTOP of the master past the replication timeout, then SIGCONT: one master, converged, nothing stale', {timeout: 120_000}, async (t: TestContext) => {
    const c = await Cluster.create('freeze-master')
    try {
      await c.start()
      c.startSupervisor()
      const ws = writers(c, 2, {deleteEvery: 6})
      await writeSome(ws, 2000)
      const master = await c.master()
      const other = c.nodes.find((n) => n !== master)!
      const pid = c.pid(master)!
      const frozenAt = Date.now()
      process.kill(pid, 'SIGSTOP')
      try {
        // The survivor declares the silent master dead after --rep-timeout (3 s) and serves alone.
        const tookOver = await eventually(async () => (await c.role(other)).startsWith('master'), 10_000, 50)
        if (!tookOver) assert.fail(`the survivor takes over: ${await c.role(other)}`)
        const tookOverMs = Date.now() - frozenAt
        await writeSome(ws, 2000)
        process.kill(pid, 'SIGCONT')
        const contAt = Date.now()
        const healedMs = await c.waitHealthy(contAt)
        await writeSome(ws, 1000)
        await Promise.all(ws.map((w) => w.stop()))
        await assertConverged(c, ws)
        for (const n of c.nodes) {
          const ledger = await checkLedger(n, ws)
          assert.deepEqual(ledger.wrong, [], `${n.name}: every key holds its last acknowledged state`)
          assert.deepEqual(ledger.wrongUncertain, [], `${n.name}: keys with an unanswered write hold one of the two states`)
        }
        assert.equal(c.events.filter((e) => e.event === 'repair').length, 0, 'the servers settled it; the supervisor had nothing to do')
        t.diagnostic(`SIGSTOP master: survivor master after ${tookOverMs} ms; after SIGCONT, paired and converged in ${healedMs} ms; ${ws.reduce((s, w) => s + w.failures, 0)} writes timed out (unknown outcome), none stale`)
      } finally {
        try { process.kill(pid, 'SIGCONT') } catch { /* gone */ }
      }
    } finally { await c.cleanup() }
  })

  it('an iptables partition between the nodes with writes and deletes on both sides: converged after the heal, nothing stale', {timeout: 120_000, skip: partitionMissing()}, async (t: TestContext) => {
    const c = await Cluster.create('partition')
    try {
      await c.start()
      c.startSupervisor()
      const [a, b] = c.endpoints() as [Endpoint, Endpoint]
      // Each side's clients stay on their side (as clients in two data centres would).
      const wa = new Writer({targets: [a], prefix: 'pa-', keys: 3000, deleteEvery: 4, requestTimeoutMs: 2000}).start()
      const wb = new Writer({targets: [b], prefix: 'pb-', keys: 3000, deleteEvery: 4, requestTimeoutMs: 2000}).start()
      await writeSome([wa, wb], 2000)
      partition = Partition.create()
      partition.cut(HOST_A, HOST_B)
      const cutAt = Date.now()
      // Both sides end up masters and keep taking writes and deletes.
      const split = await eventually(async () => (await c.role(c.nodes[0])).startsWith('master') && (await c.role(c.nodes[1])).startsWith('master'), 10_000, 50)
      if (!split) assert.fail(`both sides become masters: ${await c.roles()}`)
      const splitMs = Date.now() - cutAt
      await writeSome([wa, wb], 3000)
      // Keys both sides write during the cut: the later write or delete wins everywhere.
      const shared = new Writer({targets: [a], prefix: 'shared-', keys: 200, requestTimeoutMs: 2000}).start()
      await writeSome([shared], 400)
      await shared.stop()
      await sleep(50)
      const sharedB = new Writer({targets: [b], prefix: 'shared-', keys: 100, deleteEvery: 3, requestTimeoutMs: 2000}).start()
      await writeSome([sharedB], 300)
      await sharedB.stop()
      partition.heal()
      const healAt = Date.now()
      const healedMs = await c.waitHealthy(healAt)
      await writeSome([wa, wb], 1000)
      await Promise.all([wa, wb].map((w) => w.stop()))
      await assertConverged(c, [wa, wb, shared, sharedB])
      for (const n of c.nodes) {
        for (const [w, label] of [[wa, 'side A'], [wb, 'side B']] as const) {
          const ledger = await checkLedger(n, [w])
          assert.deepEqual(ledger.wrong, [], `${n.name}, ${label}: every key holds its last acknowledged state`)
          assert.deepEqual(ledger.wrongUncertain, [])
        }
        // shared-0..99: B wrote (or deleted) them last; shared-100..199: only A wrote them.
        const later = await checkLedger(n, [sharedB])
        assert.deepEqual(later.wrong, [], `${n.name}: the later side's writes and deletes win`)
        const onlyA = new Map([...shared.certain()].filter(([k]) => Number(k.slice('shared-'.length)) >= 100))
        const found = await readKeys(n, [...onlyA.keys()])
        for (const [k, v] of onlyA) assert.equal(found.get(k), v, `${n.name}: ${k}`)
      }
      assert.equal(c.events.filter((e) => e.event === 'repairing').length, 0, 'the supervisor restarts nothing during a partition')
      t.diagnostic(`partition: both masters ${splitMs} ms after the cut; after the heal, paired and converged in ${healedMs} ms; ${acks([wa, wb, shared, sharedB])} writes acknowledged on the two sides, none lost or stale`)
    } finally {
      partition?.remove()
      partition = undefined
      await c.cleanup()
    }
  })

  it('both nodes killed: the supervisor starts the pair again from the newest snapshot', {timeout: 120_000}, async (t: TestContext) => {
    const c = await Cluster.create('kill-both')
    try {
      await c.start()
      c.startSupervisor()
      // One writer fills keys once and stops; another keeps overwriting and deleting its keys throughout.
      const once = new Writer({targets: c.endpoints(), prefix: 'once-', keys: 5000}).start()
      const churn = new Writer({targets: c.endpoints(), prefix: 'churn-', keys: 3000, deleteEvery: 5}).start()
      const ws = [once, churn]
      await writeSome([once], 5000)
      await once.stop()
      // Wait for a snapshot taken after these writes (every second here), with writes still running.
      const written = Date.now()
      assert.ok(await eventually(async () => Number(await stat(c.nodes[0].port, 'snapshot_last_time', c.nodes[0].host)) * 1000 > written + 1000, 10_000, 50))
      const killedAt = Date.now()
      for (const n of c.nodes) process.kill(c.pid(n)!, 'SIGKILL')
      const restart = await c.waitEvent((e) => e.event === 'repair' && e.action === 'start_pair')
      assert.equal(restart.outcome, 'ok', restart.reason)
      const m = /restored (\d+) items from (node\d)'s snapshot of (\S+)/.exec(restart.reason)
      assert.ok(m !== null, restart.reason)
      const healedMs = await c.waitHealthy(killedAt)
      for (const n of c.nodes) pids.add(c.pid(n)!)
      await Promise.all(ws.map((w) => w.stop()))
      // Every key whose last write was acknowledged well before the snapshot holds that write
      // (the margin covers what the slave had not yet received, had its snapshot been the newer one).
      const snapshotAt = Date.parse(m[3]!)
      const master = await c.master()
      let older = 0
      let lostRecent = 0
      for (const w of ws) {
        const found = await readKeys(master, [...w.acked.keys()])
        for (const [k, v] of w.acked) {
          if (w.uncertain.has(k)) continue
          const at = w.ackTimes.get(k)!
          if (at < snapshotAt - 500) {
            older++
            assert.equal(found.get(k) ?? null, v, `${k}, acknowledged ${snapshotAt - at} ms before the snapshot`)
          } else if (found.get(k) !== v) {
            lostRecent++
          }
        }
      }
      assert.ok(older > 1000, `${older} keys were checked`)
      await assertConverged(c, ws)
      t.diagnostic(`both killed: pair serving again ${healedMs} ms after the kill, ${m[1]} items restored from ${m[2]}'s snapshot taken ${killedAt - snapshotAt} ms before the kill; all ${older} keys written before it are back; ${lostRecent} keys written after it lost their last write`)
    } finally { await c.cleanup() }
  })

  it('a node that dies right after every restart: backoff, then a clear give-up, never a hot loop', {timeout: 120_000}, async (t: TestContext) => {
    const c = await Cluster.create('flapping')
    const stopKiller = new AbortController()
    try {
      await c.start()
      const victim = c.nodes[1]
      const killed: number[] = []
      // Kill every new server process of node2 shortly after it appears.
      const killer = (async () => {
        let last = c.pid(victim)
        while (!stopKiller.signal.aborted) {
          const pid = c.pid(victim)
          if (pid !== undefined && pid !== last) {
            last = pid
            pids.add(pid)
            await sleep(150)
            try { process.kill(pid, 'SIGKILL'); killed.push(Date.now()) } catch { /* gone already */ }
          }
          await sleep(20)
        }
      })()
      c.startSupervisor(['--max-repairs', '3'])
      process.kill(c.pid(victim)!, 'SIGKILL')
      const gaveUp = await c.waitEvent((e) => e.event === 'report' && /giving up|gave up/.test(e.reason), 60_000)
      assert.equal(gaveUp.node, victim.name)
      // Then nothing more is attempted on it.
      const repairsAtGiveUp = c.events.filter((e) => e.event === 'repairing').length
      await sleep(4000)
      const starts = c.events.filter((e) => e.event === 'repairing')
      assert.equal(starts.length, repairsAtGiveUp, 'no repair after giving up')
      assert.equal(starts.length, 3, 'exactly --max-repairs attempts')
      const times = starts.map((e) => Date.parse(e.time))
      const gaps = times.slice(1).map((x, i) => x - times[i]!)
      assert.ok(gaps[1]! > gaps[0]! && gaps[0]! >= 1500, `the gaps between attempts grow: ${gaps.join(', ')} ms`)
      assert.ok((await c.role(c.nodes[0])).startsWith('master'), 'the survivor kept serving')
      t.diagnostic(`flapping node: ${starts.length} attempts ${gaps.join(' ms, ')} ms apart, then: ${gaveUp.reason}`)
    } finally {
      stopKiller.abort()
      await c.cleanup()
    }
  })

  it('the supervisor killed mid-repair and started again finishes the repair', {timeout: 120_000}, async (t: TestContext) => {
    const c = await Cluster.create('sup-killed')
    try {
      await c.start()
      const master = await c.master()
      const slave = c.nodes.find((n) => n !== master)!
      // Enough data that the slave's full copy takes a while.
      const ws = Array.from({length: 4}, (_, i) => new Writer({targets: [master], prefix: `big${i}-`, keys: 20_000}).start())
      await writeSome(ws, 40_000)
      await Promise.all(ws.map((w) => w.stop()))
      c.startSupervisor()
      await c.waitEvent((e) => e.event === 'observed')
      const killedAt = Date.now()
      process.kill(c.pid(slave)!, 'SIGKILL')
      const dead = c.pid(slave)
      const began = await c.waitEvent((e) => e.event === 'repairing' && e.node === slave.name)
      // Kill it once the new server process exists, while that process is still receiving its copy.
      const spawned = await eventually(async () => c.pid(slave) !== dead, 10_000, 2)
      await c.stopSupervisor('SIGKILL')
      if (spawned) pids.add(c.pid(slave)!)
      const midway = await c.roles()
      c.startSupervisor()
      const healedMs = await c.waitHealthy(killedAt)
      for (const n of c.nodes) {
        const ledger = await checkLedger(n, ws)
        assert.deepEqual(ledger.wrong.length, 0, `${n.name} holds every write`)
      }
      assert.equal(Number(await stat(slave.port, 'curr_items', slave.host)), Number(await stat(master.port, 'curr_items', master.host)))
      // No second server of the node was started behind the first one's back.
      for (const n of c.nodes) assert.deepEqual(serverPids(c, n), [c.pid(n)], `one server process for ${n.name}`)
      t.diagnostic(`supervisor killed at "${began.reason}" (nodes then: ${midway}); its successor finished: healthy ${healedMs} ms after the slave died`)
    } finally { await c.cleanup() }
  })
})
