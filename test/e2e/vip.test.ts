// A pair with a VIP, managed by repctl over SSH on two hosts with their own
// network (test/helpers/vip-cluster.ts: network namespaces on a bridge, sshd
// in each), with Debian's keepalived. Everything is asked of the real system:
// the VIP on the interfaces (`ip addr` in each namespace), the node answering
// memcached `version` through the VIP from the root namespace, processes by
// pid.
//
// - before the first start: a missing interface and a VIP that something
//   else answers are refused, naming the host and the fix;
// - start: ip_nonlocal_bind set by repctl (the test turns it off first), the
//   VIP on the first node's host, answering; a second start changes nothing;
// - kill -9 of the node holding the VIP: the VIP moves, and answers from the
//   other node (time printed); restarting the node leaves it there (nopreempt);
// - drainVip: the VIP leaves the drained node's host;
// - kill -9 of a keepalived: its VIP stays behind, the other host takes it
//   too: status says vip_split (critical); stop leaves no VIP and no
//   keepalived anywhere.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {connect} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {StatusReport} from '../../src/cluster/status.js'
import {drainVip} from '../../src/cluster/vip/observe.js'
import {loadConfig} from '../../src/config/load.js'
import {HostPool} from '../../src/hosts/pool.js'
import {alive, netnsMissing, programMissing, type TestHost} from '../helpers/netns.js'
import {KEEPALIVED, PORT, VIP, VIP_CIDR, VipCluster} from '../helpers/vip-cluster.js'
import {waitFor} from '../helpers/wait.js'

const skipNet = netnsMissing()
const skip = skipNet === false ? programMissing(KEEPALIVED, 'keepalived') : skipNet
if (skip !== false) process.stderr.write(`\n*** vip.test.ts: ${skip} ***\n\n`)

/** memcached `version` through address:port (bounded): the reply line, or undefined. */
function version(address: string, port: number, timeoutMs = 300): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({host: address, port})
    let got = ''
    const done = (v: string | undefined): void => { clearTimeout(t); s.destroy(); resolve(v) }
    const t = setTimeout(() => done(undefined), timeoutMs)
    s.setEncoding('latin1')
    s.on('connect', () => s.write('version\r\n'))
    s.on('data', (d: string) => { got += d; if (got.includes('\r\n')) done(got.split('\r\n')[0]) })
    s.on('error', () => done(undefined))
  })
}

