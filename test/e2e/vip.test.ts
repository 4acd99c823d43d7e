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
//
// The faults need repctl's keepalived lifecycle (start/stop/status/supervise/
// promote with a VIP). Until that exists, `repctl start` starts no keepalived:
// the fault tests detect that (no VIP on any host within 15 s and no
// keepalived.pid in the node dirs) and skip, saying so. Everything this file
// creates is removed in after(), also after a failure: the supervisor (by
// pid), `repctl stop`, and the network with every process inside it.

import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {after, before, describe, it, type TestContext} from 'node:test'
import type {StatusReport} from '../../src/cluster/status.js'
import type {SuperviseEvent} from '../../src/cluster/supervise/round.js'
import {eventually} from '../helpers/pair.js'
import {alive, createTestNetwork, descendants, netnsMissing, programMissing, type TestHost, type TestNetwork} from '../helpers/netns.js'
import {REPCTL_BIN, repctlIn, type Repctl} from '../helpers/repctl.js'
import {assertValid} from '../helpers/schemas.js'
import {keyPair, type KeyPair} from '../helpers/sshd.js'
import {clock, VipClient, type MissingWrite} from '../helpers/vip-client.js'

const KEEPALIVED = '/usr/sbin/keepalived'
const VIP = '10.231.0.100'
const VIP_CIDR = `${VIP}/24`
/** Inside a namespace every port is ours; the same on both hosts. */
const PORT = 7211
const REPLICATION_PORT = 7212
const CLUSTER = 'vipe2e'
const NODES = ['node1', 'node2'] as const
type NodeName = typeof NODES[number]

const skipNetns = netnsMissing()
const skip = skipNetns !== false ? skipNetns : programMissing(KEEPALIVED, 'keepalived')
if (skip !== false) process.stderr.write(`\n*** vip.test.ts: ${skip} ***\n\n`)

// ---------------------------------------------------------------------------
// What this test reads of `repctl status --json` about a pair's VIP: the
// contract of the keepalived lifecycle (src/cluster/status.ts VipStatus).
// Kept in one place so that a renamed field is fixed here once.

interface KeepalivedView { node: string; pid: number | null; process: 'running' | 'stopped' | 'unknown'; state: string | null }
interface VipView {
  address: string
  /** The one node whose host holds it; null when none or both do. */
  holder: string | null
  holders: string[]
  verdict: string
  reason: string
  keepalived: KeepalivedView[]
}

function vipOf(s: StatusReport): VipView | null {
  const pair = s.pairs[0] as unknown as {vip?: VipView | null}
  return pair.vip ?? null
}

// ---------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** OpenSSH's SHA256 fingerprint of a public key line, as the config's ssh.hostKey pins it. */
function fingerprint(publicLine: string): string {
  const blob = Buffer.from(publicLine.split(' ')[1]!, 'base64')
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch { return undefined }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal) } catch { /* gone */ }
}

