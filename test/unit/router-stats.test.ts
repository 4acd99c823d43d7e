// parseRouterStats (src/cluster/router/stats.ts) reads what nutcracker's stats
// port says. The document is captured here from a real nutcracker, started
// by the test in front of one memcached (pair a+b) and one closed port
// (pair2), after the probe keys (one per pair) went through it: so the
// counters it must read are known. Then malformed input: never a throw.

import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {renderNutcrackerConfig} from '../../src/cluster/router/nutcracker-config.js'
import {STATS_INTERVAL_MS} from '../../src/cluster/router/nutcracker.js'
import {probeKeys} from '../../src/cluster/router/probe-keys.js'
import {probeRouter} from '../../src/cluster/router/probe.js'
import {parseRouterStats, readStatsPort, type RouterStats} from '../../src/cluster/router/stats.js'
import {freePort} from '../helpers/ports.js'
import {launch, startMemcached, toolMissing, which, type RunningServer} from '../helpers/processes.js'
import {waitFor} from '../helpers/wait.js'

const PAIRS = ['a+b', 'pair2']

describe('parseRouterStats on what a real nutcracker publishes', () => {
  const skip = toolMissing('nutcracker') || toolMissing('memcached')
  const dir = mkdtempSync(join(tmpdir(), 'repctl-router-stats-'))
  let memcached: RunningServer | undefined
  let router: RunningServer | undefined
  let statsPort = 0
  let text = ''
  let stats: RouterStats

  before(async () => {
    if (skip !== false) return
    memcached = await startMemcached(['-m', '8', '-t', '1'])
    const closed = await freePort() // nothing listens: pair2's keys are refused
    const routerPort = await freePort()
    statsPort = await freePort()
    const file = join(dir, 'nutcracker.yml')
    writeFileSync(file, renderNutcrackerConfig({cluster: 'shop', router: {name: 'r1', host: '127.0.0.1', port: routerPort}, pairs: [
      {name: 'a+b', endpoint: {host: '127.0.0.1', port: memcached.port}},
      {name: 'pair2', endpoint: {host: '127.0.0.1', port: closed}},
    ]}))
    router = await launch(which('nutcracker')!, () => ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-i', String(STATS_INTERVAL_MS), '-o', join(dir, 'nutcracker.log')], 'nutcracker', {port: routerPort})
    const replies = await probeRouter('127.0.0.1', routerPort, probeKeys(PAIRS).map((k) => k.key))
    assert.deepEqual(replies.map((r) => r.reply.split(' ')[0]), ['END', 'SERVER_ERROR'], 'a+b answers, pair2 is refused')
    // Counters are published every STATS_INTERVAL_MS: wait for the round that includes the probes.
    ;[text, stats] = await waitFor('the probes in the stats', 5000, async () => {
      const t = await readStatsPort('127.0.0.1', statsPort)
      const s = t === undefined ? undefined : parseRouterStats(t, 'shop', PAIRS)
      return s !== undefined && s.pairs.every((p) => p.requests === 1) ? [t!, s] as const : undefined
    }, 100)
  })
  after(async () => {
    await router?.stop()
    await memcached?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('reads the version, uptime and the pool\'s counters', {skip}, () => {
    assert.equal(stats.version, '0.5.0')
    assert.ok(typeof stats.uptime === 'number' && stats.uptime >= 0 && stats.uptime < 60, `uptime ${stats.uptime}`)
    assert.equal(stats.clientConnections, 0, 'the probe\'s connection is closed')
    assert.equal(stats.forwardErrors, 1, 'the one request pair2 refused')
  })

  it('reads each pair by its ring name: one probe each; a+b answered over one connection, pair2 refused', {skip}, () => {
    assert.deepEqual(stats.pairs, [
      {name: 'a+b', requests: 1, responses: 1, errors: 0, timeouts: 0, eofs: 0, connections: 1},
      {name: 'pair2', requests: 1, responses: 0, errors: 1, timeouts: 0, eofs: 0, connections: 0},
    ])
  })

  it('a pair the router does not have reads as zeros; another cluster\'s name finds no pool', {skip}, () => {
    assert.deepEqual(parseRouterStats(text, 'shop', ['new'])!.pairs, [{name: 'new', requests: 0, responses: 0, errors: 0, timeouts: 0, eofs: 0, connections: 0}])
    const other = parseRouterStats(text, 'prod', PAIRS)!
    assert.equal(other.version, '0.5.0', 'still nutcracker')
    assert.deepEqual([other.clientConnections, other.forwardErrors], [null, null])
    assert.deepEqual(other.pairs.map((p) => p.requests), [0, 0])
  })

  it('malformed input is not stats: undefined, never a throw', {skip}, () => {
    const cases: [string, string][] = [
      ['nothing (the port closed at once)', ''],
      ['the document cut in half (a short read)', text.slice(0, Math.floor(text.length / 2))],
      ['not JSON', 'STAT pid 1\r\nEND\r\n'],
      ['JSON that is not an object', '[{"service": "nutcracker"}]'],
      ['null', 'null'],
      ['another service\'s JSON', text.replace('"service":"nutcracker"', '"service":"redis"')],
      ['an object without service', '{"shop": {}}'],
    ]
    assert.ok(text.includes('"service":"nutcracker"'), 'the capture has the service key as the case above assumes')
    for (const [what, t] of cases) assert.equal(parseRouterStats(t, 'shop', PAIRS), undefined, what)
  })

  it('counters that are not whole numbers of at least 0 read as unknown (pool) or zero (pair): status --json stays in its schema', {skip}, () => {
    const doc = JSON.parse(text) as Record<string, Record<string, unknown>>
    doc.uptime = '12' as unknown as Record<string, unknown>
    doc.shop!.forward_error = null
    doc.shop!.client_connections = -1
    ;(doc.shop!['a+b'] as Record<string, unknown>).requests = '7'
    ;(doc.shop!['a+b'] as Record<string, unknown>).server_err = 1.5
    doc.shop!.pair2 = [1, 2] as unknown as Record<string, unknown>
    const s = parseRouterStats(JSON.stringify(doc), 'shop', PAIRS)!
    assert.equal(s.uptime, null)
    assert.equal(s.forwardErrors, null)
    assert.equal(s.clientConnections, null, 'a negative count is not a count')
    assert.equal(s.pairs[0]!.requests, 0)
    assert.equal(s.pairs[0]!.errors, 0, 'a fraction is not a count')
    assert.equal(s.pairs[0]!.responses, 1, 'the other counters of the pair still read')
    assert.deepEqual(s.pairs[1], {name: 'pair2', requests: 0, responses: 0, errors: 0, timeouts: 0, eofs: 0, connections: 0})
  })

  it('readStatsPort: a port where nothing listens gives undefined', {skip}, async () => {
    assert.equal(await readStatsPort('127.0.0.1', await freePort()), undefined)
  })
})
