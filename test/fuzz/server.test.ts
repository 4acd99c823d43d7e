// A live server under fuzzed input: random, mutated and split text, binary
// and replication streams, each on its own connection. After every case the
// server must still be up and serve another connection; every reply must be
// well-formed for its protocol (or the connection closed); and memory must
// stay bounded over the whole run.

import assert from 'node:assert/strict'
import {readFileSync, writeFileSync, mkdtempSync, rmSync} from 'node:fs'
import {connect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import fc from 'fast-check'
import {startNode, type ReplNode} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {startOurServer, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {binaryRequest, cuts, params, replicationMessage, RUNS, SEED, split, stream, textRequest} from './arbitraries.js'
import {CORPUS, corpusBytes, type CorpusCase} from './corpus.js'

/** Live cases cost a connection and a quiet period each: a smaller sample than the parsers get. */
const LIVE_RUNS = Math.max(20, Math.floor(RUNS / 4))

async function sendAndRead(port: number, chunks: Buffer[]): Promise<{reply: Buffer; closed: boolean}> {
  const socket: Socket = await new Promise((resolve, reject) => { const s = connect(port, '127.0.0.1', () => resolve(s)); s.once('error', reject) })
  const got: Buffer[] = []
  let closed = false
  socket.on('data', (d: Buffer) => got.push(d))
  socket.on('error', () => {})
  socket.on('close', () => { closed = true })
  for (const c of chunks) {
    if (closed) break
    socket.write(c)
    await new Promise((r) => setImmediate(r))
  }
  // Read until 40 ms pass with nothing new (or the server closes), at most 2 s.
  const start = Date.now()
  let seen = -1
  while (!closed && Date.now() - start < 2000) {
    const n = got.reduce((a, b) => a + b.length, 0)
    if (n === seen) break
    seen = n
    await new Promise((r) => setTimeout(r, 40))
  }
  socket.destroy()
  return {reply: Buffer.concat(got), closed}
}

/** Meta replies: a code, then return flags (each one token). */
const META_LINE = /^(HD|EN|NS|EX|NF|MN)( \S+)*$|^ME \S+ exp=-?\d+ la=\d+ cas=\d+ fetch=(yes|no) cls=\d+ size=\d+$/
const TEXT_LINE = /^(END|STORED|NOT_STORED|EXISTS|NOT_FOUND|DELETED|TOUCHED|OK|RESET|ERROR|ERROR .+|CLIENT_ERROR .+|SERVER_ERROR .+|VERSION .+|STAT .+|ITEM .+|\d+)$/

/** Why a text reply stream is not a sequence of memcached replies, or undefined if it is. */
function badTextReply(b: Buffer): string | undefined {
  const s = b.toString('latin1')
  let pos = 0
  while (pos < s.length) {
    const eol = s.indexOf('\r\n', pos)
    if (eol === -1) return `unterminated line ${JSON.stringify(s.slice(pos, pos + 80))}`
    const line = s.slice(pos, eol)
    pos = eol + 2
    const value = /^VALUE \S+ \d+ (\d+)( \d+)?$/.exec(line) ?? /^VA (\d+)( \S+)*$/.exec(line)
    if (value !== null) {
      const n = Number(value[1])
      if (s.slice(pos + n, pos + n + 2) !== '\r\n') return `value of ${n} bytes not followed by CRLF after ${JSON.stringify(line)}`
      pos += n + 2
      continue
    }
    if (!TEXT_LINE.test(line) && !META_LINE.test(line)) return `unexpected line ${JSON.stringify(line.slice(0, 80))}`
  }
  return undefined
}

/** Why a binary reply stream is not a sequence of response packets, or undefined if it is. */
function badBinaryReply(b: Buffer): string | undefined {
  let pos = 0
  while (pos < b.length) {
    if (b.length - pos < 24) return `${b.length - pos} bytes of a header`
    if (b[pos] !== 0x81) return `response magic 0x${b[pos]!.toString(16)}`
    const body = b.readUInt32BE(pos + 8)
    if (b.readUInt16BE(pos + 2) + b[pos + 4]! > body) return 'key and extras longer than the body'
    if (b.length - pos - 24 < body) return 'truncated body'
    pos += 24 + body
  }
  return undefined
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0)
}

describe(`a live server under fuzzing (seed ${SEED})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'repctl-fuzz-'))
  let plain: RunningServer | undefined
  let locked: RunningServer | undefined
  let node: ReplNode | undefined
  let repPort = 0
  let monitor: RawClient | undefined
  let rssBefore = 0
  before(async () => {
    const users = join(dir, 'users')
    writeFileSync(users, 'alice:secret1\n', {mode: 0o600})
    repPort = await freePort()
    ;[plain, locked, node] = await Promise.all([
      startOurServer(['-m', '64']),
      startOurServer(['-m', '64', '-Y', users]),
      startNode({repListen: repPort, extra: ['-m', '64']}),
    ])
    monitor = await RawClient.open(plain.port)
    rssBefore = rssKb(plain.pid)
  })
  after(async () => {
    monitor?.close()
    await Promise.all([plain?.stop(), locked?.stop(), node?.stop()])
    rmSync(dir, {recursive: true, force: true})
  })

  async function stillUp(server: {port: number}): Promise<void> {
    const c = await RawClient.open(server.port)
    try {
      if (server === locked) assert.equal(await c.request('set a 0 0 13\r\nalice secret1\r\nversion\r\n', 'VERSION 1.6.18\r\n'), 'STORED\r\nVERSION 1.6.18\r\n')
      else assert.equal(await c.request('version\r\n'), 'VERSION 1.6.18\r\n')
    } finally { c.close() }
  }

  it('text streams: well-formed replies or a close; the server and other connections carry on', async () => {
    await fc.assert(fc.asyncProperty(stream(textRequest), cuts, fc.boolean(), async (b, at, auth) => {
      const server = auth ? locked! : plain!
      const r = await sendAndRead(server.port, split(b, at))
      const bad = badTextReply(r.reply)
      assert.equal(bad, undefined, `${bad}\nsent ${JSON.stringify(b.toString('latin1').slice(0, 300))}`)
      assert.equal(await monitor!.request('version\r\n'), 'VERSION 1.6.18\r\n')
      await stillUp(server)
    }), params(LIVE_RUNS))
  })

  it('binary streams: well-formed packets or a close; the server carries on', async () => {
    await fc.assert(fc.asyncProperty(stream(binaryRequest, 5), cuts, fc.boolean(), async (b, at, auth) => {
      const server = auth ? locked! : plain!
      // A stream that does not start with the binary magic is a text connection: checked above.
      if (b[0] !== 0x80) return
      const r = await sendAndRead(server.port, split(b, at))
      const bad = badBinaryReply(r.reply)
      assert.equal(bad, undefined, `${bad}\nsent ${b.toString('hex').slice(0, 300)}`)
      await stillUp(server)
    }), params(LIVE_RUNS))
  })

  it('replication streams from a would-be peer: the node keeps serving clients and listening', async () => {
    await fc.assert(fc.asyncProperty(stream(replicationMessage), cuts, async (b, at) => {
      await sendAndRead(repPort, split(b, at))
      await stillUp(node!)
    }), params(LIVE_RUNS))
  })

  it('the corpus of hostile inputs', async () => {
    const target = (c: CorpusCase): number => (c.protocol === 'replication' ? repPort : plain!.port)
    for (const c of CORPUS) {
      const r = await sendAndRead(target(c), corpusBytes(c))
      if (c.protocol === 'text') assert.equal(badTextReply(r.reply), undefined, c.name)
      if (c.protocol === 'binary') assert.equal(badBinaryReply(r.reply), undefined, c.name)
      await stillUp(c.protocol === 'replication' ? node! : plain!)
    }
  })

  it('memory stayed bounded through the run', () => {
    const grown = rssKb(plain!.pid) - rssBefore
    assert.ok(grown < 150 * 1024, `RSS grew by ${grown} kB`)
  })
})
