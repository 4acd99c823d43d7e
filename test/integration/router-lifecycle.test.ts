// A router's lifecycle on this machine with a real nutcracker, driven through
// LocalHost with the functions `repctl start`, `stop`, `status` and
// `supervise` use (src/cluster/router/nutcracker.ts, observe.ts): started,
// left alone when nothing changed, restarted when a pair's endpoint changed,
// refused (and the running router left alone) when its port is taken, its
// config refused with nutcracker's own words, stopped. Behind it: a real
// memcached, then our server, on loopback ports chosen at run time.

import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {execa} from 'execa'
import {renderNutcrackerConfig, readRoutes, type NutcrackerInput} from '../../src/cluster/router/nutcracker-config.js'
import {findNutcracker, requireNutcracker, startRouter, stopRouter, testRouterConfig} from '../../src/cluster/router/nutcracker.js'
import {observeRouter} from '../../src/cluster/router/observe.js'
import {routerPaths} from '../../src/cluster/router/paths.js'
import {probeRouter} from '../../src/cluster/router/probe.js'
import type {RouterConfig} from '../../src/config/schema.js'
import {RepctlError, type ErrorCode} from '../../src/errors.js'
import {LocalHost} from '../../src/hosts/local-host.js'
import {freePort} from '../helpers/ports.js'
import {REQUIRE_TOOLS, ROOT, startMemcached, startOurServer, toolMissing, which, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {until} from '../helpers/wait.js'

const host = new LocalHost('127.0.0.1')
const alive = async (pid: number): Promise<boolean> => (await host.processInfo(pid)).alive

/** A RepctlError with `code`, whose message passes `check`. */
function repctlError(code: ErrorCode, check: (message: string, suggestions: string[]) => void): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof RepctlError, String(e))
    assert.equal(e.code, code, e.message)
    check(e.message, e.suggestions)
    return true
  }
}

