// Two nodes on one address sharing one replication port, repcached's own way
// to run a pair on one host: both get `-l 127.0.0.1 -x 127.0.0.1 -X P`. Only
// one of them can hold P at a time, so whichever holds it is the master and
// the other must dial it (docs/replication-protocol.md, "Reconnect").
// Faults are real: SIGSTOP / SIGCONT, SIGKILL, and a stranger holding P.

import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createServer, type Server, type Socket} from 'node:net'
import {after, describe, it} from 'node:test'
import {dump, startNode, stat, type ReplNode} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {launch, SERVER_BUNDLE} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {sleep, until} from '../helpers/wait.js'

const started: ReplNode[] = []
const frozen = new Set<number>()
const servers: Server[] = []
const clients: RawClient[] = []

after(async () => {
  for (const pid of frozen) {
    try { process.kill(pid, 'SIGCONT') } catch { /* already gone */ }
  }
  for (const c of clients) c.close()
  for (const s of servers) s.close()
  await Promise.all(started.map((n) => n.stop('SIGKILL')))
})

const TIMEOUT_S = 2

function note(text: string): void { process.stdout.write(`# ${text}\n`) }

function freeze(n: ReplNode): void { process.kill(n.pid, 'SIGSTOP'); frozen.add(n.pid) }
function thaw(n: ReplNode): void {
  if (!frozen.delete(n.pid)) return
  process.kill(n.pid, 'SIGCONT')
}

async function st(n: ReplNode, key: string): Promise<string> {
  const v = await stat(n.port, key, n.host)
  assert.ok(v !== undefined, `stats of ${n.host}:${n.port} has no ${key} line`)
  return v
}

async function paired(...nodes: ReplNode[]): Promise<boolean> {
  for (const n of nodes) if ((await stat(n.port, 'repl_state', n.host)) !== 'paired') return false
  return true
}

/** Replication stats and the log tail of each node, for failure messages. */
async function describeNodes(nodes: Record<string, ReplNode>): Promise<string> {
  const out: string[] = []
  for (const [label, n] of Object.entries(nodes)) {
    let lines = '(stopped)'
    if (!frozen.has(n.pid)) {
      try {
        const c = await RawClient.open(n.port, n.host)
        try {
          const s = await c.request('stats\r\n', 'END\r\n', 3000)
          lines = s.split('\r\n').filter((l) => l.startsWith('STAT repl_')).map((l) => l.slice(5)).join(', ')
        } finally { c.close() }
      } catch (e) { lines = `(stats failed: ${(e as Error).message})` }
    }
    const log = n.stderr().split('\n').filter((l) => l !== '').slice(-10).join('\n    ')
    out.push(`${label} (pid ${n.pid}): ${lines}\n    ${log}`)
  }
  return out.join('\n')
}

/** One node of a shared-port pair: exactly repcached's flags for a pair on one host, plus a short --rep-timeout. */
function sharedNode(repPort: number): Promise<ReplNode> {
  return startNode({repListen: repPort, peer: '127.0.0.1', extra: ['-v', '-q', '65536', `--rep-timeout=${TIMEOUT_S}`]}).then((n) => {
    started.push(n)
    return n
  })
}

/** A starts first (finds no peer, holds P), B dials it. */
async function sharedPair(): Promise<{a: ReplNode; b: ReplNode; repPort: number}> {
  const repPort = await freePort()
  const a = await sharedNode(repPort)
  const b = await sharedNode(repPort)
  const ok = await until(() => paired(a, b), 5000)
  assert.ok(ok, `the shared-port pair forms at start:\n${await describeNodes({a, b})}`)
  assert.equal(await st(a, 'repl_role'), 'master')
  assert.equal(await st(b, 'repl_role'), 'slave')
  return {a, b, repPort}
}

/** A client connection kept open for many requests. */
async function client(n: ReplNode): Promise<RawClient> {
  const c = await RawClient.open(n.port, n.host)
  clients.push(c)
  return c
}

async function set(c: RawClient, key: string, flags: number, value: string): Promise<void> {
  const r = await c.request(`set ${key} ${flags} 0 ${value.length}\r\n${value}\r\n`, '\r\n', 5000)
  assert.equal(r, 'STORED\r\n', `set ${key}`)
}

/** Keys whose gets view (flags, cas, value) differs between two dumps, or differs from `want`. */
function mismatches(keys: string[], want: Map<string, string>, da: Map<string, string>, db: Map<string, string>, limit = 8): string[] {
  const out: string[] = []
  const show = (e: string | undefined): string => e === undefined ? '(absent)' : e.length > 50 ? `${e.slice(0, 50)}…` : e
  for (const k of keys) {
    const ea = da.get(k)
    const eb = db.get(k)
    const value = (e: string | undefined): string | undefined => e?.replace(/^(\d+) \d+ \d+ /, '$1 ')
    if (ea === eb && value(ea) === want.get(k)) continue
    out.push(`${k}: a ${show(ea)} | b ${show(eb)} | want ${show(want.get(k))}`)
    if (out.length >= limit) { out.push('…'); break }
  }
  return out
}

