// Times as a user writes them: 250ms, 1.5s, 2m, or bare seconds, for every
// flag and config key that takes one, through the built CLI; and a bad one
// refused with the flag or key, the value and the accepted forms.

import assert from 'node:assert/strict'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'
import type {StatusReport} from '../../src/cluster/status.js'
import type {SuperviseResult} from '../../src/commands/supervise.js'
import {eventually} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {RawClient} from '../helpers/raw-client.js'
import {REPCTL_BIN} from '../helpers/repctl.js'
import {repctlWorkspace} from '../helpers/repctl-workspace.js'
import {assertValid} from '../helpers/schemas.js'

const FORMS = 'like 250ms, 1s, 1.5s, 2m or 1h (a bare number is seconds)'

const {dir, work, home, state, pids, run: repctl, json, status} = repctlWorkspace('repctl-durations-', {timeoutMs: 60_000})

/** A figure measured here, in the test output. */
function note(text: string): void { process.stdout.write(`# ${text}\n`) }

async function usageError(args: string[], exit: number): Promise<string> {
  const r = await repctl([...args, '--json'])
  assert.equal(r.code, exit, `repctl ${args.join(' ')}: ${r.stdout}\n${r.stderr}`)
  const doc = JSON.parse(r.stdout) as {error: {code: string; message: string}}
  assertValid('error', doc)
  assert.equal(doc.error.code, 'USAGE')
  return doc.error.message
}

/** repctl running in the background, as a user leaves it running, until it is sent `signal`. */
function background(args: string[]) {
  const child = execa(process.execPath, [REPCTL_BIN, ...args], {
    cwd: work, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8'}, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000,
  })
  if (child.pid !== undefined) pids.add(child.pid)
  return child
}

async function totalConnections(port: number): Promise<number> {
  const c = await RawClient.open(port)
  try {
    const stats = await c.request('stats\r\n', 'END\r\n')
    return Number(/^STAT total_connections (\d+)\r$/m.exec(stats)?.[1])
  } finally {
    c.close()
  }
}

function config(snapshotInterval: string, ports: number[]): string {
  const [p1, r1, p2, r2] = ports
  return `cluster: times
defaults: { stateDir: ${JSON.stringify(state)}, snapshotInterval: ${snapshotInterval} }
nodes:
  node1: { host: 127.0.0.1, port: ${p1}, replicationPort: ${r1} }
  node2: { host: 127.0.0.1, port: ${p2}, replicationPort: ${r2} }
pairs: [[node1, node2]]
`
}

