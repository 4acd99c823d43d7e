// memcached's own operator tools against both servers: `lru_crawler`
// (metadump, crawl and their errors), the tuning commands `slabs`, `lru`
// and `extstore`, and Debian's memcached-tool (dump, keys, display), each
// compared with memcached 1.6.18 started by the test. Normalised only where
// two servers cannot agree: cas numbers (ranked), times (rounded, or the
// last access dropped: memcached refreshes it in the background), the order
// of dump lines (memcached walks its LRUs, we walk our index).

import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {once} from 'node:events'
import {copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {connect as tlsConnect} from 'node:tls'
import {connect} from 'node:net'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import {startMemcached, startOurServer, toolMissing, REQUIRE_TOOLS, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {makeCerts} from '../helpers/certs.js'
import {differences, DiffClient, runBoth, sameReplies, type ServerPair, type StepInput} from '../helpers/text-differential.js'

const run = promisify(execFile)
const MEMCACHED_TOOL = '/usr/share/memcached/scripts/memcached-tool'
const skip = toolMissing('memcached')
const toolSkip = skip !== false ? skip : existsSync(MEMCACHED_TOOL) ? false : `${MEMCACHED_TOOL} is missing (Debian package memcached)`
if (REQUIRE_TOOLS && toolSkip !== false) throw new Error(toolSkip)

type Pair = ServerPair
const same = (p: Pair, steps: StepInput[]): Promise<void> => sameReplies(p, steps)

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const endsWith = (s: string) => (b: Buffer): boolean => b.length >= s.length && b.subarray(b.length - s.length).toString('latin1') === s

/** One request on a fresh connection; the reply up to `terminator`. */
async function ask(port: number, data: string, terminator = 'END\r\n', timeoutMs = 5000): Promise<string> {
  const c = await RawClient.open(port)
  try {
    c.send(data)
    return (await c.readUntil(endsWith(terminator), timeoutMs)).toString('latin1')
  } finally {
    c.close()
  }
}

async function stat(port: number, name: string): Promise<number> {
  const m = new RegExp(`STAT ${name} (\\d+)\\r\\n`).exec(await ask(port, 'stats\r\n'))
  assert.ok(m, `stats has ${name}`)
  return Number(m[1])
}

/** Wait until no crawl or dump runs (memcached's own maintenance crawls come and go too). */
async function crawlerIdle(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await stat(port, 'lru_crawler_running')) === 0) return
    await sleep(50)
  }
  assert.fail('the crawler kept running')
}

/**
 * A metadump made comparable: lines sorted by key, cas replaced by its rank
 * among the dump's cas values, exp= as seconds from now rounded to tens,
 * la= dropped (see the header).
 */
function normaliseDump(raw: string): string {
  assert.ok(raw.endsWith('END\r\n'), `dump ends with END: ${JSON.stringify(raw.slice(-80))}`)
  const body = raw.slice(0, -'END\r\n'.length)
  assert.ok(body === '' || body.endsWith('\n'), 'item lines end with a newline')
  const lines = body === '' ? [] : body.slice(0, -1).split('\n')
  for (const l of lines) assert.ok(!l.endsWith('\r'), `item lines end with a bare newline, as memcached's: ${l}`)
  const cas = lines.map((l) => Number(/ cas=(\d+) /.exec(l)![1])).sort((a, b) => a - b)
  const now = Date.now() / 1000
  return lines.map((l) => l
    .replace(/ cas=(\d+) /, (_m, c: string) => ` cas=#${cas.indexOf(Number(c))} `)
    .replace(/ exp=(\d+) /, (_m, e: string) => ` exp=+${Math.round((Number(e) - now) / 10) * 10} `)
    .replace(/ la=\d+ /, ' '))
    .sort().join('\n') + '\nEND\r\n'
}

/** Keys that need URL encoding, values in several slab classes, flags, TTLs, a fetched item, an expired one. */
function population(): string {
  let s = ''
  const put = (key: string, flags: number, exp: number, value: string): void => { s += `set ${key} ${flags} ${exp} ${value.length}\r\n${value}\r\n` }
  put('plain', 0, 0, 'v')
  put('with%percent', 3, 0, 'x'.repeat(100))
  put('a/b:c?d=e&f', 7, 1000, 'y'.repeat(1000))
  put('tilde~dash-dot.under_score', 1, 0, 'z'.repeat(5000))
  put('high\xe9\xffbytes', 9, 0, 'w'.repeat(20))
  put('gone', 0, -1, 'expired at once')
  for (let i = 0; i < 30; i++) put(`k${i}`, i, i % 2 === 0 ? 0 : 3600, 'q'.repeat(i * 37))
  s += 'get plain k3\r\n'
  return s
}

