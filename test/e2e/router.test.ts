// Many pairs behind one router (issue 18), as a user runs them: the built
// CLI, real repcached pairs and a real nutcracker on loopback, and a client
// reading and writing THROUGH THE ROUTER. What the router did is checked on
// the nodes themselves (a direct get on each node), and where a key should
// be is what src/cluster/router/ketama.ts computes.
//
// The tests run in order on one cluster (3 pairs, then 4, then 3 again):
// - every key lands on exactly one pair, the one ketamaRing names, and the
//   keys spread over all pairs;
// - kill -9 of a pair's master while the client runs, `repctl supervise`
//   in the background: the router is pointed at the survivor, the pair's
//   keys are served again with their values, no key moved to another pair,
//   no stale read; the client-visible outage is printed;
// - the router killed: status says down, `supervise --once` restarts it;
// - a fourth pair: `repctl start` reports the share of keys that move, the
//   keys that really move are that share, all to the new pair, and a moved
//   key is a miss or its new value, never the old pair's stale copy;
// - a pair removed: refused without --yes (nothing changes), done with it;
// - `repctl stop` stops the router first, and it is gone.

import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {before, describe, it} from 'node:test'
import {ketamaRing, movedShare} from '../../src/cluster/router/ketama.js'
import type {RouterStartResult} from '../../src/cluster/router/steps.js'
import type {StartResult} from '../../src/cluster/start.js'
import type {StatusReport} from '../../src/cluster/status.js'
import type {StopResult} from '../../src/cluster/stop.js'
import type {SuperviseEvent} from '../../src/cluster/supervise/round.js'
import type {SuperviseResult} from '../../src/commands/supervise.js'
import {alive} from '../helpers/netns.js'
import {freePort} from '../helpers/ports.js'
import {readPid, toolMissing} from '../helpers/processes.js'
import {REPCTL_BIN} from '../helpers/repctl.js'
import {repctlWorkspace} from '../helpers/repctl-workspace.js'
import {outage, RouterLoad} from '../helpers/router-load.js'
import {assertValid} from '../helpers/schemas.js'
import {getMany, setMany} from '../helpers/text-bulk.js'
import {sleep, waitFor} from '../helpers/wait.js'

const skip = toolMissing('nutcracker')
if (skip !== false) process.stderr.write(`\n*** router.test.ts: ${skip} ***\n\n`)

const ws = repctlWorkspace('repctl-router-', {timeoutMs: 60_000, nodes: []})
const HOST = '127.0.0.1'
const PAIRS = ['p1', 'p2', 'p3', 'p4'] as const
type PairId = typeof PAIRS[number]
const ringName = (p: PairId): string => `${p}a+${p}b`
const nodesOf = (p: PairId): [string, string] => [`${p}a`, `${p}b`]
const ROUTER = 'r1'

const ports = new Map<string, {port: number; replicationPort: number}>()
const routerPorts = {port: 0, statsPort: 0}

const nodeDir = (node: string): string => join(ws.state, node)
const routerDir = (): string => join(ws.state, ROUTER, ROUTER)
const nodePid = (node: string): number | undefined => readPid(join(nodeDir(node), node, 'repcached.pid'))
const routerPid = (): number | undefined => readPid(join(routerDir(), 'nutcracker.pid'))

/** Every pid this file's processes left in their pid files: killed after the tests, whatever happens. */
function track(): void {
  for (const p of PAIRS) for (const n of nodesOf(p)) { const pid = nodePid(n); if (pid !== undefined) ws.pids.add(pid) }
  const r = routerPid()
  if (r !== undefined) ws.pids.add(r)
}

/** The config with these pairs (each node its own stateDir) and one router. */
function writeConfig(pairs: readonly PairId[]): void {
  const nodes = pairs.flatMap(nodesOf).map((n) => `  ${n}: { host: ${HOST}, port: ${ports.get(n)!.port}, replicationPort: ${ports.get(n)!.replicationPort}, stateDir: ${JSON.stringify(nodeDir(n))} }`)
  writeFileSync(join(ws.work, 'repctl.config.yaml'), `cluster: many
nodes:
${nodes.join('\n')}
pairs:
${pairs.map((p) => `  - [${nodesOf(p).join(', ')}]`).join('\n')}
routers:
  ${ROUTER}: { host: ${HOST}, port: ${routerPorts.port}, statsPort: ${routerPorts.statsPort}, stateDir: ${JSON.stringify(join(ws.state, ROUTER))} }
`)
}