describe('durations on the command line and in the config', () => {
  it('a bad time is refused with the flag, the value and the accepted forms', async () => {
    writeFileSync(join(work, 'repctl.config.yaml'), config('60', [1, 2, 3, 4]))
    assert.equal(await usageError(['supervise', '--interval', '1s5'], 2), `--interval must be a duration from 100ms to 24h, ${FORMS} (got "1s5")`)
    assert.equal(await usageError(['supervise', '--interval', '50ms'], 2), `--interval must be a duration from 100ms to 24h, ${FORMS} (got "50ms")`)
    assert.equal(await usageError(['supervise', '--split-brain-grace=-1s'], 2), `--split-brain-grace must be a duration from 0s to 24h, ${FORMS} (got "-1s")`)
    assert.equal(await usageError(['supervise', '--repair-backoff', '2d'], 2), `--repair-backoff must be a duration from 0s to 24h, ${FORMS} (got "2d")`)
    // status says "unknown" (3) for anything that stops it, a usage error too.
    assert.equal(await usageError(['status', '--interval', '0.05'], 3), `--interval must be a duration from 100ms to 24h, ${FORMS} (got "0.05")`)
    // Without --json: one sentence and the hint, no oclif "Parsing --interval" wrapper.
    const human = await repctl(['supervise', '--interval', 'soon'])
    assert.equal(human.code, 2)
    assert.match(human.stderr.replace(/\s*\n ›\s+/g, ' '), /Error: --interval must be a duration from 100ms to 24h, like 250ms, 1s, 1\.5s, 2m or 1h \(a bare number is seconds\) \(got "soon"\)/)
    assert.doesNotMatch(human.stderr, /Parsing/)
  })

  it('a bad snapshotInterval in the config is refused with the key, the value and the accepted forms', async () => {
    writeFileSync(join(work, 'repctl.config.yaml'), config('1.5 s', [1, 2, 3, 4]))
    const r = await repctl(['status', '--json'])
    assert.equal(r.code, 3)
    const doc = JSON.parse(r.stdout) as {error: {code: string; message: string}}
    assert.equal(doc.error.code, 'CONFIG_INVALID')
    assert.equal(doc.error.message, `${join(work, 'repctl.config.yaml')}: defaults.snapshotInterval: must be 0 (only at stop) or a duration from 100ms to 24h, ${FORMS} (got "1.5 s")`)
  })

  it('--install carries every time into the unit, written back in the same forms', async () => {
    writeFileSync(join(work, 'repctl.config.yaml'), config('2m', [1, 2, 3, 4]))
    const unitDir = join(dir, 'units')
    const r = await json<SuperviseResult>(['supervise', '--install', '--unit-dir', unitDir, '--interval', '250ms', '--split-brain-grace', '1.5s', '--repair-backoff', '2m', '--max-repairs', '5'], 0, 'supervise')
    const exec = /^ExecStart=(.*)$/m.exec(readFileSync(r.unit!.file, 'utf8'))?.[1] ?? ''
    assert.equal(exec, `${process.execPath} ${REPCTL_BIN} supervise --interval 250ms --split-brain keep-larger --split-brain-grace 1500ms --repair-backoff 2m --max-repairs 5 --config ${join(work, 'repctl.config.yaml')}`)
  })

  it('snapshotInterval: 1.5s, supervise --interval 250ms and status --interval 250ms run at those paces; --repair-backoff 250ms lets a repair come back within a second', {timeout: 120_000}, async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()]
    writeFileSync(join(work, 'repctl.config.yaml'), config('1.5s', ports))
    assert.equal((await repctl(['start'])).code, 0)
    let s = await status(0)

    // The server is told 1500ms, and writes a snapshot every 1.5 s (not 1 s, not 2 s).
    const cmdline = readFileSync(`/proc/${s.nodes[0]!.pid}/cmdline`, 'utf8').split('\0')
    assert.equal(cmdline[cmdline.indexOf('--snapshot-interval') + 1], '1500ms')
    const file = join(state, 'node1', 'snapshot.rcs')
    const times: number[] = []
    await eventually(async () => {
      try { const t = statSync(file).mtimeMs; if (times.at(-1) !== t) times.push(t) } catch { /* not yet */ }
      return times.length >= 4
    }, 15_000, 20)
    const gaps = times.slice(1).map((t, i) => Math.round(t - times[i]!))
    note(`snapshotInterval 1.5s: gaps between snapshots ${gaps.join(', ')} ms`)
    assert.ok(gaps.every((g) => g >= 1450 && g < 1950), `gaps between snapshots: ${gaps.join(', ')} ms`)

    // supervise --interval 250ms: about four rounds a second, each one looking at the node.
    const port = s.nodes[0]!.port
    let before = await totalConnections(port)
    assert.equal((await repctl(['supervise', '--once'])).code, 0)
    const perRound = await totalConnections(port) - before - 1
    assert.ok(perRound >= 1, `a round connects to the node (${perRound})`)
    const loop = background(['supervise', '--interval', '250ms'])
    await new Promise((r) => setTimeout(r, 2000))
    before = await totalConnections(port)
    await new Promise((r) => setTimeout(r, 2000))
    const rounds = (await totalConnections(port) - before - 1) / perRound
    note(`supervise --interval 250ms: ${rounds} rounds in 2 s (${perRound} connection(s) per node per round)`)
    loop.kill('SIGTERM')
    assert.equal((await loop).exitCode, 0)
    assert.ok(rounds >= 5 && rounds <= 10, `${rounds} rounds in 2 s with --interval 250ms`)

    // status --watch --interval 250ms: a fresh table about four times a second.
    const watch = background(['status', '--watch', '--interval', '250ms'])
    await new Promise((r) => setTimeout(r, 3000))
    watch.kill('SIGINT')
    const frames = String((await watch).stdout).split('(every 250ms, Ctrl-C to stop)').length - 1
    note(`status --watch --interval 250ms: ${frames} tables in 3 s`)
    assert.ok(frames >= 5, `${frames} tables in 3 s (the first after start-up) with --interval 250ms`)

    // --repair-backoff: 1m holds the second repair of a node back; 250ms lets it through a moment later.
    s = await status(0)
    process.kill(s.nodes[0]!.pid!, 'SIGKILL')
    await eventually(async () => (await json<StatusReport>(['status'], 1, 'status')).nodes[0]!.process === 'stopped', 5000, 50)
    let round = await json<SuperviseResult>(['supervise', '--once'], 0, 'supervise')
    assert.deepEqual(round.events.filter((e) => e.event === 'repair').map((e) => [e.action, e.node, e.outcome]), [['rejoin', 'node1', 'ok']])
    s = await status(0)
    process.kill(s.nodes[0]!.pid!, 'SIGKILL')
    await eventually(async () => (await json<StatusReport>(['status'], 1, 'status')).nodes[0]!.process === 'stopped', 5000, 50)
    round = await json<SuperviseResult>(['supervise', '--once', '--repair-backoff', '1m'], 0, 'supervise')
    const held = round.events.find((e) => e.event === 'report')
    assert.deepEqual([held?.action, held?.node], ['wait', 'node1'], JSON.stringify(round.events))
    await new Promise((r) => setTimeout(r, 300))
    round = await json<SuperviseResult>(['supervise', '--once', '--repair-backoff', '250ms'], 0, 'supervise')
    assert.deepEqual(round.events.filter((e) => e.event === 'repair').map((e) => [e.action, e.node, e.outcome]), [['rejoin', 'node1', 'ok']], JSON.stringify(round.events))
    assert.equal((await repctl(['stop'])).code, 0)
  })
})
