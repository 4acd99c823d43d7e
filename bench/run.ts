// npm run bench: our server side by side with the real memcached on this
// machine, same load, interleaved rounds (A B A B …), medians and ratios.
// See bench/README.md for how to read it. Nothing here is asserted: the
// figures are for people (and bench/history.md), not for the test suite.

import {readFileSync} from 'node:fs'
import {mkdtempSync, rmSync} from 'node:fs'
import {cpus, tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'
import {eventually, startNode, stat} from '../test/helpers/pair.js'
import {freePort} from '../test/helpers/ports.js'
import {launch, SERVER_BUNDLE, startMemcached, startOurServer, type RunningServer, which} from '../test/helpers/processes.js'
import {locateMcload, runLoad, runLoadMeasured, type LoadResult, type LoadSpec, type MeasuredLoad} from './lib/mcload.js'
import {benchRouter, type OutageRun} from './router.js'
import {benchVip} from './vip.js'

const HERE = dirname(fileURLToPath(import.meta.url))

const {values: opts} = parseArgs({options: {
  json: {type: 'boolean', default: false},
  rounds: {type: 'string', default: '3'},
  seconds: {type: 'string', default: '4'},
  quick: {type: 'boolean', default: false},
  only: {type: 'string'},
  long: {type: 'string'},
  'vip-runs': {type: 'string', default: '5'},
  'router-runs': {type: 'string', default: '5'},
  copies: {type: 'string', default: '3'},
  bundle: {type: 'string'},
}})
const rounds = opts.quick ? 1 : Number(opts.rounds)
const seconds = opts.quick ? 2 : Number(opts.seconds)
const say = (line: string): void => { if (!opts.json) process.stderr.write(`${line}\n`) }
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2 }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const selected = (name: string): boolean => opts.long === undefined && (opts.only === undefined || opts.only.split(',').includes(name))

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

interface Row { name: string; unit: string; ours: number; memcached: number | null; ratio: number | null; target: string; met: boolean | null; note?: string }
const rows: Row[] = []
/** Sections that could not run here, and why. */
const skipped: Record<string, string> = {}
/** Sections that broke, and how (the rest of the run goes on). */
const failed: Record<string, string> = {}
function row(name: string, unit: string, ours: number, memcached: number | null, target: string, met: (ours: number, ratio: number | null) => boolean | null, note?: string): void {
  const ratio = memcached === null || memcached === 0 ? null : ours / memcached
  rows.push({name, unit, ours, memcached, ratio, target, met: met(ours, ratio), note})
}

const mc = locateMcload()
const haveMemcached = which('memcached') !== undefined
const scratch = mkdtempSync(join(tmpdir(), 'repctl-bench-'))
const started: RunningServer[] = []
async function track<T extends RunningServer>(p: Promise<T>): Promise<T> { const s = await p; started.push(s); return s }
async function stopAll(): Promise<void> { for (const s of started.splice(0)) await s.stop('SIGKILL') }

say(`repctl bench — ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}; load generator: ${mc.how}`)
say(haveMemcached ? 'memcached: found, run side by side with -t 1 (and with its default 4 threads)' : 'memcached: not installed, ours only (install it for ratios)')

