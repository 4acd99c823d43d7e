// The binary session and handlers on a real ItemStore, without sockets:
// every change must reach the store's single mutation hook (replication
// hooks in there), counters move like memcached's, and the session hands
// replies to the connection when memcached would write them.

import assert from 'node:assert/strict'
import {setTimeout as sleep} from 'node:timers/promises'
import {describe, it} from 'node:test'
import type {ServerContext} from '../../src/server/context.js'
import {Logger} from '../../src/server/log.js'
import {defaultOptions, type ServerOptions} from '../../src/server/options.js'
import {encodeRequest, Opcode as O, splitResponses, Status} from '../../src/server/protocol/binary-frame.js'
import {ReplyBuffer} from '../../src/server/protocol/reply-buffer.js'
import {BinarySession} from '../../src/server/protocol/binary-session.js'
import {generalStats, ServerStats} from '../../src/server/stats.js'
import {ItemStore, type Mutation} from '../../src/server/store/item-store.js'
import {SlabClasses} from '../../src/server/store/slab-classes.js'

function context(over: Partial<ServerOptions> = {}): ServerContext {
  const options = {...defaultOptions(), ...over}
  const store = new ItemStore({
    maxBytes: options.memoryLimitBytes, itemSizeMax: options.itemSizeMax, evict: options.evict, useCas: options.useCas,
    slabs: new SlabClasses(options.minSpace, options.growthFactor, options.itemSizeMax),
  })
  return {options, store, stats: new ServerStats(), log: new Logger(0), startedAt: 0, verbosity: 0, requestShutdown: () => {}}
}

const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b }
const u64 = (n: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b }
const set = (opcode: number, key: string, value: string, cas = 0n): Buffer => encodeRequest({opcode, key, value, extras: Buffer.concat([u32(0), u32(0)]), cas})
const delta = (opcode: number, key: string, by: bigint, initial: bigint, exptime: number, cas = 0n): Buffer =>
  encodeRequest({opcode, key, extras: Buffer.concat([u64(by), u64(initial), u32(exptime)]), cas})
const key = (opcode: number, k: string, cas = 0n): Buffer => encodeRequest({opcode, key: k, cas})

/** Push `bytes` and drain until the session waits; the replies as [opcode, status] pairs. */
function exchange(session: BinarySession, bytes: Buffer): {replies: [number, number][]; status: string; raw: Buffer} {
  session.push(bytes)
  const out: Buffer[] = []
  for (;;) {
    const reply = new ReplyBuffer()
    const r = session.drain(reply, 256 * 1024)
    out.push(Buffer.from(reply.view()))
    if (r.status !== 'more') {
      const raw = Buffer.concat(out)
      return {replies: splitResponses(raw).packets.map((p) => [p.header.opcode, p.header.status]), status: r.status, raw}
    }
  }
}

function mutations(ctx: ServerContext): string[] {
  const seen: string[] = []
  ctx.store.onMutation = (m: Mutation) => seen.push(m.kind === 'flush' ? `flush:${m.delay}` : `${m.kind}:${m.key}`)
  return seen
}

