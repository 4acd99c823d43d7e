// The bench's router section (issue 18): what a router (nutcracker, started
// and managed by repctl) costs and what a client sees through it when a pair
// fails.
//
// - hop: one pair and one router on loopback, started by repctl; the same
//   mcload (same keys, values, mix, connections) against the pair's master
//   directly and through the router, interleaved rounds; the ratio through ÷
//   direct is the cost of the hop. The master's CPU is measured too: the router
//   sends all clients' requests to a pair over one connection.
// - outage with a VIP: three pairs with a VIP each on three network-namespace
//   hosts and the router on one of them, all over SSH
//   (test/helpers/router-vip-cluster.ts). keepalived moves the VIP; the router
//   is not touched (its pid is checked).
// - outage without a VIP: three pairs and the router on loopback, `repctl
//   supervise` running (default --interval, 1 s; a fresh supervisor per run,
//   so its flapping guard does not hold back the router's restart): the pair
//   fails over by itself, the supervisor sees the router sending the pair to a
//   dead node and restarts it toward the survivor.
//
// Each outage run: one client per pair through the router, each cycling over
// keys the ring sends to its pair (test/helpers/vip-client.ts: one persistent
// connection, 200 ms timeouts, reconnect on any error), kill -9 of the master
// of one pair (a different pair each run), and the gap for that pair's keys:
// from the end of its last successful request before the kill to the end of
// its first successful request sent after it. The other pairs' clients give
// the longest stretch without an answer they saw meanwhile (a router restart
// drops every client). Then the dead node is rejoined and the cluster is
// healthy again before the next run. Nothing is asserted: figures only.

