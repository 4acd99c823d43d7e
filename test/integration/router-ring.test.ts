// What the ring names in the rendered nutcracker config buy, with real
// processes: three memcached on loopback, nutcracker in front of two of them.
// A pair's keys follow its name, not its address: pointing a name at another
// server moves none of the other pair's keys; renaming it does.

import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {renderNutcrackerConfig, type RouterPairEndpoint} from '../../src/cluster/router/nutcracker-config.js'
import {freePort} from '../helpers/ports.js'
import {launch, startMemcached, toolMissing, which, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'

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
