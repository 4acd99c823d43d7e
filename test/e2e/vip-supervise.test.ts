// The supervisor and promote on a pair with a VIP, managed by repctl over SSH
// on two hosts with their own network (test/helpers/vip-cluster.ts) and Debian's
// keepalived, as in vip.test.ts. Everything is asked of the real system: the
// VIP on the interfaces, processes by pid, the data through the VIP.
//
// - kill -9 of the keepalived beside the node that does not hold the VIP:
//   `repctl supervise --once` restarts it; the VIP does not move;
// - kill -9 of the node holding the VIP and of its keepalived (its VIP left
//   behind, the peer takes it too): the first round restarts that keepalived,
//   which removes the stale VIP, the second rejoins the node; the VIP stays
//   on the survivor (nopreempt, also after the restart of the preferred
//   node's keepalived);
// - `repctl promote` of the node not holding the VIP, with a client writing
//   through the VIP: the VIP follows the master role; no acknowledged write
//   is lost; the failed requests and the gap are printed;
// - promote refuses, with nothing stopped, when the new master's keepalived
//   cannot take the VIP.

import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {PromoteResult} from '../../src/cluster/promote.js'
import type {StatusReport} from '../../src/cluster/status.js'
import type {SuperviseResult} from '../../src/commands/supervise.js'
import {checkLedger, Writer} from '../helpers/load.js'
import {alive, netnsMissing, programMissing, type TestHost} from '../helpers/netns.js'
import {KEEPALIVED, PORT, VIP, VipCluster} from '../helpers/vip-cluster.js'
import {waitFor} from '../helpers/wait.js'

const skipNet = netnsMissing()
const skip = skipNet === false ? programMissing(KEEPALIVED, 'keepalived') : skipNet
if (skip !== false) process.stderr.write(`\n*** vip-supervise.test.ts: ${skip} ***\n\n`)

