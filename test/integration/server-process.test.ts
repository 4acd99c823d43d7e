// The server as an operator runs it: flags, daemon mode, pid file, signals,
// listeners and connection limits. Real processes on loopback only.

import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {freePort} from '../helpers/ports.js'
import {SERVER_BUNDLE, startOurServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'

const tmp = mkdtempSync(join(tmpdir(), 'repcached-proc-'))
after(() => rmSync(tmp, {recursive: true, force: true}))

function runServer(args: string[]): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, [SERVER_BUNDLE, ...args], {encoding: 'utf8', timeout: 10_000})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) { if (!alive(pid)) return true; await new Promise((r) => setTimeout(r, 20)) }
  return !alive(pid)
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1])
}

describe('command line', () => {
  it('-h names memcached and repcached versions and the -x flag', () => {
    const r = runServer(['-h'])
    assert.equal(r.status, 0)
    const lines = r.stdout.split('\n')
    assert.match(lines[0]!, /^memcached \d+\.\d+\.\d+$/)
    assert.match(lines[1]!, /^repcached \d+\.\d+\.\d+/)
    assert.ok(lines.some((l) => l.startsWith('-x <ip_addr>')))
  })

  for (const [args, flag] of [[['-p', 'abc'], '-p'], [['-m', '-5'], '-m'], [['-I', '2x'], '-I'], [['-B', 'udp'], '-B'], [['-X', '1:2:3'], '-X'], [['-c'], '-c'], [['--bogus'], '--bogus'], [['-j'], '-j'], [['-o', 'nonsense=1'], 'nonsense']] as const) {
    it(`rejects ${args.join(' ')} with one line naming ${flag} and exit 64`, () => {
      const r = runServer([...args])
      assert.equal(r.status, 64)
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, `one line, got: ${r.stderr}`)
      assert.ok(lines[0]!.includes(flag), lines[0])
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    })
  }

  it('refuses -I larger than half of -m', () => {
    const r = runServer(['-m', '1', '-I', '1m'])
    assert.equal(r.status, 64)
    assert.match(r.stderr, /-I/)
  })

  it('reports a port in use clearly and exits 1', async () => {
    const first = await startOurServer()
    try {
      const r = runServer(['-X', '0', '-p', String(first.port), '-l', '127.0.0.1'])
      assert.equal(r.status, 1)
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${first.port}.*another process`))
    } finally { await first.stop() }
  })
})

describe('daemon mode and signals', () => {
  it('-d returns once serving, -P names the daemon, SIGTERM stops it and removes the pid file', async () => {
    const port = await freePort()
    const pidFile = join(tmp, 'd.pid')
    const r = runServer(['-X', '0', '-d', '-P', pidFile, '-p', String(port), '-l', '127.0.0.1'])
    assert.equal(r.status, 0, r.stderr)
    const pid = Number(readFileSync(pidFile, 'utf8').trim())
    try {
      assert.ok(pid > 0 && alive(pid))
      const c = await RawClient.open(port)
      assert.equal(await c.request('version\r\n'), 'VERSION 1.6.18\r\n')
      c.close()
      const ps = spawnSync('ps', ['-o', 'ppid=,sid=', '-p', String(pid)], {encoding: 'utf8'}).stdout.trim().split(/\s+/)
      assert.equal(Number(ps[1]), pid, 'the daemon leads its own session')
      process.kill(pid, 'SIGTERM')
      assert.ok(await waitGone(pid), 'daemon exits on SIGTERM')
      assert.equal(existsSync(pidFile), false, 'pid file removed on exit')
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL')
    }
  })

  it('a failed start leaves the pid file of the instance that runs as it was', async () => {
    const first = await startOurServer()
    const pidFile = join(tmp, 'taken.pid')
    writeFileSync(pidFile, `${first.pid}\n`)
    try {
      const r = runServer(['-X', '0', '-P', pidFile, '-p', String(first.port), '-l', '127.0.0.1'])
      assert.equal(r.status, 1)
      assert.equal(readFileSync(pidFile, 'utf8'), `${first.pid}\n`)
      rmSync(pidFile)
      assert.equal(runServer(['-X', '0', '-P', pidFile, '-p', String(first.port), '-l', '127.0.0.1']).status, 1)
      assert.equal(existsSync(pidFile), false, 'none there before, none after')
    } finally { await first.stop() }
  })

  it('-d reports a failed start with a non-zero exit (port taken)', async () => {
    const first = await startOurServer()
    try {
      const r = runServer(['-X', '0', '-d', '-p', String(first.port), '-l', '127.0.0.1'])
      assert.equal(r.status, 1)
    } finally { await first.stop() }
  })

  it('SIGTERM and SIGINT exit 0', async () => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const s = await startOurServer()
      assert.equal(await s.stop(sig), 0)
    }
  })

  it('-vv echoes client commands on stderr', async () => {
    const s = await startOurServer(['-vv'])
    try {
      const c = await RawClient.open(s.port)
      await c.request('set traced 0 0 1\r\nx\r\n')
      c.close()
      await new Promise((r) => setTimeout(r, 100))
      assert.match(s.stderr(), /<\d+ set traced 0 0 1/)
    } finally { await s.stop() }
  })
})

describe('listeners and limits', () => {
  it('-s serves on a unix socket with the -a mode and no TCP', async () => {
    const path = join(tmp, 'mc.sock')
    const child = spawn(process.execPath, [SERVER_BUNDLE, '-X', '0', '-s', path, '-a', '750'], {stdio: 'ignore'})
    try {
      const end = Date.now() + 5000
      while (!existsSync(path) && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
      assert.equal(statSync(path).mode & 0o777, 0o750)
      const reply = await new Promise<string>((resolve, reject) => {
        const sock = connect(path, () => sock.write('set u 0 0 1\r\nz\r\nget u\r\n'))
        let got = ''
        sock.on('data', (d) => { got += d.toString('latin1'); if (got.endsWith('END\r\n')) { sock.destroy(); resolve(got) } })
        sock.on('error', reject)
      })
      assert.equal(reply, 'STORED\r\nVALUE u 0 1\r\nz\r\nEND\r\n')
    } finally { child.kill('SIGTERM') }
  })

  it('-c caps connections: the extra one is told and closed, the others keep working', async () => {
    const s = await startOurServer(['-c', '2'])
    try {
      const a = await RawClient.open(s.port)
      const b = await RawClient.open(s.port)
      assert.equal(await a.request('version\r\n'), 'VERSION 1.6.18\r\n')
      const c = await RawClient.open(s.port)
      const refused = await c.readUntil(() => false, 1000)
      assert.equal(refused.toString('latin1'), 'ERROR Too many open connections\r\n')
      assert.ok(c.isClosed)
      assert.equal(await b.request('version\r\n'), 'VERSION 1.6.18\r\n')
      a.close(); b.close()
    } finally { await s.stop() }
  })

  it('a client that never reads cannot make the server buffer without bound', async () => {
    const s = await startOurServer(['-m', '64'])
    try {
      const w = await RawClient.open(s.port)
      const value = 'v'.repeat(512 * 1024)
      assert.equal(await w.request(`set big 0 0 ${value.length}\r\n${value}\r\n`), 'STORED\r\n')
      w.close()
      const before = rssKb(s.pid)
      // 4000 gets of 512 KiB = 2 GiB of replies that the client never reads.
      const slow = await new Promise<import('node:net').Socket>((resolve) => { const x = connect(s.port, '127.0.0.1', () => resolve(x)) })
      slow.pause()
      const batch = 'get big\r\n'.repeat(200)
      for (let i = 0; i < 20; i++) slow.write(batch)
      await new Promise((r) => setTimeout(r, 1500))
      const grown = rssKb(s.pid) - before
      assert.ok(grown < 200 * 1024, `server RSS grew by ${grown} kB for a client that does not read`)
      const other = await RawClient.open(s.port)
      assert.equal(await other.request('version\r\n'), 'VERSION 1.6.18\r\n', 'other clients are still served')
      assert.match(await other.request('stats\r\n', 'END\r\n'), /\r\nSTAT limits_output_stalls [1-9]\d*\r\n/, 'the stall is counted')
      other.close()
      slow.destroy()
    } finally { await s.stop() }
  })
})

describe('replies a client has not read yet', () => {
  // Replies are built in one buffer shared by every connection; a reply the
  // kernel could not take at once must keep its bytes while other clients'
  // replies are built after it.
  it('arrive intact, byte for byte, while other clients are served meanwhile', async () => {
    const s = await startOurServer(['-m', '64'])
    try {
      const valueOf = (i: number): string => String.fromCharCode(97 + (i % 26)).repeat(48 * 1024 + i)
      const keys = 40
      const w = await RawClient.open(s.port)
      for (let i = 0; i < keys; i++) assert.equal(await w.request(`set k${i} ${i} 0 ${valueOf(i).length}\r\n${valueOf(i)}\r\n`), 'STORED\r\n')
      const expected = (i: number): string => `VALUE k${i} ${i} ${valueOf(i).length}\r\n${valueOf(i)}\r\nEND\r\n`
      // A client that asks for every value many times over and reads nothing for a while.
      const slow = await new Promise<import('node:net').Socket>((resolve) => { const x = connect(s.port, '127.0.0.1', () => resolve(x)) })
      slow.pause()
      const rounds = 8
      let asked = ''
      for (let r = 0; r < rounds; r++) for (let i = 0; i < keys; i++) asked += `get k${(i + r) % keys}\r\n`
      slow.write(asked)
      await new Promise((r) => setTimeout(r, 300))
      // Meanwhile another client's replies are built and sent, in other bytes.
      for (let i = keys - 1; i >= 0; i--) assert.equal(await w.request(`get k${i}\r\n`, 'END\r\n'), expected(i))
      w.close()
      const want = Buffer.from(Array.from({length: rounds * keys}, (_, n) => expected((n % keys + Math.floor(n / keys)) % keys)).join(''), 'latin1')
      const got: Buffer[] = []
      let have = 0
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${have} of ${want.length} reply bytes arrived`)), 20_000)
        slow.on('data', (b: Buffer) => { got.push(b); have += b.length; if (have >= want.length) { clearTimeout(timer); resolve() } })
        slow.resume()
      })
      const all = Buffer.concat(got)
      const first = all.findIndex((b, i) => b !== want[i])
      assert.equal(first, -1, `the replies differ from byte ${first}: ${JSON.stringify(all.subarray(first, first + 40).toString('latin1'))}`)
      assert.equal(all.length, want.length)
      slow.destroy()
    } finally { await s.stop() }
  })
})

describe('bundle', () => {
  it('depends on Node built-ins only', () => {
    const meta = JSON.parse(readFileSync(join(SERVER_BUNDLE, '..', 'repcached.meta.json'), 'utf8')) as {inputs: Record<string, unknown>; outputs: Record<string, {imports: {path: string}[]}>}
    for (const input of Object.keys(meta.inputs)) assert.ok(input.startsWith('src/server/') || input.startsWith('src/shared/'), `bundle input ${input} is outside src/server and src/shared`)
    for (const out of Object.values(meta.outputs)) for (const imp of out.imports) assert.ok(imp.path.startsWith('node:'), `bundle imports ${imp.path}`)
  })
})