/** `repctl ARGS --json`: the exit code, then the document, checked against its command's schema (or the error schema). */
async function doc<T>(args: string[], code: number): Promise<T> {
  const r = await ws.run([...args, '--json'])
  assert.equal(r.code, code, `repctl ${args.join(' ')}: ${r.stdout}\n${r.stderr}`)
  const d = JSON.parse(r.stdout) as T
  const command = args[0] as 'start' | 'stop' | 'status' | 'supervise'
  // status exits 1-3 with its report (its health); every other non-zero exit is an error document.
  assertValid(code !== 0 && command !== 'status' ? 'error' : command, d)
  return d
}
const status = (code: number): Promise<StatusReport> => doc<StatusReport>(['status'], code)
const routerOf = (s: StatusReport) => {
  const r = s.routers.find((x) => x.name === ROUTER)
  assert.ok(r !== undefined, `status shows router ${ROUTER}: ${JSON.stringify(s.routers)}`)
  return r
}
const startedRouter = (r: StartResult): RouterStartResult => {
  const x = r.routers.find((y) => y.name === ROUTER)
  assert.ok(x !== undefined, JSON.stringify(r))
  return x
}

/** Keys of the shapes applications use (short counters, structured names, random ids). */
function keysNamed(prefix: string, n: number): string[] {
  return Array.from({length: n}, (_, i) => [`${prefix}:${i}`, `${prefix}:user:${i}:profile`, `${prefix}-${createHash('sha1').update(`${prefix}${i}`).digest('hex').slice(0, 16)}`][i % 3]!)
}

/** What each node of these pairs holds of `keys` (a direct get on the node, not through the router). */
async function onNodes(pairs: readonly PairId[], keys: readonly string[]): Promise<Map<string, Map<string, string>>> {
  const nodes = pairs.flatMap(nodesOf)
  const held = await Promise.all(nodes.map((n) => getMany(ports.get(n)!.port, keys)))
  return new Map(nodes.map((n, i) => [n, held[i]!]))
}

/** Until both nodes of every pair hold the same of `keys` (the slaves caught up), then what they hold. */
function replicated(pairs: readonly PairId[], keys: readonly string[]): Promise<Map<string, Map<string, string>>> {
  return waitFor('the slaves to hold what their masters hold', 10_000, async () => {
    const held = await onNodes(pairs, keys)
    const same = pairs.every((p) => {
      const [a, b] = nodesOf(p).map((n) => held.get(n)!)
      return a!.size === b!.size && [...a!].every(([k, v]) => b!.get(k) === v)
    })
    return same ? held : undefined
  }, 100)
}

/** The pairs (of `pairs`) whose nodes hold `key`: both nodes of a pair must agree, a pair with one node holding it fails. */
function pairsHolding(held: Map<string, Map<string, string>>, pairs: readonly PairId[], key: string): PairId[] {
  return pairs.filter((p) => {
    const [a, b] = nodesOf(p).map((n) => held.get(n)!.has(key))
    assert.equal(a, b, `${key} is on one node of ${ringName(p)} only`)
    return a
  })
}

