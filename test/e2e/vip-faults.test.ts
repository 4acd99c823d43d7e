// A pair with a virtual IP on two hosts with their own network, managed by
// repctl over SSH exactly as it manages two machines: two network namespaces
// on a bridge (test/helpers/netns.ts), each with its own sshd; repctl, the
// supervisor and the client run in the root namespace (10.231.0.254 on the
// bridge), the nodes and keepalived inside the hosts.
//
// With a client writing and reading through the VIP throughout
// (test/helpers/vip-client.ts: persistent connection, 200 ms timeouts) and
// `repctl supervise` running, each fault is followed by what a user sees: where
// the VIP went, how long the client could not get an answer (printed as a
// test diagnostic), which acknowledged writes are missing from the final holder
// (only writes acknowledged before the fault may be, those the replication
// queue held; the count is printed), and a healthy pair before the next one.
// (Start's refusals, drainVip and what stop leaves behind are test/e2e/vip.test.ts.)
//
// The faults need repctl's keepalived lifecycle (start/stop/status/supervise/
// promote with a VIP). Until that exists, `repctl start` starts no keepalived:
// the fault tests detect that (no VIP on any host within 15 s and no
// keepalived.pid in the node dirs) and skip, saying so. Everything this file
// creates is removed in after(), also after a failure: the supervisor (by
// pid), `repctl stop`, and the network with every process inside it.

import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {createInterface} from 'node:readline'
import {after, before, describe, it, type TestContext} from 'node:test'
import type {StatusReport} from '../../src/cluster/status.js'
import type {SuperviseEvent} from '../../src/cluster/supervise/round.js'
import {eventually} from '../helpers/pair.js'
import {alive, netnsMissing, programMissing} from '../helpers/netns.js'
import {REPCTL_BIN} from '../helpers/repctl.js'
import {assertValid} from '../helpers/schemas.js'
import {clock, VipClient, type MissingWrite} from '../helpers/vip-client.js'
import {KEEPALIVED, NODES, otherOf, PORT, VIP, VIP_CIDR, VipCluster, vipOf, type NodeName} from '../helpers/vip-cluster.js'

const skipNetns = netnsMissing()
const skip = skipNetns !== false ? skipNetns : programMissing(KEEPALIVED, 'keepalived')
if (skip !== false) process.stderr.write(`\n*** vip-faults.test.ts: ${skip} ***\n\n`)

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function killPid(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch { /* gone */ }
}

