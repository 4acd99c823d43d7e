// The VIP client (test/helpers/vip-client.ts) against a real server on
// loopback, so that the e2e VIP tests measure what they claim: a frozen
// server's outage is the freeze (no earlier success, none much later), a
// restarted empty server shows every write acknowledged before the kill as
// missing and none after, and the loop stops by itself at its bounds.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {freePort} from '../helpers/ports.js'
import {launch, SERVER_BUNDLE, type RunningServer} from '../helpers/processes.js'
import {clock, VipClient} from '../helpers/vip-client.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function server(port: number): Promise<RunningServer> {
  return launch(process.execPath, (p) => [SERVER_BUNDLE, '-p', String(p), '-l', '127.0.0.1', '-X', '0'], 'repcached', {port})
}

describe('VipClient against a real server', () => {
  it('a freeze of 700 ms costs the client about 700 ms, with its failures counted', async (t) => {
    const port = await freePort()
    const s = await server(port)
    const c = new VipClient({endpoint: {host: '127.0.0.1', port}, prefix: 'fz-'}).start()
    try {
      assert.ok(await c.acknowledged(200, 5000))
      const frozenAt = clock()
      process.kill(s.pid, 'SIGSTOP')
      await sleep(700)
      process.kill(s.pid, 'SIGCONT')
      assert.ok(await c.acknowledged(100, 5000))
      await c.stop()
      const outage = c.ledger.outageAfter(frozenAt)
      assert.ok(outage !== undefined)
      // Nothing can succeed while the server is stopped; after SIGCONT the next request (≤ 200 ms timeout + pause) succeeds.
      assert.ok(outage.ms >= 700 && outage.ms < 1300, `outage ${outage.ms.toFixed(0)} ms`)
      assert.ok(outage.failures >= 1, 'the requests sent into the freeze timed out')
      assert.deepEqual(await c.missingOn({host: '127.0.0.1', port}), [], 'a freeze loses nothing')
      assert.equal(c.ledger.staleReads, 0)
      t.diagnostic(`freeze 700 ms: outage ${outage.ms.toFixed(0)} ms, ${outage.failures} failed requests, ${c.ledger.ackCount} writes acknowledged`)
    } finally {
      await c.stop()
      await s.stop('SIGKILL')
    }
  })

  it('a server killed and restarted empty: the outage spans the restart; exactly the writes acknowledged before the kill are missing', async (t) => {
    const port = await freePort()
    let s = await server(port)
    const c = new VipClient({endpoint: {host: '127.0.0.1', port}, prefix: 'kr-', keys: 100_000}).start()
    try {
      assert.ok(await c.acknowledged(300, 5000))
      const killedAt = clock()
      await s.stop('SIGKILL')
      await sleep(400)
      s = await server(port)
      assert.ok(await c.acknowledged(200, 5000))
      await c.stop()
      const outage = c.ledger.outageAfter(killedAt)
      assert.ok(outage !== undefined && outage.ms >= 400, `outage ${outage?.ms} ms`)
      const missing = await c.missingOn({host: '127.0.0.1', port})
      const before = c.ledger.history.filter((r) => r.kind === 'write' && r.ok && r.end <= killedAt).length
      // 100 000 keys: no key was written twice, so every acknowledged write before the kill is gone, none after.
      assert.equal(missing.length, before)
      assert.ok(missing.every((m) => m.ackedAt <= killedAt && m.found === null))
      t.diagnostic(`kill + restart after 400 ms: outage ${outage.ms.toFixed(0)} ms (${outage.failures} failed), ${missing.length} acknowledged writes missing (all before the kill)`)
    } finally {
      await c.stop()
      await s.stop('SIGKILL')
    }
  })

  it('stops by itself at its request or time bound', async () => {
    const port = await freePort()
    const s = await server(port)
    try {
      const byCount = new VipClient({endpoint: {host: '127.0.0.1', port}, prefix: 'bc-', maxRequests: 50, pauseMs: 0}).start()
      const byTime = new VipClient({endpoint: {host: '127.0.0.1', port}, prefix: 'bt-', maxDurationMs: 300}).start()
      const t0 = Date.now()
      while (!(byCount.done && byTime.done) && Date.now() - t0 < 5000) await sleep(20)
      assert.ok(byCount.done && byTime.done, 'both stopped by themselves')
      assert.ok(byCount.ledger.history.length <= 50, `${byCount.ledger.history.length} requests`)
      assert.ok(Date.now() - t0 < 2000)
      await Promise.all([byCount.stop(), byTime.stop()])
    } finally {
      await s.stop('SIGKILL')
    }
  })
})
