// `repctl start` of a pair with a VIP on a host without keepalived: refused
// before anything starts, naming the host, the node and the apt command. The
// host is this machine; keepalived is hidden from repctl alone by running it
// in a private mount namespace where /dev/null (not executable) is mounted
// over the keepalived binary, so nothing outside that process sees a change.

import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {execa} from 'execa'
import {freePort, freePortOnAll} from '../helpers/ports.js'
import {REQUIRE_TOOLS, which} from '../helpers/processes.js'
import {REPCTL_BIN} from '../helpers/repctl.js'
import {assertValid} from '../helpers/schemas.js'

const KEEPALIVED = '/usr/sbin/keepalived'

function cannotRun(): string | false {
  const why = process.getuid?.() !== 0 ? 'needs root (a mount namespace)'
    : which('unshare') === undefined ? 'unshare (util-linux) not installed'
    : !existsSync(KEEPALIVED) ? `${KEEPALIVED} not installed`
    : false
  if (why !== false && REQUIRE_TOOLS) throw new Error(`vip-preflight ${why} (REPCTL_REQUIRE_TOOLS=1); .ci/run runs as root and installs keepalived`)
  return why
}

describe('repctl start: a VIP pair on a host without keepalived', {skip: cannotRun()}, () => {
  let dir: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'repctl-vip-preflight-'))
    // A VIP pair's nodes share one client port (clients reach VIP:port on either host).
    const port = await freePortOnAll(['127.0.0.61', '127.0.0.62'])
    const [p1, r1, p2, r2] = [port, await freePort('127.0.0.61'), port, await freePort('127.0.0.62')]
    writeFileSync(join(dir, 'repctl.config.yaml'), [
      'cluster: preflight',
      'nodes:',
      `  node1: {host: 127.0.0.61, port: ${p1}, replicationPort: ${r1}, stateDir: ${join(dir, 'h1')}}`,
      `  node2: {host: 127.0.0.62, port: ${p2}, replicationPort: ${r2}, stateDir: ${join(dir, 'h2')}}`,
      'pairs:',
      '  - nodes: [node1, node2]',
      '    vip: {address: 10.231.0.100/24, interface: lo}',
      '',
    ].join('\n'))
  })

  after(() => { if (dir !== undefined) rmSync(dir, {recursive: true, force: true}) })

  it('is refused with KEEPALIVED_MISSING, naming the host, the node and apt-get install keepalived; nothing starts', async () => {
    const hide = `mount --bind /dev/null ${KEEPALIVED} && exec "$@"`
    const r = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', hide, 'sh', process.execPath, REPCTL_BIN, 'start', '--json'], {
      cwd: dir, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), LANG: 'C.UTF-8'}, extendEnv: false, reject: false, stdin: 'ignore', timeout: 60_000,
    })
    assert.equal(r.exitCode, 1, `${r.stdout}\n${r.stderr}`)
    const doc = JSON.parse(String(r.stdout)) as {error: {code: string; message: string; suggestions: string[]}}
    assertValid('error', doc)
    assert.equal(doc.error.code, 'KEEPALIVED_MISSING')
    assert.match(doc.error.message, /keepalived is not installed on .*127\.0\.0\.61.* \(needed by node node1, whose pair has a VIP\)/)
    assert.match(doc.error.suggestions.join(' '), /apt-get install keepalived/)
    // Refused in the preflight: no node was installed or started on either host.
    for (const node of ['h1/node1', 'h2/node2']) assert.equal(existsSync(join(dir, node, 'repcached.pid')), false, `${node} has a pid file`)
    // The machine itself still has keepalived: only that process's view was changed.
    assert.equal(existsSync(KEEPALIVED), true)
  })
})