describe('memcached operator tools: lru_crawler, slabs, lru, extstore, memcached-tool', {skip: toolSkip}, () => {
  let p: Pair | undefined

  before(async () => {
    const [theirs, ours] = await Promise.all([startMemcached(), startOurServer()])
    p = {theirs, ours}
    for (const port of [theirs.port, ours.port]) {
      const c = await RawClient.open(port)
      c.send(population())
      await c.readUntil(endsWith('END\r\n'), 5000)
      c.close()
    }
  })

  after(async () => {
    await Promise.all([p?.theirs.stop(), p?.ours.stop()])
  })

  it('lru_crawler metadump all, hash and by class list the same items, keys URL-encoded, expired items left out', async () => {
    for (const which of ['all', 'hash', '1', '1,5,12', '2,,3', '63']) {
      const [theirs, ours] = await Promise.all([p!.theirs.port, p!.ours.port].map((port) => ask(port, `lru_crawler metadump ${which}\r\n`)))
      assert.equal(normaliseDump(ours!), normaliseDump(theirs!), `lru_crawler metadump ${which}`)
    }
    const all = await ask(p!.ours.port, 'lru_crawler metadump all\r\n')
    assert.match(all, /^key=high%E9%FFbytes exp=-1 la=\d+ cas=\d+ fetch=no cls=1 size=\d+$/m)
    assert.match(all, /^key=plain exp=-1 la=\d+ cas=\d+ fetch=yes cls=1 size=65$/m)
    assert.doesNotMatch(all, /key=gone /)
  })

  it('a metadump takes the connection: commands pipelined behind it wait for the next bytes, commands before it refuse it', async () => {
    const replies: string[] = []
    for (const port of [p!.theirs.port, p!.ours.port]) {
      const c = await RawClient.open(port)
      c.send('lru_crawler metadump 2\r\nversion\r\n')
      const dump = (await c.readQuiet(300, 5000)).toString('latin1')
      // The connection serves again after the dump, the pipelined version first.
      c.send('version\r\n')
      const after = (await c.readQuiet(200)).toString('latin1')
      c.close()
      replies.push(normaliseDump(dump) + after)
    }
    assert.equal(replies[1], replies[0])
    assert.match(replies[1]!, /END\r\nVERSION 1.6.18\r\nVERSION 1.6.18\r\n$/)
    await same(p!, [
      {send: 'set n 0 0 1 noreply\r\nx\r\nlru_crawler metadump all\r\n', until: 'quiet'},
      {send: 'version\r\nlru_crawler metadump all\r\n', until: 'quiet'},
      {send: 'version\r\nwatch\r\n', until: 'quiet'},
    ])
  })

  it('lru_crawler errors and settings answer as memcached', async () => {
    await crawlerIdle(p!.theirs.port)
    await same(p!, [
      'lru_crawler crawl 0\r\nlru_crawler crawl 64\r\nlru_crawler crawl 1,x\r\nlru_crawler crawl -1\r\n',
      'lru_crawler metadump 0\r\nlru_crawler metadump 64\r\nlru_crawler metadump x\r\n',
      'lru_crawler crawl hash\r\n',
      'lru_crawler mgdump all\r\nlru_crawler\r\nlru_crawler foo\r\nlru_crawler metadump\r\nlru_crawler crawl\r\nlru_crawler crawl all extra\r\n',
      'lru_crawler tocrawl 5\r\nlru_crawler tocrawl x\r\nlru_crawler tocrawl -1\r\nlru_crawler tocrawl\r\nlru_crawler tocrawl 0\r\n',
      'lru_crawler sleep 100\r\nlru_crawler sleep x\r\nlru_crawler sleep 1000000\r\nlru_crawler sleep 1000001\r\n',
      'lru_crawler enable\r\n',
    ])
  })

  it('-o no_lru_crawler starts with the crawler off: lru_crawler enable turns it on', async () => {
    const [theirs, ours] = await Promise.all([startMemcached(['-o', 'no_lru_crawler']), startOurServer(['-o', 'no_lru_crawler'])])
    try {
      await same({theirs, ours}, [
        {send: 'stats settings\r\n', statValues: /^lru_crawler$/},
        'lru_crawler metadump all\r\n',
        'lru_crawler crawl all\r\n',
        'lru_crawler enable\r\n',
        {send: 'stats settings\r\n', statValues: /^lru_crawler$/},
        {send: 'lru_crawler metadump all\r\n', until: 'quiet'},
      ])
    } finally {
      await Promise.all([theirs.stop(), ours.stop()])
    }
  })

  it('lru_crawler disable refuses crawls and dumps until enable', async () => {
    await same(p!, ['lru_crawler disable\r\n'])
    // memcached's crawler thread takes a moment to stop.
    await sleep(200)
    await same(p!, [
      'lru_crawler metadump all\r\n',
      'lru_crawler crawl all\r\n',
      'lru_crawler disable\r\n',
    ])
    await sleep(200)
    await same(p!, ['lru_crawler enable\r\n', 'lru_crawler enable\r\n'])
  })

  it('lru_crawler crawl reclaims expired items (crawler_reclaimed, curr_items) and counts its starts', async () => {
    const reclaimedBefore = await stat(p!.ours.port, 'crawler_reclaimed')
    for (const port of [p!.theirs.port, p!.ours.port]) {
      await ask(port, Array.from({length: 50}, (_, i) => `set short${i} 0 1 1\r\nx\r\n`).join('') + 'version\r\n', 'VERSION 1.6.18\r\n')
    }
    await sleep(2200)
    // Our periodic crawl (once a second) may have reclaimed some already; memcached's reclaims in the background too.
    await crawlerIdle(p!.theirs.port)
    const startsBefore = await stat(p!.ours.port, 'lru_crawler_starts')
    await same(p!, ['lru_crawler crawl all\r\n'])
    for (const port of [p!.theirs.port, p!.ours.port]) await crawlerIdle(port)
    const afterItems = await Promise.all([p!.theirs.port, p!.ours.port].map((port) => stat(port, 'curr_items')))
    assert.equal(afterItems[1], afterItems[0])
    assert.equal(await stat(p!.ours.port, 'crawler_reclaimed'), reclaimedBefore + 50)
    assert.equal(await stat(p!.ours.port, 'lru_crawler_starts'), startsBefore + 1)
    await ask(p!.ours.port, 'lru_crawler metadump all\r\n')
    assert.equal(await stat(p!.ours.port, 'lru_crawler_starts'), startsBefore + 2)
  })

  it('slabs reassign/automove, lru and extstore: valid and invalid arguments', async () => {
    await same(p!, [
      'slabs reassign 1 2\r\nslabs reassign 1 1\r\nslabs reassign 0 2\r\nslabs reassign -1 2\r\nslabs reassign 1 40\r\nslabs reassign 1 39\r\n',
      'slabs reassign x 2\r\nslabs reassign 1\r\nslabs reassign 1 2 3\r\nslabs\r\nslabs foo\r\n',
      'slabs automove 0\r\nslabs automove 1\r\nslabs automove 2\r\nslabs automove 3\r\nslabs automove x\r\nslabs automove\r\n',
      'slabs automove ratio 0.5\r\nslabs automove ratio x\r\nslabs automove ratio\r\nslabs automove 1 noreply\r\nslabs automove 9 noreply\r\n',
      'lru tune 10 20 0.1 2\r\nlru tune 50 40 1 1\r\nlru tune 10 10 0 1\r\nlru tune 10 10 1 -1\r\nlru tune x 1 1 1\r\nlru tune 1 1 1\r\n',
      'lru mode flat\r\nlru mode segmented\r\nlru mode x\r\nlru mode\r\nlru temp_ttl 10\r\nlru temp_ttl -1\r\nlru temp_ttl x\r\n',
      'lru\r\nlru x\r\nlru tune 1 1 1 1 noreply\r\nlru mode x noreply\r\n',
      'extstore item_size 10\r\nextstore x 1\r\nextstore\r\nextstore item_size\r\nextstore max_frag 0.5\r\nextstore max_frag x\r\n',
      'extstore free_memchunks 1 2\r\nextstore free_memchunks 64 2\r\nextstore free_memchunks 1\r\nextstore item_age x noreply\r\nextstore drop_unread 1\r\n',
      'refresh_certs\r\nrefresh_certs noreply\r\nrefresh_certs x y\r\n',
    ])
  })

  it('memcached-tool dump, keys and display print the same items', async () => {
    const tool = async (port: number, mode: string): Promise<{out: string; err: string}> => {
      const r = await run('perl', [MEMCACHED_TOOL, `127.0.0.1:${port}`, mode], {encoding: 'latin1', timeout: 20_000})
      return {out: r.stdout, err: r.stderr}
    }
    // keys first: dump's gets make memcached move items between its LRUs, which its crawler can then miss.
    const keys = await Promise.all([p!.theirs.port, p!.ours.port].map((port) => tool(port, 'keys')))
    const keyNames = (s: string): string[] => s.split('\n').filter((l) => l !== '').map((l) => l.split(' ')[0]!).sort()
    assert.deepEqual(keyNames(keys[1]!.out), keyNames(keys[0]!.out))
    const [theirs, ours] = await Promise.all([p!.theirs.port, p!.ours.port].map((port) => tool(port, 'dump')))
    assert.equal(ours!.err, theirs!.err)
    // One record per item: "add KEY FLAGS EXP LEN\r\nVALUE\r\n", in dump order; compared as sorted records.
    const records = (s: string): string[] => {
      const out: string[] = []
      const re = /^add (\S+) (\d+) (\d+) (\d+)\r\n/gm
      for (let m = re.exec(s); m !== null; m = re.exec(s)) {
        const len = Number(m[4])
        const value = s.slice(m.index + m[0].length, m.index + m[0].length + len)
        const exp = Number(m[3]) === 0 ? '0' : `+${Math.round((Number(m[3]) - Date.now() / 1000) / 10) * 10}`
        out.push(`add ${m[1]} ${m[2]} ${exp} ${len} ${value}`)
      }
      return out.sort()
    }
    assert.ok(records(ours!.out).length >= 35, `the dump lists the items: ${ours!.out.slice(0, 200)}`)
    assert.deepEqual(records(ours!.out), records(theirs!.out))
    const display = await Promise.all([p!.theirs.port, p!.ours.port].map((port) => tool(port, 'display')))
    // Per class: item size and count (ages differ by when each server was loaded; pages by allocator).
    const rows = (s: string): string[] => s.split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => {
      const f = l.trim().split(/\s+/)
      return `${f[0]} ${f[1]} count=${f[4]}`
    })
    assert.deepEqual(rows(display[1]!.out), rows(display[0]!.out))
  })
})

