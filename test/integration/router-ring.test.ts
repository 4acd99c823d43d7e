// What the ring names in the rendered nutcracker config buy, with real
// processes: three memcached on loopback, nutcracker in front of two of them.
// A pair's keys follow its name, not its address: pointing a name at another
// server moves none of the other pair's keys; renaming it does.

import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {ketamaRing, movedShare} from '../../src/cluster/router/ketama.js'
import {renderNutcrackerConfig, type RouterPairEndpoint} from '../../src/cluster/router/nutcracker-config.js'
import {freePort} from '../helpers/ports.js'
import {launch, startMemcached, toolMissing, which, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {getMany, setMany} from '../helpers/text-bulk.js'

/** Keys that differ only in their last characters, like most applications' keys: a weak hash puts them all on one pair. */
const KEYS = Array.from({length: 100}, (_, i) => `k${i}`)

async function setAll(port: number): Promise<void> {
  const c = await RawClient.open(port)
  try {
    for (const k of KEYS) {
      c.send(`set ${k} 0 0 ${k.length}\r\n${k}\r\n`)
      const reply = (await c.readUntil((b) => b.includes('\r\n'))).toString('latin1')
      assert.equal(reply, 'STORED\r\n', `set ${k} through the router`)
    }
  } finally { c.close() }
}

/** The keys `port` answers with their own value; any other reply but a miss fails. */
async function held(port: number): Promise<Set<string>> {
  const c = await RawClient.open(port)
  const found = new Set<string>()
  try {
    for (const k of KEYS) {
      c.send(`get ${k}\r\n`)
      const reply = (await c.readUntil((b) => b.toString('latin1').endsWith('END\r\n'))).toString('latin1')
      if (reply === `VALUE ${k} 0 ${k.length}\r\n${k}\r\nEND\r\n`) found.add(k)
      else assert.equal(reply, 'END\r\n', `get ${k} on port ${port}`)
    }
  } finally { c.close() }
  return found
}

describe('nutcracker hashes the ring names repctl writes, not the addresses', () => {
  const missing = toolMissing('nutcracker') || toolMissing('memcached')
  const dir = mkdtempSync(join(tmpdir(), 'repctl-router-ring-'))
  let m1: RunningServer, m2: RunningServer, m3: RunningServer
  let router: RunningServer | undefined
  let routerPort = 0

  before(async () => {
    if (missing !== false) return
    ;[m1, m2, m3] = await Promise.all([startMemcached(), startMemcached(), startMemcached()])
    routerPort = await freePort()
  })
  after(async () => {
    await router?.stop()
    await Promise.all([m1?.stop(), m2?.stop(), m3?.stop()])
    rmSync(dir, {recursive: true, force: true})
  })

  /** (Re)start the router with `pairs` on the same port: nutcracker has no reload. */
  async function runRouter(pairs: RouterPairEndpoint[], label: string): Promise<void> {
    await router?.stop()
    const file = join(dir, `${label}.yml`)
    writeFileSync(file, renderNutcrackerConfig({cluster: 'ring', router: {name: 'r1', host: '127.0.0.1', port: routerPort}, pairs}))
    const statsPort = await freePort()
    router = await launch(which('nutcracker')!, () => ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, `${label}.log`)], 'nutcracker', {port: routerPort})
  }
  const at = (s: RunningServer): {host: string; port: number} => ({host: '127.0.0.1', port: s.port})

  it('an endpoint change keeps every key of the other pair in place; a rename moves some', {skip: missing}, async () => {
    await runRouter([{name: 'pair1', endpoint: at(m1)}, {name: 'pair2', endpoint: at(m2)}], 'first')
    await setAll(routerPort)
    const [on1, on2] = [await held(m1.port), await held(m2.port)]
    assert.equal(on1.size + on2.size, KEYS.length, 'every key on exactly one pair')
    assert.ok(on1.size > KEYS.length / 4 && on2.size > KEYS.length / 4, `keys spread over both pairs (${on1.size}, ${on2.size})`)

    // pair1 now answers at m3 (empty): as after a failover to a node that lost its items.
    await runRouter([{name: 'pair1', endpoint: at(m3)}, {name: 'pair2', endpoint: at(m2)}], 'moved')
    const through = await held(routerPort)
    assert.deepEqual([...on2].filter((k) => !through.has(k)), [], 'pair2\'s keys all still read through the router')
    assert.deepEqual([...on1].filter((k) => through.has(k)), [], 'pair1\'s keys go to pair1\'s new endpoint (which does not have them), not to pair2')

    // The same endpoints under another name: the ring changes, and some of pair2's keys now go to m3.
    await runRouter([{name: 'pair3', endpoint: at(m3)}, {name: 'pair2', endpoint: at(m2)}], 'renamed')
    const afterRename = await held(routerPort)
    const lost = [...on2].filter((k) => !afterRename.has(k))
    assert.ok(lost.length > 0, 'renaming a pair moves keys of the other pair: the name is what ketama hashes')
  })
})

// src/cluster/router/ketama.ts says where nutcracker puts a key without asking
// it. Here nutcracker itself places the keys: every key must be on the
// memcached that pairFor names, and adding a pair must move the keys
// movedShare predicts, all to the new pair.

/** Keys of the shapes applications use: short counters, structured names, random ids. */
const MANY_KEYS = Array.from({length: 1500}, (_, i) => [`k${i}`, `user:${i}:profile`, `session-${createHash('sha1').update(String(i)).digest('hex').slice(0, 20)}`][i % 3]!)