const pairIdOf = (ring: string): PairId => PAIRS.find((p) => ringName(p) === ring)!
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`

/** The background `repctl supervise --json` (its events as JSON lines on stdout), stopped by its pid. */
function superviseInBackground(intervalMs: number): {child: ChildProcess; events: SuperviseEvent[]; stop: () => Promise<void>} {
  const child = spawn(process.execPath, [REPCTL_BIN, 'supervise', '--interval', `${intervalMs}ms`, '--json'], {
    cwd: ws.work, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: ws.home, LANG: 'C.UTF-8'}, stdio: ['ignore', 'pipe', 'pipe'],
  })
  ws.pids.add(child.pid!)
  const events: SuperviseEvent[] = []
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
    const lines = out.split('\n')
    out = lines.pop()!
    for (const line of lines) {
      if (line.trim() === '') continue
      const e = JSON.parse(line) as SuperviseEvent
      assertValid('supervise', {events: [e], unit: null})
      events.push(e)
    }
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    child, events,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM')
      const timer = setTimeout(() => { try { process.kill(child.pid!, 'SIGKILL') } catch { /* gone */ } }, 5000)
      await exited
      clearTimeout(timer)
      assert.equal(err.trim(), '', 'the supervisor wrote nothing to stderr')
    },
  }
}

describe('many pairs behind one nutcracker router, through the CLI', {skip}, () => {
  const ring3 = ketamaRing(['p1', 'p2', 'p3'].map((p) => ringName(p as PairId)))
  const ring4 = ketamaRing(PAIRS.map(ringName))
  /** Written through the router in the first test; they stay, with these values, on their pairs. */
  const spread = new Map(keysNamed('spread', 1500).map((k) => [k, `v1-${k}`]))

  before(async () => {
    const taken = new Set<number>()
    const port = async (): Promise<number> => {
      for (;;) { const p = await freePort(); if (!taken.has(p)) { taken.add(p); return p } }
    }
    for (const p of PAIRS) for (const n of nodesOf(p)) ports.set(n, {port: await port(), replicationPort: await port()})
    routerPorts.port = await port()
    routerPorts.statsPort = await port()
  })

  it('start: three pairs and the router; every key lands on exactly one pair, the one ketamaRing names, and all pairs get a share', async (t) => {
    writeConfig(['p1', 'p2', 'p3'])
    const started = await doc<StartResult>(['start'], 0)
    track()
    const r = startedRouter(started)
    assert.deepEqual([r.action, r.movedShare, r.added, r.removed], ['started', null, [], []])
    assert.equal(r.pid, routerPid(), 'the pid reported is nutcracker\'s, from its pid file')
    const s = await status(0)
    assert.equal(routerOf(s).verdict, 'ok', routerOf(s).reason)

    await setMany(routerPorts.port, spread)
    const held = await replicated(['p1', 'p2', 'p3'], [...spread.keys()])
    const count = new Map<string, number>()
    for (const [key, value] of spread) {
      const on = pairsHolding(held, ['p1', 'p2', 'p3'], key)
      assert.deepEqual(on.map(ringName), [ring3.pairFor(key)], `${key} is on exactly the pair the ring names`)
      assert.equal(held.get(nodesOf(on[0]!)[0])!.get(key), value)
      count.set(ringName(on[0]!), (count.get(ringName(on[0]!)) ?? 0) + 1)
    }
    const shares = [...count].map(([p, n]) => `${p} ${pct(n / spread.size)}`)
    t.diagnostic(`${spread.size} keys through the router: ${shares.join(', ')}`)
    for (const p of ['p1', 'p2', 'p3'] as const) assert.ok((count.get(ringName(p)) ?? 0) > spread.size / 10, `pair ${ringName(p)} holds a fair share: ${shares.join(', ')}`)
    const through = await getMany(routerPorts.port, [...spread.keys()])
    assert.deepEqual([...spread].filter(([k, v]) => through.get(k) !== v), [], 'every key reads back through the router')
  })

  it('kill -9 of a pair\'s master under load: the supervisor points the router at the survivor; the pair\'s keys are served again, none moved, none stale', async (t) => {
    const victimPair: PairId = 'p2'
    const before = await status(0)
    const route = routerOf(before).pairs.find((p) => p.name === ringName(victimPair))!
    const victim = route.node!
    const survivor = nodesOf(victimPair).find((n) => n !== victim)!
    assert.equal(before.nodes.find((n) => n.name === victim)!.role, 'master', 'the router sends the pair\'s keys to its master')
    const victimPid = nodePid(victim)!
    assert.equal(victimPid, before.nodes.find((n) => n.name === victim)!.pid)

    const live = Array.from({length: 4}, (_, w) => keysNamed(`live${w}`, 60))
    const load = new RouterLoad({host: HOST, port: routerPorts.port, keysPerWorker: live, pairOf: (k) => ring3.pairFor(k), prefix: 'kill', requestTimeoutMs: 2000}).start()
    const sup = superviseInBackground(200)
    let killedAt = 0
    try {
      await waitFor('the supervisor\'s first round', 20_000, async () => (sup.events.some((e) => e.pair === nodesOf('p3').join(',')) ? true : undefined), 50)
      await waitFor('the client to get going', 10_000, async () => (load.succeeded('get', ringName(victimPair)) > 50 ? true : undefined), 20)
      killedAt = Date.now()
      process.kill(victimPid, 'SIGKILL')
      const seen = (what: string, check: (e: SuperviseEvent) => boolean): Promise<true> =>
        waitFor(what, 20_000, async () => (sup.events.some(check) ? true : undefined), 50)
          .catch((e: Error) => assert.fail(`${e.message}; the supervisor said:\n${sup.events.map((x) => JSON.stringify(x)).join('\n')}`))
      await seen('the supervisor to point the router at the survivor', (e) => e.router === ROUTER && e.event === 'repair' && e.action === 'update_router' && e.outcome === 'ok')
      await waitFor('the pair\'s keys answered again through the router', 10_000, async () => (outage(load.requests, ringName(victimPair), killedAt).ms !== null ? true : undefined), 20)
      await seen('the killed node to rejoin', (e) => e.event === 'repair' && e.action === 'rejoin' && e.node === victim && e.outcome === 'ok')
      await sleep(500) // more traffic on the repaired pair
    } finally {
      await load.stop()
      await sup.stop()
      track()
    }

    const o = outage(load.requests, ringName(victimPair), killedAt)
    const others = ['p1', 'p3'].map((p) => outage(load.requests, ringName(p as PairId), killedAt))
    const repair = sup.events.find((e) => e.router === ROUTER && e.action === 'update_router' && e.event === 'repair')!
    t.diagnostic(`outage of ${ringName(victimPair)}'s keys through the router after kill -9 of ${victim}: ${o.ms} ms from the first failed request (${o.firstFailure}) to the first answered one; ${o.failed} requests failed`)
    t.diagnostic(`the other pairs' keys (the router restart drops every client connection): ${others.map((x, i) => `${['p1', 'p3'][i]} ${x.failed} failed${x.ms === null ? '' : `, ${x.ms} ms`}`).join('; ')}`)
    t.diagnostic(`supervisor: ${repair.reason} (${repair.durationMs} ms); ${load.succeeded('set')} sets and ${load.succeeded('get')} gets answered in all`)
    assert.deepEqual(load.staleReads, [], 'no read through the router gave a value the client had overwritten')
    assert.deepEqual(load.misses, [], 'no acknowledged write was lost')
    assert.ok(o.ms !== null, 'the pair\'s keys failed after the kill, then were answered again')
    assert.match(repair.reason, new RegExp(`sends pair ${ringName(victimPair).replace('+', '\\+')} to ${HOST}:${ports.get(victim)!.port}, served now at ${HOST}:${ports.get(survivor)!.port}`))
    // The router goes first: the rejoin waits for the killed node's full copy, which can take long on a big cache.
    const rejoining = sup.events.find((e) => e.event === 'repairing' && e.action === 'rejoin' && e.node === victim)!
    const rejoined = sup.events.find((e) => e.event === 'repair' && e.action === 'rejoin' && e.node === victim)!
    t.diagnostic(`the killed node's rejoin took ${rejoined.durationMs} ms and ended ${Date.parse(rejoined.time) - killedAt} ms after the kill; the pair answered again ${o.servedAgainAt! - killedAt} ms after the kill`)
    assert.ok(sup.events.indexOf(repair) < sup.events.indexOf(rejoining), 'the router was pointed at the survivor before the rejoin began')
    assert.ok(o.servedAgainAt! < Date.parse(rejoined.time), 'the pair\'s keys were answered through the router before the killed node had rejoined')

    const after = await status(0)
    const now = routerOf(after).pairs.find((p) => p.name === ringName(victimPair))!
    assert.deepEqual([now.node, now.endpoint], [survivor, `${HOST}:${ports.get(survivor)!.port}`], 'the router sends the pair to the survivor')
    assert.equal(routerOf(after).verdict, 'ok')

    // Through the router: the values written before the kill (replicated to the survivor), and the client's last writes.
    const through = await getMany(routerPorts.port, [...spread.keys()])
    assert.deepEqual([...spread].filter(([k, v]) => through.get(k) !== v).map(([k]) => k), [], 'every key written before the kill reads back')
    const liveKeys = live.flat()
    const lastReads = await getMany(routerPorts.port, liveKeys)
    assert.deepEqual(liveKeys.filter((k) => load.allowed(k).length > 0 && !load.allowed(k).includes(lastReads.get(k)!)), [], 'each key reads as the client last wrote it')

    // On the nodes: every key is where it was, on both nodes of its pair (the killed one after its full copy), on no other.
    const all = [...spread.keys(), ...load.ackedKeys()]
    const held = await replicated(['p1', 'p2', 'p3'], all)
    for (const key of all) assert.deepEqual(pairsHolding(held, ['p1', 'p2', 'p3'], key).map(ringName), [ring3.pairFor(key)], `${key} did not move`)
  })

  it('the router killed with -9: status says down, supervise --once restarts it, requests go through again', async (t) => {
    const pid = routerPid()!
    assert.equal(routerOf(await status(0)).pid, pid)
    process.kill(pid, 'SIGKILL')
    await waitFor('nutcracker to die', 5000, async () => (alive(pid) ? undefined : true))
    const down = await status(2)
    assert.equal(down.health, 'critical', 'the only router is down: clients reach nothing')
    assert.deepEqual([routerOf(down).verdict, routerOf(down).process], ['down', 'stopped'])
    await assert.rejects(getMany(routerPorts.port, ['spread:0']), /ECONNREFUSED/)

    const t0 = performance.now()
    const round = await doc<SuperviseResult>(['supervise', '--once'], 0)
    track()
    const restart = round.events.find((e) => e.router === ROUTER && e.event === 'repair')
    assert.ok(restart !== undefined, JSON.stringify(round.events))
    assert.deepEqual([restart.action, restart.outcome, restart.daemon, restart.pair], ['restart_router', 'ok', 'nutcracker', null], restart.reason)
    t.diagnostic(`supervise --once restarted the router in ${restart.durationMs} ms (${(performance.now() - t0).toFixed(0)} ms with the CLI)`)

    const up = await status(0)
    const newPid = routerOf(up).pid
    assert.ok(newPid !== null && newPid !== pid && alive(newPid), `a new nutcracker runs (was ${pid}, now ${newPid})`)
    assert.equal(routerOf(up).verdict, 'ok', routerOf(up).reason)
    assert.match(restart.reason, new RegExp(`router ${ROUTER} started, pid ${newPid}`))
    const through = await getMany(routerPorts.port, [...spread.keys()])
    assert.deepEqual([...spread].filter(([k, v]) => through.get(k) !== v).map(([k]) => k), [], 'every key reads through the new router')
  })

  it('a planned stop of the node a router sends a pair to: the router is pointed at its peer first, and the pair\'s keys keep reading through it (no supervisor running)', async () => {
    const before = routerOf(await status(0))
    const route = before.pairs.find((p) => p.name === ringName('p1'))!
    const node = route.node!
    const peer = nodesOf('p1').find((n) => n !== node)!
    const stopped = await doc<StopResult>(['stop', node], 0)
    assert.deepEqual(stopped.nodes.map((n) => [n.name, n.outcome]), [[node, 'stopped']])
    assert.deepEqual(stopped.routers, [], 'the router itself keeps running')
    const after = routerOf(await status(1))
    const moved = after.pairs.find((p) => p.name === ringName('p1'))!
    assert.deepEqual([moved.node, moved.endpoint, after.verdict], [peer, `${HOST}:${ports.get(peer)!.port}`, 'ok'], after.reason)
    assert.notEqual(after.pid, before.pid, 'nutcracker was restarted with the new route (it has no reload)')
    const p1Keys = [...spread].filter(([k]) => ring3.pairFor(k) === ringName('p1'))
    assert.ok(p1Keys.length > 100, `${p1Keys.length} keys of p1`)
    const through = await getMany(routerPorts.port, p1Keys.map(([k]) => k))
    assert.deepEqual(p1Keys.filter(([k, v]) => through.get(k) !== v).map(([k]) => k), [], `every key of p1 reads through the router from ${peer}`)
    // Back to a healthy pair for what follows: the stopped node rejoins as its peer's slave (the router stays on the peer).
    await doc(['rejoin', node], 0)
    track()
    const healed = routerOf(await status(0))
    assert.equal(healed.pid, after.pid, 'a node coming back does not restart the router: it still serves from the peer')
  })

  it('a fourth pair: start reports the share of keys that move; that share moves, all to the new pair; a moved key is a miss, never a stale value', async (t) => {
    const grow = new Map(keysNamed('grow', 1500).map((k) => [k, `v1-${k}`]))
    await setMany(routerPorts.port, grow)
    const live = Array.from({length: 4}, (_, w) => keysNamed(`add${w}`, 40))
    const load = new RouterLoad({host: HOST, port: routerPorts.port, keysPerWorker: live, pairOf: (k) => ring4.pairFor(k), prefix: 'add', requestTimeoutMs: 2000}).start()
    const oldPid = routerPid()!
    let started: StartResult
    try {
      await waitFor('the client to get going', 10_000, async () => (load.succeeded('get') > 50 ? true : undefined), 20)
      writeConfig(PAIRS)
      started = await doc<StartResult>(['start'], 0)
      track()
      await sleep(300)
    } finally {
      await load.stop()
    }
    const r = startedRouter(started)
    assert.deepEqual([r.action, r.added, r.removed], ['restarted', [ringName('p4')], []])
    assert.ok(r.pid !== oldPid && r.pid === routerPid())
    assert.deepEqual(started.pairs.find((p) => p.nodes[0] === 'p4a')?.started, ['p4a', 'p4b'], 'the new pair was started')
    assert.deepEqual(started.pairs.filter((p) => p.nodes[0] !== 'p4a').map((p) => p.alreadyRunning), [true, true, true])
    assert.ok(r.movedShare !== null)

    // Through the router, before anything is written again: each key its value, or a miss when it moved.
    const through = await getMany(routerPorts.port, [...grow.keys()])
    const foreign = [...grow].filter(([k, v]) => through.has(k) && through.get(k) !== v)
    assert.deepEqual(foreign, [], 'no key reads as anything but its own value')
    const moved = [...grow.keys()].filter((k) => !through.has(k))
    const share = moved.length / grow.size
    t.diagnostic(`adding ${ringName('p4')}: repctl start reported ${pct(r.movedShare!)} of keys move; ${moved.length} of ${grow.size} keys (${pct(share)}) really moved`)
    assert.ok(Math.abs(share - r.movedShare!) < 0.04, `measured ${pct(share)} vs reported ${pct(r.movedShare!)}`)
    assert.deepEqual(moved.filter((k) => ring4.pairFor(k) !== ringName('p4')), [], 'keys move to the new pair only')
    assert.deepEqual([...grow.keys()].filter((k) => ring4.pairFor(k) === ringName('p4') && through.has(k)), [], 'every key the new pair owns moved')
    assert.deepEqual(load.staleReads, [], 'the client under way never read a stale value')
    assert.deepEqual(load.misses.filter((m) => m.pair !== ringName('p4')), [], 'the client missed only keys that moved to the new pair')

    // New values for the moved keys and a third of the others; read back through the router: no stale copy resurfaces.
    const rewrite = new Map([...grow.keys()].filter((k, i) => !through.has(k) || i % 3 === 0).map((k) => [k, `v2-${k}`]))
    await setMany(routerPorts.port, rewrite)
    const after = await getMany(routerPorts.port, [...grow.keys()])
    assert.deepEqual([...grow.keys()].filter((k) => after.get(k) !== (rewrite.get(k) ?? grow.get(k))), [], 'each key reads as last written')
    const held = await replicated(PAIRS, [...grow.keys()])
    assert.deepEqual(moved.filter((k) => pairsHolding(held, ['p4'], k).length !== 1 || held.get('p4a')!.get(k) !== `v2-${k}`), [], 'the new pair holds the moved keys\' new values')
    const staleCopies = moved.filter((k) => pairsHolding(held, ['p1', 'p2', 'p3'], k).length === 1)
    assert.equal(staleCopies.length, moved.length, 'the old pairs still hold the moved keys\' old values, which the router never returns')
    assert.equal(routerOf(await status(0)).verdict, 'ok')
  })

  it('a pair removed from the config: start refuses without --yes and changes nothing; with --yes its keys are misses, the others stay', async (t) => {
    const remaining: PairId[] = ['p1', 'p3', 'p4']
    const pid = routerPid()!
    const routerConfig = readFileSync(join(routerDir(), 'nutcracker.yml'), 'utf8')
    writeConfig(remaining)

    const refused = await doc<{error: {code: string; message: string; suggestions: string[]}}>(['start'], 1)
    assert.equal(refused.error.code, 'CONFIRMATION_NEEDED')
    assert.match(refused.error.message, new RegExp(`router ${ROUTER} would drop p2a\\+p2b \\(\\d+\\.\\d% of keys\\)`))
    assert.match(refused.error.message, /lost/)
    assert.match(refused.error.message, /old value \(a stale read\)/, 'it warns of the copies a pair kept from before the removed pair was added')
    assert.match(refused.error.suggestions.join(' '), /--yes/)
    const human = await ws.run(['start'])
    assert.equal(human.code, 1)
    assert.match(human.stderr, new RegExp(`router ${ROUTER} would drop p2a\\+p2b .*lost to clients`, 's'))
    assert.match(human.stderr, /--yes/)
    assert.equal(routerPid(), pid, 'the router was not restarted')
    assert.ok(alive(pid))
    assert.equal(readFileSync(join(routerDir(), 'nutcracker.yml'), 'utf8'), routerConfig, 'its ring is unchanged')
    const stale = routerOf(await status(1))
    assert.equal(stale.verdict, 'stale')
    assert.match(stale.reason, /pair p2a\+p2b is no longer in the config/, 'status says the router still routes the removed pair')

    const p2Pids = nodesOf('p2').map((n) => nodePid(n)!)
    const done = await doc<StartResult>(['start', '--yes'], 0)
    track()
    const r = startedRouter(done)
    const expected = movedShare(PAIRS.map(ringName), remaining.map(ringName)).share
    assert.deepEqual([r.action, r.added, r.removed], ['restarted', [], [ringName('p2')]])
    assert.equal(r.movedShare, expected)
    t.diagnostic(`removing p2a+p2b: ${pct(r.movedShare!)} of keys move (its keys, now misses)`)
    assert.ok(r.pid !== pid && r.pid === routerPid())

    const ring = ketamaRing(remaining.map(ringName))
    const through = await getMany(routerPorts.port, [...spread.keys()])
    const lost = [...spread.keys()].filter((k) => ring4.pairFor(k) === ringName('p2'))
    assert.ok(lost.length > 0)
    assert.deepEqual(lost.filter((k) => through.has(k)), [], 'the removed pair\'s keys are misses (never a stale value from another pair)')
    const kept = [...spread].filter(([k]) => ring4.pairFor(k) !== ringName('p2') && ring4.pairFor(k) !== ringName('p4'))
    assert.deepEqual(kept.filter(([k, v]) => through.get(k) !== v).map(([k]) => k), [], 'the other pairs\' keys read back')
    assert.deepEqual(lost.filter((k) => ring.pairFor(k) === ringName('p2')), [], 'the ring has no p2 any more')
    // repctl does not stop the removed pair's nodes (its message says so): stopped here by pid.
    assert.ok(p2Pids.every(alive), 'the removed pair\'s nodes still run')
    for (const p of p2Pids) process.kill(p, 'SIGTERM')
    await waitFor('the removed pair\'s nodes to exit', 10_000, async () => (p2Pids.some(alive) ? undefined : true), 50)
  })

  it('stop stops the router first; no nutcracker is left', async () => {
    const pid = routerPid()!
    const nodePids = (['p1', 'p3', 'p4'] as const).flatMap(nodesOf).map((n) => nodePid(n)!)
    const r = await ws.run(['stop'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const steps = [...r.stdout.matchAll(/✔ (Stop \S+(?: \S+)?)/g)].map((m) => m[1])
    assert.equal(steps[0], `Stop router ${ROUTER}`, r.stdout)
    assert.equal(steps.length, 1 + nodePids.length, r.stdout)
    assert.ok(!alive(pid), `nutcracker pid ${pid} is gone`)
    assert.ok(nodePids.every((p) => !alive(p)), 'every node stopped')
    // No process at all runs with this router's config.
    const config = join(routerDir(), 'nutcracker.yml')
    const left = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try { return readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(config) } catch { return false }
    })
    assert.deepEqual(left, [], 'no process runs with the router\'s config')
    const stopped = await doc<StopResult>(['stop'], 0)
    assert.deepEqual(stopped.routers, [{name: ROUTER, outcome: 'not_running'}])
  })
})