describe('a metadump of many items does not hold up other clients', {skip}, () => {
  let ours: RunningServer | undefined
  before(async () => { ours = await startOurServer(['-m', '512']) })
  after(async () => { await ours?.stop() })

  it('1M items: every line arrives, other clients answered meanwhile (none waits 100 ms), a dump waits while its client does not read', async (t) => {
    const port = ours!.port
    const N = 1_000_000
    const load = await RawClient.open(port)
    for (let i = 0; i < N; i += 10_000) {
      let s = ''
      for (let j = i; j < i + 10_000; j++) s += `set key:${j} 0 0 10 noreply\r\n0123456789\r\n`
      load.send(s)
      if (i % 100_000 === 0) await load.request('version\r\n', '\r\n', 30_000)
    }
    await load.request('version\r\n', '\r\n', 60_000)
    load.close()

    // A dump whose client reads nothing for a while: the server keeps serving others.
    const dumper = connect(port, '127.0.0.1')
    dumper.pause()
    await once(dumper, 'connect')
    const other = await RawClient.open(port)
    dumper.write('lru_crawler metadump all\r\n')
    const took: number[] = []
    const t0 = Date.now()
    while (Date.now() - t0 < 1000) {
      const s = performance.now()
      assert.equal(await other.request('version\r\n', '\r\n'), 'VERSION 1.6.18\r\n')
      took.push(performance.now() - s)
    }
    took.sort((a, b) => a - b)
    const worst = took.at(-1)!
    const median = took[took.length >> 1]!
    // Still running: the dump waits for its client to read.
    assert.match(await other.request('stats\r\n', 'END\r\n'), /STAT lru_crawler_running 1\r\n/)
    const chunks: Buffer[] = []
    dumper.on('data', (b: Buffer) => chunks.push(b))
    dumper.resume()
    for (let i = 0; i < 600 && !endsWith('END\r\n')(chunks.at(-1) ?? Buffer.alloc(0)); i++) await sleep(100)
    const dump = Buffer.concat(chunks).toString('latin1')
    const lines = dump.split('\n').filter((l) => l.startsWith('key='))
    assert.equal(lines.length, N)
    assert.equal(new Set(lines.map((l) => l.split(' ')[0])).size, N)
    t.diagnostic(`version during the dump: ${took.length} requests, median ${median.toFixed(2)} ms, worst ${worst.toFixed(1)} ms`)
    assert.ok(worst < 100 && median < 10, `version requests during the dump: median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`)
    assert.match(await other.request('stats\r\n', 'END\r\n'), /STAT lru_crawler_running 0\r\n/)
    dumper.destroy()
    // A client that leaves in the middle of a dump releases the crawler.
    const leaver = connect(port, '127.0.0.1')
    leaver.pause()
    await once(leaver, 'connect')
    leaver.write('lru_crawler metadump all\r\n')
    await sleep(300)
    assert.match(await other.request('stats\r\n', 'END\r\n'), /STAT lru_crawler_running 1\r\n/)
    assert.equal(await other.request('lru_crawler metadump all\r\n'), 'BUSY currently processing crawler request\r\n')
    leaver.destroy()
    await sleep(300)
    assert.match(await other.request('stats\r\n', 'END\r\n'), /STAT lru_crawler_running 0\r\n/)
    assert.match(await other.request('lru_crawler metadump 63\r\n', 'END\r\n'), /^END\r\n$/)
    other.close()
  })
})