describe('a pair with a VIP: supervise repairs keepalived, promote moves the VIP (network namespaces, SSH)', {skip}, () => {
  let vc: VipCluster
  let h1: TestHost
  let h2: TestHost

  const nodeDir = (i: 1 | 2): string => vc.nodeDir(`node${i}`)
  const status = (code: number): Promise<StatusReport> => vc.repctl.json<StatusReport>(['status'], code, 'status')
  const supervise = async (): Promise<SuperviseResult['events']> => (await vc.repctl.json<SuperviseResult>(['supervise', '--once'], 0, 'supervise')).events
  const holders = (): Promise<string[]> => vc.holders()

  /** kill -9 of a node's keepalived, main process and VRRP child, by pid. */
  async function killKeepalived(i: 1 | 2): Promise<number[]> {
    const h = i === 1 ? h1 : h2
    const pids = await Promise.all(['keepalived.pid', 'keepalived-vrrp.pid'].map(async (f) => Number((await h.must('cat', [join(nodeDir(i), f)])).trim())))
    for (const pid of pids) { assert.ok(alive(pid), `keepalived pid ${pid}`); process.kill(pid, 'SIGKILL') }
    await waitFor('keepalived to die', 5000, async () => (pids.some(alive) ? undefined : true))
    return pids
  }

  before(async () => {
    vc = await VipCluster.create('vipsup', {repctlTimeoutMs: 120_000})
    h1 = vc.host('node1')
    h2 = vc.host('node2')
    const r = await vc.repctl.run(['start'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    await waitFor('both keepalived settled', 10_000, async () => {
      const s = await status(0).catch(() => undefined)
      return s?.pairs[0]!.vip!.keepalived.map((k) => k.state).join() === 'MASTER,BACKUP' ? true : undefined
    })
  })

  after(async () => {
    await vc?.destroy()
  })

  it('kill -9 of the keepalived beside the node without the VIP: supervise restarts it, the VIP stays where it is', async () => {
    assert.deepEqual(await holders(), ['node1'])
    const killed = await killKeepalived(2)
    const down = await status(1)
    assert.equal(down.pairs[0]!.vip!.verdict, 'keepalived_down')

    const events = await supervise()
    const repair = events.find((e) => e.event === 'repair')
    assert.ok(repair !== undefined, JSON.stringify(events))
    assert.deepEqual([repair.action, repair.node, repair.daemon, repair.outcome], ['restart_keepalived', 'node2', 'keepalived', 'ok'], repair.reason)
    assert.ok(events.findIndex((e) => e.event === 'repairing' && e.action === 'restart_keepalived') < events.indexOf(repair), 'repairing is said before acting')
    assert.match(repair.reason, /keepalived of node2 started, pid \d+/)

    const s = await waitFor('node2\'s keepalived BACKUP', 10_000, async () => {
      const st = await status(0).catch(() => undefined)
      return st?.pairs[0]!.vip!.keepalived[1]!.state === 'BACKUP' ? st : undefined
    })
    const k2 = s.pairs[0]!.vip!.keepalived[1]!
    assert.ok(k2.pid !== null && !killed.includes(k2.pid) && alive(k2.pid))
    assert.deepEqual(await holders(), ['node1'], 'the VIP did not move')
    assert.equal(s.supervisor.lastAction?.action, 'restart_keepalived', 'status shows the supervisor\'s last action')
  })

  it('kill -9 of the node holding the VIP and of its keepalived: the stale VIP goes first (keepalived restarted), then the node rejoins; the VIP stays on the survivor', async (t) => {
    const before = await status(0)
    const node1Pid = before.nodes.find((n) => n.name === 'node1')!.pid!
    // keepalived first: a node killed first would fail its check, and its keepalived would drop the VIP in time.
    await killKeepalived(1)
    process.kill(node1Pid, 'SIGKILL')
    // A keepalived killed with -9 usually leaves its VIP on the interface; when its VRRP child got to
    // release it first, put it back: the rule under test is the stale VIP that blocks the other host.
    if (!(await holders()).includes('node1')) await h1.must('ip', ['addr', 'add', `${VIP}/24`, 'dev', h1.interfaceName])
    assert.ok((await holders()).includes('node1'), 'the VIP is left behind on node1\'s host')
    // node2's keepalived stops hearing adverts and takes the VIP too: clients land on either host, and node1's refuses them.
    await waitFor('node2 to take the VIP too', 10_000, async () => ((await holders()).length === 2 ? true : undefined))

    const t0 = performance.now()
    const first = await supervise()
    const act = first.find((e) => e.event === 'repair')
    assert.ok(act !== undefined, JSON.stringify(first))
    assert.deepEqual([act.action, act.node, act.outcome], ['restart_keepalived', 'node1', 'ok'], act.reason)
    assert.match(act.reason, /removed the VIP 10\.231\.0\.100 it had left/)
    assert.deepEqual(await holders(), ['node2'])
    t.diagnostic(`stale VIP removed by the supervisor's first round, ${(performance.now() - t0).toFixed(0)} ms after it started (including the CLI start-up)`)

    const second = await supervise()
    const rejoin = second.find((e) => e.event === 'repair')
    assert.deepEqual([rejoin?.action, rejoin?.node, rejoin?.outcome], ['rejoin', 'node1', 'ok'], JSON.stringify(second))

    const s = await waitFor('node1\'s keepalived BACKUP', 10_000, async () => {
      const st = await status(0).catch(() => undefined)
      return st?.pairs[0]!.vip!.keepalived[0]!.state === 'BACKUP' ? st : undefined
    })
    assert.equal(s.pairs[0]!.master, 'node2')
    assert.equal(s.pairs[0]!.vip!.verdict, 'ok')
    // The preferred node (priority 150) is back with a fresh keepalived: nopreempt keeps the VIP where it is served.
    await new Promise((r) => setTimeout(r, 2000))
    assert.deepEqual(await holders(), ['node2'], 'the repaired preferred node did not take the VIP back')
    const third = await supervise()
    assert.deepEqual(third.filter((e) => e.event !== 'observed'), [], 'nothing more to do')
  })

  it('promote of the node without the VIP: the VIP follows the master role, no acknowledged write is lost', async (t) => {
    assert.deepEqual(await holders(), ['node2'])
    const writer = new Writer({targets: [{host: VIP, port: PORT}], prefix: 'sw', keys: 5000, requestTimeoutMs: 300}).start()
    // The longest time without an acknowledgement, seen by a 5 ms sampler.
    let lastCount = 0
    let lastChange = performance.now()
    let maxGap = 0
    const sampler = setInterval(() => {
      const now = performance.now()
      if (writer.ackCount !== lastCount) { lastCount = writer.ackCount; lastChange = now }
      maxGap = Math.max(maxGap, now - lastChange)
    }, 5)
    let movedAt: number | undefined
    try {
      await waitFor('the writer to get going', 5000, async () => (writer.ackCount > 50 ? true : undefined))
      const t0 = performance.now()
      const watch = waitFor('node1\'s host to hold the VIP', 60_000, async () => (await h1.holds(VIP) ? true : undefined)).then(() => { movedAt = performance.now() - t0 })
      const r = await vc.repctl.json<PromoteResult>(['promote', 'node1'], 0, 'promote')
      await watch
      const took = performance.now() - t0
      assert.deepEqual(r, {node: 'node1', previousMaster: 'node2', action: 'switchover', vip: {address: VIP, holdersBefore: ['node2'], holdersAfter: ['node1']}})
      await new Promise((res) => setTimeout(res, 500))
      t.diagnostic(`promote: ${took.toFixed(0)} ms in all (CLI included); VIP on node1's host ${movedAt!.toFixed(0)} ms after the command started`)
    } finally {
      clearInterval(sampler)
      await writer.stop()
    }
    t.diagnostic(`client through the VIP: ${writer.ackCount} writes acknowledged, ${writer.failures} failed (300 ms timeout each), longest gap without an acknowledgement ${maxGap.toFixed(0)} ms`)
    assert.deepEqual(await holders(), ['node1'])
    assert.equal((await h2.must('cat', [join(nodeDir(2), 'vip.drain')])).trim(), '0', 'the old master\'s host may take the VIP again')
    const s = await waitFor('node2\'s keepalived BACKUP', 10_000, async () => {
      const st = await status(0).catch(() => undefined)
      return st?.pairs[0]!.vip!.keepalived[1]!.state === 'BACKUP' ? st : undefined
    })
    assert.equal(s.pairs[0]!.master, 'node1')
    const ledger = await checkLedger({host: h1.address, port: PORT}, [writer])
    assert.deepEqual(ledger.wrong, [], 'every acknowledged write is on the new master')
    assert.deepEqual(ledger.wrongUncertain, [])
    assert.ok(maxGap < 2000, `the client waited ${maxGap.toFixed(0)} ms`)
  })

  it('promote refuses, stopping nothing, when the new master\'s keepalived cannot take the VIP', async () => {
    const before = await status(0)
    await killKeepalived(2)
    const r = await vc.repctl.run(['promote', 'node2', '--json'])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const e = JSON.parse(r.stdout) as {error: {code: string; message: string; suggestions: string[]}}
    assert.equal(e.error.code, 'VIP_NOT_MOVED')
    assert.match(e.error.message, /cannot promote node2: the VIP 10\.231\.0\.100 is on node1's host and cannot move to node2's: keepalived of node2 is stopped/)
    assert.match(e.error.suggestions.join(' '), /repctl start --pair node1,node2/)
    const after = await status(1)
    assert.deepEqual(after.nodes.map((n) => n.pid), before.nodes.map((n) => n.pid), 'no node was restarted')
    assert.equal(after.pairs[0]!.master, 'node1')
    assert.deepEqual(await holders(), ['node1'])
    assert.equal((await h1.must('cat', [join(nodeDir(1), 'vip.drain')])).trim(), '0')
  })
})
