// repctl restart --rolling and repctl upgrade as a user runs them, under a
// write and a read load through the pair: no acknowledged write is missing
// afterwards, the longest stall a client saw is reported, and an unhealthy
// pair is refused with nothing touched. A node on an older bundle is made the
// way an older repctl would have left it: its installed bundle file differs
// (a line appended) and it was started from that file with repctl's own
// command line.

import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {spawn} from 'node:child_process'
import {appendFileSync, closeSync, openSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {describe, it, type TestContext} from 'node:test'
import type {ErrorJson} from '../../src/cli/base-command.js'
import type {RestartResult} from '../../src/cluster/restart/plan.js'
import type {StatusReport} from '../../src/cluster/status.js'
import {checkLedger, Reader, Writer, type Endpoint} from '../helpers/load.js'
import {freePort} from '../helpers/ports.js'
import {ROOT, toolMissing} from '../helpers/processes.js'
import {REPCTL_BIN} from '../helpers/repctl.js'
import {repctlWorkspace} from '../helpers/repctl-workspace.js'
import {waitFor} from '../helpers/wait.js'

const {work, home, state, run: repctl, json, status, pids, loopbackPair} = repctlWorkspace('repctl-restart-', {timeoutMs: 120_000})
const LOCAL_BUNDLE = createHash('sha256').update(readFileSync(join(ROOT, 'dist', 'repcached.mjs'))).digest('hex')

let endpoints: Endpoint[] = []

async function healthy(): Promise<StatusReport> {
  return waitFor('the pair to be healthy', 30_000, async () => {
    const r = await repctl(['status', '--json'])
    return r.code === 0 ? JSON.parse(r.stdout) as StatusReport : undefined
  }, 200)
}

/** Run `op` with a writer and a reader on the pair (either node: they fail over), then check every acknowledged write on both nodes. */
async function underLoad<T>(t: TestContext, what: string, op: () => Promise<T>): Promise<T> {
  const writer = new Writer({targets: endpoints, prefix: `${what}-`, keys: 5000, deleteEvery: 7}).start()
  const reader = new Reader(endpoints, Array.from({length: 50}, (_, i) => `${what}-${i}`)).start()
  let result: T
  let acksAfterOp: number
  try {
    await new Promise((r) => setTimeout(r, 500))
    result = await op()
    acksAfterOp = writer.ackCount
    await new Promise((r) => setTimeout(r, 500))
  } finally {
    // Stopped whatever happens: a client left running keeps the test process (and the suite) alive.
    await writer.stop()
    await reader.stop()
  }
  assert.ok(writer.ackCount > acksAfterOp, `${what}: the writer goes on after the operation`)
  const s = await healthy()
  let missing = 0
  for (const n of s.nodes) {
    const check = await checkLedger({host: n.host, port: n.port}, [writer])
    missing += check.wrong.length + check.wrongUncertain.length
    assert.deepEqual(check.wrong.slice(0, 5), [], `${what}: acknowledged writes missing or stale on ${n.name} (${check.wrong.length} of ${check.checked})`)
    assert.deepEqual(check.wrongUncertain.slice(0, 5), [], `${what}: keys in neither acceptable state on ${n.name}`)
  }
  t.diagnostic(`${what}: ${writer.ackCount} writes acknowledged (${writer.failures} failed, retried elsewhere), ${missing} missing afterwards; longest stall: writer ${writer.longestGapMs} ms, reader ${reader.longestGapMs} ms (${reader.okCount} reads)`)
  return result
}

/** Restart `name` from a modified copy of its installed bundle, with the command line repctl gave it: what an older repctl leaves behind. */
async function runOnOlderBundle(name: string): Promise<void> {
  const before = await status(0)
  const node = before.nodes.find((n) => n.name === name)!
  const argv = readFileSync(`/proc/${node.pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '')
  assert.equal((await repctl(['stop', name])).code, 0)
  const bundle = argv[1]!
  appendFileSync(bundle, '\n// an older build of repcached\n')
  // Its output goes to its log, as repctl's start does: a pipe would keep this waiting on the daemon.
  const log = openSync(join(dirname(bundle), 'repcached.log'), 'a')
  const code = await new Promise<number | null>((resolve) => spawn(argv[0]!, argv.slice(1), {cwd: dirname(bundle), stdio: ['ignore', log, log]}).on('exit', resolve))
  closeSync(log)
  assert.equal(code, 0, `${name} on the older bundle: see its log`)
  await healthy()
}

describe('repctl restart and upgrade', () => {
  it('restart --rolling: both nodes restarted one at a time, no acknowledged write lost', {timeout: 180_000}, async (t) => {
    const {p1, p2} = await loopbackPair('rt')
    endpoints = [{host: '127.0.0.1', port: p1}, {host: '127.0.0.1', port: p2}]
    assert.equal((await repctl(['start'])).code, 0)
    const s = await status(0)
    for (const n of s.nodes) {
      assert.equal(n.bundleSha256, LOCAL_BUNDLE, `${n.name} reports the bundle it runs`)
      assert.equal(n.outdated, false)
      assert.match(n.release ?? '', /^\d+\.\d+\.\d+/)
    }
    assert.match((await repctl(['status'])).stdout, new RegExp(`0\\.\\d+\\.\\d+ ${LOCAL_BUNDLE.slice(0, 12)}`))

    const dry = await json<RestartResult>(['restart', '--rolling', '--dry-run'], 0, 'restart')
    assert.deepEqual(dry.pairs[0]!.moves, [{kind: 'restart_slave', node: 'node2', master: 'node1'}, {kind: 'switchover', to: 'node2', from: 'node1'}])
    assert.deepEqual((await status(0)).nodes.map((n) => n.pid), s.nodes.map((n) => n.pid), '--dry-run changes nothing')

    const r = await underLoad(t, 'restart', () => json<RestartResult>(['restart', '--rolling'], 0, 'restart'))
    assert.equal(r.pairs[0]!.masterAfter, 'node2')
    const after = await status(0)
    for (const n of r.nodes) {
      assert.notEqual(n.pidAfter, n.pidBefore, `${n.name} was restarted`)
      assert.equal(after.nodes.find((x) => x.name === n.name)!.pid, n.pidAfter)
    }
    assert.deepEqual(after.nodes.map((n) => n.role), ['slave', 'master'])
  })

  it('upgrade: the nodes on an older bundle (status: outdated) are restarted on this one, master by switchover', {timeout: 180_000}, async (t) => {
    // node1 (slave now) on an older bundle; then node2 (master) too: stopping it makes node1 master.
    await runOnOlderBundle('node1')
    await runOnOlderBundle('node2')
    const s = await status(0)
    assert.deepEqual(s.nodes.map((n) => [n.name, n.role, n.outdated]), [['node1', 'master', true], ['node2', 'slave', true]])
    for (const n of s.nodes) assert.notEqual(n.bundleSha256, LOCAL_BUNDLE)
    assert.match((await repctl(['status'])).stdout, / outdated/)

    const dry = await json<RestartResult>(['upgrade', '--dry-run'], 0, 'upgrade')
    assert.deepEqual(dry.pairs[0]!.moves, [{kind: 'restart_slave', node: 'node2', master: 'node1'}, {kind: 'switchover', to: 'node2', from: 'node1'}])
    const u = await underLoad(t, 'upgrade', () => json<RestartResult>(['upgrade'], 0, 'upgrade'))
    assert.deepEqual(u.nodes.map((n) => [n.name, n.bundleAfter]), [['node2', LOCAL_BUNDLE], ['node1', LOCAL_BUNDLE]])
    const after = await status(0)
    assert.deepEqual(after.nodes.map((n) => n.outdated), [false, false])

    // Only what differs is restarted: now nothing.
    const again = await json<RestartResult>(['upgrade'], 0, 'upgrade')
    assert.deepEqual([again.pairs, again.nodes], [[], []])
    assert.deepEqual((await status(0)).nodes.map((n) => n.pid), after.nodes.map((n) => n.pid))
  })

  it('restart --rolling with a router in front: its clients lose no acknowledged write (the router follows the master)', {timeout: 180_000, skip: toolMissing('nutcracker')}, async (t) => {
    const [rp, rs] = [await freePort(), await freePort()]
    const config = readFileSync(join(work, 'repctl.config.yaml'), 'utf8')
    writeFileSync(join(work, 'repctl.config.yaml'), `${config}routers:\n  app1: { host: 127.0.0.1, port: ${rp}, statsPort: ${rs} }\n`)
    try {
      assert.equal((await repctl(['start'])).code, 0)
      const s = await status(0)
      assert.equal(s.routers[0]?.verdict, 'ok', JSON.stringify(s.routers))
      const direct = endpoints
      endpoints = [{host: '127.0.0.1', port: rp}]
      try {
        const r = await underLoad(t, 'router', () => json<RestartResult>(['restart', '--rolling'], 0, 'restart'))
        assert.equal(r.nodes.length, 2)
      } finally { endpoints = direct }
      assert.equal((await status(0)).routers[0]?.verdict, 'ok')
    } finally {
      const routerPid = Number(readFileSync(join(state, 'app1', 'nutcracker.pid'), 'utf8').trim())
      if (routerPid > 0) pids.add(routerPid)
      assert.equal((await repctl(['stop', 'app1'])).code, 0)
      writeFileSync(join(work, 'repctl.config.yaml'), config)
    }
  })

  it('restart --rolling while repctl supervise runs: the supervisor may start a node being restarted; nothing is lost, both end on this bundle', {timeout: 180_000}, async (t) => {
    const sup = spawn(process.execPath, [REPCTL_BIN, 'supervise', '--interval', '300ms'], {cwd: work, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home}, stdio: 'ignore'})
    try {
      const r = await underLoad(t, 'supervised', () => json<RestartResult>(['restart', '--rolling'], 0, 'restart'))
      assert.deepEqual(r.nodes.map((n) => n.bundleAfter), [LOCAL_BUNDLE, LOCAL_BUNDLE])
      const events = (): string => readFileSync(join(home, '.repctl', 'supervisor', 'rt.events.jsonl'), 'utf8')
      for (const n of r.nodes) assert.notEqual(n.pidAfter, n.pidBefore, `${n.name} was restarted: ${JSON.stringify(r)}\n${events()}`)
    } finally {
      const gone = new Promise((res) => sup.once('exit', res))
      sup.kill('SIGTERM')
      await gone
    }
  })

  it('refuses a pair that is not healthy, touching nothing', {timeout: 60_000}, async () => {
    const s = await status(0)
    const slave = s.nodes.find((n) => n.role === 'slave')!
    const master = s.nodes.find((n) => n.role === 'master')!
    process.kill(slave.pid!, 'SIGKILL')
    pids.add(slave.pid!)
    await new Promise((r) => setTimeout(r, 300))
    for (const args of [['restart', '--rolling'], ['restart', master.name]]) {
      const r = await json<{error: ErrorJson}>(args, 1, 'error')
      assert.equal(r.error.code, 'NOT_PAIRED', JSON.stringify(r))
      assert.match(r.error.message, /not healthy \(slave_down/)
    }
    const after = await status(1)
    assert.equal(after.nodes.find((n) => n.name === master.name)!.pid, master.pid, 'the master was not touched')
    assert.equal(after.nodes.find((n) => n.name === slave.name)!.process, 'stopped')
    // Bad input names what to give.
    const usage = await json<{error: ErrorJson}>(['restart'], 2, 'error')
    assert.match(usage.error.message, /node names, or --pair A,B, or --rolling/)
    const both = await json<{error: ErrorJson}>(['restart', 'node1', '--pair', 'node1,node2'], 2, 'error')
    assert.match(both.error.message, /node names or --pair A,B, not both/)
  })
})
