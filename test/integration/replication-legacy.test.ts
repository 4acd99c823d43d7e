// Byte-exact interop with repcached 2.3.1: a scripted peer plays the byte
// sequences captured from the real repcached (shared/protocol/replication.md
// section 2) at our node, as its master and as its slave, and checks that our
// node sends exactly what repcached would. The one exception is native mode's
// opening line (docs/replication-protocol.md, "Handshake"): a connecting node
// sends `repctl-hello 1 <node-id> <nonce> <parity|-> rev=3\r\n` first, which a
// repcached master drops as an unknown word; after that, only legacy bytes.

import assert from 'node:assert/strict'
import {connect, createServer, type Server, type Socket} from 'node:net'
import {after, describe, it} from 'node:test'
import {eventually, startNode, stat, type ReplNode} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {RawClient} from '../helpers/raw-client.js'

const started: ReplNode[] = []
const servers: Server[] = []
after(async () => {
  await Promise.all(started.map((n) => n.stop('SIGKILL')))
  for (const s of servers) s.close()
})

/** A peer socket that records every byte it receives. */
class ScriptedPeer {
  received = ''
  ended = false
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => { this.received += d.toString('latin1') })
    socket.on('end', () => { this.ended = true })
    socket.on('close', () => { this.ended = true })
    socket.on('error', () => { this.ended = true })
  }

  /** Wait for `n` more bytes... or until `pattern` matches what arrived; returns and clears it. */
  async expect(pattern: RegExp, timeoutMs = 3000): Promise<string> {
    const ok = await eventually(async () => pattern.test(this.received), timeoutMs, 5)
    const got = this.received
    this.received = ''
    assert.ok(ok, `expected ${pattern} from our node, got ${JSON.stringify(got)}`)
    return got
  }

  /** Assert that nothing arrives for a while. */
  async silence(ms = 150): Promise<void> {
    await new Promise((r) => setTimeout(r, ms))
    assert.equal(this.received, '', 'our node must send nothing here')
  }
}

function now(): number { return Math.floor(Date.now() / 1000) }

async function client(port: number, req: string, terminator = '\r\n'): Promise<string> {
  const c = await RawClient.open(port)
  try { return await c.request(req, terminator) } finally { c.close() }
}

async function casOf(port: number, key: string): Promise<string> {
  const r = await client(port, `gets ${key}\r\n`, 'END\r\n')
  return /^VALUE \S+ \d+ \d+ (\d+)\r\n/.exec(r)![1]!
}