/** A watch's lines made comparable: times, entry numbers, client ports and connection numbers dropped. */
function normaliseWatch(s: string): string {
  return s.replace(/ts=\d+\.\d+ gid=\d+ /g, '').replace(/rport=\d+/g, 'rport=P').replace(/cfd=-?\d+/g, 'cfd=F')
    // memcached's too_large line shows its fd as clsid (and garbage as cfd): arguments one place off.
    .replace(/(status=too_large cmd=\w+ ttl=0) clsid=\d+/g, '$1 clsid=C')
    // A TTL in the past counts from each server's start: rounded.
    .replace(/ttl=(\d{10})/g, (_m, t: string) => `ttl=${Math.round((Number(t) - 2 ** 32) / 10) * 10}`)
}

describe('watch matches memcached 1.6.18', {skip}, () => {
  let p: Pair | undefined
  before(async () => {
    const [theirs, ours] = await Promise.all([startMemcached(), startOurServer()])
    p = {theirs, ours}
  })
  after(async () => { await Promise.all([p?.theirs.stop(), p?.ours.stop()]) })

  /** `watch <streams>` on one connection while `traffic` runs on another; the watcher's lines. */
  async function watched(port: number, streams: string, traffic: string): Promise<string> {
    const w = await RawClient.open(port)
    w.send(`watch ${streams}\r\n`)
    assert.equal((await w.readUntil(endsWith('OK\r\n'))).toString('latin1'), 'OK\r\n')
    const c = await RawClient.open(port)
    c.send(traffic + 'quit\r\n')
    await c.readUntil(() => false, 2000)
    const lines = (await w.readQuiet(300, 3000)).toString('latin1')
    w.close()
    // memcached's logger thread notices a closed watcher in its own time, and then logs its conn_close: let it pass.
    await sleep(1200)
    return normaliseWatch(lines)
  }

  it('fetchers, mutations and connevents print the same lines for the same requests', async () => {
    const traffic = 'set wk 3 100 5\r\nhello\r\nget wk\r\nget nope\r\nadd wk 0 0 1\r\nx\r\ncas wk 0 0 1 999\r\nx\r\n' +
      'append nope 0 0 1\r\nx\r\nprepend wk 0 0 1\r\nx\r\nincr wk 1\r\ndelete wk\r\ntouch wk 10\r\nmg wk v\r\nms m1 2\r\nhi\r\n' +
      'gat 10 m1\r\ngets m1 wk\r\nset a%b/c 0 0 1\r\nz\r\nget a%b/c\r\nset big 0 0 2000000\r\n' + 'x'.repeat(2_000_000) + '\r\n' +
      // memcached keeps an item stored already expired, and flushed items, until a lookup meets them (status=expired,
      // status=flushed); we drop them at once (README, "Where we differ"), so no lookup follows these two here.
      'set gone 0 -1 1\r\nq\r\nflush_all\r\n'
    for (const streams of ['fetchers mutations connevents', 'fetchers', 'mutations', 'connevents', '']) {
      const [theirs, ours] = await Promise.all([p!.theirs.port, p!.ours.port].map((port) => watched(port, streams, traffic)))
      assert.equal(ours, theirs, `watch ${streams}`)
      assert.ok(ours!.length > 0)
    }
  })

  it('connevents: a client that quits, one closed for a protocol error, as memcached reports them', async () => {
    const run = async (port: number): Promise<string> => {
      const w = await RawClient.open(port)
      await w.request('watch connevents\r\n', 'OK\r\n')
      const quitter = await RawClient.open(port)
      await quitter.request('version\r\n')
      // The client keeps its end open: the server closes its own at once.
      quitter.send('quit\r\n')
      const lines1 = (await w.readUntil((b) => b.toString('latin1').includes('conn_close'), 3000)).toString('latin1')
      const http = await RawClient.open(port)
      http.send('GET / HTTP/1.1\r\n')
      const lines2 = (await w.readUntil((b) => b.toString('latin1').includes('conn_close'), 3000)).toString('latin1')
      for (const c of [w, quitter, http]) c.close()
      return normaliseWatch(lines1 + lines2)
    }
    const [theirs, ours] = [await run(p!.theirs.port), await run(p!.ours.port)]
    assert.equal(ours, theirs)
    assert.match(ours, /reason=normal[^]*reason=error/)
  })

  it('watch arguments: unknown streams, memcached-only streams, pipelining', async () => {
    await same(p!, [
      'watch foo\r\n',
      'watch fetchers foo\r\n',
      {send: 'version\r\nwatch\r\n', until: 'quiet'},
      {send: 'watch fetchers noreply\r\nversion\r\n', until: 'quiet'},
      {send: 'watch sysevents rawcmds proxyreqs proxyevents proxyuser evictions\r\n', until: 'quiet'},
    ])
  })

  it('evictions: one line per item evicted to make room', async () => {
    const ours = await startOurServer(['-m', '8'])
    try {
      const w = await RawClient.open(ours.port)
      await w.request('watch evictions\r\n', 'OK\r\n')
      const c = await RawClient.open(ours.port)
      const value = 'v'.repeat(10_000)
      let batch = ''
      for (let i = 0; i < 2000; i++) batch += `set ev:${i} 5 0 ${value.length} noreply\r\n${value}\r\n`
      c.send(batch + 'get ev:1999\r\n')
      await c.readUntil(endsWith('END\r\n'), 10_000)
      const evictions = Number(/STAT evictions (\d+)\r\n/.exec(await c.request('stats\r\n', 'END\r\n'))![1])
      assert.ok(evictions > 0)
      const lines = (await w.readQuiet(300, 5000)).toString('latin1').split('\n').filter((l) => l !== '')
      assert.equal(lines.length, evictions)
      for (const l of lines) assert.match(l, /^ts=\d+\.\d+ gid=\d+ type=eviction key=ev%3A\d+ fetch=no ttl=-1 la=\d+ clsid=\d+ size=10000$/)
      // The oldest go first.
      assert.match(lines[0]!, / key=ev%3A0 /)
      c.close()
      w.close()
    } finally {
      await ours.stop()
    }
  })

  it('-W turns watch off', async () => {
    const [theirs, ours] = await Promise.all([startMemcached(['-W']), startOurServer(['-W'])])
    try {
      await same({theirs, ours}, ['watch\r\n', 'watch fetchers\r\n', 'watch noreply\r\n', 'watch foo\r\n'])
    } finally {
      await Promise.all([theirs.stop(), ours.stop()])
    }
  })

  it('a watcher that does not read misses lines and is told how many (skipped=), others are not held up', async () => {
    const port = p!.ours.port
    const sentBefore = await stat(port, 'log_watcher_sent')
    const skippedBefore = await stat(port, 'log_watcher_skipped')
    const w = connect(port, '127.0.0.1')
    await once(w, 'connect')
    const got: Buffer[] = []
    w.on('data', (b: Buffer) => got.push(b))
    w.write('watch fetchers\r\n')
    await sleep(100)
    w.pause()
    const c = await RawClient.open(port)
    let batch = ''
    for (let i = 0; i < 2000; i++) batch += `get a_fairly_long_key_name_${i}\r\n`
    const t0 = Date.now()
    for (let i = 0; i < 100; i++) {
      c.send(batch)
      await c.readUntil((b) => b.toString('latin1').split('END\r\n').length > 2000, 5000)
    }
    const elapsed = Date.now() - t0
    assert.match(await c.request('stats\r\n', 'END\r\n'), /STAT log_watchers 1\r\n/)
    w.resume()
    await sleep(500)
    c.send('get last_one\r\n')
    await c.readUntil(endsWith('END\r\n'))
    await sleep(300)
    const lines = Buffer.concat(got).toString('latin1').split('\n')
    const skips = lines.filter((l) => /^skipped=\d+$/.test(l)).map((l) => Number(l.slice(8)))
    const shown = lines.filter((l) => l.includes('type=item_get')).length
    assert.ok(skips.length > 0, 'skipped= lines')
    // Every lookup is either shown or counted as skipped.
    assert.equal(shown + skips.reduce((a, b) => a + b, 0), 200_001)
    assert.match(lines.at(-2)!, /type=item_get key=last_one status=not_found/)
    const stats = await c.request('stats\r\n', 'END\r\n')
    assert.match(stats, new RegExp(`STAT log_watcher_skipped ${skippedBefore + skips.reduce((a, b) => a + b, 0)}\\r\\n`))
    assert.match(stats, new RegExp(`STAT log_watcher_sent ${sentBefore + shown}\\r\\n`))
    w.destroy()
    await sleep(100)
    assert.match(await c.request('stats\r\n', 'END\r\n'), /STAT log_watchers 0\r\n/)
    assert.match(await c.request('stats reset\r\nstats\r\n', 'END\r\n'), /STAT log_watcher_skipped 0\r\nSTAT log_watcher_sent 0\r\n/)
    c.close()
    assert.ok(elapsed < 20_000, `200k gets took ${elapsed} ms with a stalled watcher`)
  })
})

