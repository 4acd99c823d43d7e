// A real Prometheus scrapes `repctl supervise --metrics`: its query API then
// returns the pair's verdict and a node's lag, and after kill -9 of the master
// the supervisor's repairs counter has grown. The exposition passes
// `promtool check metrics`, and the example alert rules `promtool check rules`
// (and load into that Prometheus).

import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {freePort} from '../helpers/ports.js'
import {ROOT, toolMissing} from '../helpers/processes.js'
import {REPCTL_BIN} from '../helpers/repctl.js'
import {repctlWorkspace} from '../helpers/repctl-workspace.js'
import {waitFor} from '../helpers/wait.js'

const missing = toolMissing('prometheus') || toolMissing('promtool')
const {dir, work, home, state, run: repctl, status, loopbackPair} = repctlWorkspace('repctl-prometheus-', {timeoutMs: 60_000})
const RULES = join(ROOT, 'templates', 'repctl-alerts.yml')
const children: ChildProcess[] = []
after(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) continue
    const gone = new Promise((r) => c.once('exit', r))
    process.kill(c.pid, 'SIGTERM')
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))])
    if (c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL')
  }
})

function started(file: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): {child: ChildProcess; output: () => string} {
  const child = spawn(file, args, {cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  return {child, output: () => out}
}

function promtool(args: string[], input?: string): {code: number | null; out: string} {
  const r = spawnSync('promtool', args, {input, encoding: 'utf8'})
  return {code: r.status, out: `${r.stdout}${r.stderr}`}
}

interface Sample { metric: Record<string, string>; value: [number, string] }

async function query(port: number, q: string): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`)
  const body = await res.json() as {status: string; data: {resultType: string; result: Sample[]}}
  assert.equal(body.status, 'success', JSON.stringify(body))
  return body.data.result
}

describe('Prometheus scrapes repctl supervise --metrics', {skip: missing}, () => {
  it('the example alert rules pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES])
    assert.equal(r.code, 0, r.out)
    assert.match(r.out, /SUCCESS: \d+ rules found/)
  })

  it('supervise --install carries --metrics into the unit; a bad --metrics is refused naming the flag', async () => {
    writeFileSync(join(work, 'repctl.config.yaml'), `cluster: prom\ndefaults: { stateDir: ${JSON.stringify(state)} }\nnodes:\n  node1: { host: 127.0.0.1, port: 1, replicationPort: 2 }\n  node2: { host: 127.0.0.1, port: 3, replicationPort: 4 }\npairs: [[node1, node2]]\n`)
    const r = await repctl(['supervise', '--install', '--unit-dir', join(dir, 'units'), '--metrics', '9150'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(readFileSync(join(dir, 'units', 'repctl-supervise-prom.service'), 'utf8'), /^ExecStart=.* supervise .*--metrics 127\.0\.0\.1:9150 /m)
    const bad = await repctl(['supervise', '--metrics', 'nowhere:x'])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /--metrics "nowhere:x": not \[ADDR:\]PORT/)
  })

  it('verdict and lag through the query API; repairs counted after kill -9 of the master; valid exposition', {timeout: 120_000}, async () => {
    const [metricsPort, promPort] = [await freePort(), await freePort()]
    await loopbackPair('prom')
    assert.equal((await repctl(['start'])).code, 0)
    const s = await status(0)

    // The one-shot form, for node-exporter's textfile collector.
    const oneShot = await repctl(['status', '--prometheus'])
    assert.equal(oneShot.code, 0, oneShot.stderr)
    assert.match(oneShot.stdout, /^repctl_pair_verdict\{cluster="prom",pair="node1,node2",verdict="ok"\} 1$/m)
    // execa strips the last newline, which the text format requires.
    const lint = promtool(['check', 'metrics'], `${oneShot.stdout}\n`)
    assert.equal(lint.code, 0, lint.out)

    const sup = started(process.execPath, [REPCTL_BIN, 'supervise', '--metrics', `127.0.0.1:${metricsPort}`, '--interval', '300ms'], work,
      {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8'})
    await waitFor('the supervisor to serve /metrics', 20_000, async () => (sup.output().includes(`serving Prometheus metrics on http://127.0.0.1:${metricsPort}/metrics`) ? true : undefined), 100)
      .catch((e: Error) => { throw new Error(`${e.message}\n${sup.output()}`) })
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/`)).status, 404)

    const promDir = join(dir, 'prometheus')
    mkdirSync(promDir)
    writeFileSync(join(promDir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [${JSON.stringify(RULES)}]
scrape_configs:
  - job_name: repctl
    static_configs:
      - targets: ['127.0.0.1:${metricsPort}']
`)
    const prom = started('/usr/bin/prometheus', [
      `--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`,
    ], promDir)
    const poll = <T>(what: string, check: () => Promise<T | undefined>): Promise<T> =>
      waitFor(what, 40_000, async () => check().catch(() => undefined), 250).catch((e: Error) => { throw new Error(`${e.message}\nprometheus: ${prom.output().slice(-2000)}\nsupervisor: ${sup.output().slice(-2000)}`) })

    const verdict = await poll('the pair\'s verdict in Prometheus', async () => {
      const r = await query(promPort, 'repctl_pair_verdict{verdict="ok"}')
      return r.length === 1 ? r[0]! : undefined
    })
    assert.deepEqual([verdict.metric.job, verdict.metric.cluster, verdict.metric.pair, verdict.value[1]], ['repctl', 'prom', 'node1,node2', '1'])
    const lag = await query(promPort, 'repctl_node_replication_lag_seconds{node="node1"}')
    assert.equal(lag.length, 1, JSON.stringify(lag))
    assert.ok(Number(lag[0]!.value[1]) >= 0, JSON.stringify(lag))
    const rules = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/rules`)).json() as {data: {groups: {rules: {name: string; health: string}[]}[]}}
    const loaded = rules.data.groups.flatMap((g) => g.rules)
    assert.ok(loaded.length >= 5 && loaded.every((r) => r.health !== 'err'), JSON.stringify(loaded))

    const repairs = async (): Promise<number> => {
      const r = await query(promPort, 'sum(repctl_supervisor_repairs_total{action="rejoin",outcome="ok"})')
      return r.length === 0 ? NaN : Number(r[0]!.value[1])
    }
    assert.equal(await poll('the repairs counter', async () => { const n = await repairs(); return Number.isNaN(n) ? undefined : n }), 0)
    process.kill(s.nodes.find((n) => n.role === 'master')!.pid!, 'SIGKILL')
    assert.equal(await poll('the supervisor\'s rejoin to be counted', async () => { const n = await repairs(); return n >= 1 ? n : undefined }), 1)

    const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    assert.match(scraped, /^repctl_supervisor_repairs_total\{cluster="prom",action="rejoin",outcome="ok"\} 1$/m)
    assert.match(scraped, /^repctl_supervisor_last_round_duration_seconds\{cluster="prom"\} \d/m)
    const lint2 = promtool(['check', 'metrics'], scraped)
    assert.equal(lint2.code, 0, lint2.out)
    await status(0)
  })
})
