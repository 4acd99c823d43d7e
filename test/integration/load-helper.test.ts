// The fault suite's ledger must notice what it is there to notice: an
// acknowledged write that a server no longer holds, or holds stale.

import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {checkLedger, Writer} from '../helpers/load.js'
import {startOurServer, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'

let server: RunningServer
before(async () => { server = await startOurServer() })
after(async () => { await server.stop() })

describe('write ledger (test/helpers/load.ts)', () => {
  it('finds a lost write, a stale value and a resurrected delete, and nothing else', async () => {
    const ep = {host: '127.0.0.1', port: server.port}
    const w = new Writer({targets: [ep], prefix: 'l-', keys: 50, deleteEvery: 3}).start()
    while (w.ackCount < 400) await new Promise((r) => setTimeout(r, 5))
    await w.stop()
    assert.deepEqual(await checkLedger(ep, [w]), {wrong: [], wrongUncertain: [], checked: 50})
    const live = [...w.acked].filter(([, v]) => v !== null).map(([k]) => k)
    const deleted = [...w.acked].find(([, v]) => v === null)?.[0]
    assert.ok(live.length >= 2 && deleted !== undefined)
    const c = await RawClient.open(server.port)
    try {
      await c.request(`delete ${live[0]}\r\n`, '\r\n')
      await c.request(`set ${live[1]} 0 0 3\r\nold\r\n`, '\r\n')
      await c.request(`set ${deleted} 0 0 4\r\nback\r\n`, '\r\n')
    } finally { c.close() }
    const r = await checkLedger(ep, [w])
    assert.deepEqual(r.wrong.sort(), [[live[0], w.acked.get(live[0]!), null], [live[1], w.acked.get(live[1]!), 'old'], [deleted, null, 'back']].sort())
  })
})
