// The namespace host harness (test/helpers/netns.ts) proves it gives what the
// VIP tests need: two hosts that reach each other and are reached from the
// root namespace; a real sshd in each that repctl's own SshHost logs in to,
// landing in that host's network; a cut between the two hosts only (the root
// namespace still reaches both) and its heal; Debian's keepalived moving a VIP
// between them when the holder's keepalived is killed, with a server on each
// host listening on the VIP before it holds it (ip_nonlocal_bind), read from
// the root namespace through the VIP; and a destroy that leaves nothing behind.
// Prints, as diagnostics: the time to create 2 hosts with sshd, the VIP move,
// the destroy.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {SshHost} from '../../src/hosts/ssh-host.js'
import {alive, createTestNetwork, LOCK_FILE, NAME_PREFIX, netnsMissing, programMissing, tcpProbe, type TestHost, type TestNetwork} from '../helpers/netns.js'
import {keyPair, type KeyPair} from '../helpers/sshd.js'
import {waitFor as waitEvery} from '../helpers/wait.js'

const KEEPALIVED = '/usr/sbin/keepalived'
const VIP = '10.231.0.100'
/** The VIP listener's port; any port is ours inside a namespace. */
const VIP_PORT = 7100

const skip = netnsMissing()
if (skip !== false) process.stderr.write(`\n*** netns-hosts.test.ts: ${skip} ***\n\n`)
const skipKeepalived = skip === false ? programMissing(KEEPALIVED, 'keepalived') : skip

/** Polling every 50 ms: what the timings printed here were measured with. */
const waitFor = <T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> => waitEvery(what, ms, check, 50)

/** What the server behind address:port says (it sends its host's name), or undefined (bounded). */
function readName(address: string, port: number, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({host: address, port})
    let got = ''
    const t = setTimeout(() => { s.destroy(); resolve(undefined) }, timeoutMs)
    s.setEncoding('utf8')
    s.on('data', (d: string) => { got += d })
    s.once('end', () => { clearTimeout(t); s.destroy(); resolve(got) })
    s.once('error', () => { clearTimeout(t); s.destroy(); resolve(undefined) })
  })
}

function keepalivedConfig(self: TestHost, peer: TestHost, priority: number): string {
  // The recipe of shared/testing/real-hosts.md.
  return `global_defs {
  router_id ${self.name}
  script_user root
  enable_script_security
}
vrrp_instance pair1 {
  state BACKUP
  nopreempt
  interface ${self.interfaceName}
  virtual_router_id 51
  priority ${priority}
  advert_int 1
  unicast_src_ip ${self.address}
  unicast_peer { ${peer.address} }
  virtual_ipaddress { ${VIP}/24 dev ${self.interfaceName} }
}
`
}

