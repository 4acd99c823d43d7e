// The pure parts of keepalived's lifecycle for a VIP pair: the node's -l with
// the VIP, keepalived's argv and daemon description, the check command, the
// parsing of `ip -o -4 addr show` and `ip neigh`, the notify state file; and
// the plain check run for real against a server (it is what keepalived runs
// every second). That keepalived runs it as rendered is proven by test/e2e/vip.test.ts.

import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {serverArgs, findNode} from '../../src/cluster/topology.js'
import {servingCheckCommand} from '../../src/cluster/vip/check-command.js'
import {isMissingDevice, parseIpv4Addresses} from '../../src/cluster/vip/ip-addr.js'
import {keepalivedArgs, keepalivedDaemon, keepalivedVrrpDaemon, vipPairOf, vipPairOfNode} from '../../src/cluster/vip/keepalived.js'
import {parseVrrpState} from '../../src/cluster/vip/observe.js'
import {answeredArp} from '../../src/cluster/vip/preflight.js'
import {validateConfig} from '../../src/config/schema.js'
import {makeCerts} from '../helpers/certs.js'
import {freePort} from '../helpers/ports.js'
import {ROOT, toolMissing} from '../helpers/processes.js'

const CONFIG = validateConfig({
  cluster: 'prod',
  defaults: {stateDir: '/var/lib/repctl'},
  nodes: {
    node1: {host: '10.0.0.1', port: 11311}, node2: {host: '10.0.0.2', port: 11311},
    node3: {host: '10.0.0.3'}, node4: {host: '10.0.0.4'},
  },
  pairs: [{nodes: ['node2', 'node1'], vip: {address: '10.0.0.100/24', interface: 'eth0'}}, ['node3', 'node4']],
}, 'test.yaml', '/')

describe('serverArgs of a node whose pair has a VIP', () => {
  it('listens on its own address first (the replication address), then the VIP', () => {
    const args = serverArgs(findNode(CONFIG, 'node1'), findNode(CONFIG, 'node2'), 'none')
    assert.equal(args[args.indexOf('-l') + 1], '10.0.0.1,10.0.0.100')
    assert.equal(args.filter((a) => a === '-l').length, 1)
  })
  it('a node of a pair without a VIP listens on its own address only', () => {
    const args = serverArgs(findNode(CONFIG, 'node3'), findNode(CONFIG, 'node4'), 'none')
    assert.equal(args[args.indexOf('-l') + 1], '10.0.0.3')
  })
})

describe('the VIP pair of a node', () => {
  it('keeps the config order (the first node is preferred) whatever order it is asked in', () => {
    for (const names of [['node1', 'node2'], ['node2', 'node1']] as const) {
      const p = vipPairOf(CONFIG, names)!
      assert.deepEqual(p.nodes.map((n) => n.name), ['node2', 'node1'])
      assert.equal(p.vip.address, '10.0.0.100')
    }
    assert.equal(vipPairOfNode(CONFIG, 'node1')?.vip.interface, 'eth0')
    assert.equal(vipPairOf(CONFIG, ['node3', 'node4']), undefined)
    assert.equal(vipPairOfNode(CONFIG, 'node4'), undefined)
  })
})

describe('keepalived as a managed daemon', () => {
  const node1 = findNode(CONFIG, 'node1')
  it('argv: detailed log to the console (its log file), VRRP only, its config and both pid files in the node dir; no -n (it forks)', () => {
    assert.deepEqual(keepalivedArgs(node1), ['-D', '-l', '-P', '-f', '/var/lib/repctl/node1/keepalived.conf', '-p', '/var/lib/repctl/node1/keepalived.pid', '-r', '/var/lib/repctl/node1/keepalived-vrrp.pid'])
  })
  it('is recognised by its config path, runs as root, and its VRRP child has its own pid file', () => {
    assert.deepEqual(keepalivedDaemon(node1), {name: 'keepalived of node1', pidFile: '/var/lib/repctl/node1/keepalived.pid', marker: '/var/lib/repctl/node1/keepalived.conf', stopTimeoutMs: 10_000, asRoot: true})
    assert.equal(keepalivedVrrpDaemon(node1).pidFile, '/var/lib/repctl/node1/keepalived-vrrp.pid')
    assert.equal(keepalivedVrrpDaemon(node1).marker, '/var/lib/repctl/node1/keepalived.conf')
  })
})

describe('the serving check command', () => {
  it('plain: bash /dev/tcp under timeout 0.8, no $ (keepalived substitutes $NAME)', () => {
    const argv = servingCheckCommand(findNode(CONFIG, 'node2'), '/usr/bin/node')
    assert.deepEqual(argv, ['/usr/bin/timeout', '0.8', '/bin/bash', '-c', "exec 3<>/dev/tcp/10.0.0.2/11311 && printf 'version\\r\\n' >&3 && IFS= read -r reply <&3"])
    assert.ok(!argv.join(' ').includes('$'))
  })
  it('client TLS: the bundle\'s --check-serving mode with the host\'s Node.js', () => {
    const tls = {...findNode(CONFIG, 'node1'), security: {tls: {cert: '/c', key: '/k'}}} as Parameters<typeof servingCheckCommand>[0]
    assert.deepEqual(servingCheckCommand(tls, '/usr/local/bin/node'), ['/usr/local/bin/node', '/var/lib/repctl/node1/repcached.mjs', '--check-serving=10.0.0.1:11311', '--check-tls', '--check-timeout=800ms'])
  })
})