// ---- throughput: three workloads, interleaved rounds ---------------------------------------------
// Ratios are against memcached -t 1 (one worker thread, as ours has one event loop); memcached with
// its default 4 threads runs in the same rounds, as the figure a user would compare with. User and
// system CPU per request show where each server's time goes.
const workloads: {name: string; spec: Partial<LoadSpec>; target: number}[] = [
  {name: 'one request in flight (50 conns, 90% get)', spec: {depth: 1}, target: 0.8},
  {name: '16 pipelined per connection', spec: {depth: 16}, target: 2.0},
  {name: '10-key multiget', spec: {multiget: 10}, target: 0.85},
]
if (selected('throughput')) {
  // --bundle: another build of our server (an older commit's dist/repcached.mjs), for before/after tables from one machine.
  const bundle = opts.bundle
  const ours = await track(bundle === undefined ? startOurServer(['-m', '1024']) : launch(process.execPath, (port) => [bundle, '-p', String(port), '-l', '127.0.0.1', '-X', '0', '-m', '1024'], 'repcached'))
  // What Node's own reads and writes cost per request, with no protocol or store behind them (bench/lib/io-floor.mjs).
  const floor = await track(launch(process.execPath, (port) => [join(HERE, 'lib', 'io-floor.mjs'), String(port)], 'io-floor'))
  const one = haveMemcached ? await track(startMemcached(['-t', '1', '-m', '1024'])) : undefined
  const four = haveMemcached ? await track(startMemcached(['-t', '4', '-m', '1024'])) : undefined
  for (const w of workloads) {
    const a: MeasuredLoad[] = []
    const b: MeasuredLoad[] = []
    const c: MeasuredLoad[] = []
    const f: MeasuredLoad[] = []
    for (let r = 0; r < rounds; r++) {
      a.push(await runLoadMeasured(mc.path, {port: ours.port, pid: ours.pid, seconds, ...w.spec}))
      f.push(await runLoadMeasured(mc.path, {port: floor.port, pid: floor.pid, seconds, ...w.spec}))
      if (one !== undefined) b.push(await runLoadMeasured(mc.path, {port: one.port, pid: one.pid, seconds, ...w.spec}))
      if (four !== undefined) c.push(await runLoadMeasured(mc.path, {port: four.port, pid: four.pid, seconds, ...w.spec}))
      const cpu = (x: MeasuredLoad): string => `${x.ops} ops/s (user ${x.userUsPerOp.toFixed(2)} + sys ${x.systemUsPerOp.toFixed(2)} µs/op)`
      say(`  ${w.name}, round ${r + 1}: ours ${cpu(a.at(-1)!)}, Node I/O floor ${cpu(f.at(-1)!)}${one === undefined ? '' : `, memcached -t 1 ${cpu(b.at(-1)!)}, -t 4 ${cpu(c.at(-1)!)}`}`)
    }
    const m = (xs: MeasuredLoad[], f: (x: MeasuredLoad) => number | null): number | null => xs.length === 0 ? null : median(xs.map((x) => f(x) ?? NaN))
    row(`${w.name}: ops/s`, 'ops/s', m(a, (x) => x.ops)!, m(b, (x) => x.ops), `≥ ${w.target}×`, (_o, ratio) => ratio === null ? null : ratio >= w.target)
    row(`${w.name}: ops/s vs memcached -t 4`, 'ops/s', m(a, (x) => x.ops)!, m(c, (x) => x.ops), '', () => null, 'memcached column: memcached with 4 threads')
    row(`${w.name}: user CPU per request`, 'µs', m(a, (x) => x.userUsPerOp)!, m(b, (x) => x.userUsPerOp), '≤ 2×', (_o, ratio) => ratio === null ? null : ratio <= 2)
    row(`${w.name}: system CPU per request`, 'µs', m(a, (x) => x.systemUsPerOp)!, m(b, (x) => x.systemUsPerOp), '', () => null)
    const floorNote = 'ours column: Node\'s I/O floor (bench/lib/io-floor.mjs: our read and write path, canned replies, no protocol or store)'
    row(`${w.name}: Node I/O floor, ops/s`, 'ops/s', m(f, (x) => x.ops)!, m(b, (x) => x.ops), '', () => null, floorNote)
    row(`${w.name}: Node I/O floor, user CPU per request`, 'µs', m(f, (x) => x.userUsPerOp)!, m(b, (x) => x.userUsPerOp), '', () => null, floorNote)
    row(`${w.name}: p50 latency`, 'µs', m(a, (x) => x.p50)!, m(b, (x) => x.p50), '', () => null)
    row(`${w.name}: p99 latency`, 'µs', m(a, (x) => x.p99)!, m(b, (x) => x.p99), '', () => null)
    row(`${w.name}: p50 latency vs memcached -t 4`, 'µs', m(a, (x) => x.p50)!, m(c, (x) => x.p50), '', () => null, 'memcached column: memcached with 4 threads')
    row(`${w.name}: p99 latency vs memcached -t 4`, 'µs', m(a, (x) => x.p99)!, m(c, (x) => x.p99), '', () => null, 'memcached column: memcached with 4 threads')
  }
  await stopAll()
}

