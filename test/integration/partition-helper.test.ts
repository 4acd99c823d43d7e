// The iptables partition helper itself, on plain TCP: a server on 127.0.0.12,
// a client bound to 127.0.0.11. Connected before the cut, hanging (not reset)
// during it, connected again after heal; nothing left behind by remove().

import assert from 'node:assert/strict'
import {connect, createServer, type Server, type Socket} from 'node:net'
import {after, describe, it} from 'node:test'
import {chainPresent, HOST_A, HOST_B, hookCount, Partition, partitionMissing} from '../helpers/partition.js'
import {freePort} from '../helpers/ports.js'

const skip = partitionMissing()

type Attempt = 'connected' | 'timeout' | `error ${string}`

/** Try one TCP connect from `localAddress` (if given); give up after `timeoutMs`. */
function tryConnect(host: string, port: number, localAddress: string | undefined, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const s = connect({host, port, localAddress})
    const t = setTimeout(() => { s.destroy(); resolve('timeout') }, timeoutMs)
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve('connected') })
    s.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(t); s.destroy(); resolve(`error ${e.code ?? e.message}`) })
  })
}

/** An open client connection that records what comes back and whether it broke. */
class Conn {
  received = ''
  broken: string | undefined
  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => { this.received += d })
    socket.on('error', (e) => { this.broken = e.message })
    socket.on('close', () => { this.broken ??= 'closed' })
  }

  static open(host: string, port: number, localAddress: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect({host, port, localAddress})
      s.once('connect', () => resolve(new Conn(s)))
      s.once('error', reject)
    })
  }

  async waitFor(text: string, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs
    while (!this.received.includes(text) && this.broken === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
    return this.received.includes(text)
  }
}

describe('iptables partition helper', {skip}, () => {
  let server: Server | undefined
  let partition: Partition | undefined
  const conns: Conn[] = []
  after(() => {
    // Heal first: a test that failed half-way must not leave DROP rules on lo.
    partition?.remove()
    for (const c of conns) c.socket.destroy()
    server?.close()
  })

  it('cuts both directions between 127.0.0.11 and 127.0.0.12 silently, heals, and removes its chain', {timeout: 30_000}, async () => {
    const port = await freePort(HOST_B)
    server = createServer((s) => { s.on('error', () => {}); s.pipe(s) })
    await new Promise<void>((r) => server!.listen(port, HOST_B, r))

    partition = Partition.create()
    assert.equal(chainPresent(), true, 'the chain exists')
    assert.equal(hookCount(), 1, 'hooked into OUTPUT -o lo exactly once')
    assert.deepEqual(partition.rules(), ['-N REPCTL_TEST'], 'a fresh chain has no rules')

    // Before the cut: connects, and an established connection echoes.
    assert.equal(await tryConnect(HOST_B, port, HOST_A, 2000), 'connected')
    const early = await Conn.open(HOST_B, port, HOST_A)
    conns.push(early)
    early.socket.write('before\n')
    assert.ok(await early.waitFor('before\n', 2000), 'echo before the cut')

    partition.cut(HOST_A, HOST_B)
    assert.equal(partition.isCut, true)
    assert.deepEqual(partition.rules(), [
      '-N REPCTL_TEST',
      '-A REPCTL_TEST -s 127.0.0.11/32 -d 127.0.0.12/32 -j DROP',
      '-A REPCTL_TEST -s 127.0.0.12/32 -d 127.0.0.11/32 -j DROP',
    ])

    // During the cut: a new connect hangs (no reset, no refusal) ...
    assert.equal(await tryConnect(HOST_B, port, HOST_A, 1000), 'timeout', 'a connect from .11 to .12 hangs')
    // ... both ways (nothing listens on .11, yet no RST comes back either) ...
    const portOnA = await freePort(HOST_A)
    assert.equal(await tryConnect(HOST_A, portOnA, HOST_B, 700), 'timeout', 'a connect from .12 to .11 hangs instead of being refused')
    // ... and an established connection goes silent without breaking.
    early.socket.write('during\n')
    await new Promise((r) => setTimeout(r, 700))
    assert.equal(early.received.includes('during'), false, 'nothing crosses the cut')
    assert.equal(early.broken, undefined, 'the established connection is not reset')
    // Other loopback traffic is untouched: a client from 127.0.0.1 still reaches 127.0.0.12.
    assert.equal(await tryConnect(HOST_B, port, '127.0.0.1', 2000), 'connected', 'only .11 <-> .12 is cut')
    assert.equal(await tryConnect(HOST_B, port, undefined, 2000), 'connected', 'a default-source client is not cut')

    partition.heal()
    assert.equal(partition.isCut, false)
    assert.deepEqual(partition.rules(), ['-N REPCTL_TEST'], 'heal flushes the chain')
    assert.equal(hookCount(), 1, 'heal keeps the hook')
    assert.equal(await tryConnect(HOST_B, port, HOST_A, 2000), 'connected', 'connects again after heal')
    assert.ok(await early.waitFor('during\n', 5000), 'the held data is retransmitted after heal')
    assert.equal(early.broken, undefined)

    partition.remove()
    assert.equal(chainPresent(), false, 'remove deletes the chain')
    assert.equal(hookCount(), 0, 'remove unhooks it from OUTPUT')
    partition.remove() // twice is harmless
  })

  it('clears a chain left over by an earlier run, and refuses non-loopback addresses', {timeout: 20_000}, async () => {
    const port = await freePort(HOST_B)
    const srv = createServer((s) => { s.on('error', () => {}); s.end() })
    await new Promise<void>((r) => srv.listen(port, HOST_B, r))
    try {
      const old = Partition.create()
      old.cut(HOST_A, HOST_B)
      // A crashed run would leave exactly this behind; the next create() starts clean.
      partition = Partition.create()
      assert.deepEqual(partition.rules(), ['-N REPCTL_TEST'])
      assert.equal(hookCount(), 1)
      assert.equal(await tryConnect(HOST_B, port, HOST_A, 2000), 'connected')
      old.remove() // superseded: must not delete the new chain
      assert.equal(chainPresent(), true)
      assert.throws(() => partition!.cut('10.0.0.1', HOST_B), /not a loopback address/)
      assert.throws(() => partition!.cut(HOST_A, '127.0.0.256'), /not a loopback address/)
      assert.throws(() => partition!.cut(HOST_A, HOST_A), /two different addresses/)
      assert.deepEqual(partition.rules(), ['-N REPCTL_TEST'], 'a refused cut adds nothing')
      partition.remove()
      assert.equal(chainPresent(), false)
      assert.equal(hookCount(), 0)
    } finally {
      partition?.remove()
      srv.close()
    }
  })
})