describe('a pair with a VIP on two hosts with their own network, managed over SSH', {skip, timeout: 300_000}, () => {
  let net: TestNetwork
  let hosts: Record<NodeName, TestHost>
  let dir: string
  let client: KeyPair
  let repctl: Repctl
  let supervisor: ChildProcess | undefined
  const events: SuperviseEvent[] = []
  let supervisorErr = ''
  const clients: VipClient[] = []
  const frozen = new Set<number>()

  const stateDir = (n: NodeName): string => join(dir, `state-${n}`)
  const nodeDir = (n: NodeName): string => join(stateDir(n), n)
  const nodePid = (n: NodeName): number | undefined => readPid(join(nodeDir(n), 'repcached.pid'))
  const otherOf = (n: NodeName): NodeName => n === 'node1' ? 'node2' : 'node1'
  const hostOf = (n: NodeName): TestHost => hosts[n]

  async function status(): Promise<{code: number; report: StatusReport}> {
    const r = await repctl.run(['status', '--json'])
    assert.ok([0, 1, 2, 3].includes(r.code), `repctl status: exit ${r.code}\n${r.stdout}\n${r.stderr}`)
    const report = JSON.parse(r.stdout) as StatusReport
    assertValid('status', report)
    return {code: r.code, report}
  }

  /** Which nodes' hosts have the VIP on their interface now (the truth, asked of the hosts themselves). */
  async function holders(): Promise<NodeName[]> {
    const held = await Promise.all(NODES.map((n) => hostOf(n).holds(VIP)))
    return NODES.filter((_, i) => held[i])
  }

  async function waitHolders(want: NodeName[], ms: number): Promise<number> {
    const t0 = clock()
    const ok = await eventually(async () => (await holders()).join() === want.join(), ms, 20)
    assert.ok(ok, `the VIP on ${want.join(' and ') || 'no host'} within ${ms} ms; it is on ${(await holders()).join(' and ') || 'no host'}`)
    return clock() - t0
  }

  /** Healthy by repctl's own word: exit 0, one VIP holder, both keepalived running; returns that status. */
  async function waitHealthy(ms = 40_000): Promise<StatusReport> {
    const end = Date.now() + ms
    let last: {code: number; report: StatusReport} | undefined
    for (;;) {
      last = await status()
      const vip = vipOf(last.report)
      if (last.code === 0 && last.report.health === 'healthy' && vip?.holder != null && vip.keepalived.every((k) => k.process === 'running')) return last.report
      if (Date.now() > end) {
        assert.fail(`the pair is healthy with one VIP holder within ${ms} ms; last status (exit ${last.code}):\n${JSON.stringify(last.report.pairs, null, 1)}\nsupervisor events:\n${events.map((e) => JSON.stringify(e)).join('\n')}${supervisorErr}`)
      }
      await sleep(300)
    }
  }

  function startSupervisor(): void {
    const child = spawn(process.execPath, [REPCTL_BIN, 'supervise', '--json', '--interval', '500ms'], {
      cwd: join(dir, 'work'), env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), LANG: 'C.UTF-8'}, stdio: ['ignore', 'pipe', 'pipe'],
    })
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
    assert.ok(ok, `no matching supervisor event within ${ms} ms; events:\n${events.slice(from).map((e) => JSON.stringify(e)).join('\n')}${supervisorErr}`)
    return events.slice(from).find(match)!
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
   * queue held when the node died); none acknowledged after it.
   */
  async function missingAfter(c: VipClient, holder: NodeName, faultAt: number | undefined): Promise<MissingWrite[]> {
    const missing = await c.missingOn({host: hostOf(holder).address, port: PORT})
    const late = missing.filter((m) => faultAt === undefined || m.ackedAt > faultAt)
    assert.deepEqual(late.slice(0, 5), [], `${late.length} writes acknowledged ${faultAt === undefined ? '' : 'after the fault '}are missing on ${holder}`)
    return missing
  }

  // Whether `repctl start` starts keepalived (the lifecycle): found once, after the first start.
  let lifecycle: Promise<string | false> | undefined
  function lifecycleMissing(): Promise<string | false> {
    lifecycle ??= (async () => {
      const pidFiles = NODES.map((n) => join(nodeDir(n), 'keepalived.pid'))
      const seen = await eventually(async () => (await holders()).length > 0 || pidFiles.some(existsSync), 15_000, 100)
      if (!seen) return `keepalived lifecycle not merged yet: after repctl start no host holds the VIP ${VIP} within 15 s and no node dir has keepalived.pid`
      startSupervisor()
      return false
    })()
    return lifecycle
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'repctl-vip-e2e-'))
    for (const d of ['work', 'home', 'keys']) mkdirSync(join(dir, d), {mode: 0o700})
    client = keyPair(join(dir, 'keys'), 'client')
    net = await createTestNetwork({hosts: 2})
    hosts = {node1: net.hosts[0]!, node2: net.hosts[1]!}
    await Promise.all(NODES.map((n) => hostOf(n).startSshd({authorizedKeys: [client.publicLine]})))
    const lines = [`cluster: ${CLUSTER}`, `defaults: { port: ${PORT}, replicationPort: ${REPLICATION_PORT}, memory: 64, snapshotInterval: 1 }`, 'nodes:']
    for (const n of NODES) {
      const h = hostOf(n)
      // The namespaces share one filesystem: each node its own state dir.
      lines.push(`  ${n}:`, `    host: ${h.address}`, `    stateDir: ${JSON.stringify(stateDir(n))}`,
        `    ssh: { host: ${h.address}, user: root, identityFile: ${JSON.stringify(client.privateKey)}, hostKey: ${JSON.stringify(fingerprint(h.sshd!.hostKey.publicLine))} }`)
    }
    lines.push('pairs:', '  - nodes: [node1, node2]', `    vip: { address: ${VIP_CIDR}, interface: ${hostOf('node1').interfaceName} }`)
    writeFileSync(join(dir, 'work', 'repctl.config.yaml'), lines.join('\n') + '\n')
    repctl = repctlIn(join(dir, 'work'), join(dir, 'home'))
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()))
    for (const pid of frozen) killPid(pid, 'SIGCONT')
    try { net?.heal() } catch { /* destroyed */ }
    await stopSupervisor()
    if (repctl !== undefined) await repctl.run(['stop'])
    await net?.destroy()
    rmSync(dir, {recursive: true, force: true})
  })

  it('repctl start over SSH brings the pair up inside the hosts; status is healthy; a client in the root namespace writes to one node and reads from the other', {timeout: 120_000}, async (t) => {
    const t0 = Date.now()
    const started = await repctl.run(['start', '--json'])
    assert.equal(started.code, 0, `repctl start: ${started.stdout}\n${started.stderr}`)
    assertValid('start', JSON.parse(started.stdout))
    const startMs = Date.now() - t0
    const {code, report} = await status()
    assert.equal(code, 0, JSON.stringify(report.pairs))
    assert.equal(report.health, 'healthy')
    assert.deepEqual(report.nodes.map((n) => [n.name, n.host, n.transport, n.role, n.state]), [
      ['node1', '10.231.0.1', 'ssh', 'master', 'paired'],
      ['node2', '10.231.0.2', 'ssh', 'slave', 'paired'],
    ])
    // Each server runs inside its own host (namespace), as started over SSH, and nowhere else.
    for (const n of NODES) {
      const pid = nodePid(n)
      assert.ok(pid !== undefined && alive(pid), `${n} has a live pid`)
      assert.ok(hostOf(n).pids().includes(pid), `${n}'s server (pid ${pid}) runs in ${hostOf(n).name}`)
      assert.ok(!hostOf(otherOf(n)).pids().includes(pid))
    }
    // The root namespace (10.231.0.254) writes to node1 and reads every write back from node2.
    const c = new VipClient({endpoint: {host: hostOf('node1').address, port: PORT}, prefix: 'direct-'}).start()
    clients.push(c)
    assert.ok(await c.acknowledged(300, 10_000), `writes to node1 are acknowledged (${c.ledger.failureCount} failures)`)
    await c.stop()
    assert.equal(c.ledger.failureCount, 0)
    assert.equal(c.ledger.staleReads, 0)
    let missing: MissingWrite[] = []
    assert.ok(await eventually(async () => (missing = await c.missingOn({host: hostOf('node2').address, port: PORT})).length === 0, 5000, 100),
      `node2 holds every write acknowledged by node1; missing e.g. ${JSON.stringify(missing.slice(0, 3))}`)
    t.diagnostic(`repctl start over SSH into 2 namespace hosts: ${startMs} ms; ${c.ledger.ackCount} writes from the root namespace to node1 all on node2`)
  })

  it('kill -9 of the node holding the VIP: the VIP moves, the supervisor rejoins the dead node, the VIP stays where it moved', {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    const holder = vipOf(await waitHealthy())!.holder as NodeName
    const other = otherOf(holder)
    const c = await startClient('kill-node-')
    const from = events.length
    const faultAt = clock()
    killPid(nodePid(holder)!, 'SIGKILL')
    const movedMs = await waitHolders([other], 10_000)
    assert.ok(await c.acknowledged(100, 10_000), 'the client writes through the VIP again')
    const rejoin = await waitEvent(from, (e) => e.event === 'repair' && e.action === 'rejoin' && e.node === holder, 30_000)
    assert.equal(rejoin.outcome, 'ok', rejoin.reason)
    const s = await waitHealthy()
    assert.equal(vipOf(s)!.holder, other, 'nopreempt: the VIP stays on the survivor when the dead node is back')
    await sleep(3000)
    assert.deepEqual(await holders(), [other], 'and stays there')
    await c.stop()
    const outage = c.ledger.outageAfter(faultAt)
    assert.ok(outage !== undefined, 'the client got an answer after the kill')
    const missing = await missingAfter(c, other, faultAt)
    t.diagnostic(`kill -9 of ${holder} (VIP holder): VIP on ${other}'s host after ${movedMs.toFixed(0)} ms; client-visible outage ${outage.ms.toFixed(0)} ms (${outage.failures} failed requests); rejoined by the supervisor in ${rejoin.durationMs} ms; ${missing.length} of ${c.ledger.ackCount} acknowledged writes missing (acknowledged before the kill, in the replication queue)`)
  })

  it("kill -9 of the holder's keepalived (its VIP removed as a dead host loses it): the other host takes the VIP", {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    const holder = vipOf(await waitHealthy())!.holder as NodeName
    const other = otherOf(holder)
    const main = readPid(join(nodeDir(holder), 'keepalived.pid'))
    assert.ok(main !== undefined && alive(main), `${holder}'s keepalived.pid names a live process`)
    const vrrp = readPid(join(nodeDir(holder), 'keepalived-vrrp.pid'))
    const c = await startClient('kill-keepalived-')
    const killed = [main, ...descendants(main), ...(vrrp === undefined ? [] : [vrrp])]
    const faultAt = clock()
    for (const pid of killed) killPid(pid, 'SIGKILL')
    await hostOf(holder).removeAddress(VIP_CIDR)
    const movedMs = await waitHolders([other], 10_000)
    assert.ok(await c.acknowledged(100, 10_000), 'the client writes through the VIP again')
    for (const pid of killed) assert.ok(!alive(pid), `keepalived pid ${pid} is gone`)
    // The supervisor starts keepalived again; with nopreempt the VIP stays where it is.
    const s = await waitHealthy()
    const restarted = vipOf(s)!.keepalived.find((k) => k.node === holder)!
    assert.ok(restarted.pid !== null && !killed.includes(restarted.pid), `${holder}'s keepalived was started again (pid ${restarted.pid})`)
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
    const holder = vipOf(await waitHealthy())!.holder as NodeName
    const other = otherOf(holder)
    const pid = nodePid(holder)!
    const c = await startClient('freeze-')
    const faultAt = clock()
    frozen.add(pid)
    killPid(pid, 'SIGSTOP')
    let movedMs: number
    try {
      movedMs = await waitHolders([other], 10_000)
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
    let s = await waitHealthy()
    let holder = vipOf(s)!.holder as NodeName
    const c = await startClient('promote-')
    if (s.pairs[0]!.master !== holder) {
      // The VIP sits on the slave (a keepalived fault moved it there): promoting the holder keeps the VIP where it is.
      const p = await repctl.run(['promote', holder, '--yes', '--json'])
      assert.equal(p.code, 0, `repctl promote ${holder}: ${p.stdout}\n${p.stderr}`)
      s = await waitHealthy()
      assert.deepEqual([s.pairs[0]!.master, vipOf(s)!.holder], [holder, holder], 'promoting the VIP holder leaves the VIP on it')
      holder = vipOf(s)!.holder as NodeName
    }
    const target = otherOf(holder)
    const startedAt = clock()
    const p = await repctl.run(['promote', target, '--yes', '--json'])
    const doneAt = clock()
    assert.equal(p.code, 0, `repctl promote ${target}: ${p.stdout}\n${p.stderr}`)
    assertValid('promote', JSON.parse(p.stdout))
    // The VIP is on the new master when promote returns.
    assert.deepEqual(await holders(), [target], 'the VIP followed the master role by the time promote returned')
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
    const before = vipOf(await waitHealthy())!.holder as NodeName
    const c = await startClient('cut-')
    const [a, b] = [hostOf('node1'), hostOf('node2')]
    const faultAt = clock()
    a.cut(b)
    let splitMs: number
    try {
      // The backup hears no adverts and takes the VIP too: 3 adverts plus its skew.
      splitMs = await waitHolders(['node1', 'node2'], 10_000)
      const {code, report} = await status()
      assert.equal(vipOf(report)!.verdict, 'vip_split', vipOf(report)!.reason)
      assert.deepEqual(vipOf(report)!.holders.sort(), ['node1', 'node2'])
      assert.equal(vipOf(report)!.holder, null)
      assert.deepEqual([report.health, code], ['critical', 2])
    } finally {
      a.heal(b)
    }
    const healedAt = clock()
    await eventually(async () => (await holders()).length === 1, 10_000, 20)
    const oneMs = clock() - healedAt
    const s = await waitHealthy()
    const after = vipOf(s)!.holder as NodeName
    assert.ok(await c.acknowledged(100, 10_000))
    await c.stop()
    const missing = await missingAfter(c, after, faultAt)
    t.diagnostic(`network cut (VIP on ${before}): on both hosts after ${splitMs.toFixed(0)} ms, status vip_split/critical; after the heal on ${after} alone after ${oneMs.toFixed(0)} ms; ${c.ledger.failureCount} failed client requests; ${missing.length} of ${c.ledger.ackCount} acknowledged writes missing on ${after}`)
  })

  it('repctl stop stops both nodes and both keepalived; no host keeps the VIP', {timeout: 90_000}, async (t: TestContext) => {
    const why = await lifecycleMissing()
    if (why !== false) { t.skip(why); return }
    await stopSupervisor()
    const s = await waitHealthy()
    const pids = [...NODES.map((n) => nodePid(n)), ...vipOf(s)!.keepalived.map((k) => k.pid)].filter((p): p is number => p != null)
    assert.equal(pids.length, 4, 'two nodes and two keepalived')
    const r = await repctl.run(['stop', '--json'])
    assert.equal(r.code, 0, `repctl stop: ${r.stdout}\n${r.stderr}`)
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} stopped`)
    assert.deepEqual(await holders(), [])
    const {report} = await status()
    assert.deepEqual(vipOf(report)!.keepalived.map((k) => k.process), ['stopped', 'stopped'])
    t.diagnostic('repctl stop: nodes and keepalived stopped, the VIP released')
  })
})