/** Run a process to its end (SIGKILL after `timeoutMs`); exit status and stderr. */
function run(args: string[], timeoutMs: number): Promise<{status: number | null; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('close', (status) => { clearTimeout(timer); resolve({status, stderr}) })
  })
}

/** ~1 KB, different for every key and round. */
function value(key: string, round: number): string {
  return `${round}:${key}:`.padEnd(1000, String.fromCharCode(97 + (round % 26)))
}

describe('two nodes on one address sharing one replication port (-l 127.0.0.1 -x 127.0.0.1 -X P)', () => {
  for (const role of ['slave', 'master'] as const) {
    it(`SIGSTOP the ${role} past --rep-timeout while the other takes 20,000 acknowledged 1 KB sets; after SIGCONT the pair re-forms by itself and every key is equal on both`, {timeout: 180_000}, async () => {
      const {a, b} = await sharedPair()
      const [victim, survivor] = role === 'slave' ? [b, a] : [a, b]
      const nodes = {[`${role} (frozen)`]: victim, survivor}
      const pre = Array.from({length: 200}, (_, i) => `pre${i}`)
      const want = new Map<string, string>()
      const cv = await client(victim)
      for (const k of pre) { await set(cv, k, 1, value(k, 0)); want.set(k, `1 ${value(k, 0)}`) }
      cv.close()

      const copiedBefore = Number(await st(victim, 'repl_copy_received'))
      const keys = Array.from({length: 20_000}, (_, i) => `k${i}`)
      const cs = await client(survivor)
      freeze(victim)
      const t0 = Date.now()
      try {
        // One at a time, each acknowledged; some overwrite what the frozen node wrote.
        for (const k of keys) { await set(cs, k, 2, value(k, 1)); want.set(k, `2 ${value(k, 1)}`) }
        for (const k of pre.slice(0, 50)) { await set(cs, k, 3, value(k, 2)); want.set(k, `3 ${value(k, 2)}`) }
        note(`${keys.length} sets acknowledged by the survivor in ${Date.now() - t0} ms`)
        const alone = await until(async () => (await st(survivor, 'repl_state')) !== 'paired', TIMEOUT_S * 1000 + 3000)
        assert.ok(alone, `the survivor declares the frozen peer dead:\n${await describeNodes(nodes)}`)
        const waited = Date.now() - t0
        if (waited < TIMEOUT_S * 1000 + 1500) await sleep(TIMEOUT_S * 1000 + 1500 - waited)
        note(`${role} frozen ${Date.now() - t0} ms (--rep-timeout=${TIMEOUT_S})`)
      } finally { thaw(victim) }
      const tCont = Date.now()

      const repaired = await until(() => paired(a, b), 20_000, 20)
      const tPaired = Date.now() - tCont
      assert.ok(repaired, `the pair re-forms by itself within 20 s of SIGCONT:\n${await describeNodes(nodes)}`)
      const all = [...pre, ...keys]
      let da = new Map<string, string>()
      let db = new Map<string, string>()
      const same = await until(async () => {
        da = await dump(a.port, all)
        db = await dump(b.port, all)
        return mismatches(all, want, da, db, 1).length === 0
      }, 20_000, 200)
      const tConverged = Date.now() - tCont
      note(`after SIGCONT: paired in ${tPaired} ms, every key equal on both in ${tConverged} ms`)
      assert.ok(same, `every key present and equal (flags, cas, value) on both nodes:\n${mismatches(all, want, da, db).join('\n')}\n${await describeNodes(nodes)}`)
      assert.equal(da.size, all.length)
      assert.equal(await st(a, 'repl_state'), 'paired')
      assert.equal(await st(b, 'repl_state'), 'paired')
      assert.deepEqual([await st(a, 'repl_role'), await st(b, 'repl_role')].sort(), ['master', 'slave'])
      assert.equal(victim.process.exitCode, null, 'the frozen node was not restarted')
      const copied = Number(await st(victim, 'repl_copy_received')) - copiedBefore
      assert.ok(copied >= keys.length, `the writes reached the frozen node in the re-pair copy (repl_copy_received +${copied})`)
      assert.match(victim.stderr(), /cannot listen on 127\.0\.0\.1:\d+: in use, by the peer that shares this address and port \(or by another process\); dialling 127\.0\.0\.1:\d+ instead/)
      assert.doesNotMatch(victim.stderr(), /pick another port/, 'the peer holding the shared port is no conflict to report')
      cs.close()
    })
  }

  for (const first of ['slave', 'master'] as const) {
    it(`both frozen past --rep-timeout, the ${first} continued first: the first to run holds P, the other dials it, the pair re-forms`, {timeout: 60_000}, async () => {
      const {a, b} = await sharedPair()
      const nodes = {a, b}
      const ca = await client(a)
      for (let i = 0; i < 100; i++) await set(ca, `x${i}`, 0, value(`x${i}`, 0))
      ca.close()
      const ok = await until(async () => (await dump(b.port, ['x99'])).size === 1, 5000)
      assert.ok(ok, 'b has a\'s writes before the freeze')
      freeze(a)
      freeze(b)
      await sleep(TIMEOUT_S * 1000 + 1500)
      const [one, two] = first === 'slave' ? [b, a] : [a, b]
      thaw(one)
      const listening = await until(async () => (await st(one, 'repl_state')) === 'listening', TIMEOUT_S * 1000 + 3000)
      assert.ok(listening, `the first node to run takes P:\n${await describeNodes(nodes)}`)
      const cw = await client(one)
      for (let i = 0; i < 100; i++) await set(cw, `y${i}`, 0, value(`y${i}`, 0))
      cw.close()
      thaw(two)
      const t0 = Date.now()
      const repaired = await until(() => paired(a, b), 15_000, 20)
      assert.ok(repaired, `the pair re-forms by itself:\n${await describeNodes(nodes)}`)
      note(`paired ${Date.now() - t0} ms after the second SIGCONT`)
      assert.equal(await st(one, 'repl_role'), 'master', 'the node holding P is the master')
      assert.equal(await st(two, 'repl_role'), 'slave', 'the node that dialled is the slave')
      const keys = [...Array.from({length: 100}, (_, i) => `x${i}`), ...Array.from({length: 100}, (_, i) => `y${i}`)]
      const want = new Map(keys.map((k) => [k, `0 ${value(k, 0)}`]))
      let [da, db] = [new Map<string, string>(), new Map<string, string>()]
      const same = await until(async () => {
        da = await dump(a.port, keys)
        db = await dump(b.port, keys)
        return mismatches(keys, want, da, db, 1).length === 0
      }, 10_000, 100)
      assert.ok(same, `every key equal on both:\n${mismatches(keys, want, da, db).join('\n')}`)
    })
  }

  it('the node that dials finds P freed (its holder gone): it takes P itself, and the restarted peer pairs with it', {timeout: 60_000}, async () => {
    const {a, b, repPort} = await sharedPair()
    // While paired nobody holds P: a stranger takes it, one that hangs up on every connection.
    let strangerConnections = 0
    const stranger = createServer((s) => { strangerConnections++; s.destroy() })
    servers.push(stranger)
    await new Promise<void>((resolve, reject) => { stranger.once('error', reject); stranger.listen(repPort, '127.0.0.1', resolve) })
    await a.stop('SIGKILL')
    // b cannot take P, so it dials it, again and again, and never mistakes the stranger for its peer.
    const dialled = await until(async () => strangerConnections >= 2, 8000)
    assert.ok(dialled, `b keeps dialling P (${strangerConnections} connections reached the stranger):\n${await describeNodes({b})}`)
    assert.equal(await st(b, 'repl_state'), 'connecting')
    assert.equal(await st(b, 'repl_role'), 'master', 'b serves alone')
    const cb = await client(b)
    await set(cb, 'while-alone', 5, 'b alone')
    cb.close()
    await new Promise<void>((resolve) => stranger.close(() => resolve()))
    const t0 = Date.now()
    const took = await until(async () => (await st(b, 'repl_state')) === 'listening', 12_000)
    assert.ok(took, `b takes P once it is free:\n${await describeNodes({b})}`)
    note(`b listened ${Date.now() - t0} ms after P was freed`)
    const a2 = await sharedNode(repPort)
    const repaired = await until(() => paired(a2, b), 5000)
    assert.ok(repaired, `the restarted node pairs with b:\n${await describeNodes({a2, b})}`)
    assert.equal(await st(b, 'repl_role'), 'master')
    assert.equal(await st(a2, 'repl_role'), 'slave')
    assert.equal((await dump(a2.port, ['while-alone'])).get('while-alone')?.replace(/^(\d+) \d+ \d+ /, '$1 '), '5 b alone')
  })

  it('without -l (all addresses): the node holding P finds that dialling 127.0.0.1:P reaches itself, stops dialling, and never pairs with itself; the peer dials it after SIGCONT', {timeout: 60_000}, async () => {
    const repPort = await freePort()
    const wildcard = async (): Promise<ReplNode> => {
      const args = ['-X', String(repPort), '-x', '127.0.0.1', '-v', `--rep-timeout=${TIMEOUT_S}`]
      const server = await launch(process.execPath, (port) => [SERVER_BUNDLE, '-p', String(port), ...args], 'node', {stopGraceMs: 10_000})
      const n = {...server, host: '127.0.0.1', repPort, args}
      started.push(n)
      return n
    }
    const a = await wildcard()
    const b = await wildcard()
    assert.ok(await until(() => paired(a, b), 5000), `the pair forms:\n${await describeNodes({a, b})}`)
    const cb = await client(b)
    await set(cb, 'before', 1, 'from b')
    cb.close()
    freeze(b)
    try {
      assert.ok(await until(async () => (await st(a, 'repl_state')) === 'listening', TIMEOUT_S * 1000 + 3000), `a serves alone:\n${await describeNodes({a})}`)
      // Long enough for a's first dials (after 1 s, then 2 s).
      const end = Date.now() + 4000
      const seen = new Set<string>()
      while (Date.now() < end) {
        seen.add(`${await st(a, 'repl_state')} peer=${await st(a, 'repl_peer')}`)
        await sleep(20)
      }
      assert.deepEqual([...seen], ['listening peer=-'], `a stays listening, never linked to itself:\n${await describeNodes({a})}`)
      assert.equal(await st(a, 'repl_reconnects'), '0', `no link with itself counted as a reconnect:\n${await describeNodes({a})}`)
      assert.match(a.stderr(), /is this node's own listener/)
    } finally { thaw(b) }
    assert.ok(await until(() => paired(a, b), 10_000), `the pair re-forms after SIGCONT:\n${await describeNodes({a, b})}`)
    assert.equal(await st(a, 'repl_role'), 'master')
    const ca = await client(a)
    await set(ca, 'after', 2, 'from a')
    ca.close()
    assert.ok(await until(async () => (await dump(b.port, ['before', 'after'])).size === 2, 5000), 'writes flow again')
  })

  it('the peer is a legacy repcached holding P (a scripted legacy master that never dials): after it drops the link, our node dials it at once and takes its copy again', {timeout: 30_000}, async () => {
    const repPort = await freePort()
    const links: Socket[] = []
    const master = createServer((sock) => {
      links.push(sock)
      sock.on('error', () => {})
      // repcached streams its copy at once on accept (the hello line is dropped unread here).
      const n = links.length
      sock.write(`rep copy${n} 0 0 2 ${n}\r\nv${n}\r\nmarugoto_end\r\n`)
    })
    servers.push(master)
    await new Promise<void>((resolve, reject) => { master.once('error', reject); master.listen(repPort, '127.0.0.1', resolve) })
    const n = await sharedNode(repPort)
    assert.ok(await until(() => paired(n), 5000), `our node pairs with the legacy master:\n${await describeNodes({n})}`)
    assert.equal(await st(n, 'repl_mode'), 'legacy')
    assert.equal(await st(n, 'repl_role'), 'slave')
    // repcached drops a link on a queue overflow or a write error, and keeps listening.
    links[0]!.destroy()
    const t0 = Date.now()
    assert.ok(await until(async () => links.length === 2 && await paired(n), 5000), `our node dials the legacy master again:\n${await describeNodes({n})}`)
    note(`re-paired with the legacy master ${Date.now() - t0} ms after it dropped the link`)
    assert.equal(await st(n, 'repl_role'), 'slave')
    assert.equal((await dump(n.port, ['copy2'])).get('copy2')?.replace(/^(\d+) \d+ \d+ /, '$1 '), '0 v2', 'the second copy arrived')
    for (const l of links) l.destroy()
  })

  for (const withPeer of [false, true]) {
    it(`a stranger holding P at start (${withPeer ? '-x 127.0.0.1 -X P' : '-X P, no -x'}): exit 1 with the clear "another process" error`, async () => {
      const repPort = await freePort()
      const stranger = createServer((s) => s.destroy())
      servers.push(stranger)
      await new Promise<void>((resolve, reject) => { stranger.once('error', reject); stranger.listen(repPort, '127.0.0.1', resolve) })
      const port = await freePort()
      const args = [SERVER_BUNDLE, '-p', String(port), '-l', '127.0.0.1', '-X', String(repPort), ...(withPeer ? ['-x', '127.0.0.1'] : [])]
      // Not spawnSync: the stranger lives in this process and must go on hanging up meanwhile.
      const r = await run(args, 15_000)
      assert.equal(r.status, 1, `exit status 1; stderr:\n${r.stderr}`)
      assert.match(r.stderr, new RegExp(`failed to listen for replication on 127\\.0\\.0\\.1:${repPort}: another process is using it; pick another port with -X`))
      stranger.close()
    })
  }
})