import {spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {StatusReport} from '../src/cluster/status.js'
import {freePort} from '../test/helpers/ports.js'
import {REPCTL_BIN, repctlIn, type Repctl} from '../test/helpers/repctl.js'
import {keysOfPair, RouterVipCluster, VIP_PAIRS} from '../test/helpers/router-vip-cluster.js'
import {clock, VipClient} from '../test/helpers/vip-client.js'
import {which} from '../test/helpers/processes.js'
import {sleep} from '../test/helpers/wait.js'
import {runLoad, type LoadResult, type LoadSpec} from './lib/mcload.js'
import {vipBenchUnavailable} from './vip.js'

export interface HopWorkload { name: string; spec: Partial<LoadSpec> }
export interface HopResult { workload: string; through: LoadResult[]; direct: LoadResult[] }

export interface OutageRun {
  pair: string
  killed: string
  /** Last success before the kill to the first success sent after it, for the pair's keys. */
  gapMs: number
  /** The kill to that first success (as the vip section measures it). */
  outageMs: number
  failures: number
  /** The longest stretch without an answer seen by the other pairs' clients, from the kill until the pair answered again. */
  othersGapMs: number
  routerRestarted: boolean
  /** Without a VIP: the node the router sent the pair's keys to before the kill (the master, unless it kept a slave that serves). */
  routedTo?: string
  /** With a VIP: the kill to the VIP on the survivor's host. */
  moveMs?: number
  /** With a VIP: the same gap for a client of the pair's VIP directly, no router (the vip section's figure). */
  directGapMs?: number
}

export type Part<T> = {ok: T} | {skipped: string} | {failed: string}

export interface RouterBench {
  hop: Part<HopResult[]>
  withVip: Part<OutageRun[]>
  withoutVip: Part<OutageRun[]>
  /** How the supervisor ran in the without-VIP part. */
  supervisor: string
}

export const HOP_WORKLOADS: HopWorkload[] = [
  {name: 'one request in flight (50 conns, 90% get)', spec: {depth: 1}},
  {name: '16 pipelined per connection', spec: {depth: 16}},
]

const RING = VIP_PAIRS.map((p) => p.name)
const KEYS_PER_PAIR = 1000

async function part<T>(what: string, say: (l: string) => void, f: () => Promise<T | {skipped: string}>): Promise<Part<T>> {
  try {
    const r = await f()
    if (typeof r === 'object' && r !== null && 'skipped' in r) { say(`  router, ${what}: skipped — ${r.skipped}`); return r }
    return {ok: r as T}
  } catch (e) {
    const failed = e instanceof Error ? e.message : String(e)
    say(`  router, ${what}: FAILED — ${failed}`)
    return {failed}
  }
}

// ---------------------------------------------------------------------------
// Pairs and a router on loopback, as a user runs repctl on one machine

interface Loopback {
  repctl: Repctl
  work: string
  home: string
  routerPort: number
  nodes: {name: string; port: number}[]
  close(): Promise<void>
}

/** A config of `pairs` pairs (ring names pair1…) and router r1, all on 127.0.0.1, ports free now; started. */
async function startLoopback(cluster: string, pairs: number): Promise<Loopback> {
  const dir = mkdtempSync(join(tmpdir(), 'repctl-bench-router-'))
  const [work, home, state] = ['work', 'home', 'state'].map((d) => join(dir, d)) as [string, string, string]
  for (const d of [work, home, state]) mkdirSync(d)
  const nodes: {name: string; port: number}[] = []
  const lines = [`cluster: ${cluster}`, `defaults: { stateDir: ${JSON.stringify(state)} }`, 'nodes:']
  const pairLines = ['pairs:']
  for (let i = 1; i <= pairs; i++) {
    for (const side of ['a', 'b']) {
      const [port, rep] = [await freePort(), await freePort()]
      nodes.push({name: `p${i}${side}`, port})
      lines.push(`  p${i}${side}: { host: 127.0.0.1, port: ${port}, replicationPort: ${rep} }`)
    }
    pairLines.push(`  - { nodes: [p${i}a, p${i}b], name: pair${i} }`)
  }
  const [routerPort, statsPort] = [await freePort(), await freePort()]
  lines.push(...pairLines, 'routers:', `  r1: { host: 127.0.0.1, port: ${routerPort}, statsPort: ${statsPort} }`)
  writeFileSync(join(work, 'repctl.config.yaml'), lines.join('\n') + '\n')
  const repctl = repctlIn(work, home, 120_000)
  const close = async (): Promise<void> => {
    try { await repctl.run(['stop']) } finally { rmSync(dir, {recursive: true, force: true}) }
  }
  const r = await repctl.run(['start'])
  if (r.code !== 0) { await close(); throw new Error(`repctl start failed (exit ${r.code}): ${r.stdout}\n${r.stderr}`) }
  return {repctl, work, home, routerPort, nodes, close}
}

async function statusOf(repctl: Repctl): Promise<{code: number; report: StatusReport}> {
  const r = await repctl.run(['status', '--json'])
  return {code: r.code, report: JSON.parse(r.stdout) as StatusReport}
}

/** Healthy (exit 0) with the router ok; the last status after `ms` is thrown. */
async function waitHealthy(repctl: Repctl, ms: number): Promise<StatusReport> {
  const end = Date.now() + ms
  for (;;) {
    const {code, report} = await statusOf(repctl)
    if (code === 0 && report.routers[0]?.verdict === 'ok') return report
    if (Date.now() > end) throw new Error(`not healthy with the router ok within ${ms} ms: ${JSON.stringify({pairs: report.pairs, routers: report.routers.map((r) => [r.verdict, r.reason])})}`)
    await sleep(300)
  }
}

const masterOf = (s: StatusReport, pair: number): string => {
  const p = s.pairs.find((x) => x.nodes[0] === `p${pair}a`)
  if (p?.master == null) throw new Error(`pair${pair} has no master: ${JSON.stringify(p)}`)
  return p.master
}

// ---------------------------------------------------------------------------
// (a) the hop

async function benchHop(mcload: string, rounds: number, seconds: number, say: (l: string) => void): Promise<HopResult[]> {
  const lb = await startLoopback(`benchhop${process.pid.toString(36)}`, 1)
  try {
    const s = await waitHealthy(lb.repctl, 30_000)
    const master = masterOf(s, 1)
    const port = lb.nodes.find((n) => n.name === master)!.port
    const pid = s.nodes.find((n) => n.name === master)!.pid ?? undefined
    const out: HopResult[] = []
    for (const w of HOP_WORKLOADS) {
      const r: HopResult = {workload: w.name, through: [], direct: []}
      for (let i = 0; i < rounds; i++) {
        r.direct.push(runLoad(mcload, {port, pid, seconds, ...w.spec}))
        r.through.push(runLoad(mcload, {port: lb.routerPort, pid, seconds, ...w.spec}))
        say(`  router hop, ${w.name}, round ${i + 1}: through the router ${r.through.at(-1)!.ops} ops/s (errors ${r.through.at(-1)!.errors}), direct to ${master} ${r.direct.at(-1)!.ops} ops/s`)
      }
      out.push(r)
    }
    return out
  } finally {
    await lb.close()
  }
}

// ---------------------------------------------------------------------------
// (b) outages

/** One client per pair through the router, each on keys the ring sends to its pair. */
async function startClients(endpoint: {host: string; port: number}, run: number): Promise<Map<string, VipClient>> {
  const clients = new Map<string, VipClient>()
  for (const name of RING) {
    const prefix = `r${run}-${name}-`
    clients.set(name, new VipClient({endpoint, prefix, keyList: keysOfPair(RING, name, prefix, KEYS_PER_PAIR)}).start())
  }
  for (const [name, c] of clients) {
    if (!await c.acknowledged(100, 15_000)) {
      await Promise.all([...clients.values()].map((x) => x.stop()))
      throw new Error(`the client of ${name} cannot write through the router (${c.ledger.failureCount} failures)`)
    }
  }
  return clients
}

/** After the victim pair answered again: stop the clients and measure. */
async function measure(clients: Map<string, VipClient>, victim: string, faultAt: number): Promise<Pick<OutageRun, 'gapMs' | 'outageMs' | 'failures' | 'othersGapMs'>> {
  await sleep(300)
  const stoppedAt = clock()
  await Promise.all([...clients.values()].map((c) => c.stop()))
  const v = clients.get(victim)!
  const gap = v.ledger.gapAround(faultAt)
  const outage = v.ledger.outageAfter(faultAt)
  if (gap === undefined || outage === undefined) throw new Error(`no answer for ${victim}'s keys around the kill`)
  const othersGapMs = Math.max(...[...clients].filter(([n]) => n !== victim).map(([, c]) => c.ledger.longestGap(faultAt, Math.min(stoppedAt, gap.okAgain + 300))))
  return {gapMs: gap.ms, outageMs: outage.ms, failures: outage.failures, othersGapMs}
}

async function outagesWithVip(runs: number, say: (l: string) => void): Promise<OutageRun[] | {skipped: string}> {
  const unavailable = vipBenchUnavailable()
  if (unavailable !== undefined) return {skipped: unavailable}
  if (which('nutcracker') === undefined) return {skipped: 'nutcracker not installed (apt-get install nutcracker)'}
  const rc = await RouterVipCluster.create(`rvbench${process.pid.toString(36)}`, {repctlTimeoutMs: 120_000})
  try {
    const started = await rc.repctl.run(['start'])
    if (started.code !== 0) throw new Error(`repctl start failed (exit ${started.code}): ${started.stdout}\n${started.stderr}`)
    const out: OutageRun[] = []
    for (let i = 0; i < runs; i++) {
      const victim = RING[i % RING.length]!
      const before = await rc.waitHealthy(90_000)
      const master = rc.pairStatus(before, victim).master!
      const survivor = rc.pair(victim).nodes.find((n) => n !== master)!
      const routerPid = rc.router(before).pid
      const clients = await startClients(rc.routerEndpoint, i)
      // Beside them, a client of the pair's VIP itself: what the router adds to the VIP's move.
      const spec = rc.pair(victim)
      const direct = new VipClient({endpoint: {host: spec.vip, port: spec.port}, prefix: `d${i}-`}).start()
      let moveMs: number
      let faultAt: number
      try {
        if (!await direct.acknowledged(100, 15_000)) throw new Error(`the client of ${victim}'s VIP cannot write (${direct.ledger.failureCount} failures)`)
        faultAt = clock()
        process.kill(rc.nodePid(master)!, 'SIGKILL')
        moveMs = await rc.waitHolder(victim, survivor, 15_000)
        if (!await clients.get(victim)!.acknowledged(50, 15_000)) throw new Error(`${victim}'s keys got no answer through the router within 15 s of the kill`)
        if (!await direct.acknowledged(50, 15_000)) throw new Error(`${victim}'s VIP did not answer within 15 s of the kill`)
      } catch (e) {
        await Promise.all([...clients.values(), direct].map((c) => c.stop()))
        throw e
      }
      await direct.stop()
      const directGapMs = direct.ledger.gapAround(faultAt)?.ms ?? NaN
      const m = await measure(clients, victim, faultAt)
      const routerRestarted = rc.router((await rc.status()).report).pid !== routerPid
      out.push({pair: victim, killed: master, moveMs, directGapMs, routerRestarted, ...m})
      say(`  router, with a VIP, run ${i + 1}: kill -9 of ${master} (${victim}) → VIP on ${survivor}'s host after ${moveMs.toFixed(0)} ms; ${victim}'s keys: gap ${m.gapMs.toFixed(0)} ms through the router (answered ${m.outageMs.toFixed(0)} ms after the kill, ${m.failures} failed requests), ${directGapMs.toFixed(0)} ms direct to the VIP; other pairs' longest gap ${m.othersGapMs.toFixed(0)} ms; router ${routerRestarted ? 'RESTARTED' : 'not restarted'}`)
      const rejoined = await rc.repctl.run(['rejoin', master])
      if (rejoined.code !== 0) throw new Error(`repctl rejoin ${master} failed (exit ${rejoined.code}): ${rejoined.stdout}\n${rejoined.stderr}`)
    }
    return out
  } finally {
    await rc.destroy()
  }
}

/** `repctl supervise --json` with these flags, resolved once its first round is done (the router's first event). */
async function startSupervisor(lb: Loopback, flags: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [REPCTL_BIN, 'supervise', '--json', ...flags], {
    cwd: lb.work, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: lb.home, LANG: 'C.UTF-8'}, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d })
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`repctl supervise: no first round within 30 s: ${out}${err}`)) }, 30_000)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (/"router":"r1"/.test(out)) { clearTimeout(t); resolve() }
    })
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`repctl supervise exited (${code}): ${out}${err}`)) })
  })
  child.stdout!.resume()
  return child
}