async function setThrough(port: number, key: string, value: string): Promise<string> {
  const c = await RawClient.open(port)
  try {
    c.send(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`)
    return (await c.readUntil((b) => b.includes('\r\n'))).toString('latin1')
  } finally { c.close() }
}

async function getFrom(port: number, key: string): Promise<string> {
  const c = await RawClient.open(port)
  try {
    c.send(`get ${key}\r\n`)
    return (await c.readUntil((b) => /END\r\n$|ERROR[^\r\n]*\r\n$/.test(b.toString('latin1')))).toString('latin1')
  } finally { c.close() }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => s.destroy())
    srv.once('error', reject)
    srv.listen(port, '127.0.0.1', () => resolve(srv))
  })
}

describe('a router\'s lifecycle with a real nutcracker (LocalHost)', {skip: toolMissing('nutcracker') || toolMissing('memcached')}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'repctl-router-life-'))
  let memcached: RunningServer
  let ours: RunningServer
  let router: RouterConfig
  let input: NutcrackerInput
  let firstPid = 0
  let pid = 0

  before(async () => {
    ;[memcached, ours] = await Promise.all([startMemcached(['-m', '8', '-t', '1']), startOurServer()])
    router = {name: 'r1', host: '127.0.0.1', ssh: undefined, port: await freePort(), statsPort: await freePort(), stateDir: join(dir, 'state'), privilege: 'root', timeoutMs: 1000}
    input = {cluster: 'life', router, pairs: [{name: 'a+b', endpoint: {host: '127.0.0.1', port: memcached.port}}]}
  })
  after(async () => {
    // Stop what we started, by pid: the router through its pid file, the servers by theirs.
    const p = routerPaths(router)
    const left = existsSync(p.pidFile) ? Number(readFileSync(p.pidFile, 'utf8').trim()) : NaN
    if (Number.isInteger(left) && left > 0 && await alive(left)) process.kill(left, 'SIGKILL')
    await Promise.all([memcached?.stop(), ours?.stop()])
    rmSync(dir, {recursive: true, force: true})
  })

  it('starts: its config file is what we render, and a request goes through it to the pair', async () => {
    const r = await startRouter(host, router, input)
    assert.equal(r.action, 'started')
    assert.ok(await alive(r.pid), `pid ${r.pid} runs`)
    firstPid = pid = r.pid
    const p = routerPaths(router)
    assert.equal(readFileSync(p.config, 'utf8'), renderNutcrackerConfig(input))
    assert.equal(Number(readFileSync(p.pidFile, 'utf8').trim()), r.pid, 'nutcracker wrote its pid file')
    assert.equal(await setThrough(router.port, 'life:1', 'one'), 'STORED\r\n')
    assert.equal(await getFrom(memcached.port, 'life:1'), 'VALUE life:1 0 3\r\none\r\nEND\r\n', 'the value is on the pair\'s server')
    const o = await observeRouter(host, router, 'life', ['a+b'])
    assert.deepEqual([o.process, o.pid, o.answering, o.transport], ['running', r.pid, true, 'local'])
    assert.deepEqual(o.routes, input.pairs, 'the routes it runs with, from its file')
  })

  it('the same input again: unchanged, the same pid (clients keep their connections)', async () => {
    const c = await RawClient.open(router.port)
    try {
      const r = await startRouter(host, router, {...input, pairs: input.pairs.map((x) => ({...x, endpoint: {...x.endpoint}}))})
      assert.deepEqual(r, {pid, action: 'unchanged'})
      // A connection opened before is still served.
      c.send('get life:1\r\n')
      assert.equal((await c.readUntil((b) => b.toString('latin1').endsWith('END\r\n'))).toString('latin1'), 'VALUE life:1 0 3\r\none\r\nEND\r\n')
    } finally { c.close() }
  })

  it('a changed endpoint: restarted with a new pid, the file updated, requests go to the new endpoint', async () => {
    const moved: NutcrackerInput = {...input, pairs: [{name: 'a+b', endpoint: {host: '127.0.0.1', port: ours.port}}]}
    const r = await startRouter(host, router, moved)
    assert.equal(r.action, 'restarted')
    assert.notEqual(r.pid, pid)
    assert.equal(await alive(pid), false, `the old nutcracker (pid ${pid}) is gone`)
    pid = r.pid
    input = moved
    assert.deepEqual(readRoutes(readFileSync(routerPaths(router).config, 'utf8')), moved.pairs)
    assert.equal(existsSync(`${routerPaths(router).config}.new`), false, 'the tested candidate is not left behind')
    assert.equal(await setThrough(router.port, 'life:2', 'two'), 'STORED\r\n')
    assert.equal(await getFrom(ours.port, 'life:2'), 'VALUE life:2 0 3\r\ntwo\r\nEND\r\n', 'now on our server')
    assert.equal(await getFrom(memcached.port, 'life:2'), 'END\r\n', 'not on the old endpoint')
  })

  it('a taken client or stats port: PORT_IN_USE naming the router and the port; the running router is left alone', async () => {
    for (const which of ['port', 'statsPort'] as const) {
      const taken = await freePort()
      const squatter = await listen(taken)
      try {
        const moved: RouterConfig = {...router, [which]: taken}
        await assert.rejects(startRouter(host, moved, {...input, router: moved}), repctlError('PORT_IN_USE', (m, hints) => {
          assert.match(m, new RegExp(`^${which === 'port' ? 'client' : 'stats'} port 127\\.0\\.0\\.1:${taken} of router r1 is already in use on 127\\.0\\.0\\.1 \\(local\\)$`))
          assert.match(hints.join(' '), new RegExp(`routers\\.r1\\.${which}`))
        }))
        assert.ok(await alive(pid), `${which}: the running router (pid ${pid}) still runs`)
        assert.deepEqual(readRoutes(readFileSync(routerPaths(router).config, 'utf8')), input.pairs, `${which}: its file is unchanged`)
        assert.equal(readFileSync(routerPaths(router).config, 'utf8'), renderNutcrackerConfig(input))
        assert.equal(await getFrom(router.port, 'life:2'), 'VALUE life:2 0 3\r\ntwo\r\nEND\r\n', `${which}: it still serves`)
      } finally {
        await new Promise((r) => squatter.close(r))
      }
    }
  })

  it('a new stats port (the config file does not change): restarted, its stats answer there, the old port is free', async () => {
    const old = router.statsPort
    router = {...router, statsPort: await freePort()}
    input = {...input, router}
    const r = await startRouter(host, router, input)
    assert.equal(r.action, 'restarted')
    assert.notEqual(r.pid, pid)
    pid = r.pid
    const o = await observeRouter(host, router, 'life', ['a+b'])
    assert.deepEqual([o.process, o.pid, o.answering], ['running', pid, true])
    assert.ok(await host.portFree('127.0.0.1', old), `the old stats port ${old} is free`)
    assert.deepEqual(await startRouter(host, router, input), {pid, action: 'unchanged'}, 'and then it is unchanged')
  })

  it('a config nutcracker refuses: ROUTER_CONFIG_REFUSED with nutcracker\'s own message', async () => {
    const program = await findNutcracker(host)
    assert.equal(program, which('nutcracker'))
    const file = join(dir, 'hand-written.yml')
    // Two servers with one name: YAML nutcracker parses, a pool it refuses.
    writeFileSync(file, renderNutcrackerConfig(input).replace(/( {4}- .*)\n$/, `$1\n    - 127.0.0.1:${memcached.port}:1 a+b\n`))
    await assert.rejects(testRouterConfig(host, program!, router, file), repctlError('ROUTER_CONFIG_REFUSED', (m) => {
      assert.ok(m.startsWith(`nutcracker on 127.0.0.1 (local) refused the config of router r1 (${file}): `), m)
      assert.ok(m.includes(`nutcracker: configuration file '${file}' syntax is invalid`), `nutcracker's words: ${m}`)
    }))
    // And our own rendering passes the same test.
    writeFileSync(file, renderNutcrackerConfig(input))
    await testRouterConfig(host, program!, router, file)
  })

  it('stop: stopped and gone, its port free; not_running the second time', async () => {
    assert.equal(await stopRouter(host, router), 'stopped')
    assert.equal(await alive(pid), false)
    assert.ok(await until(() => host.portFree('127.0.0.1', router.port), 2000), 'its client port is free')
    const o = await observeRouter(host, router, 'life', ['a+b'])
    assert.deepEqual([o.process, o.pid, o.answering, o.stats], ['stopped', null, false, null])
    assert.deepEqual(o.routes, input.pairs, 'its file stays: the record of its last routes')
    assert.equal(await stopRouter(host, router), 'not_running')
  })

  it('not running and its port taken: PORT_IN_USE, and nothing starts', async () => {
    const squatter = await listen(router.port)
    try {
      await assert.rejects(startRouter(host, router, input), repctlError('PORT_IN_USE', (m) => assert.match(m, /client port 127\.0\.0\.1:\d+ of router r1/)))
      assert.equal((await observeRouter(host, router, 'life', ['a+b'])).process, 'stopped')
    } finally {
      await new Promise((r) => squatter.close(r))
    }
    const r = await startRouter(host, router, input)
    assert.equal(r.action, 'started', 'once the port is free')
    assert.notEqual(r.pid, firstPid)
    const replies = await probeRouter(router.host, router.port, ['life:2'])
    assert.deepEqual(replies, [{key: 'life:2', reply: 'VALUE life:2 0 3'}])
    assert.equal(await stopRouter(host, router), 'stopped')
  })
})

