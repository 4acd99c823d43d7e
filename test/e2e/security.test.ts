// A pair locked down through repctl's config: users, client TLS, replication
// secret and replication TLS. repctl copies the files to each node's secrets
// directory (0700, files 0600), starts the nodes with their paths, and still
// sees the pair through TLS and a login; clients without the CA or the
// password get nothing; no secret appears in argv, logs, or status --json; a
// key file others can read gets a warning.

import assert from 'node:assert/strict'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {connect as tlsConnect} from 'node:tls'
import {after, describe, it} from 'node:test'
import type {StatusReport} from '../../src/cluster/status.js'
import {makeCerts} from '../helpers/certs.js'
import {freePort} from '../helpers/ports.js'
import {toolMissing} from '../helpers/processes.js'
import {repctlIn} from '../helpers/repctl.js'
import {assertValid} from '../helpers/schemas.js'

const skip = toolMissing('openssl')
const dir = mkdtempSync(join(tmpdir(), 'repctl-security-'))
const home = join(dir, 'home')
const work = join(dir, 'work')
const pids = new Set<number>()
const PASSWORD = 'pa55-W0rd-xyz'
const SECRET = 'rep-secret-0123456789'

after(() => {
  // The nodes' pid files too: a test that fails before it has read the pids must not leave the pair running.
  for (const node of ['node1', 'node2']) {
    const pidFile = join(dir, 'state', node, 'repcached.pid')
    if (existsSync(pidFile)) pids.add(Number(readFileSync(pidFile, 'utf8').trim()))
  }
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  rmSync(dir, {recursive: true, force: true})
})

/** Send over TLS (verifying with `ca`), read until quiet; the error if the handshake fails. */
function exchange(port: number, ca: Buffer, send: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let quiet: NodeJS.Timeout | undefined
    const s = tlsConnect({host: '127.0.0.1', port, ca}, () => s.write(send))
    const finish = (): void => { s.destroy(); resolve(Buffer.concat(chunks).toString('latin1')) }
    s.on('data', (d: Buffer) => { chunks.push(d); clearTimeout(quiet); quiet = setTimeout(finish, 150) })
    s.on('error', (e) => resolve(`error: ${e.message}`))
    setTimeout(finish, 3000).unref()
  })
}

describe('a locked-down pair through repctl', {skip}, () => {
  it('starts, replicates, reports status, and keeps every secret out of sight', {timeout: 120_000}, async () => {
    mkdirSync(home)
    mkdirSync(work)
    const certs = makeCerts()
    const sec = join(work, 'secrets')
    mkdirSync(sec)
    writeFileSync(join(sec, 'users'), `app:${PASSWORD}\n`, {mode: 0o600})
    writeFileSync(join(sec, 'replication.secret'), `${SECRET}\n`, {mode: 0o644}) // loose on purpose: must be warned about
    const [p1, r1, p2, r2] = [await freePort(), await freePort(), await freePort(), await freePort()]
    const state = join(dir, 'state')
    writeFileSync(join(work, 'repctl.config.yaml'), `cluster: locked
defaults: { stateDir: ${JSON.stringify(state)}, snapshots: false }
nodes:
  node1: { host: 127.0.0.1, port: ${p1}, replicationPort: ${r1} }
  node2: { host: 127.0.0.1, port: ${p2}, replicationPort: ${r2} }
pairs: [[node1, node2]]
security:
  usersFile: secrets/users
  replicationSecretFile: secrets/replication.secret
  tls: { cert: ${JSON.stringify(certs.serverCert)}, key: ${JSON.stringify(certs.serverKey)}, ca: ${JSON.stringify(certs.caCert)} }
  replicationTls: { cert: ${JSON.stringify(certs.serverCert)}, key: ${JSON.stringify(certs.serverKey)}, ca: ${JSON.stringify(certs.caCert)} }
`)
    const {run} = repctlIn(work, home)
    const started = await run(['start', '--json'])
    assert.equal(started.code, 0, started.stdout + started.stderr)
    // oclif's warning format wraps long lines, each continuation starting with " ›".
    const warnings = started.stderr.replace(/\s*\n ›\s+/g, ' ')
    assert.match(warnings, /security\.replicationSecretFile: .*replication\.secret is readable by others \(mode 644\); chmod 600/)

    const st = await run(['status', '--json'])
    assert.equal(st.code, 0, st.stdout + st.stderr)
    const report = JSON.parse(st.stdout) as StatusReport
    assertValid('status', report)
    for (const n of report.nodes) if (n.pid !== null) pids.add(n.pid)
    assert.equal(report.pairs[0]!.verdict, 'ok', st.stdout)

    // Files on the node: 0700 directory, 0600 files, contents as given.
    for (const node of ['node1', 'node2']) {
      const secrets = join(state, node, 'secrets')
      assert.equal(statSync(secrets).mode & 0o777, 0o700)
      for (const f of readdirSync(secrets)) assert.equal(statSync(join(secrets, f)).mode & 0o777, 0o600, `${node}/secrets/${f}`)
      assert.equal(statSync(join(state, node)).mode & 0o777, 0o700, 'the state dir is private')
    }

    // A client with the CA and the password: writes on the master are read on the slave.
    const ca = certs.read(certs.caCert)
    const master = report.nodes.find((n) => n.role === 'master')!
    const slave = report.nodes.find((n) => n.role === 'slave')!
    const login = `set x 0 0 ${`app ${PASSWORD}`.length}\r\napp ${PASSWORD}\r\n`
    assert.equal(await exchange(master.port, ca, `${login}set k 0 0 2\r\nok\r\n`), 'STORED\r\nSTORED\r\n')
    let seen = ''
    for (let i = 0; i < 50 && !seen.includes('VALUE k'); i++) {
      seen = await exchange(slave.port, ca, `${login}get k\r\n`)
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(seen, 'STORED\r\nVALUE k 0 2\r\nok\r\nEND\r\n', 'replicated over the TLS link')

    // Without the password, or without trusting the CA: nothing.
    assert.equal(await exchange(master.port, ca, 'get k\r\n'), 'CLIENT_ERROR unauthenticated\r\n')
    assert.match(await exchange(master.port, certs.read(certs.rogueCa), `${login}get k\r\n`), /^error: .*(self[- ]signed|unable to)/i)

    // No secret in argv, logs, or repctl's output.
    for (const pid of pids) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1')
      assert.ok(!argv.includes(PASSWORD) && !argv.includes(SECRET), 'argv holds paths only')
      assert.match(argv.replace(/\0/g, ' '), /--rep-secret-file \S+\/secrets\/replication\.secret/)
    }
    for (const node of ['node1', 'node2']) {
      const log = readFileSync(join(state, node, 'repcached.log'), 'latin1')
      assert.ok(!log.includes(PASSWORD) && !log.includes(SECRET), `${node}'s log`)
    }
    for (const out of [started.stdout, st.stdout, st.stderr, started.stderr]) assert.ok(!out.includes(PASSWORD) && !out.includes(SECRET))

    chmodSync(join(sec, 'replication.secret'), 0o600)
    const stopped = await run(['stop', '--json'])
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr)
    assert.equal(stopped.stderr.includes('Warning'), false, 'no warning once the file is 0600')
  })
})