describe('stats detail and the settings operator commands change, against memcached 1.6.18', {skip}, () => {
  let plain: Pair | undefined
  /** -D /: another delimiter, detail on from the start. */
  let slash: Pair | undefined
  before(async () => {
    const [a, b, c, d] = await Promise.all([startMemcached(), startOurServer(), startMemcached(['-D', '/']), startOurServer(['-D', '/'])])
    plain = {theirs: a, ours: b}
    slash = {theirs: c, ours: d}
  })
  after(async () => { await Promise.all([plain?.theirs.stop(), plain?.ours.stop(), slash?.theirs.stop(), slash?.ours.stop()]) })

  const SETTINGS = /^(slab_automove|slab_automove_ratio|lru_crawler|lru_crawler_sleep|lru_crawler_tocrawl|lru_segmented|hot_lru_pct|warm_lru_pct|hot_max_factor|warm_max_factor|temp_lru|temporary_ttl|ext_.*|stat_key_prefix|detail_enabled)$/

  it('stats detail on, off, dump: per-prefix gets, hits, sets and deletes in memcached\'s order', async () => {
    const traffic = Array.from({length: 40}, (_, i) => `set p${i % 13}:k${i} 0 0 1\r\nx\r\n`).join('') +
      'get p1:k1 p1:nope p2:k2 nodelimiter q:x\r\ngets p3:k3\r\ngat 100 p4:k4 p5:none\r\ndelete p6:k6\r\ndelete zz:1\r\n' +
      'set big:1 0 0 2000000 noreply\r\n' + 'x'.repeat(2_000_000) + '\r\nappend p7:k7 0 0 1\r\ny\r\nincr p8:k8 1\r\ntouch p9:k9 1\r\nmg p10:k10 v\r\n'
    await same(plain!, [
      'stats detail dump\r\n',
      'stats detail\r\nstats detail foo\r\n',
      {send: 'stats settings\r\n', statValues: SETTINGS},
      'stats detail on\r\n',
      {send: 'stats settings\r\n', statValues: SETTINGS},
      {send: traffic, until: 'quiet'},
      'stats detail dump\r\n',
      'stats detail off\r\nget p1:k1\r\nset p1:k2 0 0 1\r\nx\r\n',
      'stats detail dump\r\n',
      'stats detail on extra\r\nget p1:k1\r\nstats detail dump\r\n',
      'stats reset\r\nstats detail dump\r\n',
    ])
  })

  it('-D sets the delimiter and turns detail on', async () => {
    await same(slash!, [
      {send: 'stats settings\r\n', statValues: SETTINGS},
      'set a/b 0 0 1\r\nx\r\nset a:b 0 0 1\r\nx\r\nget a/b a/c a:b /lead\r\ndelete a/b\r\n',
      'stats detail dump\r\n',
    ])
  })

  it('slabs automove, lru, lru_crawler and extstore settings show in stats settings', async () => {
    await same(plain!, [
      'slabs automove 2\r\nslabs automove ratio 0.25\r\nlru tune 10 30 0.5 3.5\r\nlru mode flat\r\nlru temp_ttl 30\r\n',
      'lru_crawler sleep 250\r\nlru_crawler tocrawl 77\r\n',
      'extstore item_size 100\r\nextstore item_age 9\r\nextstore low_ttl 7\r\nextstore recache_rate 11\r\nextstore compact_under 3\r\n',
      'extstore drop_under 2\r\nextstore max_sleep 50\r\nextstore max_frag 0.3\r\nextstore drop_unread 1\r\n',
      {send: 'stats settings\r\n', statValues: SETTINGS},
      'lru temp_ttl -1\r\nlru mode segmented\r\nslabs automove 0\r\nslabs automove ratio nan\r\n',
      {send: 'stats settings\r\n', statValues: SETTINGS},
    ])
  })
})