// nutcracker writes its pid file before it reads its config, resolves the
// pairs' host names and binds its ports: with 30 pairs named by host name, a
// request right after a start was refused in 8 of 40 starts before
// startRouter waited for its ports.
describe('a request right after startRouter goes through, every time', {skip: toolMissing('nutcracker')}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'repctl-router-ready-'))
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('20 starts of a router with 30 pairs given by host name: each answers its first request', {timeout: 120_000}, async () => {
    const refused: string[] = []
    for (let i = 0; i < 20; i++) {
      const router: RouterConfig = {name: 'r1', host: '127.0.0.1', ssh: undefined, port: await freePort(), statsPort: await freePort(), stateDir: join(dir, 'state'), privilege: 'root', timeoutMs: 1000}
      // Nothing listens at the pairs: each key is answered SERVER_ERROR, which is an answer.
      const pairs = Array.from({length: 30}, (_, j) => ({name: `p${j}`, endpoint: {host: 'localhost', port: 1 + j}}))
      const r = await startRouter(host, router, {cluster: 'ready', router, pairs})
      try {
        const [reply] = await probeRouter(router.host, router.port, ['k'])
        assert.match(reply!.reply, /^SERVER_ERROR /)
      } catch (e) {
        refused.push(`start ${i}: ${(e as Error).message}`)
      } finally {
        assert.equal(await stopRouter(host, router), 'stopped', `pid ${r.pid}`)
      }
    }
    assert.deepEqual(refused, [])
  })
})