describe('a pair with a VIP on two hosts with their own network, managed over SSH', {skip, timeout: 300_000}, () => {
  let vc: VipCluster
  let supervisor: ChildProcess | undefined
  const events: SuperviseEvent[] = []
  let supervisorErr = ''
  const clients: VipClient[] = []
  const frozen = new Set<number>()

  const eventLog = (): string => `supervisor events:\n${events.map((e) => JSON.stringify(e)).join('\n')}${supervisorErr}`
  const waitHealthy = (): ReturnType<VipCluster['waitHealthy']> => vc.waitHealthy(40_000, eventLog)

  function startSupervisor(): void {
    const child = spawn(process.execPath, [REPCTL_BIN, 'supervise', '--json', '--interval', '500ms'], {...vc.spawnOptions(), stdio: ['ignore', 'pipe', 'pipe']})
    supervisor = child
    createInterface({input: child.stdout!}).on('line', (line) => {
      const e = JSON.parse(line) as SuperviseEvent
      assertValid('supervise', {events: [e], unit: null})
      events.push(e)
    })
    child.stderr!.on('data', (d: Buffer) => { supervisorErr += d.toString() })
  }

  async function stopSupervisor(): Promise<void> {
    const child = supervisor
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
  }

  async function waitEvent(from: number, match: (e: SuperviseEvent) => boolean, ms: number): Promise<SuperviseEvent> {
    const ok = await eventually(async () => events.slice(from).some(match), ms, 20)
    assert.ok(ok, `no matching supervisor event within ${ms} ms; ${eventLog()}`)
    return events.slice(from).find(match)!
  }

  /** The fault tests run once repctl starts keepalived; the supervisor runs throughout them. */
  async function lifecycleMissing(): Promise<string | false> {
    const why = await vc.lifecycleMissing()
    if (why === false && supervisor === undefined) startSupervisor()
    return why
  }

  /**
   * The healthy pair a scenario starts from. When an earlier scenario failed
   * and left it broken, `repctl start` (which starts what is not running)
   * restores it, so that one failure is reported once, not by every test after it.
   */
  async function healthyStart(t: TestContext): Promise<StatusReport> {
    try {
      return await vc.waitHealthy(10_000, eventLog)
    } catch (e) {
      t.diagnostic(`not healthy at the start (after an earlier failure?); repctl start first: ${(e as Error).message.split('\n')[0]}`)
      const r = await vc.repctl.run(['start'])
      assert.equal(r.code, 0, `repctl start: ${r.stdout}\n${r.stderr}`)
      return waitHealthy()
    }
  }

  /** A client through the VIP, writing until it has some acknowledgements. */
  async function startClient(prefix: string): Promise<VipClient> {
    const c = new VipClient({endpoint: {host: VIP, port: PORT}, prefix}).start()
    clients.push(c)
    assert.ok(await c.acknowledged(300, 15_000), `the client writes through the VIP (${c.ledger.failureCount} failures)`)
    return c
  }

  /**
   * What the final holder misses of the client's acknowledged writes: only
   * writes acknowledged before the fault may be missing (what the replication
   * queue held when the node died); none acknowledged after it. Without a
   * fault time, none at all.
   */
  async function missingAfter(c: VipClient, holder: NodeName, faultAt: number | undefined): Promise<MissingWrite[]> {
    const missing = await c.missingOn({host: vc.address(holder), port: PORT})
    const late = missing.filter((m) => faultAt === undefined || m.ackedAt > faultAt)
    assert.deepEqual(late.slice(0, 5), [], `${late.length} writes acknowledged ${faultAt === undefined ? '' : 'after the fault '}are missing on ${holder}`)
    return missing
  }

  /**
   * How long after `from` both nodes held every acknowledged write of `c`
   * (the client stopped first), polling; undefined when they did not within `ms`.
   */
  async function convergedAfter(c: VipClient, from: number, ms: number): Promise<number | undefined> {
    let at: number | undefined
    const ok = await eventually(async () => {
      for (const n of NODES) if ((await c.missingOn({host: vc.address(n), port: PORT})).length > 0) return false
      at = clock()
      return true
    }, ms, 100)
    return ok ? at! - from : undefined
  }

  before(async () => {
    vc = await VipCluster.create('vipe2e')
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()))
    for (const pid of frozen) killPid(pid, 'SIGCONT')
    await stopSupervisor()
    await vc?.destroy()
  })

  it('repctl start over SSH brings the pair up inside the hosts; status is healthy; a client in the root namespace writes to one node and reads from the other', {timeout: 120_000}, async (t) => {
    const t0 = Date.now()
    const started = await vc.repctl.run(['start', '--json'])
    assert.equal(started.code, 0, `repctl start: ${started.stdout}\n${started.stderr}`)
    assertValid('start', JSON.parse(started.stdout))
    const startMs = Date.now() - t0
    const {code, report} = await vc.status()
    assert.equal(code, 0, JSON.stringify(report.pairs))
    assert.equal(report.health, 'healthy')
    assert.deepEqual(report.nodes.map((n) => [n.name, n.host, n.transport, n.role, n.state]), [
      ['node1', '10.231.0.1', 'ssh', 'master', 'paired'],
      ['node2', '10.231.0.2', 'ssh', 'slave', 'paired'],
    ])
    // Each server runs inside its own host (namespace), as started over SSH, and nowhere else.
    for (const n of NODES) {
      const pid = vc.nodePid(n)
      assert.ok(pid !== undefined && alive(pid), `${n} has a live pid`)
      assert.ok(vc.host(n).pids().includes(pid), `${n}'s server (pid ${pid}) runs in ${vc.host(n).name}`)
      assert.ok(!vc.host(otherOf(n)).pids().includes(pid))
    }
    // The root namespace (10.231.0.254) writes to node1 and reads every write back from node2.
    const c = new VipClient({endpoint: {host: vc.address('node1'), port: PORT}, prefix: 'direct-'}).start()
    clients.push(c)
    assert.ok(await c.acknowledged(300, 10_000), `writes to node1 are acknowledged (${c.ledger.failureCount} failures)`)
    await c.stop()
    assert.equal(c.ledger.failureCount, 0)
    assert.equal(c.ledger.staleReads, 0)
    let missing: MissingWrite[] = []
    assert.ok(await eventually(async () => (missing = await c.missingOn({host: vc.address('node2'), port: PORT})).length === 0, 5000, 100),
      `node2 holds every write acknowledged by node1; missing e.g. ${JSON.stringify(missing.slice(0, 3))}`)
    t.diagnostic(`repctl start over SSH into 2 namespace hosts: ${startMs} ms; ${c.ledger.ackCount} writes from the root namespace to node1 all on node2`)
  })

  it('kill -9 of the node holding the VIP: the VIP moves, the supervisor rejoins the dead node, the VIP stays where it moved', {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    const holder = vipOf(await healthyStart(t))!.holder as NodeName
    const other = otherOf(holder)
    const c = await startClient('kill-node-')
    const from = events.length
    const faultAt = clock()
    killPid(vc.nodePid(holder)!, 'SIGKILL')
    const movedMs = await vc.waitHolders([other], 10_000)
    assert.ok(await c.acknowledged(100, 10_000), 'the client writes through the VIP again')
    const rejoin = await waitEvent(from, (e) => e.event === 'repair' && e.action === 'rejoin' && e.node === holder, 30_000)
    assert.equal(rejoin.outcome, 'ok', rejoin.reason)
    const s = await waitHealthy()
    assert.equal(vipOf(s)!.holder, other, 'nopreempt: the VIP stays on the survivor when the dead node is back')
    await sleep(3000)
    assert.deepEqual(await vc.holders(), [other], 'and stays there')
    await c.stop()
    const outage = c.ledger.outageAfter(faultAt)
    assert.ok(outage !== undefined, 'the client got an answer after the kill')
    const missing = await missingAfter(c, other, faultAt)
    t.diagnostic(`kill -9 of ${holder} (VIP holder): VIP on ${other}'s host after ${movedMs.toFixed(0)} ms; client-visible outage ${outage.ms.toFixed(0)} ms (${outage.failures} failed requests); rejoined by the supervisor in ${rejoin.durationMs} ms; ${missing.length} of ${c.ledger.ackCount} acknowledged writes missing (acknowledged before the kill, in the replication queue)`)
  })

  it("kill -9 of the holder's keepalived (its VIP removed as a dead host loses it): the other host takes the VIP", {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    const holder = vipOf(await healthyStart(t))!.holder as NodeName
    const other = otherOf(holder)
    const c = await startClient('kill-keepalived-')
    const killed = vc.keepalivedPids(holder)
    assert.ok(killed.length >= 2, `${holder}'s keepalived: its main process and VRRP child are running (pids ${killed.join(', ')})`)
    const faultAt = clock()
    // Children first: keepalived's children may have a parent-death signal (SIGTERM), and a VRRP
    // child that outlived its parent by a moment would shut down cleanly and release the VIP itself.
    for (const pid of [...killed].reverse()) killPid(pid, 'SIGKILL')
    await vc.host(holder).removeAddress(VIP_CIDR)
    const movedMs = await vc.waitHolders([other], 10_000)
    assert.ok(await c.acknowledged(100, 10_000), 'the client writes through the VIP again')
    for (const pid of killed) assert.ok(!alive(pid), `keepalived pid ${pid} is gone`)
    // The supervisor starts keepalived again; with nopreempt the VIP stays where it is.
    let seen: unknown
    const restarted = await eventually(async () => {
      const k = vipOf((await vc.status()).report)?.keepalived.find((x) => x.node === holder)
      seen = k
      return k?.process === 'running' && k.pid !== null && !killed.includes(k.pid)
    }, 20_000, 300)
    assert.ok(restarted, `the supervisor starts ${holder}'s keepalived again within 20 s; status says ${JSON.stringify(seen)}; ${eventLog()}`)
    const s = await waitHealthy()
    assert.equal(vipOf(s)!.holder, other)
    await c.stop()
    const outage = c.ledger.outageAfter(faultAt)
    assert.ok(outage !== undefined)
    // Both nodes ran throughout: nothing may be missing.
    const missing = await missingAfter(c, other, undefined)
    t.diagnostic(`kill -9 of ${holder}'s keepalived + its VIP removed: VIP on ${other}'s host after ${movedMs.toFixed(0)} ms; client-visible outage ${outage.ms.toFixed(0)} ms (${outage.failures} failed requests); keepalived restarted by the supervisor; ${missing.length} of ${c.ledger.ackCount} acknowledged writes missing`)
  })

  it('SIGSTOP of the node holding the VIP: the VIP leaves it; after SIGCONT the pair is healthy', {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    const holder = vipOf(await healthyStart(t))!.holder as NodeName
    const other = otherOf(holder)
    const pid = vc.nodePid(holder)!
    const c = await startClient('freeze-')
    const faultAt = clock()
    frozen.add(pid)
    killPid(pid, 'SIGSTOP')
    let movedMs: number
    try {
      movedMs = await vc.waitHolders([other], 10_000)
      assert.ok(await c.acknowledged(100, 10_000), 'the client writes through the VIP again')
    } finally {
      killPid(pid, 'SIGCONT')
      frozen.delete(pid)
    }
    const s = await waitHealthy()
    assert.equal(vipOf(s)!.holder, other, 'the VIP does not go back to the thawed node')
    await c.stop()
    const outage = c.ledger.outageAfter(faultAt)
    assert.ok(outage !== undefined)
    const missing = await missingAfter(c, other, faultAt)
    t.diagnostic(`SIGSTOP of ${holder} (VIP holder): VIP on ${other}'s host after ${movedMs.toFixed(0)} ms; client-visible outage ${outage.ms.toFixed(0)} ms (${outage.failures} failed requests); ${missing.length} of ${c.ledger.ackCount} acknowledged writes missing (acknowledged before the freeze)`)
  })

  it('repctl promote of the node without the VIP: the VIP follows the master role; the failed requests of the switch are counted', {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    let s = await healthyStart(t)
    let holder = vipOf(s)!.holder as NodeName
    const c = await startClient('promote-')
    if (s.pairs[0]!.master !== holder) {
      // The VIP sits on the slave (a keepalived fault moved it there): promoting the holder keeps the VIP where it is.
      const p = await vc.repctl.run(['promote', holder, '--yes', '--json'])
      assert.equal(p.code, 0, `repctl promote ${holder}: ${p.stdout}\n${p.stderr}`)
      s = await waitHealthy()
      assert.deepEqual([s.pairs[0]!.master, vipOf(s)!.holder], [holder, holder], 'promoting the VIP holder leaves the VIP on it')
      holder = vipOf(s)!.holder as NodeName
    }
    const target = otherOf(holder)
    const startedAt = clock()
    const p = await vc.repctl.run(['promote', target, '--yes', '--json'])
    const doneAt = clock()
    assert.equal(p.code, 0, `repctl promote ${target}: ${p.stdout}\n${p.stderr}`)
    assertValid('promote', JSON.parse(p.stdout))
    // The VIP is on the new master when promote returns.
    assert.deepEqual(await vc.holders(), [target], 'the VIP followed the master role by the time promote returned')
    assert.ok(await c.acknowledged(100, 10_000))
    const settledAt = clock()
    s = await waitHealthy()
    assert.deepEqual([s.pairs[0]!.master, vipOf(s)!.holder], [target, target])
    await c.stop()
    const failed = c.ledger.failuresBetween(startedAt, settledAt)
    const gap = c.ledger.longestGap(startedAt, settledAt)
    // A planned switchover loses nothing.
    const missing = await missingAfter(c, target, undefined)
    t.diagnostic(`repctl promote ${target}: ${(doneAt - startedAt).toFixed(0)} ms; the VIP moved with the master role; ${failed} failed client requests during the switch, longest stretch without an answer ${gap.toFixed(0)} ms; ${missing.length} of ${c.ledger.ackCount} acknowledged writes missing`)
  })

  it('a network cut between the hosts: both may hold the VIP, status says vip_split (critical, exit 2); after the heal one holds it and the pair is healthy', {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    const before = vipOf(await healthyStart(t))!.holder as NodeName
    const c = await startClient('cut-')
    const [a, b] = [vc.host('node1'), vc.host('node2')]
    const faultAt = clock()
    a.cut(b)
    let splitMs: number
    try {
      // The backup hears no adverts and takes the VIP too: 3 adverts plus its skew.
      splitMs = await vc.waitHolders(['node1', 'node2'], 10_000)
      const {code, report} = await vc.status()
      assert.equal(vipOf(report)!.verdict, 'vip_split', vipOf(report)!.reason)
      assert.deepEqual(vipOf(report)!.holders.sort(), ['node1', 'node2'])
      assert.equal(vipOf(report)!.holder, null)
      assert.deepEqual([report.health, code], ['critical', 2])
    } finally {
      a.heal(b)
    }
    const healedAt = clock()
    await eventually(async () => (await vc.holders()).length === 1, 10_000, 20)
    const oneMs = clock() - healedAt
    const s = await waitHealthy()
    const after = vipOf(s)!.holder as NodeName
    assert.ok(await c.acknowledged(100, 10_000))
    await c.stop()
    // The cut (1-2 s) heals before either node's --rep-timeout (3 s): their link was never declared
    // dead, and what each side sent during the cut waits in its kernel's TCP retransmission backoff
    // (up to the cut's length again) while status already reads paired and healthy. It arrives with
    // the next retransmission, or when a node declares the silent link dead at --rep-timeout and the
    // pair re-pairs with full copies (1 s later): seconds after the heal, not at once. What the pair
    // promises is that it converges: wait for that (bounded), then ask for every write on both nodes.
    const convergedMs = await convergedAfter(c, healedAt, 15_000)
    const missing = await missingAfter(c, after, undefined)
    await missingAfter(c, otherOf(after), undefined)
    t.diagnostic(`network cut (VIP on ${before}): on both hosts after ${splitMs.toFixed(0)} ms, status vip_split/critical; after the heal on ${after} alone after ${oneMs.toFixed(0)} ms; both nodes hold every acknowledged write ${convergedMs?.toFixed(0)} ms after the heal; ${c.ledger.failureCount} failed client requests; ${missing.length} of ${c.ledger.ackCount} acknowledged writes missing on ${after}`)
  })
})
