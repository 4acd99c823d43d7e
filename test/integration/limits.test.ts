// Each limit on what one client (or one replication peer) can make the
// server spend, exceeded on purpose: the offender gets memcached's error or
// is closed, the limit is counted in stats, and another client is served
// right after.

import assert from 'node:assert/strict'
import {connect} from 'node:net'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {eventually, startNode, stat, type ReplNode} from '../helpers/pair.js'
import {startOurServer, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {Opcode, setFrame} from '../helpers/binary-differential.js'

async function stillServes(port: number): Promise<void> {
  const c = await RawClient.open(port)
  try { assert.equal(await c.request('version\r\n'), 'VERSION 1.6.18\r\n', 'another client is served') } finally { c.close() }
}

describe('client limits', () => {
  let s: RunningServer | undefined
  before(async () => { s = await startOurServer(['-m', '256', '-o', 'idle_timeout=1']) })
  after(async () => { await s?.stop() })

  it('a request line over 2 KiB without a newline: closed, counted', async () => {
    const c = await RawClient.open(s!.port)
    c.send('x'.repeat(4096))
    await c.readUntil(() => false, 1000)
    assert.ok(c.isClosed)
    assert.equal(await stat(s!.port, 'limits_line_too_long'), '1')
    await stillServes(s!.port)
  })

  it('a value over -I is refused and its bytes skipped, never buffered; the connection goes on', async () => {
    const c = await RawClient.open(s!.port)
    try {
      const big = 'v'.repeat(2 * 1024 * 1024)
      assert.equal(await c.request(`set big 0 0 ${big.length}\r\n${big}\r\n`), 'SERVER_ERROR object too large for cache\r\n')
      assert.equal(await c.request('version\r\n'), 'VERSION 1.6.18\r\n')
      assert.equal(await stat(s!.port, 'store_too_large'), '1')
    } finally { c.close() }
    // The binary protocol counts it too.
    const b = await RawClient.open(s!.port)
    try {
      b.send(setFrame(Opcode.Set, 'big', Buffer.alloc(2 * 1024 * 1024, 0x76)))
      const reply = await b.readUntil((x) => x.length >= 24 && x.length >= 24 + x.readUInt32BE(8), 3000)
      assert.equal(reply.readUInt16BE(6), 0x03, 'status Too large')
      assert.equal(await stat(s!.port, 'store_too_large'), '2')
    } finally { b.close() }
  })

  it('a key over 250 bytes gets memcached\'s error', async () => {
    const c = await RawClient.open(s!.port)
    try {
      assert.equal(await c.request(`get ${'k'.repeat(251)}\r\n`), 'CLIENT_ERROR bad command line format\r\n')
      assert.equal(await c.request(`set ${'k'.repeat(251)} 0 0 1\r\n`), 'CLIENT_ERROR bad command line format\r\n')
      assert.equal(await stat(s!.port, 'limits_key_too_long'), '2')
    } finally { c.close() }
  })

  it('a multiget whose reply would pass 64 MiB gets memcached\'s out-of-memory error, counted', async () => {
    const c = await RawClient.open(s!.port)
    try {
      const value = 'v'.repeat(1000 * 1000)
      assert.equal(await c.request(`set mb 0 0 ${value.length}\r\n${value}\r\n`), 'STORED\r\n')
      const reply = await c.request(`get ${'mb '.repeat(70)}\r\n`, '\r\n')
      assert.equal(reply, 'SERVER_ERROR out of memory writing get response\r\n')
      assert.equal(await stat(s!.port, 'limits_get_reply_too_large'), '1')
      // A multiget under the limit still works on the same connection.
      const ok = await c.request('get mb mb\r\n', 'END\r\n')
      assert.equal(ok.length, 2 * (value.length + 'VALUE mb 0 1000000\r\n\r\n'.length) + 'END\r\n'.length)
    } finally { c.close() }
  })

  it('an idle client is closed after -o idle_timeout, counted in idle_kicks', async () => {
    const idle = await new Promise<import('node:net').Socket>((resolve) => { const x = connect(s!.port, '127.0.0.1', () => resolve(x)) })
    const closed = new Promise<void>((resolve) => idle.on('close', () => resolve()))
    idle.on('error', () => {})
    await Promise.race([closed, sleep(5000).then(() => { throw new Error('idle client not closed within 5 s') })])
    assert.ok(Number(await stat(s!.port, 'idle_kicks')) >= 1)
    await stillServes(s!.port)
  })
})

describe('replication port limits', () => {
  const nodes: ReplNode[] = []
  after(async () => { await Promise.all(nodes.map((n) => n.stop())) })

  it('a megabyte of garbage on the replication port closes that link, counted; the node serves on', async () => {
    const {freePort} = await import('../helpers/ports.js')
    const repPort = await freePort()
    const node = await startNode({repListen: repPort, extra: ['-v']})
    nodes.push(node)
    const junk = await new Promise<import('node:net').Socket>((resolve) => { const x = connect(repPort, '127.0.0.1', () => resolve(x)) })
    junk.on('error', () => {})
    const closed = new Promise<void>((resolve) => junk.on('close', () => resolve()))
    junk.write(Buffer.alloc(1024 * 1024, 0x41))
    await Promise.race([closed, sleep(5000).then(() => { throw new Error('the garbage peer was not closed within 5 s') })])
    // Without a hello it is taken for a repcached peer, whose first line may be at most 1 KiB.
    assert.ok(await eventually(async () => Number(await stat(node.port, 'repl_bad_input')) >= 1), 'counted as bad input')
    assert.equal(await stat(node.port, 'repl_state'), 'listening')
    await stillServes(node.port)
  })
})
