// Snapshots with real server processes: what a stop or a crash leaves
// behind comes back at the next start, a damaged file is refused loudly, and
// a node that starts as a slave ends equal to its master whatever its own
// snapshot held.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {dump, eventually, startNode, stat} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {SERVER_BUNDLE, startOurServer, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'

const dir = mkdtempSync(join(tmpdir(), 'repctl-snapshot-'))
const running = new Set<RunningServer>()
after(async () => {
  for (const s of running) await s.stop('SIGKILL')
  rmSync(dir, {recursive: true, force: true})
})

async function server(args: string[]): Promise<RunningServer> {
  const s = await startOurServer(['-v', ...args])
  running.add(s)
  return s
}

async function stop(s: RunningServer, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await s.stop(signal)
  running.delete(s)
}

async function send(port: number, text: string, until = '\r\n'): Promise<string> {
  const c = await RawClient.open(port)
  try { return await c.request(text, until) } finally { c.close() }
}

async function fill(port: number, prefix: string, n: number, exptime = 0): Promise<void> {
  const c = await RawClient.open(port)
  try {
    let batch = ''
    for (let i = 0; i < n; i++) batch += `set ${prefix}${i} ${i} ${exptime} ${`${prefix}-value-${i}`.length} noreply\r\n${prefix}-value-${i}\r\n`
    await c.request(`${batch}get sync\r\n`, 'END\r\n')
  } finally { c.close() }
}

const keys = (prefix: string, n: number): string[] => Array.from({length: n}, (_, i) => `${prefix}${i}`)

function check(file: string, how = '--snapshot-check'): {code: number | null; doc: Record<string, unknown>} {
  const r = spawnSync(process.execPath, [SERVER_BUNDLE, how, file], {encoding: 'utf8'})
  return {code: r.status, doc: JSON.parse(r.stdout) as Record<string, unknown>}
}