// ---- memory: RSS holding 1M × 100-byte items --------------------------------------------------------
if (selected('memory')) {
  const ours = await track(startOurServer(['-m', '1024']))
  runLoad(mc.path, {port: ours.port, keys: 1_000_000, seconds: 1, warm: 0, conns: 4, getRatio: 1})
  await sleep(2000)
  const oursRss = rssMb(ours.pid)
  let theirsRss: number | null = null
  if (haveMemcached) {
    const theirs = await track(startMemcached(['-t', '1', '-m', '1024']))
    runLoad(mc.path, {port: theirs.port, keys: 1_000_000, seconds: 1, warm: 0, conns: 4, getRatio: 1})
    await sleep(1000)
    theirsRss = rssMb(theirs.pid)
  }
  say(`  RSS with 1M items: ours ${oursRss.toFixed(0)} MB${theirsRss === null ? '' : `, memcached ${theirsRss.toFixed(0)} MB`}`)
  row('RSS holding 1M × 100-byte items', 'MB', oursRss, theirsRss, '≤ 1.35×', (_o, ratio) => ratio === null ? null : ratio <= 1.35)
  await stopAll()
}

// ---- replication: cost, full copy, failover ----------------------------------------------------------
if (selected('replication')) {
  const [ra, rb] = [await freePort(), await freePort()]
  const single = await track(startOurServer(['-m', '1024']))
  const master = await track(startNode({repListen: ra, repConnect: rb, peer: '127.0.0.1', extra: ['-m', '1024']}))
  await track(startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1', extra: ['-m', '1024']}))
  const on: number[] = []
  const off: number[] = []
  for (let r = 0; r < rounds; r++) {
    off.push(runLoad(mc.path, {port: single.port, seconds}).ops)
    on.push(runLoad(mc.path, {port: master.port, seconds}).ops)
    say(`  replication cost, round ${r + 1}: alone ${off.at(-1)} ops/s, paired master ${on.at(-1)} ops/s`)
  }
  row('throughput with replication on (paired master), vs off (one node)', 'ops/s', median(on), median(off), 'cost ≤ 10% (≥ 0.9×)', (_o, ratio) => ratio === null ? null : ratio >= 0.9, 'memcached column: our node alone')
  await stopAll()

  // Full copy of 1M items: the slave opens its client port once the copy has arrived. Several copies
  // (a fresh slave each time, the same master), median: one copy's time moves with the machine.
  const copies = opts.quick ? 1 : Number(opts.copies)
  if (!Number.isInteger(copies) || copies < 1) throw new Error(`--copies must be a whole number ≥ 1, got ${JSON.stringify(opts.copies)}`)
  const [r1, r2] = [await freePort(), await freePort()]
  const m1 = await track(startNode({repListen: r1, repConnect: r2, peer: '127.0.0.1', extra: ['-m', '1024']}))
  runLoad(mc.path, {port: m1.port, keys: 1_000_000, seconds: 1, warm: 0, conns: 4, getRatio: 1})
  const copyTimes: number[] = []
  let s1: Awaited<ReturnType<typeof startNode>> | undefined
  let items = 0
  for (let k = 0; k < copies; k++) {
    if (s1 !== undefined) {
      await s1.stop('SIGKILL')
      started.splice(started.indexOf(s1), 1)
      // The master notices the slave is gone before the next one dials.
      await eventually(async () => (await stat(m1.port, 'repl_state').catch(() => undefined)) !== 'connected', 10_000, 20)
    }
    const t0 = Date.now()
    s1 = await track(startNode({repListen: r2, repConnect: r1, peer: '127.0.0.1', extra: ['-m', '1024']}, 120_000))
    copyTimes.push((Date.now() - t0) / 1000)
    items = Number(await stat(s1.port, 'curr_items'))
    say(`  full copy ${k + 1}: ${items} items in ${copyTimes.at(-1)!.toFixed(2)} s`)
  }
  const copyS = median(copyTimes)
  const note = `median of ${copies}: ${copyTimes.map((x) => x.toFixed(2)).join(', ')} s`
  row('full copy of 1M × 100-byte items (start of slave to its port open)', 's', copyS, null, '≤ 1.5 s', (o) => o <= 1.5, note)
  row('replication link during the full copy', 'items/s', items / copyS, null, '≥ 400k', (o) => o >= 400_000, note)

  // kill -9 of the master: time until the survivor says it is master.
  const k0 = Date.now()
  process.kill(m1.pid, 'SIGKILL')
  const survivor = s1!
  await eventually(async () => (await stat(survivor.port, 'repl_role').catch(() => undefined)) === 'master', 10_000, 1)
  const failoverMs = Date.now() - k0
  say(`  kill -9 master → survivor master: ${failoverMs} ms`)
  row('kill -9 of the master → survivor serving as master', 'ms', failoverMs, null, '', () => null)
  await stopAll()
}

// ---- snapshots: 1M items written while serving, and loaded at start ---------------------------------
if (selected('snapshot')) {
  const file = join(scratch, 'bench.rcs')
  const port = await freePort()
  const args = (interval: number) => (p: number): string[] => [SERVER_BUNDLE, '-p', String(p), '-l', '127.0.0.1', '-X', '0', '-m', '1024', '-e', file, '--snapshot-interval', String(interval)]
  // First without periodic snapshots: the baseline latency, then a SIGTERM writes the snapshot.
  const plain = await track(launch(process.execPath, args(0), 'repcached', {port}))
  runLoad(mc.path, {port, keys: 1_000_000, seconds: 1, warm: 0, conns: 4, getRatio: 1})
  await sleep(2000)
  const quiet = runLoad(mc.path, {port, keys: 1_000_000, seconds: 6, warm: 0, depth: 1, conns: 10})
  await plain.stop('SIGTERM')
  started.splice(started.indexOf(plain), 1)
  // Then loaded from it, with a snapshot every 2 s during the same load.
  const t0 = Date.now()
  const s = await track(launch(process.execPath, args(2), 'repcached', {port, readyTimeoutMs: 120_000}))
  const loadMs = Date.now() - t0
  const loaded = Number(await stat(port, 'snapshot_loaded_items'))
  await sleep(2000)
  const busy = runLoad(mc.path, {port, keys: 1_000_000, seconds: 6, warm: 0, depth: 1, conns: 10})
  const writeMs = Number(await stat(port, 'snapshot_last_duration_ms'))
  const pauseMs = Number(await stat(port, 'snapshot_last_pause_ms'))
  const bytes = Number(await stat(port, 'snapshot_last_bytes'))
  say(`  snapshot of 1M items: ${(bytes / 1e6).toFixed(0)} MB written in ${writeMs} ms (longest pause ${pauseMs} ms); p99 ${quiet.p99} µs without, ${busy.p99} µs with snapshots every 2 s; ${loaded} items loaded, port open ${loadMs} ms after start`)
  row('snapshot of 1M items: write time (while serving)', 'ms', writeMs, null, '', () => null)
  row('snapshot of 1M items: longest stall of the event loop while writing', 'ms', pauseMs, null, '', () => null)
  row('client p99 latency with a snapshot every 2 s (1 in flight, 10 conns)', 'µs', busy.p99, quiet.p99, '', () => null, 'memcached column: same server, no snapshots')
  row('snapshot of 1M items: start to port open (load)', 'ms', loadMs, null, '', () => null)
  await s.stop('SIGKILL')
  started.splice(started.indexOf(s), 1)
}

// ---- vip: client-visible outage through a pair's virtual IP after kill -9 of the node holding it ----
if (selected('vip')) {
  const runs = opts.quick ? 2 : Number(opts['vip-runs'])
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--vip-runs must be a whole number ≥ 1, got ${JSON.stringify(opts['vip-runs'])}`)
  const r = await benchVip(runs, say).catch((e: unknown) => ({failed: e instanceof Error ? e.message : String(e)}))
  if ('failed' in r) {
    failed.vip = r.failed
    say(`  vip: FAILED — ${r.failed}`)
  } else if ('skipped' in r) {
    skipped.vip = r.skipped
    say(`  vip: skipped — ${r.skipped}`)
  } else {
    const outages = r.runs.map((x) => x.outageMs)
    const moves = r.runs.map((x) => x.moveMs)
    const note = `${r.runs.length} runs; ${r.timings}`
    row('VIP: client-visible outage after kill -9 of the node holding it, median', 'ms', median(outages), null, '< 2000 ms', (o) => o < 2000, note)
    row('VIP: client-visible outage after kill -9 of the node holding it, max', 'ms', Math.max(...outages), null, '< 2000 ms', (o) => o < 2000, note)
    row('VIP: on the other host after kill -9 of the node holding it, median', 'ms', median(moves), null, '', () => null, note)
  }
}

// ---- router: the cost of the hop, and a pair's outage through the router with and without a VIP ----
if (selected('router')) {
  const runs = opts.quick ? 2 : Number(opts['router-runs'])
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--router-runs must be a whole number ≥ 1, got ${JSON.stringify(opts['router-runs'])}`)
  const r = await benchRouter({mcload: mc.path, rounds, seconds, runs, say})
  for (const [part, what] of [['hop', r.hop], ['with a VIP', r.withVip], ['without a VIP', r.withoutVip]] as const) {
    if ('skipped' in what) skipped[`router ${part}`] = what.skipped
    if ('failed' in what) failed[`router ${part}`] = what.failed
  }
  if ('ok' in r.hop) {
    const note = 'memcached column: direct to the master'
    for (const w of r.hop.ok) {
      const m = (xs: LoadResult[], f: (x: LoadResult) => number | null): number => median(xs.map((x) => f(x) ?? NaN))
      row(`router hop, ${w.workload}: ops/s through one router`, 'ops/s', m(w.through, (x) => x.ops), m(w.direct, (x) => x.ops), '', () => null, note)
      row(`router hop, ${w.workload}: master's ops per CPU-second`, 'ops/cpu-s', m(w.through, (x) => x.opsPerCpuS), m(w.direct, (x) => x.opsPerCpuS), '', () => null, note)
      row(`router hop, ${w.workload}: p50 latency`, 'µs', m(w.through, (x) => x.p50), m(w.direct, (x) => x.p50), '', () => null, note)
      row(`router hop, ${w.workload}: p99 latency`, 'µs', m(w.through, (x) => x.p99), m(w.direct, (x) => x.p99), '', () => null, note)
    }
  }
  const outageRows = (label: string, xs: OutageRun[], note: string): void => {
    const gaps = xs.map((x) => x.gapMs)
    const others = xs.map((x) => x.othersGapMs)
    row(`router, ${label}: gap for the pair's keys after kill -9 of its master, median`, 'ms', median(gaps), null, '', () => null, note)
    row(`router, ${label}: gap for the pair's keys after kill -9 of its master, max`, 'ms', Math.max(...gaps), null, '', () => null, note)
    row(`router, ${label}: other pairs' longest gap meanwhile, max`, 'ms', Math.max(...others), null, '', () => null, note)
  }
  if ('ok' in r.withVip) {
    const xs = r.withVip.ok
    const note = `${xs.length} runs; router restarted in ${xs.filter((x) => x.routerRestarted).length}; VIP moved after ${median(xs.map((x) => x.moveMs ?? NaN)).toFixed(0)} ms median`
    outageRows('with a VIP', xs, note)
    row('router, with a VIP: the same pair\'s keys direct to its VIP (no router), median', 'ms', median(xs.map((x) => x.directGapMs ?? NaN)), null, '', () => null, note)
  }
  if ('ok' in r.withoutVip) {
    // A run only says something when the router sent the pair's keys to the node killed.
    const xs = r.withoutVip.ok.filter((x) => x.routedTo === x.killed)
    const left = r.withoutVip.ok.length - xs.length
    const note = `${xs.length} runs${left === 0 ? '' : ` (${left} left out: the router sent the pair to its slave)`}; ${r.supervisor}; router restarted in ${xs.filter((x) => x.routerRestarted).length}`
    if (xs.length > 0) outageRows('without a VIP', xs, note)
  }
}