describe('our node as the slave of a repcached master', () => {
  it('takes the copy, then sends exactly repcached\'s bytes for each client change', async () => {
    const masterPort = await freePort()
    let peer: ScriptedPeer | undefined
    let accepted = 0
    const server = createServer((s) => {
      accepted++
      peer = new ScriptedPeer(s)
      // A repcached master streams its copy at once, before reading anything (times shifted to
      // now so nothing has expired).
      const t = now()
      s.write(`rep k2 7 ${t + 3600} 4 2\r\nwxyz\r\nrep k3 9 ${t + 7200} 2 3\r\nhi\r\nrep k1 5 0 3 1\r\nabc\r\nmarugoto_end\r\n`)
      // One slave only: a later redial (after the link is closed below) is refused, as by a
      // repcached master that is down.
      server.close()
    })
    servers.push(server)
    await new Promise<void>((r) => server.listen(masterPort, '127.0.0.1', r))
    const repListen = await freePort()
    const node = await startNode({repListen, repConnect: masterPort, peer: '127.0.0.1', extra: ['-v']})
    started.push(node)
    const p = peer!
    // The first line is native mode's hello, which repcached ignores: exactly one line, nothing
    // after it. node-id: our replication listen address and port; nonce: 32 hex digits; parity:
    // the cas parity already in use, or '-'; rev=3: the native message set it speaks.
    const hello = await p.expect(/\r\n/)
    assert.match(hello, /^repctl-hello 1 127\.0\.0\.1:(\d+) [0-9a-f]{32} [01-] rev=3\r\n$/, 'the first line is the native hello, alone')
    assert.equal(/^repctl-hello 1 127\.0\.0\.1:(\d+) /.exec(hello)![1], String(repListen), 'node-id names our replication listen port')
    assert.equal(accepted, 1)
    assert.equal(await stat(node.port, 'repl_role'), 'slave')
    assert.equal(await stat(node.port, 'repl_mode'), 'legacy', 'a peer that streams a copy instead of answering the hello is legacy')
    assert.equal(await client(node.port, 'gets k1 k2 k3\r\n', 'END\r\n'),
      'VALUE k1 5 3 1\r\nabc\r\nVALUE k2 7 4 2\r\nwxyz\r\nVALUE k3 9 2 3\r\nhi\r\nEND\r\n', 'items stored with the master\'s cas')
    // Nothing else: no repctl-auth, no copy of our own, no heartbeat (a native link sends hb after
    // a second of silence; a legacy one never does).
    await p.silence(1500)

    await client(node.port, 'set a 1 0 1\r\nA\r\n')
    assert.equal(await p.expect(/\r\nA\r\n$/), `rep a 1 0 1 ${await casOf(node.port, 'a')}\r\nA\r\n`)
    await client(node.port, 'append a 0 0 2\r\n++\r\n')
    assert.equal(await p.expect(/A\+\+\r\n$/), `rep a 1 0 3 ${await casOf(node.port, 'a')}\r\nA++\r\n`, 'append sends the whole item with its flags')
    await client(node.port, 'set n 0 0 2\r\n10\r\n')
    await p.expect(/10\r\n$/)
    await client(node.port, 'incr n 5\r\n')
    const ncas = await casOf(node.port, 'n')
    assert.equal(await p.expect(/15\r\n$/), `rep n 0 0 2 ${ncas}\r\n15\r\n`, 'incr sends the new number')
    const t = now()
    await client(node.port, 'touch n 500\r\n')
    const touched = await p.expect(/15\r\n$/)
    const m = /^rep n 0 (\d+) 2 (\d+)\r\n15\r\n$/.exec(touched)
    assert.ok(m, touched)
    assert.ok(Math.abs(Number(m[1]) - (t + 500)) <= 1, 'touch sends the absolute new exptime')
    assert.equal(m[2], ncas, 'touch keeps the cas')
    await client(node.port, 'delete a\r\n')
    assert.equal(await p.expect(/\r\n$/), 'delete a\r\n')
    await client(node.port, 'add n 0 0 1\r\nx\r\n')
    await client(node.port, 'delete nothing\r\n')
    await client(node.port, 'incr k1 1\r\n')
    await p.silence()
    const tf = now()
    await client(node.port, 'flush_all 30\r\n')
    const flush = await p.expect(/\r\n$/)
    // The server's clock ticks in whole seconds and may be a moment behind ours.
    const at = Number(/^flush_all (\d+)\r\n$/.exec(flush)?.[1])
    assert.ok(at >= tf + 29 && at <= tf + 31, `flush_all now+30 sent as ${JSON.stringify(flush)}`)
    await client(node.port, 'flush_all\r\n')
    assert.equal(await p.expect(/\r\n$/), 'flush_all \r\n', 'flush now: a space before CR, as repcached writes it')
    await client(node.port, 'flush_all 0\r\n')
    assert.equal(await p.expect(/\r\n$/), 'flush_all \r\n', 'flush_all 0 is a flush now (repcached gets this wrong)')

    // What the master sends is applied and never answered or echoed.
    p.socket.write('rep z 3 0 1 99\r\nZ\r\ndelete k2\r\n')
    assert.ok(await eventually(async () => (await client(node.port, 'gets z k2\r\n', 'END\r\n')) === 'VALUE z 3 1 99\r\nZ\r\nEND\r\n'))
    await p.silence()

    // repcached segfaults on a get over the link; we close the link and carry on as master.
    p.socket.write('get z\r\n')
    assert.ok(await eventually(async () => p.ended, 2000), 'the link is closed')
    assert.equal(await client(node.port, 'get z\r\n', 'END\r\n'), 'VALUE z 3 1\r\nZ\r\nEND\r\n', 'the node still serves clients')
    assert.equal(await stat(node.port, 'repl_role'), 'master')
    assert.match(node.stderr(), /bad input/)
    assert.equal(await stat(node.port, 'repl_bad_input'), '1', 'the bad input is counted')
    assert.equal(p.received, '', 'nothing after the bad input')
  })
})