describe('stats conns, conn_yields and the connection limit, against memcached 1.6.18', {skip}, () => {
  it('stats conns lists the listener and every client with memcached\'s states', async () => {
    const [theirs, ours] = await Promise.all([startMemcached(), startOurServer()])
    try {
      const listing = async (port: number): Promise<string> => {
        const idle = await RawClient.open(port)
        await idle.request('version\r\n')
        const midValue = await RawClient.open(port)
        midValue.send('set half 0 0 10\r\nabc')
        const watcher = await RawClient.open(port)
        await watcher.request('watch\r\n', 'OK\r\n')
        await sleep(1100)
        const asker = await RawClient.open(port)
        const raw = await asker.request('stats conns\r\n', 'END\r\n')
        const again = await asker.request('stats conns extra\r\n', 'END\r\n')
        for (const c of [idle, midValue, watcher, asker]) c.close()
        // Numbers (file descriptors there) by rank, client ports, the listener's age, one-second clocks.
        const ids = [...new Set([...raw.matchAll(/STAT (\d+):/g)].map((m) => m[1]!))]
        const norm = (s: string): string => s
          .replace(/STAT (\d+):/g, (_m, n: string) => `STAT #${ids.indexOf(n)}:`)
          .replace(/(addr tcp:127\.0\.0\.1):(\d+)/g, (_m, a: string, p: string) => `${a}:${Number(p) === port ? 'PORT' : 'P'}`)
          .replace(/(#0:secs_since_last_cmd) \d+/, '$1 L')
          .replace(/secs_since_last_cmd ([12])\r/g, 'secs_since_last_cmd 1+\r')
        assert.equal(norm(again), norm(raw))
        return norm(raw)
      }
      const [a, b] = [await listing(theirs.port), await listing(ours.port)]
      assert.equal(b, a)
      assert.match(b, /state conn_listening[^]*state conn_read[^]*state conn_nread[^]*state conn_watch[^]*state conn_parse_cmd/)
    } finally {
      await Promise.all([theirs.stop(), ours.stop()])
    }
  })

  it('stats: memcached\'s lines in memcached\'s order, ours after them (replication\'s where repcached puts them)', async () => {
    const [theirs, ours] = await Promise.all([startMemcached(), startOurServer()])
    try {
      const names = async (port: number): Promise<string[]> => [...(await ask(port, 'stats\r\n')).matchAll(/^STAT (\S+) /gm)].map((m) => m[1]!)
      const [a, b] = [await names(theirs.port), await names(ours.port)]
      const replication = /^(replication|repcached_version|repcached_qi_free|repl_.*)$/
      const replicationAt = b.findIndex((n) => replication.test(n))
      assert.equal(b[replicationAt - 1], 'evicted_unfetched')
      const withoutReplication = b.filter((n) => !replication.test(n))
      assert.deepEqual(withoutReplication.slice(0, a.length), a)
      assert.deepEqual(withoutReplication.slice(a.length), ['limits_key_too_long', 'limits_line_too_long', 'limits_get_reply_too_large', 'limits_output_stalls', 'repcached_release', 'repcached_bundle_sha256'])
    } finally {
      await Promise.all([theirs.stop(), ours.stop()])
    }
  })

  it('-R: conn_yields counts the yields after every -R requests of one connection, and stats reset clears it', async () => {
    const [theirs, ours] = await Promise.all([startMemcached(['-R', '2']), startOurServer(['-R', '2'])])
    try {
      await same({theirs, ours}, [
        {send: 'version\r\n'.repeat(7) + 'set a 0 0 1\r\nx\r\nget a\r\nget a\r\nget a\r\nmn\r\nget a\r\n', until: 'quiet'},
        {send: 'stats\r\n', statValues: /^(conn_yields|curr_connections|rejected_connections)$/},
        {send: 'version\r\n'.repeat(60), until: 'quiet'},
        {send: 'stats\r\n', statValues: /^conn_yields$/},
        'stats reset\r\n',
        {send: 'stats\r\n', statValues: /^(conn_yields|total_connections|rejected_connections)$/},
      ])
    } finally {
      await Promise.all([theirs.stop(), ours.stop()])
    }
  })

  it('-c N: extra connections get memcached\'s error line and are closed, counted in rejected_connections, not in total_connections', async () => {
    const N = 40
    const [theirs, ours] = await Promise.all([startMemcached(['-c', String(N)]), startOurServer(['-c', String(N)])])
    try {
      const probe = async (port: number): Promise<{accepted: number; refused: number; stats: string; after: string; totalBefore: number; rejectedBefore: number}> => {
        const statsConn = await RawClient.open(port)
        const first = await statsConn.request('stats\r\n', 'END\r\n')
        const totalBefore = Number(/STAT total_connections (\d+)\r\n/.exec(first)![1])
        const rejectedBefore = Number(/STAT rejected_connections (\d+)\r\n/.exec(first)![1])
        const open: RawClient[] = []
        let accepted = 0
        let refused = 0
        for (let i = 0; i < N + 10; i++) {
          const c = await RawClient.open(port)
          open.push(c)
          c.send('version\r\n')
          const reply = (await c.readUntil(endsWith('\r\n'), 2000)).toString('latin1')
          if (reply === 'VERSION 1.6.18\r\n') {
            accepted++
            assert.equal(refused, 0, 'no connection is served once one was refused while none closed')
          } else {
            assert.equal(reply, 'ERROR Too many open connections\r\n')
            await c.readUntil(() => false, 500)
            assert.ok(c.isClosed, 'a refused connection is closed')
            refused++
          }
          // The stats connection keeps being served meanwhile.
          assert.match(await statsConn.request('stats\r\n', 'END\r\n'), new RegExp(`STAT rejected_connections ${rejectedBefore + refused}\\r\\n`))
        }
        const stats = await statsConn.request('stats\r\n', 'END\r\n')
        for (const c of open) c.close()
        await sleep(200)
        const after = await ask(port, 'version\r\n', '\r\n')
        statsConn.close()
        return {accepted, refused, stats, after, totalBefore, rejectedBefore}
      }
      for (const r of [await probe(theirs.port), await probe(ours.port)]) {
        assert.equal(r.accepted + r.refused, N + 10)
        assert.ok(r.refused >= 11)
        const v = (n: string): number => Number(new RegExp(`STAT ${n} (\\d+)\\r\\n`).exec(r.stats)![1])
        assert.equal(v('max_connections'), N)
        assert.equal(v('rejected_connections'), r.rejectedBefore + r.refused)
        // The stats connection and the accepted ones; refused ones are not in the total.
        assert.equal(v('curr_connections'), r.accepted + 1)
        assert.equal(v('total_connections'), r.totalBefore + r.accepted)
        assert.equal(r.after, 'VERSION 1.6.18\r\n')
      }
      // memcached counts file descriptors (its own ~25 included) against -c; we count clients: N of them.
      const ourRun = await probe(ours.port)
      assert.equal(ourRun.accepted, N - 1)
    } finally {
      await Promise.all([theirs.stop(), ours.stop()])
    }
  })
})

describe('refresh_certs with -Z reloads the certificate files for new clients', {skip: skip || toolMissing('openssl')}, () => {
  it('new clients get the new certificate; a broken file is reported and the old one stays', async () => {
    const certs = makeCerts()
    const dir = mkdtempSync(join(tmpdir(), 'repctl-refresh-'))
    const cert = join(dir, 'server.crt')
    const key = join(dir, 'server.key')
    copyFileSync(certs.serverCert, cert)
    copyFileSync(certs.serverKey, key)
    const ours = await startOurServer(['-Z', '-o', `ssl_chain_cert=${cert},ssl_key=${key}`])
    try {
      const talk = (ca: string, send: string): Promise<string> => new Promise((resolve) => {
        let got = ''
        const s = tlsConnect({host: '127.0.0.1', port: ours.port, ca: readFileSync(ca)}, () => s.write(send))
        s.on('data', (d: Buffer) => { got += d.toString('latin1'); if (got.endsWith('\r\n')) { s.destroy(); resolve(got) } })
        s.on('error', (e) => resolve(`error: ${e.message}`))
      })
      assert.equal(await talk(certs.caCert, 'version\r\n'), 'VERSION 1.6.18\r\n')
      // Another CA's certificate in the same files: refreshed, new clients must trust that CA.
      copyFileSync(certs.rogueServerCert, cert)
      copyFileSync(certs.rogueServerKey, key)
      assert.equal(await talk(certs.caCert, 'refresh_certs\r\n'), 'OK\r\n')
      assert.match(await talk(certs.caCert, 'version\r\n'), /^error: /)
      assert.equal(await talk(certs.rogueCa, 'version\r\n'), 'VERSION 1.6.18\r\n')
      // A key that does not match the certificate: refused, the certificate in use stays.
      copyFileSync(certs.serverKey, key)
      assert.match(await talk(certs.rogueCa, 'refresh_certs\r\n'), /^Error validating the certificate: .*\r\n$/)
      rmSync(cert)
      assert.equal(await talk(certs.rogueCa, 'refresh_certs\r\n'), `Error loading the certificate chain: ${cert} : ENOENT\r\n`)
      assert.equal(await talk(certs.rogueCa, 'version\r\n'), 'VERSION 1.6.18\r\n')
    } finally {
      await ours.stop()
      rmSync(dir, {recursive: true, force: true})
      rmSync(certs.dir, {recursive: true, force: true})
    }
  })
})
