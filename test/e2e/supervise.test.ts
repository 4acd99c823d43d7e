// repctl supervise --once, as a user runs it: it repairs what it finds broken
// (a dead node rejoins, a dead pair restarts), reports what it cannot fix,
// and writes every event to its events file.

import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import type {SuperviseResult} from '../../src/commands/supervise.js'
import type {SuperviseEvent} from '../../src/cluster/supervise/round.js'
import {freePort} from '../helpers/ports.js'
import {RawClient} from '../helpers/raw-client.js'
import {REPCTL_BIN} from '../helpers/repctl.js'
import {repctlWorkspace} from '../helpers/repctl-workspace.js'
import {assertValid} from '../helpers/schemas.js'

const {dir, work, home, state, run: repctl, json, status, loopbackPair} = repctlWorkspace('repctl-supervise-', {timeoutMs: 60_000})

describe('repctl supervise --once', () => {
  it('rejoins a dead node, restarts a dead pair, and reports a repair that fails', {timeout: 120_000}, async () => {
    const {p1, p2} = await loopbackPair('sup')
    assert.equal((await repctl(['start'])).code, 0)
    let s = await status(0)
    // Every event each run printed, in order: the events file must hold exactly these.
    const printed: SuperviseEvent[] = []
    const once = async (args: string[]): Promise<SuperviseResult> => {
      const r = await json<SuperviseResult>(['supervise', '--once', ...args], 0, 'supervise')
      printed.push(...r.events)
      return r
    }

    // A healthy pair: nothing to do.
    let round = await once([])
    assert.deepEqual(round.events.filter((e) => e.event === 'repair'), [])

    // kill -9 the master: the supervisor brings it back as the slave of the survivor.
    process.kill(s.nodes[0]!.pid!, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 300))
    round = await once([])
    const repair = round.events.find((e) => e.event === 'repair')
    assert.ok(repair !== undefined, JSON.stringify(round.events))
    assert.deepEqual([repair.action, repair.node, repair.outcome, repair.code, repair.verdict], ['rejoin', 'node1', 'ok', 'slave-down', 'slave_down'])
    assert.ok(repair.durationMs !== null && repair.durationMs >= 0)
    s = await status(0)
    assert.deepEqual(s.nodes.map((n) => n.role), ['slave', 'master'])

    // Both down (a clean stop leaves a snapshot on each): the pair is started again from the newest, with its data.
    const master = s.nodes.find((n) => n.role === 'master')!
    const c = await RawClient.open(master.port)
    try { assert.equal(await c.request('set kept 0 0 4\r\ndata\r\n', '\r\n'), 'STORED\r\n') } finally { c.close() }
    assert.equal((await repctl(['stop'])).code, 0)
    // node1 was repaired moments ago, by an earlier run: the flapping guard carries over between runs.
    // (A long backoff here: the stop above may take longer than the default 2 s on a busy machine.)
    round = await once(['--repair-backoff', '60'])
    const backoff = round.events.find((e) => e.event === 'report')
    assert.deepEqual([backoff?.action, backoff?.node, backoff?.code], ['wait', 'node1', 'backoff'], JSON.stringify(round.events))
    assert.match(backoff!.reason, /backing off/)
    await new Promise((r) => setTimeout(r, 2000))
    round = await once([])
    const restart = round.events.find((e) => e.event === 'repair')
    assert.deepEqual([restart?.action, restart?.outcome, restart?.code, restart?.verdict], ['start_pair', 'ok', 'pair-down', 'down'])
    assert.match(restart!.reason, /restored 1 items from node\d's snapshot of /)
    s = await status(0)
    const d = await RawClient.open(s.nodes[0]!.port)
    try { assert.equal(await d.request('get kept\r\n', 'END\r\n'), 'VALUE kept 0 4\r\ndata\r\nEND\r\n') } finally { d.close() }

    // A repair that cannot work (node2's port taken by someone else): reported as failed, nothing else touched.
    s = await status(0)
    process.kill(s.nodes[1]!.pid!, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 300))
    const squatter: Server = await new Promise((resolve) => { const srv = createServer(); srv.listen(p2, '127.0.0.1', () => resolve(srv)) })
    await new Promise((r) => setTimeout(r, 2000)) // the restart of the pair counts as a repair of node2: its backoff
    try {
      round = await once([])
      const failed = round.events.find((e) => e.event === 'repair')
      assert.deepEqual([failed?.action, failed?.node, failed?.outcome], ['rejoin', 'node2', 'failed'])
      assert.match(failed!.reason, /port .* in use/)
      s = await status(1)
      assert.equal(s.nodes[0]!.role, 'master', 'the survivor keeps serving')
    } finally {
      squatter.close()
    }

    // Every event is also in the events file, one JSON line each.
    const lines = readFileSync(join(home, '.repctl', 'supervisor', 'sup.events.jsonl'), 'utf8').trim().split('\n')
    for (const line of lines) assertValid('supervise', {events: [JSON.parse(line)], unit: null})
    assert.deepEqual(lines.map((l) => JSON.parse(l) as SuperviseEvent), printed)
    assert.equal((await repctl(['stop'])).code, 0)
  })

  it('--install writes a systemd unit that runs this supervisor with this config; --uninstall removes it', async () => {
    const unitDir = join(dir, 'units')
    const args = ['supervise', '--install', '--unit-dir', unitDir, '--interval', '2']
    const first = await json<SuperviseResult>(args, 0, 'supervise')
    assert.deepEqual(first.unit, {action: 'install', file: join(unitDir, 'repctl-supervise-sup.service'), changed: true})
    const text = readFileSync(first.unit.file, 'utf8')
    const exec = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? ''
    assert.ok(exec.startsWith(`${process.execPath} ${REPCTL_BIN} supervise --interval 2s --split-brain keep-larger --split-brain-grace 10s --repair-backoff 2s --max-repairs 3 --config ${join(work, 'repctl.config.yaml')}`), exec)
    assert.match(text, /^Restart=always$/m)
    assert.match(text, /^WantedBy=multi-user.target$/m)
    assert.equal((await json<SuperviseResult>(args, 0, 'supervise')).unit?.changed, false, 'installing again changes nothing')
    const removed = await json<SuperviseResult>(['supervise', '--uninstall', '--unit-dir', unitDir], 0, 'supervise')
    assert.deepEqual([removed.unit?.action, removed.unit?.changed], ['uninstall', true])
    assert.equal((await json<SuperviseResult>(['supervise', '--uninstall', '--unit-dir', unitDir], 0, 'supervise')).unit?.changed, false)
  })
})