async function stopSupervisor(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 30_000)
  await exited
  clearTimeout(t)
}

async function outagesWithoutVip(runs: number, supervisorFlags: string[], say: (l: string) => void): Promise<OutageRun[] | {skipped: string}> {
  if (which('nutcracker') === undefined) return {skipped: 'nutcracker not installed (apt-get install nutcracker)'}
  const lb = await startLoopback(`benchnovip${process.pid.toString(36)}`, RING.length)
  try {
    const out: OutageRun[] = []
    for (let i = 0; i < runs; i++) {
      const victimIndex = (i % RING.length) + 1
      const victim = `pair${victimIndex}`
      const before = await waitHealthy(lb.repctl, 90_000)
      const master = masterOf(before, victimIndex)
      const masterPid = before.nodes.find((n) => n.name === master)!.pid!
      const routerPid = before.routers[0]!.pid
      const route = before.routers[0]!.pairs.find((p) => p.name === victim)
      say(`  router, without a VIP, run ${i + 1}: ${victim}'s master ${master} (port ${lb.nodes.find((n) => n.name === master)!.port}); the router sends ${victim} to ${route?.endpoint} (${route?.node})`)
      const supervisor = await startSupervisor(lb, supervisorFlags)
      try {
        const clients = await startClients({host: '127.0.0.1', port: lb.routerPort}, i)
        const faultAt = clock()
        process.kill(masterPid, 'SIGKILL')
        if (!await clients.get(victim)!.acknowledged(50, 30_000)) {
          await Promise.all([...clients.values()].map((c) => c.stop()))
          throw new Error(`${victim}'s keys got no answer through the router within 30 s of the kill`)
        }
        const m = await measure(clients, victim, faultAt)
        // The supervisor rejoins the dead node; the cluster healthy again before the next run.
        const after = await waitHealthy(lb.repctl, 90_000)
        const routerRestarted = after.routers[0]!.pid !== routerPid
        out.push({pair: victim, killed: master, routedTo: route?.node ?? undefined, routerRestarted, ...m})
        say(`  router, without a VIP, run ${i + 1}: kill -9 of ${master} (${victim}); ${victim}'s keys: gap ${m.gapMs.toFixed(0)} ms (answered ${m.outageMs.toFixed(0)} ms after the kill, ${m.failures} failed requests); other pairs' longest gap ${m.othersGapMs.toFixed(0)} ms; router ${routerRestarted ? 'restarted by the supervisor' : 'NOT restarted'}`)
      } finally {
        await stopSupervisor(supervisor)
      }
    }
    return out
  } finally {
    await lb.close()
  }
}

export async function benchRouter(o: {mcload: string; rounds: number; seconds: number; runs: number; say: (l: string) => void}): Promise<RouterBench> {
  const supervisorFlags: string[] = []
  const hop = await part('hop', o.say, async () => (which('nutcracker') === undefined ? {skipped: 'nutcracker not installed (apt-get install nutcracker)'} : benchHop(o.mcload, o.rounds, o.seconds, o.say)))
  const withVip = await part('with a VIP', o.say, () => outagesWithVip(o.runs, o.say))
  const withoutVip = await part('without a VIP', o.say, () => outagesWithoutVip(o.runs, supervisorFlags, o.say))
  return {hop, withVip, withoutVip, supervisor: `repctl supervise ${supervisorFlags.join(' ') || '(default --interval 1s)'}, one per run`}
}
