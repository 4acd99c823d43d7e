// An application hashing across the pairs itself (docs/examples/ketama-client.mjs,
// memjs and repctl's ketama ring) puts every key on the pair repctl's router
// (real nutcracker, the config repctl renders) puts it on: what one writes,
// the other reads. Real processes: our server for two pairs reached at one
// address each (as through a VIP), a replicating pair of our server given to
// the client as both nodes (no VIP: memjs fails over between them).

import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import memjs from 'memjs'
import {createRingClient, parsePairs, type RingClient} from '../../docs/examples/ketama-client.mjs'
import {ketamaRing} from '../../src/cluster/router/ketama.js'
import {renderNutcrackerConfig} from '../../src/cluster/router/nutcracker-config.js'
import {startPair, type ReplNode} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {launch, startOurServer, toolMissing, which, type RunningServer} from '../helpers/processes.js'
import {getMany, setMany} from '../helpers/text-bulk.js'
import {until} from '../helpers/wait.js'

/** The router's ring, as repctl computes it for the config rendered below. */
const RING = ketamaRing(['pair1', 'pair2', 'c+d'])
const KEYS = Array.from({length: 600}, (_, i) => (i % 2 === 0 ? `k${i}` : `user:${i}:cart`))

describe('client-side ketama (memjs) and the router place every key alike', () => {
  const missing = toolMissing('nutcracker')
  const dir = mkdtempSync(join(tmpdir(), 'repctl-client-ring-'))
  let one: RunningServer, two: RunningServer, three: {master: ReplNode; slave: ReplNode}
  let router: RunningServer | undefined
  let client: RingClient | undefined
  let cachePairs = ''

  before(async () => {
    if (missing !== false) return
    ;[one, two, three] = await Promise.all([startOurServer(), startOurServer(), startPair()])
    const routerPort = await freePort()
    const file = join(dir, 'nutcracker.yml')
    writeFileSync(file, renderNutcrackerConfig({
      cluster: 'app',
      router: {name: 'r1', host: '127.0.0.1', port: routerPort},
      pairs: [
        {name: 'pair1', endpoint: {host: '127.0.0.1', port: one.port}},
        {name: 'pair2', endpoint: {host: '127.0.0.1', port: two.port}},
        // A router reaches a pair without a VIP at one live node.
        {name: 'c+d', endpoint: {host: '127.0.0.1', port: three.master.port}},
      ],
    }))
    const statsPort = await freePort()
    router = await launch(which('nutcracker')!, () => ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, 'nutcracker.log')], 'nutcracker', {port: routerPort})
    // As an application gets it: the pairs' ring names and endpoints, in another order than the router's.
    cachePairs = `c+d=127.0.0.1:${three.master.port},127.0.0.1:${three.slave.port} pair2=127.0.0.1:${two.port} pair1=127.0.0.1:${one.port}`
    client = createRingClient(parsePairs(cachePairs))
  })
  after(async () => {
    client?.close()
    await router?.stop()
    await Promise.all([one?.stop(), two?.stop(), three?.master.stop(), three?.slave.stop()])
    rmSync(dir, {recursive: true, force: true})
  })

  it('keys written by the client read back through the router, each from the pair the ring names', {skip: missing}, async () => {
    const value = (k: string): string => `client:${k}`
    for (const k of KEYS) assert.equal(await client!.set(k, value(k)), true, `set ${k}`)

    // The two single-address pairs hold exactly the keys the ring gives them.
    for (const [name, server] of [['pair1', one], ['pair2', two]] as const) {
      const held = await getMany(server.port, KEYS)
      const expected = KEYS.filter((k) => RING.pairFor(k) === name)
      assert.deepEqual([...held.keys()].sort(), expected.sort(), `${name} holds the keys the ring names for it`)
      assert.ok(expected.length > KEYS.length / 6, `${name} holds a fair part (${expected.length})`)
    }
    // The client split c+d's keys over both nodes (memjs hashes over the two); replication gives the router's node all of them.
    let through = new Map<string, string>()
    const all = await until(async () => { through = await getMany(router!.port, KEYS); return through.size === KEYS.length }, 5000)
    assert.ok(all, `the router read ${through.size} of ${KEYS.length} keys`)
    assert.deepEqual(KEYS.filter((k) => through.get(k) !== value(k)), [], 'every value as the client wrote it')
  })

  it('keys written through the router read back by the client', {skip: missing}, async () => {
    const written = new Map(KEYS.map((k) => [`r-${k}`, `router:${k}`]))
    await setMany(router!.port, written)
    const wrong: string[] = []
    for (const [k, v] of written) {
      // c+d: the router wrote to the master; the client may ask the slave, which has it once replicated.
      const ok = await until(async () => (await client!.get(k))?.toString() === v, 3000)
      if (!ok) wrong.push(`${k}: client read ${String(await client!.get(k))}`)
    }
    assert.deepEqual(wrong, [], 'the client reads every key the router wrote')
  })

  it('a memjs client given all the pairs as its servers (its own hash) misses most of them', {skip: missing}, async (t) => {
    // What the ring is for: memjs alone hashes a key modulo its server list, not as the routers do.
    const plain = memjs.Client.create(`127.0.0.1:${one.port},127.0.0.1:${two.port},127.0.0.1:${three.master.port}`, {retries: 1, timeout: 0.5})
    try {
      let hits = 0
      for (const k of KEYS) if ((await plain.get(`r-${k}`)).value?.toString() === `router:${k}`) hits++
      t.diagnostic(`a plain memjs client over the same three endpoints found ${hits} of ${KEYS.length} keys written through the router`)
      assert.ok(hits < KEYS.length * 0.6, `a plain memjs client found ${hits} of ${KEYS.length} keys the router wrote`)
    } finally { plain.close() }
  })

  it('refuses a pair list it cannot use, naming the entry', () => {
    assert.throws(() => parsePairs(''), /CACHE_PAIRS must list every pair/)
    assert.throws(() => parsePairs('pair1=10.0.0.1'), /"pair1=10.0.0.1" is not NAME=host:port/)
    assert.throws(() => createRingClient(parsePairs('pair1=10.0.0.1:11211 pair1=10.0.0.2:11211')), /"pair1" is given twice/)
  })
})