// nutcracker hidden from one process: a private mount namespace in which
// /dev/null (not executable) is mounted over the program, as
// test/e2e/vip-preflight.test.ts hides keepalived. findNutcracker also looks
// in /usr/sbin and the other usual places, so a PATH without it would not do.
describe('nutcracker not installed on the router\'s host', () => {
  const program = which('nutcracker')
  const why = process.getuid?.() !== 0 ? 'needs root (a mount namespace)'
    : which('unshare') === undefined ? 'unshare (util-linux) not installed'
    : program === undefined ? 'nutcracker not installed'
    : false
  if (why !== false && REQUIRE_TOOLS) throw new Error(`router-lifecycle: ${why} (REPCTL_REQUIRE_TOOLS=1)`)
  const dir = mkdtempSync(join(tmpdir(), 'repctl-router-missing-'))
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('findNutcracker finds none; requireNutcracker and startRouter say NUTCRACKER_MISSING with the apt command', {skip: why}, async () => {
    const script = join(dir, 'missing.mts')
    const src = (p: string): string => JSON.stringify(join(ROOT, 'src', p))
    writeFileSync(script, `
      import {findNutcracker, requireNutcracker, startRouter} from ${src('cluster/router/nutcracker.ts')}
      import {LocalHost} from ${src('hosts/local-host.ts')}
      const host = new LocalHost('127.0.0.1')
      const router = {name: 'r1', host: '127.0.0.1', ssh: undefined, port: ${await freePort()}, statsPort: ${await freePort()}, stateDir: ${JSON.stringify(join(dir, 'state'))}, privilege: 'root' as const, timeoutMs: 1000}
      const out: unknown[] = [await findNutcracker(host) ?? null]
      for (const f of [() => requireNutcracker(host, router), () => startRouter(host, router, {cluster: 'c', router, pairs: [{name: 'a+b', endpoint: {host: '127.0.0.1', port: 1}}]})]) {
        try { await f(); out.push('no error') } catch (e) { out.push({code: (e as {code?: string}).code, message: (e as Error).message, suggestions: (e as {suggestions?: string[]}).suggestions}) }
      }
      console.log(JSON.stringify(out))
    `)
    const hide = `mount --bind /dev/null ${program} && exec "$@"`
    const r = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', hide, 'sh', process.execPath, '--import', 'tsx', script], {cwd: ROOT, reject: false, stdin: 'ignore', timeout: 60_000})
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`)
    const [found, required, started] = JSON.parse(String(r.stdout).trim().split('\n').pop()!) as [string | null, ...{code: string; message: string; suggestions: string[]}[]]
    assert.equal(found, null)
    for (const e of [required!, started!]) {
      assert.equal(e.code, 'NUTCRACKER_MISSING')
      assert.equal(e.message, 'nutcracker is not installed on 127.0.0.1 (local) (needed by router r1)')
      assert.match(e.suggestions.join(' '), /apt-get install nutcracker/)
    }
    assert.equal(existsSync(join(dir, 'state', 'r1', 'nutcracker.pid')), false, 'nothing started')
    assert.equal(existsSync(program!), true, 'the machine itself still has nutcracker: only that process\'s view changed')
  })
})