describe('snapshots (--snapshot / -e)', () => {
  it('SIGTERM writes one; the next start has every item back, with its flags, cas and remaining lifetime', async () => {
    const file = join(dir, 'term.rcs')
    let s = await server(['--snapshot', file])
    await fill(s.port, 'k', 500)
    const setAt = Date.now()
    await send(s.port, 'set ttl 3 4 2\r\nhi\r\n')
    const before = await dump(s.port, [...keys('k', 500), 'ttl'])
    await stop(s)
    assert.match(s.stderr(), /snapshot \(shutdown\): 501 items/)
    s = await server(['--snapshot', file])
    assert.match(s.stderr(), /snapshot: loaded 501 items/)
    assert.equal(await stat(s.port, 'snapshot_loaded_items'), '501')
    assert.deepEqual(await dump(s.port, [...keys('k', 500), 'ttl']), before, 'same values, flags and cas')
    // SIGUSR1, memcached's graceful shutdown, leaves one too.
    await send(s.port, 'set usr1 0 0 1\r\nu\r\n')
    await stop(s, 'SIGUSR1')
    s = await server(['--snapshot', file])
    assert.equal(await send(s.port, 'get usr1\r\n', 'END\r\n'), 'VALUE usr1 0 1\r\nu\r\nEND\r\n')
    // Its lifetime goes on from where it was (4 s from the set), it does not start again at the load.
    await new Promise((r) => setTimeout(r, Math.max(0, setAt + 5100 - Date.now())))
    assert.equal(await send(s.port, 'get ttl\r\n'), 'END\r\n')
    await stop(s)
  })

  it('kill -9 after a periodic snapshot: everything written before it is back, items that expired are not', async () => {
    const file = join(dir, 'kill.rcs')
    let s = await server(['-e', file, '--snapshot-interval', '1'])
    await fill(s.port, 'a', 300)
    await fill(s.port, 'short', 50, 2)
    assert.ok(await eventually(async () => Number(await stat(s.port, 'snapshot_last_items')) === 350, 5000, 50), 'a periodic snapshot holds them')
    await stop(s, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 2100))
    s = await server(['-e', file])
    const back = await dump(s.port, [...keys('a', 300), ...keys('short', 50)])
    assert.equal(back.size, 300, 'the 300 lasting items, not the 50 that expired meanwhile')
    assert.match(s.stderr(), /50 expired meanwhile/)
    await stop(s)
  })

  it('a corrupt, truncated or unknown-version file is refused with a clear line, moved aside, and the server starts empty', async () => {
    const file = join(dir, 'damaged.rcs')
    let s = await server(['-e', file])
    await fill(s.port, 'd', 100)
    await stop(s)
    const good = readFileSync(file)
    const damages: [string, Buffer, RegExp][] = [
      ['corrupt', Buffer.concat([good.subarray(0, 200), Buffer.from([good[200]! ^ 1]), good.subarray(201)]), /checksum mismatch/],
      ['truncated', good.subarray(0, good.length - 7), /truncated or padded/],
      ['old format', Buffer.concat([good.subarray(0, 8), Buffer.from([0, 0, 0, 0]), good.subarray(12)]), /format version 0, this server reads version 1/],
      ['not a snapshot', Buffer.from('hello world, this is not a snapshot at all, nope'), /bad magic/],
    ]
    for (const [what, bytes, why] of damages) {
      rmSync(`${file}.refused`, {force: true})
      writeFileSync(file, bytes)
      const c = check(file)
      assert.equal(c.code, 1, what)
      assert.equal(c.doc.valid, false)
      s = await server(['-e', file])
      assert.match(s.stderr(), new RegExp(`snapshot: refused ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [^;\\n]*${why.source}[^;\\n]*; starting empty \\(the file was moved to ${file}.refused\\)`), `${what}: ${s.stderr()}`)
      assert.equal(await stat(s.port, 'curr_items'), '0', `${what}: starts empty`)
      assert.ok(existsSync(`${file}.refused`) && !existsSync(file), `${what}: the damaged file is kept aside`)
      await send(s.port, 'set fresh 0 0 1\r\nx\r\n')
      await stop(s)
      assert.equal(check(file).code, 0, `${what}: the next stop writes a good snapshot again`)
    }
  })

  it('--snapshot-check prints what a file holds, as JSON', async () => {
    const file = join(dir, 'check.rcs')
    const s = await server(['-e', file])
    await fill(s.port, 'c', 10)
    await stop(s)
    const c = check(file)
    assert.equal(c.code, 0)
    assert.deepEqual({...c.doc, created: typeof c.doc.created}, {file, valid: true, created: 'string', items: 10, bytes: statSync(file).size, version: 1})
    assert.deepEqual(check(join(dir, 'missing.rcs')), {code: 1, doc: {file: join(dir, 'missing.rcs'), valid: false, missing: true, reason: 'no such file'}})
    // --snapshot-info reads the header only: the same answer for a sound file, and a damaged body goes unnoticed.
    assert.deepEqual(check(file, '--snapshot-info'), c)
    const bytes = readFileSync(file)
    bytes[bytes.length - 3]! ^= 1
    writeFileSync(file, bytes)
    assert.equal(check(file, '--snapshot-info').code, 0)
    assert.equal(check(file).code, 1)
    writeFileSync(file, bytes.subarray(0, bytes.length - 1))
    assert.match(String(check(file, '--snapshot-info').doc.reason), /truncated or padded/)
  })

  it('a write that fails (its directory is gone) is logged and counted; the server keeps serving', async () => {
    const sub = mkdtempSync(join(dir, 'gone-'))
    const s = await server(['-e', join(sub, 's.rcs'), '--snapshot-interval', '1'])
    rmSync(sub, {recursive: true})
    assert.ok(await eventually(async () => Number(await stat(s.port, 'snapshot_failures')) >= 1, 5000, 50))
    assert.match(s.stderr(), /cannot write .*s\.rcs: ENOENT/)
    assert.equal(await send(s.port, 'set a 0 0 1\r\nx\r\n'), 'STORED\r\n')
    await stop(s, 'SIGKILL')
  })

  it('a node that starts as a slave takes its master\'s copy, not its own snapshot (no deleted item comes back)', async () => {
    const [ra, rb] = [await freePort(), await freePort()]
    const fa = join(dir, 'a.rcs')
    const fb = join(dir, 'b.rcs')
    const master = await startNode({repListen: ra, repConnect: rb, peer: '127.0.0.1', extra: ['-v', '-e', fa]})
    running.add(master)
    let slave = await startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1', extra: ['-v', '-e', fb]})
    running.add(slave)
    await fill(master.port, 'r', 100)
    assert.ok(await eventually(async () => (await stat(slave.port, 'curr_items')) === '100'))
    await stop(slave)
    assert.equal(check(fb).doc.items, 100, 'the slave saved all 100')
    // While the slave is down, the master deletes some and writes others.
    for (let i = 0; i < 10; i++) await send(master.port, `delete r${i}\r\n`)
    await send(master.port, 'set r50 0 0 3\r\nnew\r\n')
    slave = await startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1', extra: ['-v', '-e', fb]})
    running.add(slave)
    assert.match(slave.stderr(), /snapshot: not loading .*b\.rcs: this node starts as the slave of/)
    const all = keys('r', 100)
    assert.ok(await eventually(async () => (await stat(slave.port, 'curr_items')) === '90'), await stat(slave.port, 'curr_items') ?? '')
    assert.deepEqual(await dump(slave.port, all), await dump(master.port, all))
    await stop(slave)
    await stop(master)
  })
})