describe('binary commands report every change to the mutation hook', () => {
  it('successful changes once each, failures never', () => {
    const ctx = context()
    const seen = mutations(ctx)
    const s = new BinarySession(ctx, 1)
    exchange(s, Buffer.concat([
      set(O.Set, 'a', '1'),
      set(O.SetQ, 'b', 'x'),
      set(O.Add, 'a', 'dup'), // exists: no change
      set(O.Replace, 'zz', 'v'), // missing: no change
      set(O.Set, 'a', '2', 999n), // cas mismatch: no change
      set(O.AddQ, 'c', 'new'),
      set(O.Replace, 'c', 'newer'),
      encodeRequest({opcode: O.Append, key: 'c', value: '>'}),
      encodeRequest({opcode: O.PrependQ, key: 'c', value: '<'}),
      encodeRequest({opcode: O.Append, key: 'zz', value: '>'}), // missing: no change
      delta(O.Increment, 'a', 1n, 0n, 0),
      delta(O.DecrementQ, 'a', 1n, 0n, 0),
      delta(O.Increment, 'n', 1n, 5n, 0), // created
      delta(O.Increment, 'm', 1n, 5n, 0xffffffff), // miss, not created
      delta(O.Increment, 'b', 1n, 0n, 0), // non-numeric
      encodeRequest({opcode: O.Touch, key: 'a', extras: u32(100)}),
      encodeRequest({opcode: O.GATQ, key: 'b', extras: u32(100)}),
      encodeRequest({opcode: O.Touch, key: 'zz', extras: u32(100)}), // miss
      key(O.Delete, 'a', 999n), // cas mismatch
      key(O.Delete, 'a'),
      key(O.DeleteQ, 'zz'), // miss
      encodeRequest({opcode: O.Noop}),
    ]))
    assert.deepEqual(seen, [
      'store:a', 'store:b', 'store:c', 'store:c', 'store:c', 'store:c', 'store:a', 'store:a', 'store:n',
      'store:a', 'store:b', 'delete:a',
    ])
    exchange(s, encodeRequest({opcode: O.FlushQ, extras: u32(30)}))
    assert.deepEqual(seen.slice(-1), ['flush:30'])
  })

  it('a set over the item size limit removes the old value through the hook', () => {
    const ctx = context({itemSizeMax: 1024, memoryLimitBytes: 8 * 1024 * 1024})
    const s = new BinarySession(ctx, 1)
    exchange(s, set(O.Set, 'k', 'old'))
    const seen = mutations(ctx)
    const r = exchange(s, set(O.SetQ, 'k', 'x'.repeat(2000)))
    assert.deepEqual(r.replies, [[O.SetQ, Status.TooLarge]])
    assert.deepEqual(seen, ['delete:k'])
    assert.equal(ctx.store.peek('k'), undefined)
  })
})

describe('binary commands count stats like memcached', () => {
  it('gets, touches, deletes, deltas, sets, cas and flush', () => {
    const ctx = context()
    const s = new BinarySession(ctx, 1)
    exchange(s, Buffer.concat([
      set(O.Set, 'a', '1'), key(O.Get, 'a'), key(O.GetQ, 'nope'), key(O.GetK, 'nope'),
      encodeRequest({opcode: O.GAT, key: 'a', extras: u32(0)}), encodeRequest({opcode: O.Touch, key: 'nope', extras: u32(0)}),
      delta(O.Increment, 'a', 1n, 0n, 0), delta(O.Decrement, 'a', 1n, 0n, 0),
      delta(O.Increment, 'x', 1n, 0n, 0xffffffff), delta(O.Decrement, 'x', 1n, 0n, 0xffffffff),
      delta(O.Increment, 'created', 1n, 0n, 0),
      set(O.Set, 'a', '2', 12345n), set(O.Set, 'nope', '2', 1n),
      key(O.Delete, 'a'), key(O.Delete, 'a'), encodeRequest({opcode: O.Flush}),
    ]))
    // As `stats` lists them: hits and cmd_set summed over the slab classes, the rest counted by the protocol.
    const st = Object.fromEntries(generalStats(ctx))
    const names = ['cmd_get', 'get_hits', 'get_misses', 'cmd_touch', 'touch_hits', 'touch_misses', 'incr_hits', 'incr_misses', 'decr_hits', 'decr_misses', 'cmd_set', 'cas_badval', 'cas_misses', 'delete_hits', 'delete_misses', 'cmd_flush']
    assert.deepEqual(
      Object.fromEntries(names.map((n) => [n, st[n]])),
      {cmd_get: 3, get_hits: 1, get_misses: 2, cmd_touch: 2, touch_hits: 1, touch_misses: 1,
        incr_hits: 1, incr_misses: 1, decr_hits: 1, decr_misses: 1, cmd_set: 3,
        cas_badval: 1, cas_misses: 1, delete_hits: 1, delete_misses: 1, cmd_flush: 1},
    )
  })
})