describe('ip output', () => {
  it('parses the IPv4 addresses of `ip -o -4 addr show dev IF` (iproute2 6.1)', () => {
    const out = [
      '2: eth0    inet 10.231.0.1/24 scope global eth0\\       valid_lft forever preferred_lft forever',
      '2: eth0    inet 10.231.0.100/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever',
      '',
    ].join('\n')
    assert.deepEqual(parseIpv4Addresses(out), [{address: '10.231.0.1', prefixLength: 24}, {address: '10.231.0.100', prefixLength: 24}])
    assert.deepEqual(parseIpv4Addresses(''), [])
    assert.deepEqual(parseIpv4Addresses('2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever'), [])
  })
  it('tells a missing device from other failures', () => {
    assert.equal(isMissingDevice('Device "nosuch0" does not exist.\n'), true)
    assert.equal(isMissingDevice('RTNETLINK answers: Operation not permitted\n'), false)
  })
  it('counts only a neighbour entry an ARP reply just confirmed', () => {
    assert.equal(answeredArp('10.231.0.100 lladdr 0e:91:54:dc:0a:18 REACHABLE\n'), '0e:91:54:dc:0a:18')
    assert.equal(answeredArp('10.231.0.100 lladdr 0e:91:54:dc:0a:18 STALE\n'), undefined)
    assert.equal(answeredArp('10.231.0.100  INCOMPLETE\n'), undefined)
    assert.equal(answeredArp('10.231.0.100  FAILED\n'), undefined)
    assert.equal(answeredArp(''), undefined)
  })
})

describe('the notify state file', () => {
  for (const [text, state] of [['MASTER\n', 'MASTER'], ['BACKUP\n', 'BACKUP'], ['FAULT', 'FAULT'], ['STOP\n', 'STOP'], ['', null], [undefined, null], ['MAST', null], ['master\n', null]] as const) {
    it(`${JSON.stringify(text)} → ${state}`, () => assert.equal(parseVrrpState(text), state))
  }
})

describe('the plain check against a real server', {skip: toolMissing('bash')}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'repctl-vipcheck-'))
  const children: number[] = []
  after(() => {
    for (const pid of children) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    rmSync(dir, {recursive: true, force: true})
  })

  const run = (argv: string[]): {status: number | null; ms: number} => {
    const t0 = performance.now()
    const r = spawnSync(argv[0]!, argv.slice(1), {encoding: 'utf8', timeout: 5000})
    return {status: r.status, ms: performance.now() - t0}
  }

  it('passes while the server answers (with -Y too, unauthenticated), fails when refused and within 0.8 s when frozen', async () => {
    const port = await freePort()
    writeFileSync(join(dir, 'users'), 'u:p\n')
    const server = spawn(process.execPath, [join(ROOT, 'dist', 'repcached.mjs'), '-p', String(port), '-l', '127.0.0.1', '-X', '0', '-Y', join(dir, 'users')], {stdio: 'ignore'})
    children.push(server.pid!)
    const node = {...findNode(CONFIG, 'node1'), host: '127.0.0.1', port}
    const argv = servingCheckCommand(node, process.execPath)
    const end = Date.now() + 5000
    while (run(argv).status !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
    assert.equal(run(argv).status, 0, 'serving')
    server.kill('SIGSTOP')
    const frozen = run(argv)
    server.kill('SIGCONT')
    assert.notEqual(frozen.status, 0, 'frozen')
    assert.ok(frozen.ms < 1000, `gave up after ${frozen.ms} ms`)
    server.kill('SIGKILL')
    await new Promise((r) => server.once('exit', r))
    assert.notEqual(run(argv).status, 0, 'refused')
  })

  it('TLS (--check-serving --check-tls): passes through the handshake, also when client certificates are required; fails when frozen', {skip: toolMissing('openssl')}, async () => {
    const certs = makeCerts()
    for (const verify of [[], ['ssl_verify_mode=2', `ssl_ca_cert=${certs.caCert}`]]) {
      const port = await freePort()
      const server = spawn(process.execPath, [join(ROOT, 'dist', 'repcached.mjs'), '-p', String(port), '-l', '127.0.0.1', '-X', '0', '-Z', '-o', [`ssl_chain_cert=${certs.serverCert}`, `ssl_key=${certs.serverKey}`, ...verify].join(',')], {stdio: 'ignore'})
      children.push(server.pid!)
      const node = {...findNode(CONFIG, 'node1'), host: '127.0.0.1', port, security: {tls: {cert: certs.serverCert, key: certs.serverKey}}} as Parameters<typeof servingCheckCommand>[0]
      const argv = servingCheckCommand(node, process.execPath)
      argv[1] = join(ROOT, 'dist', 'repcached.mjs')
      const end = Date.now() + 5000
      while (run(argv).status !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      assert.equal(run(argv).status, 0, `serving (${verify.join(',') || 'no client certificates'})`)
      server.kill('SIGSTOP')
      const frozen = run(argv)
      server.kill('SIGKILL')
      assert.notEqual(frozen.status, 0, 'frozen')
      assert.ok(frozen.ms < 1500, `gave up after ${frozen.ms} ms`)
    }
    rmSync(certs.dir, {recursive: true, force: true})
  })
})