describe('a pair with a VIP: repctl start, status, stop with keepalived over SSH (network namespaces)', {skip}, () => {
  let vc: VipCluster
  let h1: TestHost
  let h2: TestHost

  async function status(code: number): Promise<StatusReport> {
    return vc.repctl.json<StatusReport>(['status'], code, 'status')
  }

  const holders = (): Promise<string[]> => vc.holders()

  before(async () => {
    vc = await VipCluster.create('viptest', {repctlTimeoutMs: 120_000})
    h1 = vc.host('node1')
    h2 = vc.host('node2')
    // repctl must allow the VIP to be bound itself: take away what the harness set.
    for (const h of [h1, h2]) await h.must('sysctl', ['-w', 'net.ipv4.ip_nonlocal_bind=0'])
  })

  after(async () => {
    await vc?.destroy()
  })

  it('refuses a missing interface and a VIP that already answers, naming the host and the fix; starts nothing', async () => {
    vc.writeConfig({vipInterface: 'nosuch0'})
    let r = await vc.repctl.run(['start', '--json'])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    let e = JSON.parse(r.stdout) as {error: {code: string; message: string; suggestions: string[]}}
    assert.equal(e.error.code, 'VIP_INTERFACE_MISSING')
    assert.match(e.error.message, /the interface nosuch0 of the VIP 10\.231\.0\.100 \(pair node1,node2\) does not exist on .*10\.231\.0\.1.*, the host of node node1/)
    assert.match(e.error.suggestions.join(' '), /ip -o link show/)

    vc.writeConfig()
    // Another machine on the network has the VIP: the root namespace, on the bridge.
    const add = spawnSync('ip', ['addr', 'add', VIP_CIDR, 'dev', vc.net.bridge], {encoding: 'utf8'})
    assert.equal(add.status, 0, add.stderr)
    try {
      r = await vc.repctl.run(['start', '--json'])
    } finally {
      spawnSync('ip', ['addr', 'del', VIP_CIDR, 'dev', vc.net.bridge])
    }
    assert.equal(r.code, 1, r.stdout + r.stderr)
    e = JSON.parse(r.stdout) as typeof e
    assert.equal(e.error.code, 'VIP_IN_USE')
    assert.match(e.error.message, /the VIP 10\.231\.0\.100 of pair node1,node2 answers on the network \(seen from .*10\.231\.0\.1.*ARP answered by [0-9a-f:]+/)
    const s = await status(2)
    assert.deepEqual(s.nodes.map((n) => n.process), ['stopped', 'stopped'], 'nothing was started')
  })

  it('start: sets ip_nonlocal_bind, puts the VIP on node1\'s host, and the node answers on it; a second start changes nothing', async (t) => {
    // The failed start above may have set the sysctl already (it runs before the VIP probe): reset it.
    for (const h of [h1, h2]) await h.must('sysctl', ['-w', 'net.ipv4.ip_nonlocal_bind=0'])
    const r = await vc.repctl.run(['start'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout + r.stderr, /set net\.ipv4\.ip_nonlocal_bind=1 so node1 can listen on the VIP/)
    for (const h of [h1, h2]) assert.equal((await h.must('sysctl', ['-n', 'net.ipv4.ip_nonlocal_bind'])).trim(), '1')
    assert.deepEqual(await holders(), ['node1'])
    assert.match(await waitFor('the VIP to answer', 5000, () => version(VIP, PORT)) ?? '', /^VERSION /)
    const s = await status(0)
    const vip = s.pairs[0]!.vip!
    assert.equal(vip.holder, 'node1')
    assert.equal(vip.verdict, 'ok')
    assert.deepEqual(vip.keepalived.map((k) => [k.node, k.process, k.state]), [['node1', 'running', 'MASTER'], ['node2', 'running', 'BACKUP']])
    for (const k of vip.keepalived) assert.ok(alive(k.pid!), `keepalived pid ${k.pid}`)
    t.diagnostic(`status: ${vip.reason}`)

    const again = await vc.repctl.run(['start'])
    assert.equal(again.code, 0, again.stdout + again.stderr)
    assert.match(again.stdout + again.stderr, /already running with this config, pid/)
    const s2 = await status(0)
    assert.deepEqual(s2.pairs[0]!.vip!.keepalived.map((k) => k.pid), vip.keepalived.map((k) => k.pid), 'keepalived left alone')
  })

  it('kill -9 of the node holding the VIP: the VIP moves and answers from the other node; the node restarted, it stays there', async (t) => {
    const before = await status(0)
    const node1 = before.nodes.find((n) => n.name === 'node1')!
    const t0 = performance.now()
    process.kill(node1.pid!, 'SIGKILL')
    await waitFor('node2\'s host to hold the VIP', 10_000, async () => (await h2.holds(VIP) ? true : undefined))
    const movedMs = performance.now() - t0
    await waitFor('the VIP to answer', 10_000, () => version(VIP, PORT))
    const answeredMs = performance.now() - t0
    assert.deepEqual(await holders(), ['node2'])
    t.diagnostic(`kill -9 of the node on the VIP's host: VIP on the other host after ${movedMs.toFixed(0)} ms, answering \`version\` there after ${answeredMs.toFixed(0)} ms`)
    const down = await status(1)
    assert.equal(down.pairs[0]!.vip!.holder, 'node2')
    assert.deepEqual(down.pairs[0]!.vip!.keepalived.map((k) => k.state), ['FAULT', 'MASTER'])

    const r = await vc.repctl.run(['start'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    await waitFor('node1 to pass its check again', 10_000, async () => {
      const s = await status(0)
      return s.pairs[0]!.vip!.keepalived[0]!.state === 'BACKUP' ? s : undefined
    })
    assert.deepEqual(await holders(), ['node2'], 'nopreempt: the VIP stays with the node that serves')
  })

  it('drainVip moves the VIP away from the drained node\'s host', async (t) => {
    const config = await loadConfig(vc.configFile)
    const pool = new HostPool()
    try {
      const node2 = config.nodes.find((n) => n.name === 'node2')!
      const t0 = performance.now()
      await drainVip(pool, node2, true)
      await waitFor('node1\'s host to hold the VIP', 10_000, async () => ((await holders()).join() === 'node1' ? true : undefined))
      t.diagnostic(`drain: the VIP on the other host after ${(performance.now() - t0).toFixed(0)} ms`)
      await drainVip(pool, node2, false)
      await waitFor('node2 back to BACKUP', 10_000, async () => ((await status(0)).pairs[0]!.vip!.keepalived[1]!.state === 'BACKUP' ? true : undefined))
      assert.deepEqual(await holders(), ['node1'])
    } finally {
      await pool.close()
    }
  })

  it('kill -9 of the holder\'s keepalived leaves its VIP: split (critical) in status; stop leaves no VIP and no keepalived', async () => {
    const s = await status(0)
    const [k1, k2] = s.pairs[0]!.vip!.keepalived.map((k) => ({pid: k.pid!})) as [{pid: number}, {pid: number}]
    // keepalived's VRRP child is the main process's child: both, by pid.
    const vrrp1 = Number((await h1.must('cat', [join(vc.nodeDir('node1'), 'keepalived-vrrp.pid')])).trim())
    assert.ok(alive(vrrp1))
    process.kill(k1.pid, 'SIGKILL')
    process.kill(vrrp1, 'SIGKILL')
    await waitFor('node2\'s host to take the VIP too', 10_000, async () => ((await holders()).length === 2 ? true : undefined))
    const split = await status(2)
    assert.equal(split.pairs[0]!.vip!.verdict, 'vip_split')
    assert.deepEqual(split.pairs[0]!.vip!.holders, ['node1', 'node2'])
    assert.equal(split.pairs[0]!.vip!.keepalived[0]!.process, 'stopped')

    const r = await vc.repctl.run(['stop'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout + r.stderr, /Stop keepalived of node1[^\n]*\n?[^\n]*removed the VIP it left on/)
    assert.deepEqual(await holders(), [])
    for (const pid of [k1.pid, k2.pid, vrrp1]) assert.ok(!alive(pid), `keepalived pid ${pid} left running`)
    assert.deepEqual([...h1.pids(), ...h2.pids()].filter((pid) => !(h1.startedPids().includes(pid) || h2.startedPids().includes(pid))), [], 'only the test\'s sshd left in the namespaces')
    const stopped = await status(2)
    assert.equal(stopped.pairs[0]!.vip!.verdict, 'vip_missing')
  })
})
