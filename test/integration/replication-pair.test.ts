// Two of our nodes replicating on loopback, repcached style: every mutation
// from either side arrives on the other; the full copy is complete even with
// writes racing it; a third node is refused; failover and rejoin.

import assert from 'node:assert/strict'
import {connect} from 'node:net'
import {after, describe, it} from 'node:test'
import {dump, eventually, startNode, startPair, stat, type ReplNode} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {RawClient} from '../helpers/raw-client.js'

const started: ReplNode[] = []
after(async () => { await Promise.all(started.map((n) => n.stop('SIGKILL'))) })

async function pair(extra: string[] = []): Promise<{master: ReplNode; slave: ReplNode}> {
  const p = await startPair(extra)
  started.push(p.master, p.slave)
  return p
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({port, host: '127.0.0.1'})
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

async function send(port: number, req: string, terminator = '\r\n'): Promise<string> {
  const c = await RawClient.open(port)
  try { return await c.request(req, terminator) } finally { c.close() }
}

/** Wait until both nodes hold exactly the same gets view of `keys`. */
async function converged(a: number, b: number, keys: string[], timeoutMs = 5000): Promise<[Map<string, string>, Map<string, string>]> {
  let da = new Map<string, string>()
  let db = new Map<string, string>()
  await eventually(async () => {
    da = await dump(a, keys)
    db = await dump(b, keys)
    return JSON.stringify([...da]) === JSON.stringify([...db])
  }, timeoutMs, 50)
  return [da, db]
}

describe('a pair of our nodes', () => {
  it('reports roles and states in stats', async () => {
    const {master, slave} = await pair()
    assert.equal(await stat(master.port, 'repl_role'), 'master')
    assert.equal(await stat(slave.port, 'repl_role'), 'slave')
    assert.ok(await eventually(async () => (await stat(master.port, 'repl_state')) === 'paired'))
    assert.equal(await stat(slave.port, 'repl_state'), 'paired')
    assert.equal(await stat(master.port, 'replication'), 'MASTER')
    assert.equal(await stat(master.port, 'repcached_version'), '2.3.1')
    assert.equal(await stat(master.port, 'repl_mode'), 'native', 'two of our nodes speak the native protocol')
    assert.match((await stat(slave.port, 'repl_peer'))!, /^127\.0\.0\.1:\d+$/)
  })

  it('replicates every mutation kind from both sides with the same value, flags, cas and exptime', async () => {
    const {master, slave} = await pair()
    const steps: [number, string][] = [
      [master.port, 'set s 5 0 3\r\nabc\r\n'],
      [slave.port, 'set t 7 3600 2\r\nhi\r\n'],
      [master.port, 'add a 1 0 1\r\nA\r\n'],
      [slave.port, 'replace s 9 0 4\r\nabcd\r\n'],
      [master.port, 'append t 0 0 2\r\n++\r\n'],
      [slave.port, 'prepend a 0 0 2\r\n--\r\n'],
      [master.port, 'set n 0 0 2\r\n10\r\n'],
      [slave.port, 'incr n 5\r\n'],
      [master.port, 'decr n 7\r\n'],
      [slave.port, 'touch t 500\r\n'],
      [master.port, 'set gone 0 0 1\r\nx\r\n'],
      [slave.port, 'delete gone\r\n'],
      [master.port, 'set quiet 3 0 2 noreply\r\nqq\r\nversion\r\n'],
    ]
    const keys = ['s', 't', 'a', 'n', 'gone', 'quiet']
    // Replication is asynchronous: let each change arrive before the next one builds on it.
    for (const [port, req] of steps) {
      await send(port, req)
      await converged(master.port, slave.port, keys)
    }
    const casReply = await send(master.port, 'gets s\r\n', 'END\r\n')
    const cas = /VALUE s \d+ \d+ (\d+)/.exec(casReply)![1]
    await send(slave.port, `cas s 11 0 1 ${cas}\r\nC\r\n`)
    const [dm, ds] = await converged(master.port, slave.port, keys)
    assert.deepEqual([...ds], [...dm])
    assert.equal(dm.get('s'), `11 1 ${/ (\d+) C$/.exec(dm.get('s')!)![1]} C`)
    assert.match(dm.get('t')!, /^7 4 \d+ hi\+\+$/)
    assert.match(dm.get('a')!, /^1 3 \d+ --A$/)
    assert.match(dm.get('n')!, /^0 2 \d+ 8 $/)
    assert.equal(dm.has('gone'), false)
    assert.match(dm.get('quiet')!, /^3 2 \d+ qq$/)
    // cachedump lists "ITEM key [bytes b; exptime s]". Native links send the remaining lifetime, not
    // the absolute time, so the receiver's expiry can land one second off when its clock ticks in between.
    const dumpOf = async (port: number): Promise<Map<string, [number, number]>> => {
      const reply = await send(port, 'stats cachedump 1 100\r\n', 'END\r\n')
      return new Map([...reply.matchAll(/^ITEM (\S+) \[(\d+) b; (\d+) s\]\r$/gm)].map((m) => [m[1]!, [Number(m[2]), Number(m[3])]]))
    }
    const [em, es] = [await dumpOf(master.port), await dumpOf(slave.port)]
    assert.deepEqual([...es.keys()].sort(), [...em.keys()].sort())
    assert.ok(em.size > 0)
    for (const [key, [bytes, exptime]] of em) {
      const [b, e] = es.get(key)!
      assert.equal(b, bytes, key)
      assert.ok(exptime === 0 ? e === 0 : Math.abs(e - exptime) <= 1, `exptime of ${key}: ${exptime} on the master, ${e} on the slave`)
    }
  })

  it('replicates flush_all and a binary-protocol write', async () => {
    const {master, slave} = await pair()
    await send(master.port, 'set f 0 0 1\r\nx\r\n')
    assert.ok(await eventually(async () => (await dump(slave.port, ['f'])).size === 1))
    await send(slave.port, 'flush_all\r\n')
    assert.ok(await eventually(async () => (await dump(master.port, ['f'])).size === 0), 'flush_all on the slave empties the master')
    // Binary Set of key "b" = "v" (memcached binary protocol), on the master.
    const key = Buffer.from('b')
    const value = Buffer.from('v')
    const frame = Buffer.alloc(24 + 8 + key.length + value.length)
    frame[0] = 0x80; frame[1] = 0x01; frame.writeUInt16BE(key.length, 2); frame[4] = 8
    frame.writeUInt32BE(8 + key.length + value.length, 8)
    key.copy(frame, 32); value.copy(frame, 32 + key.length)
    const c = await RawClient.open(master.port)
    c.send(frame)
    await c.readUntil((b) => b.length >= 24)
    c.close()
    assert.ok(await eventually(async () => (await dump(slave.port, ['b'])).get('b')?.endsWith(' v') === true), 'binary write replicated')
  })

  it('copies every item to a new slave while writes race the copy, and refuses a third node', async () => {
    const [ra, rb] = [await freePort(), await freePort()]
    const master = await startNode({repListen: ra, repConnect: rb, peer: '127.0.0.1'})
    started.push(master)
    const n = 30_000
    const c = await RawClient.open(master.port)
    for (let i = 0; i < n; i += 1000) {
      let batch = ''
      for (let j = i; j < i + 1000; j++) batch += `set k${j} ${j % 7} 0 ${String(j).length} noreply\r\n${j}\r\n`
      await c.request(batch + 'version\r\n')
    }
    // Writes that race the copy: overwrite and delete keys while the slave starts.
    let writing = true
    const racer = (async () => {
      const w = await RawClient.open(master.port)
      let i = 0
      while (writing) {
        await w.request(`set k${i % n} 0 0 4 noreply\r\nnew!\r\ndelete k${(i * 7 + 3) % n} noreply\r\nversion\r\n`)
        i++
      }
      w.close()
    })()
    const slave = await startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1'})
    started.push(slave)
    writing = false
    await racer
    c.close()
    assert.equal(await canConnect(ra), false, 'a third node cannot reach the master while paired')
    const keys = Array.from({length: n}, (_, i) => `k${i}`)
    const [dm, ds] = await converged(master.port, slave.port, keys, 15_000)
    assert.ok(dm.size > n / 2)
    assert.equal(ds.size, dm.size)
    assert.deepEqual(ds, dm)
    assert.ok(Number(await stat(master.port, 'repl_copy_sent')) > 0)
    assert.ok(Number(await stat(slave.port, 'repl_copy_received')) > 0)
  })
})

describe('addresses', () => {
  it('binds the outgoing replication connection to the node\'s -l address', async () => {
    const [ra, rb] = [await freePort('127.0.0.1'), await freePort('127.0.0.2')]
    const master = await startNode({repListen: ra, repConnect: rb, peer: '127.0.0.2', host: '127.0.0.1'})
    started.push(master)
    const slave = await startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1', host: '127.0.0.2'})
    started.push(slave)
    assert.equal(await stat(slave.port, 'repl_role', '127.0.0.2'), 'slave')
    assert.match((await stat(master.port, 'repl_peer'))!, /^127\.0\.0\.2:\d+$/, 'the master sees the slave coming from its own address')
  })
})

describe('failover', () => {
  for (const victim of ['master', 'slave'] as const) {
    it(`kill -9 the ${victim}: the survivor listens at once and keeps serving; a restart with -x rejoins with a full copy`, async () => {
      const p = await pair()
      const dead = p[victim]
      const survivor = victim === 'master' ? p.slave : p.master
      const keys = Array.from({length: 2000}, (_, i) => `f${i}`)
      const c = await RawClient.open(survivor.port)
      await c.request(keys.map((k) => `set ${k} 0 0 ${k.length} noreply\r\n${k}\r\n`).join('') + 'version\r\n')
      await converged(survivor.port, dead.port, keys)
      // Write load on the survivor throughout: the kill, the restart and the copy.
      let writing = true
      const written: string[] = []
      const writer = (async () => {
        const w = await RawClient.open(survivor.port)
        for (let i = 0; writing; i++) {
          const k = `w${i}`
          if ((await w.request(`set ${k} 0 0 ${k.length}\r\n${k}\r\n`)) === 'STORED\r\n') written.push(k)
        }
        w.close()
      })()
      await new Promise((r) => setTimeout(r, 50))
      process.kill(dead.pid, 'SIGKILL')
      const t0 = Date.now()
      assert.ok(await eventually(() => canConnect(survivor.repPort), 3000, 2), 'survivor listens for a new slave')
      const listeningAfterMs = Date.now() - t0
      process.stdout.write(`# survivor listening ${listeningAfterMs} ms after kill -9 of the ${victim}\n`)
      assert.equal(await c.request('set after 0 0 2\r\nok\r\n'), 'STORED\r\n')
      assert.equal(await stat(survivor.port, 'repl_role'), 'master')
      assert.equal(await stat(survivor.port, 'repl_state'), 'listening')
      c.close()
      await dead.stop()
      const back = await startNode({repListen: dead.repPort, repConnect: survivor.repPort, peer: '127.0.0.1', port: dead.port})
      started.push(back)
      assert.equal(await stat(back.port, 'repl_role'), 'slave')
      await new Promise((r) => setTimeout(r, 50))
      writing = false
      await writer
      assert.ok(written.length > 10, `writes kept succeeding on the survivor (${written.length})`)
      const all = [...keys, 'after', ...written]
      const [ds, db] = await converged(survivor.port, back.port, all)
      assert.equal(db.size, all.length, 'every acknowledged write is on the rejoined node')
      assert.deepEqual(db, ds)
      assert.equal(await stat(back.port, 'curr_items'), await stat(survivor.port, 'curr_items'))
    })
  }
})

describe('shutdown', () => {
  it('SIGTERM drains changes made just before it to the peer', async () => {
    const {master, slave} = await pair()
    const keys = Array.from({length: 5000}, (_, i) => `d${i}`)
    const c = await RawClient.open(master.port)
    c.send(keys.map((k) => `set ${k} 0 0 ${k.length} noreply\r\n${k}\r\n`).join('') + 'version\r\n')
    await c.readUntil((b) => b.toString().includes('VERSION'))
    c.close()
    assert.equal(await master.stop('SIGTERM'), 0)
    assert.match(master.stderr(), /replication: cleanup complete/)
    const ds = await dump(slave.port, keys)
    assert.equal(ds.size, keys.length, 'every write acknowledged before SIGTERM reached the peer')
  })

  it('a frozen (SIGSTOPped) peer does not make shutdown hang past the drain timeout', async () => {
    const {master, slave} = await pair(['--rep-drain-timeout=1'])
    process.kill(slave.pid, 'SIGSTOP')
    try {
      const c = await RawClient.open(master.port)
      const big = 'x'.repeat(100_000)
      // ~20 MB of changes: far more than the socket buffers can hold.
      for (let i = 0; i < 200; i++) c.send(`set big${i} 0 0 ${big.length} noreply\r\n${big}\r\n`)
      await c.request('version\r\n')
      c.close()
      const t0 = Date.now()
      const code = await master.stop('SIGTERM')
      const took = Date.now() - t0
      assert.equal(code, 0)
      assert.ok(took < 5000, `shutdown took ${took} ms with a 1 s drain timeout`)
    } finally {
      process.kill(slave.pid, 'SIGCONT')
    }
  })
})
