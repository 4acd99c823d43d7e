// repctl over SSH, as a user runs it: two real sshd "hosts" on 127.0.0.11 and
// 127.0.0.12 (test/helpers/sshd.ts), a config naming them, and the whole
// lifecycle — start, status, kill -9 of the master, rejoin, promote, stop —
// once as root and once as a non-root user. Also: host keys (unknown refused,
// accepted once on request, changed refused), an unreachable host in status,
// a second start that uploads nothing, and a security section whose files
// reach each host as 0600 in a 0700 directory.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'
import memjs from 'memjs'
import type {StatusReport} from '../../src/cluster/status.js'
import type {ErrorJson} from '../../src/cli/base-command.js'
import {eventually} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {makeCerts} from '../helpers/certs.js'
import {ROOT, toolMissing} from '../helpers/processes.js'
import {assertValid} from '../helpers/schemas.js'
import {createRepUser, keyPair, removeRepUser, repUserMissing, Sshd, sshdMissing, type KeyPair} from '../helpers/sshd.js'

const BIN = join(ROOT, 'bin', 'run.js')
const skip = sshdMissing()
const HOSTS = ['127.0.0.11', '127.0.0.12'] as const

interface Run { code: number; stdout: string; stderr: string }

class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'repctl-ssh-'))
  readonly home = join(this.dir, 'home')
  readonly work = join(this.dir, 'work')
  readonly client: KeyPair
  readonly sshds: Sshd[] = []
  readonly pids = new Set<number>()

  constructor() {
    mkdirSync(join(this.home, '.ssh'), {recursive: true, mode: 0o700})
    mkdirSync(this.work)
    this.client = keyPair(this.dir, 'client_key')
  }

  get knownHosts(): string { return join(this.home, '.ssh', 'known_hosts') }

  async startHosts(): Promise<void> {
    for (const [i, address] of HOSTS.entries()) {
      this.sshds.push(await Sshd.start({address, dir: join(this.dir, `sshd${i + 1}`), authorizedKeys: [this.client.publicLine]}))
    }
  }

  async writeConfig(user: string, stateDir: (i: number) => string): Promise<void> {
    const lines = ['cluster: ssh', 'nodes:']
    for (const [i, address] of HOSTS.entries()) {
      const name = `node${i + 1}`
      lines.push(`  ${name}:`, `    host: ${address}`, `    port: ${await freePort(address)}`, `    replicationPort: ${await freePort(address)}`,
        `    stateDir: ${JSON.stringify(stateDir(i))}`,
        `    ssh: {user: ${user}, port: ${this.sshds[i]!.port}, identityFile: ${JSON.stringify(this.client.privateKey)}, knownHosts: ${JSON.stringify(this.knownHosts)}}`)
    }
    lines.push('pairs: [[node1, node2]]')
    writeFileSync(join(this.work, 'repctl.config.yaml'), lines.join('\n') + '\n')
  }

  async repctl(args: string[]): Promise<Run> {
    const r = await execa(process.execPath, [BIN, ...args], {
      cwd: this.work, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.home, LANG: 'C.UTF-8'}, extendEnv: false,
      reject: false, stdin: 'ignore', timeout: 60_000,
    })
    assert.equal(r.timedOut, false, `repctl ${args.join(' ')} timed out`)
    return {code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr)}
  }

  async json<T>(args: string[], expectCode: number): Promise<T> {
    const r = await this.repctl([...args, '--json'])
    assert.equal(r.code, expectCode, `repctl ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }

  async status(expectCode: number): Promise<StatusReport> {
    const s = await this.json<StatusReport>(['status'], expectCode)
    assertValid('status', s)
    for (const n of s.nodes) if (n.pid !== null) this.pids.add(n.pid)
    return s
  }

  /** kill -9 over SSH with OpenSSH's own client, as an operator would. */
  sshKill(i: number, user: string, pid: number): void {
    const r = spawnSync('ssh', ['-i', this.client.privateKey, '-p', String(this.sshds[i]!.port), '-o', `UserKnownHostsFile=${this.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `${user}@${HOSTS[i]}`, 'kill', '-9', String(pid)], {encoding: 'utf8', timeout: 15_000})
    assert.equal(r.status, 0, `ssh kill failed: ${r.stderr}`)
  }

  async cleanup(): Promise<void> {
    for (const pid of this.pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
    await Promise.all(this.sshds.map((s) => s.stop()))
    rmSync(this.dir, {recursive: true, force: true})
  }
}

