// repctl restart --rolling on a pair with a VIP, over SSH into two
// network-namespace hosts, with a client writing, deleting and reading through
// the VIP: the master is restarted by a switchover, so the VIP moves to the
// other node's host first; no acknowledged write is missing afterwards, and
// the longest stall the client saw is reported.

import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import type {RestartResult} from '../../src/cluster/restart/plan.js'
import {checkLedger, Reader, Writer} from '../helpers/load.js'
import {netnsMissing, programMissing} from '../helpers/netns.js'
import {KEEPALIVED, PORT, VIP, VipCluster} from '../helpers/vip-cluster.js'

const skipNet = netnsMissing()
const skip = skipNet === false ? programMissing(KEEPALIVED, 'keepalived') : skipNet
if (skip !== false) process.stderr.write(`\n*** vip-restart.test.ts: ${skip} ***\n\n`)

describe('repctl restart --rolling on a pair with a VIP (network namespaces, SSH)', {skip}, () => {
  let vc: VipCluster

  before(async () => {
    vc = await VipCluster.create('viprst', {repctlTimeoutMs: 180_000})
  })
  after(async () => {
    await vc?.destroy()
  })

  it('restarts both nodes, the VIP follows the switchover, clients of the VIP lose no acknowledged write', {timeout: 300_000}, async (t) => {
    const started = await vc.repctl.run(['start'])
    assert.equal(started.code, 0, started.stdout + started.stderr)
    const before = await vc.waitHealthy()
    assert.deepEqual(await vc.holders(), ['node1'])

    const through = [{host: VIP, port: PORT}]
    const writer = new Writer({targets: through, prefix: 'vr-', keys: 5000, deleteEvery: 7}).start()
    const reader = new Reader(through, Array.from({length: 50}, (_, i) => `vr-${i}`)).start()
    let r: RestartResult
    let acksAfter: number
    try {
      await new Promise((res) => setTimeout(res, 500))
      r = await vc.repctl.json<RestartResult>(['restart', '--rolling'], 0, 'restart')
      acksAfter = writer.ackCount
      await new Promise((res) => setTimeout(res, 1000))
    } finally {
      // Stopped whatever happens: a client left running keeps the test process (and the suite) alive.
      await writer.stop()
      await reader.stop()
    }
    assert.ok(writer.ackCount > acksAfter, 'the client goes on writing through the VIP afterwards')

    assert.deepEqual(r.pairs[0]!.moves.map((m) => m.kind), ['restart_slave', 'switchover'])
    const s = await vc.waitHealthy()
    assert.deepEqual(await vc.holders(), ['node2'], 'the VIP moved with the switchover')
    assert.equal(s.pairs[0]!.master, 'node2')
    for (const n of s.nodes) assert.notEqual(n.pid, before.nodes.find((x) => x.name === n.name)!.pid, `${n.name} was restarted`)
    let missing = 0
    for (const n of s.nodes) {
      const check = await checkLedger({host: n.host, port: n.port}, [writer])
      missing += check.wrong.length + check.wrongUncertain.length
      assert.deepEqual(check.wrong.slice(0, 5), [], `acknowledged writes missing or stale on ${n.name} (${check.wrong.length} of ${check.checked})`)
      assert.deepEqual(check.wrongUncertain.slice(0, 5), [], `keys in neither acceptable state on ${n.name}`)
    }
    t.diagnostic(`restart --rolling with a VIP: ${r.durationMs} ms; ${writer.ackCount} writes through the VIP acknowledged (${writer.failures} failed), ${missing} missing afterwards; longest stall: writer ${writer.longestGapMs} ms, reader ${reader.longestGapMs} ms`)
    assert.equal((await vc.repctl.run(['stop'])).code, 0)
  })
})