describe('hosts in network namespaces (test/helpers/netns.ts)', {skip}, () => {
  let net: TestNetwork
  let a: TestHost
  let b: TestHost
  let keysDir: string
  let client: KeyPair
  let createMs = 0
  const ssh: SshHost[] = []

  function sshTo(host: TestHost): SshHost {
    const sshd = host.sshd
    assert.ok(sshd !== undefined, `${host.name} has no sshd`)
    const h = new SshHost({
      host: host.address,
      port: sshd.port,
      user: 'root',
      identityFile: client.privateKey,
      agent: false,
      hostKey: sshd.hostKey.publicLine, // pinned: no known_hosts file is read or written
      globalKnownHostsFile: false,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 10_000,
    })
    ssh.push(h)
    return h
  }

  before(async () => {
    keysDir = mkdtempSync(join(tmpdir(), 'repctl-netns-keys-'))
    client = keyPair(keysDir, 'client')
    const t0 = performance.now()
    net = await createTestNetwork({hosts: 2})
    ;[a, b] = net.hosts as [TestHost, TestHost]
    await Promise.all([a.startSshd({authorizedKeys: [client.publicLine]}), b.startSshd({authorizedKeys: [client.publicLine]})])
    createMs = performance.now() - t0
  })

  after(async () => {
    await Promise.all(ssh.map((h) => h.close()))
    await net?.destroy()
    rmSync(keysDir, {recursive: true, force: true})
  })

  it('gives each host its address, no default route, and reach between the hosts and from the root namespace', async (t) => {
    t.diagnostic(`2 hosts with sshd created in ${createMs.toFixed(0)} ms`)
    assert.deepEqual(net.hosts.map((h) => h.address), ['10.231.0.1', '10.231.0.2'])
    assert.deepEqual(await a.addresses(), ['10.231.0.1/24'])
    assert.deepEqual(await b.addresses(), ['10.231.0.2/24'])
    for (const h of [a, b]) {
      assert.ok(h.name.startsWith(NAME_PREFIX), h.name)
      const routes = await h.must('ip', ['-4', 'route'])
      assert.doesNotMatch(routes, /default/, `${h.name} must have no default route:\n${routes}`)
      assert.equal((await h.must('sysctl', ['-n', 'net.ipv4.ip_nonlocal_bind'])).trim(), '1')
    }
    assert.equal(await a.tcpProbe(b.address, 22), 'connected')
    assert.equal(await b.tcpProbe(a.address, 22), 'connected')
    assert.equal(await a.tcpProbe(b.address, 9), 'refused') // reachable, nothing listening
    assert.equal(await tcpProbe(a.address, 22), 'connected')
    assert.equal(await tcpProbe(b.address, 22), 'connected')
  })

  it("lets repctl's SshHost log in to each host's sshd and lands in that host's network", async () => {
    for (const [host, other] of [[a, b], [b, a]] as const) {
      const r = await sshTo(host).run('ip', ['-o', 'addr'])
      assert.equal(r.exitCode, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`inet ${host.address.replaceAll('.', '\\.')}/24 .*${host.interfaceName}`))
      assert.ok(!r.stdout.includes(`inet ${other.address}/`), `${host.name} shows ${other.address}:\n${r.stdout}`)
      assert.ok(!r.stdout.includes(`inet ${net.rootAddress}/`), `SSH to ${host.name} landed in the root namespace:\n${r.stdout}`)
    }
  })

  it('cuts the two hosts from each other only, and heals', async () => {
    a.cut(b)
    try {
      assert.equal(await a.tcpProbe(b.address, 22, 1000), 'timeout')
      assert.equal(await b.tcpProbe(a.address, 22, 1000), 'timeout')
      // The root namespace still reaches both sides, for status and over SSH.
      assert.equal(await tcpProbe(a.address, 22), 'connected')
      assert.equal(await tcpProbe(b.address, 22), 'connected')
      assert.equal((await sshTo(b).run('true', [])).exitCode, 0)
    } finally {
      a.heal(b)
    }
    assert.equal(await waitFor('A to reach B after the heal', 5000, async () => await a.tcpProbe(b.address, 22) === 'connected' ? true : undefined), true)
    assert.equal(await b.tcpProbe(a.address, 22), 'connected')
  })

  it('runs keepalived in each host; the VIP moves when the holder\'s keepalived is killed', {skip: skipKeepalived}, async (t) => {
    // A server on each host listening on the VIP before either holds it: needs ip_nonlocal_bind.
    const listener = "require('net').createServer((s)=>s.end(process.argv[1])).listen({host:process.argv[2],port:+process.argv[3]})"
    const servers = [a, b].map((h) => h.spawn(process.execPath, ['-e', listener, h.name, VIP, String(VIP_PORT)], {logName: 'vip-server.log'}))
    await new Promise((r) => setTimeout(r, 300))
    for (const s of servers) assert.ok(s.running(), `the VIP listener exited (no ip_nonlocal_bind?):\n${s.log()}`)

    const keepalived = [[a, b, 150], [b, a, 100]].map(([self, peer, prio]) => {
      const h = self as TestHost
      const conf = join(h.dir, 'keepalived.conf')
      writeFileSync(conf, keepalivedConfig(h, peer as TestHost, prio as number))
      return h.spawn(KEEPALIVED, ['-n', '-l', '-D', '-f', conf, '-p', join(h.dir, 'keepalived.pid'), '-r', join(h.dir, 'vrrp.pid'), '-c', join(h.dir, 'checkers.pid')], {logName: 'keepalived.log'})
    }) as [ReturnType<TestHost['spawn']>, ReturnType<TestHost['spawn']>]

    const t0 = performance.now()
    const holder = await waitFor('one host to hold the VIP', 15_000, async () => {
      const held = [await a.holds(VIP), await b.holds(VIP)]
      for (const k of keepalived) assert.ok(k.running(), `keepalived exited:\n${k.log()}`)
      return held[0] === true && held[1] === false ? a : held[0] === false && held[1] === true ? b : undefined
    })
    const firstMs = performance.now() - t0
    assert.equal(holder, a, 'the higher priority host takes the VIP first')
    assert.equal(await waitFor('the VIP to answer from the root namespace', 5000, () => readName(VIP, VIP_PORT)), a.name)

    // The holder's keepalived dies (parent and VRRP child, by pid) and its VIP goes with the "host".
    const killed = keepalived[0].tree()
    assert.ok(killed.length >= 2, `keepalived's parent and VRRP child, got ${killed.join(', ')}`)
    const tKill = performance.now()
    await keepalived[0].kill('SIGKILL', {tree: true})
    await a.removeAddress(`${VIP}/24`)
    for (const pid of killed) assert.ok(!alive(pid), `keepalived pid ${pid} survived`)
    await waitFor('B to hold the VIP', 10_000, async () => await b.holds(VIP) ? true : undefined)
    const movedMs = performance.now() - tKill
    assert.equal(await waitFor('the VIP to answer from B', 5000, async () => { const n = await readName(VIP, VIP_PORT); return n === b.name ? n : undefined }), b.name)
    const answeredMs = performance.now() - tKill
    assert.equal(await a.holds(VIP), false)
    t.diagnostic(`keepalived (advert_int 1): first VIP holder after ${firstMs.toFixed(0)} ms; after kill -9 of the holder's keepalived, the VIP is on the other host after ${movedMs.toFixed(0)} ms and answers there from the root namespace after ${answeredMs.toFixed(0)} ms`)
  })

  it('destroy leaves no namespace, link or process behind, and is idempotent', async (t) => {
    // A daemon started over SSH, as repctl starts a node: not the harness's child, not sshd's either.
    const started = await sshTo(b).run('sh', ['-c', 'setsid sleep 600 >/dev/null 2>&1 </dev/null & echo $!'])
    const daemon = Number(started.stdout.trim())
    assert.ok(Number.isInteger(daemon) && daemon > 0 && alive(daemon), `a daemon pid, got ${JSON.stringify(started)}`)
    assert.ok(b.pids().includes(daemon), `the daemon runs in ${b.name}`)
    const pids = [...new Set([...a.startedPids(), ...b.startedPids(), ...a.pids(), ...b.pids()])]
    assert.ok(pids.length >= 3, 'sshd and the daemon at least')
    const names = [a.name, b.name]
    await Promise.all(ssh.splice(0).map((h) => h.close()))
    const t0 = performance.now()
    await net.destroy()
    const destroyMs = performance.now() - t0
    await net.destroy()
    const namespaces = spawnSync('ip', ['netns', 'list'], {encoding: 'utf8'}).stdout
    for (const n of names) assert.ok(!namespaces.includes(n), `namespace ${n} left:\n${namespaces}`)
    const links = spawnSync('ip', ['-o', 'link', 'show'], {encoding: 'utf8'}).stdout
    assert.ok(!links.includes(`${NAME_PREFIX}${net.id}-`), `links left:\n${links}`)
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} left running`)
    assert.equal(spawnSync('ip', ['-o', '-4', 'addr', 'show'], {encoding: 'utf8'}).stdout.includes(net.rootAddress), false)
    assert.equal(spawnSync('test', ['-e', LOCK_FILE]).status, 1, `${LOCK_FILE} left`)
    t.diagnostic(`destroyed in ${destroyMs.toFixed(0)} ms (${pids.length} processes)`)
  })
})