// ---- stability: --long MINUTES of the same load, minute by minute ------------------------------------
if (opts.long !== undefined) {
  const minutes = Number(opts.long)
  const s = await track(startOurServer(['-m', '1024']))
  const perMinute: {ops: number; rssMb: number}[] = []
  for (let m = 0; m < minutes; m++) {
    // 100k keys and 10% sets: the store fills, then churns (overwrites) for the rest of the run.
    const r = runLoad(mc.path, {port: s.port, pid: s.pid, seconds: 60, warm: m === 0 ? 1 : 0, keys: 100_000})
    perMinute.push({ops: r.ops, rssMb: rssMb(s.pid)})
    say(`  minute ${m + 1}: ${r.ops} ops/s, RSS ${rssMb(s.pid).toFixed(0)} MB`)
  }
  const first = perMinute[0]!
  const last = perMinute.at(-1)!
  row(`last minute's throughput vs the first (${minutes}-minute run, one in flight, 100k keys)`, 'ops/s', last.ops, first.ops, '≥ 0.9×', (_o, ratio) => ratio === null ? null : ratio >= 0.9, 'memcached column: our first minute')
  row(`RSS after the last minute vs after the first`, 'MB', last.rssMb, first.rssMb, 'flat (≤ 1.1×)', (_o, ratio) => ratio === null ? null : ratio <= 1.1, 'memcached column: our first minute')
  await stopAll()
}