describe('BinarySession reply timing', () => {
  it('holds replies while a value is incomplete, then releases them in order', () => {
    const s = new BinarySession(context(), 1)
    exchange(s, set(O.Set, 'k', 'v'))
    const frame = set(O.Set, 'k', 'value')
    const first = exchange(s, Buffer.concat([key(O.GetK, 'k'), frame.subarray(0, frame.length - 1)]))
    assert.deepEqual(first, {replies: [], status: 'wait', raw: Buffer.alloc(0)})
    const rest = exchange(s, frame.subarray(frame.length - 1))
    assert.deepEqual(rest.replies, [[O.GetK, 0], [O.Set, 0]])
  })

  it('writes an error at once even while the next value is incomplete', () => {
    const s = new BinarySession(context(), 1)
    const frame = set(O.Set, 'k', 'value')
    const r = exchange(s, Buffer.concat([key(O.Get, 'missing'), frame.subarray(0, frame.length - 1)]))
    assert.deepEqual(r.replies, [[O.Get, Status.KeyNotFound]])
  })

  it('on bad magic, drops replies memcached had not written and closes', () => {
    const s = new BinarySession(context(), 1)
    exchange(s, set(O.Set, 'k', 'v'))
    const r = exchange(s, Buffer.concat([key(O.Get, 'missing'), key(O.Get, 'k'), encodeRequest({opcode: O.Noop, magic: 0x00})]))
    assert.deepEqual(r.replies, [[O.Get, Status.KeyNotFound]], 'the hit after the written miss is lost')
    assert.equal(r.status, 'close')
  })

  it('quit writes its reply and asks to close; quitq closes silently', () => {
    assert.deepEqual(exchange(new BinarySession(context(), 1), Buffer.concat([encodeRequest({opcode: O.Quit}), encodeRequest({opcode: O.Noop})])),
      {replies: [[O.Quit, 0]], status: 'quit', raw: splitResponsesRaw(O.Quit)})
    const q = exchange(new BinarySession(context(), 1), encodeRequest({opcode: O.QuitQ}))
    assert.deepEqual([q.replies, q.status], [[], 'quit'])
  })

  it('a protocol error replies, then closes', () => {
    const r = exchange(new BinarySession(context(), 1), Buffer.concat([encodeRequest({opcode: O.Get, key: 'k'.repeat(251)}), encodeRequest({opcode: O.Noop})]))
    assert.deepEqual([r.replies, r.status], [[[O.Get, Status.InvalidArguments]], 'close'])
  })

  it('stops at the reply budget and continues on the next drain', () => {
    const s = new BinarySession(context(), 1)
    exchange(s, set(O.Set, 'big', 'x'.repeat(100_000)))
    s.push(Buffer.concat(Array.from({length: 5}, () => key(O.Get, 'big'))))
    const out = new ReplyBuffer()
    const first = s.drain(out, 150_000)
    assert.equal(first.status, 'more')
    assert.equal(splitResponses(out.view()).packets.length, 2)
    out.clear()
    const second = s.drain(out, 1_000_000)
    assert.equal(second.status, 'wait')
    assert.equal(splitResponses(out.view()).packets.length, 3)
  })
})

describe('ItemStore additions for the binary protocol', () => {
  it('deltaOrCreate: cas check, creation with the initial value, no creation when asked not to', () => {
    const {store} = context()
    assert.deepEqual(store.deltaOrCreate('n', true, 1n, 0, undefined), {status: 'not_found'})
    const created = store.deltaOrCreate('n', true, 1n, 0, {initial: 10n, exptime: 0})
    assert.equal(created.status, 'created')
    assert.equal(store.peek('n')!.value, '10')
    assert.equal(store.peek('n')!.flags, 0)
    const cas = store.peek('n')!.cas
    assert.equal(created.status === 'created' ? created.cas : -1, cas)
    assert.deepEqual(store.deltaOrCreate('n', true, 1n, cas + 1, undefined), {status: 'exists'})
    const r = store.deltaOrCreate('n', true, 5n, cas, undefined)
    assert.equal(r.status === 'ok' ? r.value : '', '15')
    store.store('set', 'e', 0, 0, '', 0)
    assert.deepEqual(store.deltaOrCreate('e', true, 1n, 12345, undefined), {status: 'non_numeric'}, 'empty value is refused before the cas')
  })

  it('lastStoredCas names the cas of the last store, even of an item that expired on arrival', () => {
    const {store} = context()
    store.store('set', 'a', 0, 0, 'v', 0)
    assert.equal(store.lastStoredCas, store.peek('a')!.cas)
    store.store('set', 'old', 0, 0x40000000, 'v', 0)
    assert.equal(store.peek('old'), undefined)
    assert.ok(store.lastStoredCas > store.peek('a')!.cas)
  })

  it('a flush delayed beyond setTimeout\'s range does not fire at once', async () => {
    const {store} = context()
    store.store('set', 'a', 0, 0, 'v', 0)
    store.flush(0xfffffffe)
    await sleep(30)
    assert.notEqual(store.peek('a'), undefined)
    store.close()
  })
})

/** The bytes of one empty success reply. */
function splitResponsesRaw(opcode: number): Buffer {
  const b = Buffer.alloc(24)
  b[0] = 0x81
  b[1] = opcode
  return b
}
