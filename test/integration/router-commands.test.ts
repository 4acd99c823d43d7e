// What a client can send through a router (docs/router.md, "What clients can
// send through a router"), checked with real processes: the same commands to
// our server directly and to a second, identical one behind a real nutcracker
// with the config repctl renders; the replies must be byte for byte the same.
// The commands nutcracker does not forward close the client's connection
// without a reply: the docs promise that, so it is tested too.

import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {renderNutcrackerConfig} from '../../src/cluster/router/nutcracker-config.js'
import {freePort} from '../helpers/ports.js'
import {launch, startOurServer, toolMissing, which, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'

const FORWARDED = [
  'set k1 5 0 3\r\nabc\r\n', 'get k1\r\n', 'gets k1\r\n', 'add k1 0 0 1\r\nx\r\n', 'add k2 0 0 1\r\ny\r\n',
  'replace k2 7 0 2\r\nyy\r\n', 'append k1 0 0 2\r\nde\r\n', 'prepend k1 0 0 2\r\nzz\r\n', 'get k1 k2 nokey\r\n',
  'cas k1 0 0 1 999\r\nq\r\n', 'set n 0 0 2\r\n10\r\n', 'incr n 5\r\n', 'decr n 3\r\n', 'incr nokey 1\r\n',
  'touch k2 100\r\n', 'touch nokey 100\r\n', 'delete k2\r\n', 'delete k2\r\n', 'get k2\r\n', 'version\r\n',
]
const CLOSED = ['flush_all\r\n', 'stats\r\n', 'gat 100 k1\r\n', 'mg k1 v\r\n', 'verbosity 1\r\n']

describe('commands through a router: the same replies as the server gives directly; the rest close the connection', () => {
  const missing = toolMissing('nutcracker')
  const dir = mkdtempSync(join(tmpdir(), 'repctl-router-commands-'))
  let direct: RunningServer, behind: RunningServer, router: RunningServer | undefined

  before(async () => {
    if (missing !== false) return
    ;[direct, behind] = await Promise.all([startOurServer(), startOurServer()])
    const port = await freePort()
    const file = join(dir, 'nutcracker.yml')
    writeFileSync(file, renderNutcrackerConfig({cluster: 'cmds', router: {name: 'r1', host: '127.0.0.1', port}, pairs: [{name: 'pair1', endpoint: {host: '127.0.0.1', port: behind.port}}]}))
    const statsPort = await freePort()
    router = await launch(which('nutcracker')!, () => ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, 'nutcracker.log')], 'nutcracker', {port})
  })
  after(async () => {
    await router?.stop()
    await Promise.all([direct?.stop(), behind?.stop()])
    rmSync(dir, {recursive: true, force: true})
  })

  it('storage, retrieval, cas, incr/decr, touch, delete, multi-get and version: byte for byte', {skip: missing}, async () => {
    const [a, b] = await Promise.all([RawClient.open(direct.port), RawClient.open(router!.port)])
    try {
      for (const cmd of FORWARDED) {
        a.send(cmd)
        b.send(cmd)
        const [ra, rb] = await Promise.all([a.readQuiet(80), b.readQuiet(80)])
        assert.ok(ra.length > 0, `the server answers ${JSON.stringify(cmd)}`)
        assert.equal(rb.toString('latin1'), ra.toString('latin1'), `through the router: ${JSON.stringify(cmd)}`)
      }
      assert.equal(b.isClosed, false, 'the router kept the connection')
    } finally {
      a.close()
      b.close()
    }
  })

  for (const cmd of CLOSED) {
    it(`${JSON.stringify(cmd.trim())}: the router closes the connection without a reply (the server itself answers it)`, {skip: missing}, async () => {
      const [a, b] = await Promise.all([RawClient.open(direct.port), RawClient.open(router!.port)])
      try {
        a.send(cmd)
        b.send(cmd)
        const [ra, rb] = await Promise.all([a.readQuiet(80), b.readQuiet(200, 3000)])
        assert.ok(ra.length > 0, 'the server answers it directly')
        assert.equal(rb.toString('latin1'), '', 'no reply through the router')
        assert.equal(b.isClosed, true, 'the router closed the connection')
      } finally {
        a.close()
        b.close()
      }
    })
  }
})