describe('our node as the master of a repcached slave', () => {
  it('streams the copy in repcached\'s format, then marugoto_end, and refuses a third node', async () => {
    const repPort = await freePort()
    const node = await startNode({repListen: repPort, extra: ['-v']})
    started.push(node)
    const t = now()
    await client(node.port, `set k1 5 0 3\r\nabc\r\nset k2 7 3600 4\r\nwxyz\r\nset k3 9 ${t + 7200} 2\r\nhi\r\n`, 'STORED\r\nSTORED\r\nSTORED\r\n')
    const cas = {k1: await casOf(node.port, 'k1'), k2: await casOf(node.port, 'k2'), k3: await casOf(node.port, 'k3')}
    // A repcached slave sends nothing first: our node waits (up to ~500 ms) for a native hello,
    // then streams the legacy copy, byte for byte as repcached does.
    const slave = new ScriptedPeer(connect({port: repPort, host: '127.0.0.1'}))
    const copy = await slave.expect(/marugoto_end\r\n$/)
    const lines = copy.split(/(?<=\r\n)(?=rep |marugoto_end)/)
    assert.equal(lines.at(-1), 'marugoto_end\r\n')
    const reps = lines.slice(0, -1).sort()
    const e2 = /^rep k2 7 (\d+) /.exec(reps[1]!)![1]!
    assert.ok(Math.abs(Number(e2) - (t + 3600)) <= 1, 'relative exptime sent as absolute time')
    assert.deepEqual(reps, [
      `rep k1 5 0 3 ${cas.k1}\r\nabc\r\n`,
      `rep k2 7 ${e2} 4 ${cas.k2}\r\nwxyz\r\n`,
      `rep k3 9 ${t + 7200} 2 ${cas.k3}\r\nhi\r\n`,
    ])
    const third = await new Promise<boolean>((resolve) => {
      const s = connect({port: repPort, host: '127.0.0.1'})
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    assert.equal(third, false, 'the listener is closed while paired')
    assert.equal(await stat(node.port, 'repl_state'), 'paired')
    assert.equal(await stat(node.port, 'repl_mode'), 'legacy', 'no hello from the slave: a legacy link')
    // Live changes go out as legacy bytes; no heartbeat or other native line ever does.
    await client(node.port, 'set live 2 0 2\r\nLV\r\ndelete k1\r\n', 'STORED\r\nDELETED\r\n')
    assert.equal(await slave.expect(/delete k1\r\n$/), `rep live 2 0 2 ${await casOf(node.port, 'live')}\r\nLV\r\ndelete k1\r\n`)
    await slave.silence(1500)
    // Garbage from the slave closes the link; the node listens again.
    slave.socket.write('stats\r\n')
    assert.ok(await eventually(async () => slave.ended, 2000))
    assert.ok(await eventually(async () => (await stat(node.port, 'repl_state')) === 'listening'))
  })
  it('with -C: the copy and every later change carry cas 0, as repcached -C sends them (the versions the node keeps inside never show)', async () => {
    const repPort = await freePort()
    const node = await startNode({repListen: repPort, extra: ['-v', '-C']})
    started.push(node)
    await client(node.port, 'set k1 5 0 3\r\nabc\r\nset k1 5 0 3\r\nabd\r\n', 'STORED\r\nSTORED\r\n')
    const slave = new ScriptedPeer(connect({port: repPort, host: '127.0.0.1'}))
    assert.equal(await slave.expect(/marugoto_end\r\n$/), 'rep k1 5 0 3 0\r\nabd\r\nmarugoto_end\r\n')
    assert.equal(await stat(node.port, 'repl_mode'), 'legacy')
    // One change at a time: a burst would send each key's latest value only (read at send time, as repcached does).
    const changes: [string, string, string][] = [
      ['set k1 6 0 1\r\nx\r\n', 'STORED\r\n', 'rep k1 6 0 1 0\r\nx\r\n'],
      ['append k1 0 0 1\r\ny\r\n', 'STORED\r\n', 'rep k1 6 0 2 0\r\nxy\r\n'],
      ['set n 0 0 1\r\n1\r\n', 'STORED\r\n', 'rep n 0 0 1 0\r\n1\r\n'],
      ['incr n 9\r\n', '10\r\n', 'rep n 0 0 2 0\r\n10\r\n'],
    ]
    for (const [cmd, reply, sent] of changes) {
      assert.equal(await client(node.port, cmd), reply)
      assert.equal(await slave.expect(/\r\n[^\r\n]*\r\n$/), sent, JSON.stringify(cmd))
    }
    // A repcached master's update of a key the node holds is applied (legacy links never compare versions).
    slave.socket.write('rep k1 7 0 3 0\r\nnew\r\n')
    assert.ok(await eventually(async () => (await client(node.port, 'gets k1\r\n', 'END\r\n')) === 'VALUE k1 7 3 0\r\nnew\r\nEND\r\n'))
    await slave.silence(300)
  })
})