describe('nutcracker puts every key where ketamaRing says', () => {
  const missing = toolMissing('nutcracker') || toolMissing('memcached')
  const dir = mkdtempSync(join(tmpdir(), 'repctl-ketama-'))
  let servers: RunningServer[] = []
  let router: RunningServer | undefined
  let routerPort = 0

  after(async () => {
    await router?.stop()
    await Promise.all(servers.map((s) => s.stop()))
    rmSync(dir, {recursive: true, force: true})
  })

  async function runRouter(pairs: RouterPairEndpoint[], label: string): Promise<void> {
    await router?.stop()
    routerPort = routerPort || await freePort()
    const file = join(dir, `${label}.yml`)
    writeFileSync(file, renderNutcrackerConfig({cluster: 'ring', router: {name: 'r1', host: '127.0.0.1', port: routerPort}, pairs}))
    const statsPort = await freePort()
    router = await launch(which('nutcracker')!, () => ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, `${label}.log`)], 'nutcracker', {port: routerPort})
  }

  /** For each key, the names of the pairs whose memcached holds `value(key)`. */
  async function holders(names: readonly string[], value: (k: string) => string): Promise<Map<string, string[]>> {
    const found = new Map<string, string[]>(MANY_KEYS.map((k) => [k, []]))
    for (const [i, name] of names.entries()) {
      for (const [k, v] of await getMany(servers[i]!.port, MANY_KEYS)) if (v === value(k)) found.get(k)!.push(name)
    }
    return found
  }

  /** Keys whose holders are not exactly [pairFor(key)], with where they are. */
  function misplaced(found: Map<string, string[]>, pairFor: (k: string) => string): string[] {
    return [...found].filter(([k, on]) => !(on.length === 1 && on[0] === pairFor(k))).map(([k, on]) => `${k}: on ${on.join(',') || 'none'}, ring says ${pairFor(k)}`)
  }

  it('3 pairs, then a 4th: each key on its pair; the keys that move are the moved share, all to the new pair', {skip: missing}, async (t) => {
    servers = await Promise.all([1, 2, 3, 4].map(() => startMemcached(['-m', '16', '-t', '1'])))
    const names = ['pair1', 'pair2', 'pair3', 'pair4']
    const pairs = names.map((name, i) => ({name, endpoint: {host: '127.0.0.1', port: servers[i]!.port}}))
    const [three, four] = [ketamaRing(names.slice(0, 3)), ketamaRing(names)]

    await runRouter(pairs.slice(0, 3), 'three')
    const before = (k: string): string => `three:${k}`
    await setMany(routerPort, new Map(MANY_KEYS.map((k) => [k, before(k)])))
    const placedBefore = await holders(names, before)
    assert.deepEqual(misplaced(placedBefore, three.pairFor), [], 'with 3 pairs, every key on the pair ketamaRing names')
    for (const name of names.slice(0, 3)) assert.ok([...placedBefore.values()].filter((on) => on[0] === name).length > MANY_KEYS.length / 6, `${name} holds a fair part`)

    await runRouter(pairs, 'four')
    const afterAdd = (k: string): string => `four:${k}`
    await setMany(routerPort, new Map(MANY_KEYS.map((k) => [k, afterAdd(k)])))
    const placedAfter = await holders(names, afterAdd)
    assert.deepEqual(misplaced(placedAfter, four.pairFor), [], 'with 4 pairs, every key on the pair ketamaRing names')

    const moved = MANY_KEYS.filter((k) => placedAfter.get(k)![0] !== placedBefore.get(k)![0])
    assert.deepEqual(moved.filter((k) => placedAfter.get(k)![0] !== 'pair4'), [], 'every key that moved went to the new pair')
    const predicted = movedShare(names.slice(0, 3), names)
    const measured = moved.length / MANY_KEYS.length
    // 4 standard deviations of the share of n sampled keys.
    const tolerance = 4 * Math.sqrt(predicted.share * (1 - predicted.share) / MANY_KEYS.length)
    assert.ok(Math.abs(measured - predicted.share) < tolerance, `${moved.length} of ${MANY_KEYS.length} keys moved (${measured.toFixed(4)}); movedShare says ${predicted.share.toFixed(4)} ± ${tolerance.toFixed(4)}`)
    t.diagnostic(`keys moved adding a 4th pair: ${moved.length}/${MANY_KEYS.length} = ${measured.toFixed(4)}; movedShare ${predicted.share.toFixed(4)}`)

    const through = await getMany(routerPort, MANY_KEYS)
    assert.equal([...through.values()].filter((v, i) => v !== afterAdd(MANY_KEYS[i]!)).length, 0, 'the router reads back what it wrote')
  })

  it('25 pairs, where nutcracker\'s float arithmetic gives each 156 points, not 160: each key on its pair', {skip: missing, timeout: 60_000}, async () => {
    await router?.stop()
    router = undefined
    await Promise.all(servers.map((s) => s.stop()))
    servers = await Promise.all(Array.from({length: 25}, () => startMemcached(['-m', '8', '-t', '1'])))
    const names = servers.map((_, i) => `node${i}+node${i + 100}`)
    await runRouter(names.map((name, i) => ({name, endpoint: {host: '127.0.0.1', port: servers[i]!.port}})), 'twenty-five')
    const value = (k: string): string => `25:${k}`
    await setMany(routerPort, new Map(MANY_KEYS.map((k) => [k, value(k)])))
    assert.deepEqual(misplaced(await holders(names, value), ketamaRing(names).pairFor), [], 'with 25 pairs, every key on the pair ketamaRing names')
  })
})
