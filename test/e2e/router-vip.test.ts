// A router in front of pairs with VIPs, on hosts with their own network:
// three network-namespace hosts reached over SSH (test/helpers/router-vip-cluster.ts),
// three pairs each with its two nodes on two different hosts and its own VIP
// and port, keepalived beside every node, and one router (nutcracker) on host 1,
// all started by repctl over SSH. Clients in the root namespace talk to the
// router only. Everything is asked of the real system: the router's config
// through `repctl status --json`, the VIPs on the interfaces, the keys on each
// pair read at its VIP directly, processes by pid.
//
// - start: the router sends each pair's keys to the pair's VIP; keys written
//   through the router are on the pair nutcracker's ring names, and on no other;
// - kill -9 of a pair's master while clients write and read every pair's keys
//   through the router: the VIP moves, the router is not touched (same
//   nutcracker pid, same routes) and serves that pair's keys again from the
//   survivor; no key is on another pair, no read is stale, no write
//   acknowledged after the kill is missing; `repctl rejoin` brings the dead
//   node back and leaves the router alone.

import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {ketamaRing} from '../../src/cluster/router/ketama.js'
import {Conn, readKeys} from '../helpers/load.js'
import {alive, netnsMissing, programMissing} from '../helpers/netns.js'
import {keysOfPair, ROUTER_PORT, RouterVipCluster, VIP_PAIRS} from '../helpers/router-vip-cluster.js'
import {clock, VipClient} from '../helpers/vip-client.js'
import {KEEPALIVED} from '../helpers/vip-cluster.js'

const NUTCRACKER = '/usr/sbin/nutcracker'
const skipNet = netnsMissing()
const skipKeepalived = skipNet === false ? programMissing(KEEPALIVED, 'keepalived') : skipNet
const skip = skipKeepalived === false ? programMissing(NUTCRACKER, 'nutcracker') : skipKeepalived
if (skip !== false) process.stderr.write(`\n*** router-vip.test.ts: ${skip} ***\n\n`)

const PAIR_NAMES = VIP_PAIRS.map((p) => p.name)
const vipOf = (pair: string): {host: string; port: number} => {
  const p = VIP_PAIRS.find((x) => x.name === pair)!
  return {host: p.vip, port: p.port}
}