async function memjsRoundTrip(from: number, to: number, host1: string, host2: string, items: Map<string, string>): Promise<void> {
  const opts = {retries: 0, timeout: 2, logger: {log: () => {}}}
  const a = memjs.Client.create(`${host1}:${from}`, opts)
  const b = memjs.Client.create(`${host2}:${to}`, opts)
  try {
    for (const [k, v] of items) assert.equal(await a.set(k, v, {}), true)
    assert.ok(await eventually(async () => {
      for (const [k, v] of items) if ((await b.get(k)).value?.toString() !== v) return false
      return true
    }, 5000), 'every item reaches the other node')
  } finally { a.close(); b.close() }
}

function lifecycle(user: 'root' | 'repuser'): () => Promise<void> {
  return async () => {
    const sb = new Sandbox()
    try {
      await sb.startHosts()
      if (user === 'repuser') await createRepUser(sb.client.publicLine)
      // Root gets absolute state dirs on the shared disk; the non-root user keeps the default under its home.
      await sb.writeConfig(user, (i) => user === 'root' ? join(sb.dir, `state${i + 1}`) : '~/.repctl')

      // Unknown host keys are refused, with the fingerprint and how to accept it.
      const refused = await sb.json<{error: ErrorJson}>(['start'], 1)
      assert.equal(refused.error.code, 'HOST_KEY_UNKNOWN')
      assert.match(refused.error.message, /SHA256:[A-Za-z0-9+/]{43}/)
      assert.match(refused.error.suggestions.join(' '), /--accept-new-host-key/)

      await sb.json(['start', '--accept-new-host-key'], 0)
      let s = await sb.status(0)
      assert.deepEqual(s.nodes.map((n) => [n.name, n.transport, n.role, n.state]), [['node1', 'ssh', 'master', 'paired'], ['node2', 'ssh', 'slave', 'paired']])
      const [n1, n2] = s.nodes as [StatusReport['nodes'][0], StatusReport['nodes'][0]]

      // A second start uploads nothing (same checksum) and changes nothing.
      const bundle = (st: StatusReport['nodes'][0]): string => user === 'root' ? join(sb.dir, `state${st.name === 'node1' ? 1 : 2}`, st.name, 'repcached.mjs') : join('/home/repuser/.repctl', st.name, 'repcached.mjs')
      const mtimes = [statSync(bundle(n1)).mtimeMs, statSync(bundle(n2)).mtimeMs]
      await sb.json(['start'], 0)
      assert.deepEqual([statSync(bundle(n1)).mtimeMs, statSync(bundle(n2)).mtimeMs], mtimes, 'the bundle was not uploaded again')
      assert.equal(statSync(join(bundle(n1), '..')).mode & 0o777, 0o700, 'state dir is private')
      // No security section: repctl made one replication secret and wrote it over SSH into each node's secrets dir.
      const secrets = [n1, n2].map((n) => readFileSync(join(bundle(n), '..', 'secrets', 'replication-generated.secret'), 'utf8'))
      assert.match(secrets[0]!, /^[0-9a-f]{64}\n$/)
      assert.equal(secrets[1], secrets[0], 'the same secret on both hosts')
      for (const n of [n1, n2]) assert.equal(statSync(join(bundle(n), '..', 'secrets', 'replication-generated.secret')).mode & 0o777, 0o600)
      assert.equal(s.pairs[0]!.replicationAuth.authenticated, true)

      const items = new Map(Array.from({length: 20}, (_, i) => [`k${i}`, `v${i}`]))
      await memjsRoundTrip(n1.port, n2.port, HOSTS[0], HOSTS[1], items)

      // kill -9 the master over SSH: degraded, node2 master; rejoin brings node1 back with every item.
      sb.sshKill(0, user, n1.pid!)
      s = await sb.status(1)
      assert.deepEqual([s.pairs[0]!.verdict, s.pairs[0]!.master], ['slave_down', 'node2'])
      await memjsRoundTrip(n2.port, n2.port, HOSTS[1], HOSTS[1], new Map([['after', 'failover']]))
      await sb.json(['rejoin', 'node1'], 0)
      s = await sb.status(0)
      assert.deepEqual(s.nodes.map((n) => n.role), ['slave', 'master'])
      await memjsRoundTrip(n2.port, n1.port, HOSTS[1], HOSTS[0], new Map([...items, ['after', 'failover']]))

      // Planned switchover back to node1.
      await sb.json(['promote', 'node1'], 0)
      s = await sb.status(0)
      assert.deepEqual(s.nodes.map((n) => n.role), ['master', 'slave'])

      // One host unreachable: status still answers within seconds, that node unknown.
      await sb.sshds[1]!.stop()
      const t0 = Date.now()
      s = await sb.status(3)
      assert.ok(Date.now() - t0 < 15_000, 'status returns within a few seconds')
      const down = s.nodes[1]!
      assert.deepEqual([down.reachable, down.process], [false, 'unknown'])

      // The host comes back with a new key: refused, always.
      await sb.sshds[1]!.restart({newHostKeys: true})
      const changed = await sb.json<{error: ErrorJson}>(['stop', 'node2', '--accept-new-host-key'], 1)
      assert.equal(changed.error.code, 'HOST_KEY_CHANGED')
      // node1's host still works: stop it through repctl; node2's server is stopped by pid in cleanup.
      assert.deepEqual((await sb.json<{nodes: unknown[]}>(['stop', 'node1'], 0)).nodes, [{name: 'node1', outcome: 'stopped'}])
    } finally {
      await sb.cleanup()
      if (user === 'repuser') await removeRepUser()
    }
  }
}

