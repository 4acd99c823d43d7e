// Losing both nodes, as an operator lives it: `repctl start` brings the pair
// back with its data from the newest snapshot, after a crash of both
// (everything written before the last snapshot) or a clean stop (everything).

import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import type {StartResult} from '../../src/cluster/start.js'
import type {StatusReport} from '../../src/cluster/status.js'
import {readKeys, Writer} from '../helpers/load.js'
import {eventually} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {repctlIn} from '../helpers/repctl.js'
import {assertValid} from '../helpers/schemas.js'

const dir = mkdtempSync(join(tmpdir(), 'repctl-snapshots-'))
const home = join(dir, 'home')
const work = join(dir, 'work')
const pids = new Set<number>()

after(() => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  rmSync(dir, {recursive: true, force: true})
})

const {run: repctl, json} = repctlIn(work, home)

async function status(code?: number): Promise<StatusReport> {
  const r = await repctl(['status', '--json'])
  if (code !== undefined) assert.equal(r.code, code, r.stdout + r.stderr)
  const s = JSON.parse(r.stdout) as StatusReport
  assertValid('status', s)
  for (const n of s.nodes) if (n.pid !== null) pids.add(n.pid)
  return s
}

const ep = (s: StatusReport, name: string) => ({host: '127.0.0.1', port: s.nodes.find((n) => n.name === name)!.port})

async function write(s: StatusReport, prefix: string, n: number): Promise<Writer> {
  const master = s.nodes.find((x) => x.role === 'master')!
  const w = new Writer({targets: [{host: '127.0.0.1', port: master.port}], prefix, keys: n}).start()
  assert.ok(await eventually(async () => w.ackCount >= n, 20_000, 10))
  await w.stop()
  return w
}

/** Every key the writer had acknowledged is on both nodes, with its value. */
async function assertHeld(s: StatusReport, w: Writer, what: string): Promise<void> {
  for (const name of ['node1', 'node2']) {
    const found = await readKeys(ep(s, name), [...w.acked.keys()])
    const missing = [...w.acked].filter(([k, v]) => found.get(k) !== v)
    assert.equal(missing.length, 0, `${what}: ${name} lacks ${missing.length} of ${w.acked.size} keys, e.g. ${JSON.stringify(missing.slice(0, 3))}`)
  }
}

describe('snapshots through repctl: a pair that lost both nodes comes back with its data', () => {
  it('kill -9 of both after a snapshot interval, a clean stop of both, and the newest snapshot chosen as master', {timeout: 180_000}, async () => {
    mkdirSync(home)
    mkdirSync(work)
    const [p1, r1, p2, r2] = [await freePort(), await freePort(), await freePort(), await freePort()]
    writeFileSync(join(work, 'repctl.config.yaml'), `cluster: snap
defaults: { stateDir: ${JSON.stringify(join(dir, 'state'))}, snapshotInterval: 1 }
nodes:
  node1: { host: 127.0.0.1, port: ${p1}, replicationPort: ${r1} }
  node2: { host: 127.0.0.1, port: ${p2}, replicationPort: ${r2} }
pairs: [[node1, node2]]
`)
    const first = await json<StartResult>(['start'], 0, 'start')
    assert.equal(first.pairs[0]!.restoredFrom, null, 'a first start has nothing to restore')
    let s = await status(0)

    // 1. Both nodes killed after a snapshot interval: everything written before it is back.
    const before = await write(s, 'crash-', 2000)
    const wroteAt = Date.now()
    assert.ok(await eventually(async () => {
      const st = await status()
      return st.nodes.every((n) => n.snapshot !== null && Date.parse(n.snapshot.time) > wroteAt && n.snapshot.items >= 2000)
    }, 10_000, 100), 'both nodes took a snapshot holding the writes')
    s = await status(0)
    for (const n of s.nodes) process.kill(n.pid!, 'SIGKILL')
    await eventually(async () => (await status()).pairs[0]!.verdict === 'down', 5000, 50)
    const down = await status(2)
    for (const n of down.nodes) {
      assert.ok(n.snapshot !== null && n.snapshot.items >= 2000, `status shows ${n.name}'s snapshot on disk while it is down: ${JSON.stringify(n.snapshot)}`)
    }
    const restarted = await json<StartResult>(['start'], 0, 'start')
    const from = restarted.pairs[0]!.restoredFrom
    assert.ok(from !== null && from.items >= 2000, JSON.stringify(restarted))
    assert.equal(restarted.pairs[0]!.master, from.node)
    s = await status(0)
    await assertHeld(s, before, 'after kill -9 of both')

    // 2. A clean stop of both: everything is back, up to the last write (no interval to wait for).
    const late = await write(s, 'late-', 500)
    assert.equal((await repctl(['stop'])).code, 0)
    const human = await repctl(['status'])
    assert.match(human.stdout, /node1 .* ago, [\d.]+ [KM]?i?B/, 'the table shows each snapshot\'s age and size')
    assert.equal((await repctl(['start'])).code, 0)
    s = await status(0)
    await assertHeld(s, before, 'after a clean stop')
    await assertHeld(s, late, 'after a clean stop (written just before it)')

    // 3. The node with the newest snapshot is the master: node2 stops first, node1 takes writes alone, then stops.
    assert.equal((await repctl(['stop', 'node2'])).code, 0)
    s = await status(1)
    const onlyNode1 = await write(s, 'alone-', 300)
    assert.equal((await repctl(['stop', 'node1'])).code, 0)
    const third = await json<StartResult>(['start'], 0, 'start')
    assert.equal(third.pairs[0]!.master, 'node1', 'node1 has the newer snapshot')
    assert.equal(third.pairs[0]!.restoredFrom?.node, 'node1')
    s = await status(0)
    await assertHeld(s, onlyNode1, 'writes that only node1 had')
    assert.equal((await repctl(['stop'])).code, 0)
  })
})