await stopAll()
rmSync(scratch, {recursive: true, force: true})

const result = {date: new Date().toISOString(), node: process.version, cpus: cpus().length, loadGenerator: mc.how, memcached: haveMemcached, rounds, seconds, rows, skipped, failed}
if (opts.json) {
  process.stdout.write(JSON.stringify(result, null, 2) + '\n')
} else {
  const fmt = (x: number | null, unit: string): string => x === null || Number.isNaN(x) ? '—' : unit === 'ops/s' || unit === 'ops/cpu-s' || unit === 'items/s' ? Math.round(x).toLocaleString('en-US') : unit === 's' ? x.toFixed(2) : unit === 'µs' && x < 100 ? x.toFixed(2) : Math.round(x).toString()
  const lines = ['| measure | unit | ours | memcached | ratio | target | met |', '| --- | --- | --- | --- | --- | --- | --- |']
  for (const r of rows) {
    lines.push(`| ${r.name}${r.note === undefined ? '' : ` (${r.note})`} | ${r.unit} | ${fmt(r.ours, r.unit)} | ${fmt(r.memcached, r.unit)} | ${r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`} | ${r.target || '—'} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} |`)
  }
  const skips = [...Object.entries(skipped).map(([section, why]) => `Skipped: ${section} (${why}).\n`), ...Object.entries(failed).map(([section, why]) => `FAILED: ${section} (${why}).\n`)].join('')
  process.stdout.write(`\n${lines.join('\n')}\n\n${rounds} round(s) of ${seconds} s per workload, medians; ${mc.how}.\n${skips}`)
}