describe('repctl over SSH', {skip}, () => {
  it('the whole lifecycle as root', {timeout: 180_000}, lifecycle('root'))
  it('the whole lifecycle as a non-root user', {skip: repUserMissing(), timeout: 180_000}, lifecycle('repuser'))
})

describe('repctl over SSH with a security section', {skip: skip || toolMissing('openssl')}, () => {
  it('uploads the security files to each host (0700 dir, 0600 files) and sees the locked pair', {timeout: 180_000}, async () => {
    const sb = new Sandbox()
    try {
      await sb.startHosts()
      await sb.writeConfig('root', (i) => join(sb.dir, `state${i + 1}`))
      const certs = makeCerts()
      writeFileSync(join(sb.work, 'users'), 'app:ssh-Pa55\n', {mode: 0o600})
      writeFileSync(join(sb.work, 'secret'), 'ssh-secret\n', {mode: 0o600})
      const tls = `{cert: ${JSON.stringify(certs.serverCert)}, key: ${JSON.stringify(certs.serverKey)}, ca: ${JSON.stringify(certs.caCert)}}`
      appendFileSync(join(sb.work, 'repctl.config.yaml'), `security:\n  usersFile: users\n  replicationSecretFile: secret\n  tls: ${tls}\n  replicationTls: ${tls}\n`)
      await sb.json(['start', '--accept-new-host-key'], 0)
      const s = await sb.status(0)
      assert.deepEqual(s.nodes.map((n) => [n.name, n.transport, n.role, n.state]), [['node1', 'ssh', 'master', 'paired'], ['node2', 'ssh', 'slave', 'paired']])
      for (const [i, name] of ['node1', 'node2'].entries()) {
        const secrets = join(sb.dir, `state${i + 1}`, name, 'secrets')
        assert.equal(statSync(secrets).mode & 0o777, 0o700)
        for (const f of ['users', 'replication.secret', 'tls-cert.pem', 'tls-key.pem', 'tls-ca.pem', 'rep-tls-cert.pem', 'rep-tls-key.pem', 'rep-tls-ca.pem']) {
          assert.equal(statSync(join(secrets, f)).mode & 0o777, 0o600, `${name}/secrets/${f}`)
        }
      }
      await sb.json(['stop'], 0)
    } finally {
      await sb.cleanup()
    }
  })
})