describe('a router in front of three pairs with VIPs on namespace hosts (SSH): keys go to the VIPs, a failover needs no router restart', {skip}, () => {
  let rc: RouterVipCluster
  const clients: VipClient[] = []

  before(async () => {
    rc = await RouterVipCluster.create('routervip', {repctlTimeoutMs: 120_000})
    const r = await rc.repctl.run(['start'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()))
    await rc?.destroy()
  })

  it('start: the router sends each pair to its VIP; keys written through it are on the pair the ring names, and on no other', async (t) => {
    const s = await rc.waitHealthy()
    const router = rc.router(s)
    assert.equal(router.transport, 'ssh')
    assert.ok(router.pid !== null && rc.routerHost.pids().includes(router.pid), `nutcracker (pid ${router.pid}) runs inside ${rc.routerHost.name}`)
    assert.deepEqual(router.pairs.map((p) => [p.name, p.endpoint, p.via]),
      VIP_PAIRS.map((p) => [p.name, `${p.vip}:${p.port}`, 'vip']))

    const keys = Array.from({length: 300}, (_, i) => `spread-${i}`)
    const conn = await Conn.open(rc.routerEndpoint, 2000)
    assert.ok(conn !== undefined, `connect to the router at ${rc.routerEndpoint.host}:${ROUTER_PORT}`)
    try {
      for (const k of keys) {
        const w = await conn.request(`set ${k} 0 0 ${k.length + 1}\r\n=${k}\r\n`, 3000)
        assert.deepEqual(w, {ok: true, reply: 'STORED'}, `set ${k} through the router`)
      }
    } finally { conn.destroy() }
    const ring = ketamaRing(PAIR_NAMES)
    const counts: Record<string, number> = {}
    for (const p of VIP_PAIRS) {
      const held = await readKeys(vipOf(p.name), keys)
      const mine = keys.filter((k) => ring.pairFor(k) === p.name)
      counts[p.name] = mine.length
      assert.ok(mine.length > 30, `${p.name} gets a share of the keys (${mine.length} of 300)`)
      for (const k of keys) assert.equal(held.get(k), mine.includes(k) ? `=${k}` : null, `${k} on ${p.name} (the ring sends it to ${ring.pairFor(k)})`)
    }
    t.diagnostic(`300 keys through the router: ${JSON.stringify(counts)}, each on exactly the pair the ring names`)
  })

  it('kill -9 of a pair\'s master: through the unchanged router its keys are served again by the survivor; no key moved, nothing stale', async (t) => {
    const victimPair = 'pair2'
    const before = await rc.waitHealthy()
    const routerBefore = rc.router(before)
    const master = rc.pairStatus(before, victimPair).master!
    const survivor = rc.pair(victimPair).nodes.find((n) => n !== master)!
    assert.deepEqual(await rc.holders(victimPair), [master], 'the VIP is on the master\'s host')

    // One client per pair, each cycling over keys the ring sends to its pair.
    const byPair = new Map<string, VipClient>()
    for (const name of PAIR_NAMES) {
      const c = new VipClient({endpoint: rc.routerEndpoint, prefix: `${name}-k-`, keyList: keysOfPair(PAIR_NAMES, name, `${name}-k-`, 1000)}).start()
      clients.push(c)
      byPair.set(name, c)
    }
    for (const [name, c] of byPair) assert.ok(await c.acknowledged(100, 15_000), `writes for ${name} through the router (${c.ledger.failureCount} failures)`)

    const faultAt = clock()
    process.kill(rc.nodePid(master)!, 'SIGKILL')
    const movedMs = await rc.waitHolder(victimPair, survivor, 15_000)
    const victim = byPair.get(victimPair)!
    assert.ok(await victim.acknowledged(100, 15_000), `${victimPair}'s keys are written through the router again (${victim.ledger.failureCount} failures)`)
    for (const c of byPair.values()) await c.stop()

    const outage = victim.ledger.outageAfter(faultAt)
    assert.ok(outage !== undefined)
    const after = (await rc.status()).report
    const routerAfter = rc.router(after)
    assert.equal(routerAfter.pid, routerBefore.pid, 'the router was not restarted')
    assert.ok(routerAfter.pid !== null && alive(routerAfter.pid))
    assert.deepEqual(routerAfter.pairs.map((p) => [p.name, p.endpoint]), routerBefore.pairs.map((p) => [p.name, p.endpoint]), 'the same routes: the VIPs')
    assert.equal(rc.pairStatus(after, victimPair).master, survivor)

    for (const [name, c] of byPair) {
      assert.equal(c.ledger.staleReads, 0, `no stale read of ${name}'s keys`)
      // Its keys are on its own pair's VIP only: the outage moved none elsewhere.
      for (const other of PAIR_NAMES.filter((n) => n !== name)) {
        const found = [...(await readKeys(vipOf(other), c.ledger.keys())).entries()].filter(([, v]) => v !== null)
        assert.deepEqual(found.slice(0, 5), [], `${found.length} of ${name}'s keys are on ${other}`)
      }
    }
    // Writes acknowledged after the kill can only have gone to the survivor; ones before it may have been in the replication queue.
    const missing = await victim.missingOn(vipOf(victimPair))
    assert.deepEqual(missing.filter((m) => m.ackedAt > faultAt).slice(0, 5), [], 'every write acknowledged after the kill is on the survivor')
    const others = PAIR_NAMES.filter((n) => n !== victimPair).map((n) => `${n} ${byPair.get(n)!.ledger.failureCount}`).join(', ')
    t.diagnostic(`kill -9 of ${master} (master of ${victimPair}): VIP on ${survivor}'s host after ${movedMs.toFixed(0)} ms; through the router (nutcracker pid ${routerAfter.pid}, unchanged) ${victimPair}'s keys answered again ${outage.ms.toFixed(0)} ms after the kill (${outage.failures} failed requests); failed requests of the other pairs' clients: ${others}; ${missing.length} of ${victim.ledger.ackCount} acknowledged writes missing (all acknowledged before the kill)`)

    const r = await rc.repctl.run(['rejoin', master])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const healed = await rc.waitHealthy()
    assert.equal(rc.router(healed).pid, routerBefore.pid, 'rejoining the dead node leaves the router alone')
    assert.deepEqual(await rc.holders(victimPair), [survivor], 'nopreempt: the VIP stays with the survivor')
  })
})
