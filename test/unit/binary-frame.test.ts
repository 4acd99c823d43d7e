// The binary protocol's wire layer on its own: header codecs, packet
// encoders, the byte queue and the incremental request parser. Every frame
// must parse the same however the bytes are split across reads.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {
  decodeRequestHeader, decodeResponseHeader, encodeRequest, encodeResponse, HEADER_LENGTH, Opcode, READ_BUFFER_SIZE,
  splitResponses, Status,
} from '../../src/server/protocol/binary-frame.js'
import {BinaryFrameParser, type ParsedFrame} from '../../src/server/protocol/binary-parser.js'
import type {FrameLimits} from '../../src/server/protocol/binary-request.js'
import {ByteQueue} from '../../src/server/protocol/byte-queue.js'
import {itemTotalSize} from '../../src/server/store/slab-classes.js'

const ITEM_SIZE_MAX = 1024 * 1024
const LIMITS: FrameLimits = {isTooLarge: (k, f, v) => itemTotalSize(k, f, v, true) > ITEM_SIZE_MAX, sasl: false}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}

const setExtras = (flags: number, exptime: number): Buffer => Buffer.concat([u32(flags), u32(exptime)])
const deltaExtras = (delta: bigint, initial: bigint, exptime: number): Buffer => Buffer.concat([u64(delta), u64(initial), u32(exptime)])

/** Feed `chunks` in order, collecting every parsed frame. */
function parse(chunks: Buffer[], limits: FrameLimits = LIMITS): ParsedFrame[] {
  const parser = new BinaryFrameParser(limits)
  const out: ParsedFrame[] = []
  for (const c of chunks) {
    parser.push(c)
    for (let r = parser.next(); r !== undefined; r = parser.next()) out.push(r)
  }
  return out
}

const ALL_BYTES = Buffer.from(Array.from({length: 256}, (_, i) => i))

/** One frame per request kind, each with what the parser must make of it. */
const CORPUS: {name: string; frame: Buffer; expect: ParsedFrame[]}[] = [
  {name: 'get', frame: encodeRequest({opcode: Opcode.Get, key: 'foo', opaque: 7}),
    expect: [{opcode: 0x00, opaque: 7, quiet: false, type: 'get', key: 'foo', withKey: false}]},
  {name: 'getq', frame: encodeRequest({opcode: Opcode.GetQ, key: 'foo', opaque: 0xffffffff}),
    expect: [{opcode: 0x09, opaque: 0xffffffff, quiet: true, type: 'get', key: 'foo', withKey: false}]},
  {name: 'getk', frame: encodeRequest({opcode: Opcode.GetK, key: 'k\x00 \xff'}),
    expect: [{opcode: 0x0c, opaque: 0, quiet: false, type: 'get', key: 'k\x00 \xff', withKey: true}]},
  {name: 'getkq', frame: encodeRequest({opcode: Opcode.GetKQ, key: 'x'}),
    expect: [{opcode: 0x0d, opaque: 0, quiet: true, type: 'get', key: 'x', withKey: true}]},
  {name: 'set with binary value and cas', frame: encodeRequest({opcode: Opcode.Set, key: 'k', extras: setExtras(0xdeadbeef, 0xffffffff), value: ALL_BYTES, cas: 0xffffffffffffffffn, opaque: 1}),
    expect: [{opcode: 0x01, opaque: 1, quiet: false, type: 'store', mode: 'set', key: 'k', flags: 0xdeadbeef, exptime: 0xffffffff, cas: 0xffffffffffffffffn, value: ALL_BYTES.toString('latin1')}]},
  {name: 'setq empty value', frame: encodeRequest({opcode: Opcode.SetQ, key: 'k', extras: setExtras(0, 0)}),
    expect: [{opcode: 0x11, opaque: 0, quiet: true, type: 'store', mode: 'set', key: 'k', flags: 0, exptime: 0, cas: 0n, value: ''}]},
  {name: 'addq', frame: encodeRequest({opcode: Opcode.AddQ, key: 'k', extras: setExtras(1, 2), value: 'v'}),
    expect: [{opcode: 0x12, opaque: 0, quiet: true, type: 'store', mode: 'add', key: 'k', flags: 1, exptime: 2, cas: 0n, value: 'v'}]},
  {name: 'replace', frame: encodeRequest({opcode: Opcode.Replace, key: 'k', extras: setExtras(1, 2), value: 'v'}),
    expect: [{opcode: 0x03, opaque: 0, quiet: false, type: 'store', mode: 'replace', key: 'k', flags: 1, exptime: 2, cas: 0n, value: 'v'}]},
  {name: 'appendq', frame: encodeRequest({opcode: Opcode.AppendQ, key: 'k', value: 'tail', cas: 5n}),
    expect: [{opcode: 0x19, opaque: 0, quiet: true, type: 'store', mode: 'append', key: 'k', flags: 0, exptime: 0, cas: 5n, value: 'tail'}]},
  {name: 'prepend', frame: encodeRequest({opcode: Opcode.Prepend, key: 'k', value: 'head'}),
    expect: [{opcode: 0x0f, opaque: 0, quiet: false, type: 'store', mode: 'prepend', key: 'k', flags: 0, exptime: 0, cas: 0n, value: 'head'}]},
  {name: 'deleteq with cas', frame: encodeRequest({opcode: Opcode.DeleteQ, key: 'k', cas: 9n}),
    expect: [{opcode: 0x14, opaque: 0, quiet: true, type: 'delete', key: 'k', cas: 9n}]},
  {name: 'increment', frame: encodeRequest({opcode: Opcode.Increment, key: 'n', extras: deltaExtras(2n ** 64n - 1n, 42n, 0xffffffff)}),
    expect: [{opcode: 0x05, opaque: 0, quiet: false, type: 'delta', incr: true, key: 'n', cas: 0n, delta: 2n ** 64n - 1n, initial: 42n, exptime: 0xffffffff}]},
  {name: 'decrementq', frame: encodeRequest({opcode: Opcode.DecrementQ, key: 'n', extras: deltaExtras(1n, 0n, 0)}),
    expect: [{opcode: 0x16, opaque: 0, quiet: true, type: 'delta', incr: false, key: 'n', cas: 0n, delta: 1n, initial: 0n, exptime: 0}]},
  {name: 'flush', frame: encodeRequest({opcode: Opcode.Flush}),
    expect: [{opcode: 0x08, opaque: 0, quiet: false, type: 'flush', exptime: 0}]},
  {name: 'flushq with delay', frame: encodeRequest({opcode: Opcode.FlushQ, extras: u32(30)}),
    expect: [{opcode: 0x18, opaque: 0, quiet: true, type: 'flush', exptime: 30}]},
  {name: 'noop', frame: encodeRequest({opcode: Opcode.Noop, opaque: 3}), expect: [{opcode: 0x0a, opaque: 3, quiet: false, type: 'noop'}]},
  {name: 'version', frame: encodeRequest({opcode: Opcode.Version}), expect: [{opcode: 0x0b, opaque: 0, quiet: false, type: 'version'}]},
  {name: 'quit', frame: encodeRequest({opcode: Opcode.Quit}), expect: [{opcode: 0x07, opaque: 0, quiet: false, type: 'quit'}]},
  {name: 'quitq', frame: encodeRequest({opcode: Opcode.QuitQ}), expect: [{opcode: 0x17, opaque: 0, quiet: true, type: 'quit'}]},
  {name: 'stat', frame: encodeRequest({opcode: Opcode.Stat}), expect: [{opcode: 0x10, opaque: 0, quiet: false, type: 'stat', group: ''}]},
  {name: 'stat items', frame: encodeRequest({opcode: Opcode.Stat, key: 'items'}), expect: [{opcode: 0x10, opaque: 0, quiet: false, type: 'stat', group: 'items'}]},
  {name: 'touch', frame: encodeRequest({opcode: Opcode.Touch, key: 'k', extras: u32(10)}),
    expect: [{opcode: 0x1c, opaque: 0, quiet: false, type: 'touch', key: 'k', exptime: 10, withKey: false, withValue: false}]},
  {name: 'gatq', frame: encodeRequest({opcode: Opcode.GATQ, key: 'k', extras: u32(10)}),
    expect: [{opcode: 0x1e, opaque: 0, quiet: true, type: 'touch', key: 'k', exptime: 10, withKey: false, withValue: true}]},
  {name: 'gatk', frame: encodeRequest({opcode: Opcode.GATK, key: 'k', extras: u32(10)}),
    expect: [{opcode: 0x23, opaque: 0, quiet: false, type: 'touch', key: 'k', exptime: 10, withKey: true, withValue: true}]},
  {name: 'gatkq', frame: encodeRequest({opcode: Opcode.GATKQ, key: 'k', extras: u32(10)}),
    expect: [{opcode: 0x24, opaque: 0, quiet: true, type: 'touch', key: 'k', exptime: 10, withKey: true, withValue: true}]},
  {name: 'sasl list mechs', frame: encodeRequest({opcode: Opcode.SaslListMechs}),
    expect: [{opcode: 0x20, opaque: 0, quiet: false, type: 'unknown', swallowed: 0}]},
  {name: 'sasl auth skips its value', frame: encodeRequest({opcode: Opcode.SaslAuth, key: 'PLAIN', value: '\0u\0p'}),
    expect: [{opcode: 0x21, opaque: 0, quiet: false, type: 'unknown', swallowed: 4}]},
  {name: 'verbosity is unknown and skips bodylen more bytes', frame: Buffer.concat([encodeRequest({opcode: Opcode.Verbosity, extras: u32(1)}), Buffer.alloc(4)]),
    expect: [{opcode: 0x1b, opaque: 0, quiet: false, type: 'unknown', swallowed: 4}]},
  {name: 'key longer than the body', frame: encodeRequest({opcode: Opcode.Get, key: 'abc', bodyLength: 2}),
    expect: [{opcode: 0x00, opaque: 0, quiet: false, type: 'invalid', status: 'unknown_command', reason: 'key and extras longer than the body'}]},
  {name: 'key of 251 bytes', frame: encodeRequest({opcode: Opcode.GetQ, key: 'k'.repeat(251)}),
    expect: [{opcode: 0x09, opaque: 0, quiet: false, type: 'invalid', status: 'invalid_arguments', reason: 'key of 251 bytes', keyTooLong: true}]},
  {name: 'get with extras', frame: encodeRequest({opcode: Opcode.Get, key: 'k', extras: u32(0)}),
    expect: [{opcode: 0x00, opaque: 0, quiet: false, type: 'invalid', status: 'invalid_arguments', reason: 'malformed request for opcode 0x00'}]},
  {name: 'noop with a body', frame: encodeRequest({opcode: Opcode.Noop, value: 'x'}),
    expect: [{opcode: 0x0a, opaque: 0, quiet: false, type: 'invalid', status: 'invalid_arguments', reason: 'malformed request for opcode 0x0a'}]},
  {name: 'stat reads no body past the key', frame: encodeRequest({opcode: Opcode.Stat, key: 'slabs', value: encodeRequest({opcode: Opcode.Noop, opaque: 5})}),
    expect: [{opcode: 0x10, opaque: 0, quiet: false, type: 'stat', group: 'slabs'}, {opcode: 0x0a, opaque: 5, quiet: false, type: 'noop'}]},
  {name: 'bad magic', frame: encodeRequest({opcode: Opcode.Noop, magic: 0x81}), expect: [{type: 'close', reason: 'invalid magic 0x81'}]},
]

describe('header and packet codecs', () => {
  it('encodes a request header field by field', () => {
    const b = encodeRequest({opcode: Opcode.Set, key: 'ab', extras: setExtras(1, 2), value: 'xyz', opaque: 0x01020304, cas: 0x0a0b0c0d0e0f1011n})
    assert.equal(b.toString('hex'),
      '80' + '01' + '0002' + '08' + '00' + '0000' + '0000000d' + '01020304' + '0a0b0c0d0e0f1011' + '0000000100000002' + '6162' + '78797a')
    assert.deepEqual(decodeRequestHeader(b), {magic: 0x80, opcode: 1, keyLength: 2, extrasLength: 8, dataType: 0, vbucket: 0, bodyLength: 13, opaque: 0x01020304, cas: 0x0a0b0c0d0e0f1011n})
  })

  it('encodes a response as memcached does (GetK hit)', () => {
    const b = encodeResponse({opcode: Opcode.GetK, opaque: 0xffffffff, cas: 2n ** 64n - 1n, extras: u32(5), key: 'k', value: 'v'})
    assert.equal(b.toString('hex'),
      '81' + '0c' + '0001' + '04' + '00' + '0000' + '00000006' + 'ffffffff' + 'ffffffffffffffff' + '00000005' + '6b' + '76')
  })

  it('encodes an error response with its status and text', () => {
    const b = encodeResponse({opcode: Opcode.Get, status: Status.KeyNotFound, value: 'Not found'})
    assert.deepEqual(decodeResponseHeader(b), {magic: 0x81, opcode: 0, keyLength: 0, extrasLength: 0, dataType: 0, status: 1, bodyLength: 9, opaque: 0, cas: 0n})
    assert.equal(b.subarray(HEADER_LENGTH).toString('latin1'), 'Not found')
  })

  it('carries latin1 strings byte for byte', () => {
    const b = encodeResponse({opcode: Opcode.Get, value: ALL_BYTES.toString('latin1')})
    assert.deepEqual(b.subarray(HEADER_LENGTH), ALL_BYTES)
  })

  it('splits a byte stream into response packets and keeps an incomplete tail', () => {
    const a = encodeResponse({opcode: Opcode.GetK, extras: u32(1), key: 'key', value: 'value', opaque: 1})
    const b = encodeResponse({opcode: Opcode.Noop, opaque: 2})
    const stream = Buffer.concat([a, b, a.subarray(0, 30)])
    const {packets, rest} = splitResponses(stream)
    assert.equal(packets.length, 2)
    assert.equal(packets[0]!.key.toString(), 'key')
    assert.equal(packets[0]!.value.toString(), 'value')
    assert.deepEqual(packets[0]!.extras, u32(1))
    assert.equal(packets[1]!.header.opaque, 2)
    assert.equal(rest.length, 30)
  })

  it('can build malformed frames for tests', () => {
    const b = encodeRequest({opcode: Opcode.Get, key: 'abc', bodyLength: 1, magic: 0x42})
    const h = decodeRequestHeader(b)
    assert.equal(h.magic, 0x42)
    assert.equal(h.bodyLength, 1)
    assert.equal(h.keyLength, 3)
  })
})

describe('ByteQueue', () => {
  it('peeks, takes and skips across chunk boundaries', () => {
    const q = new ByteQueue()
    q.push(Buffer.from('ab'))
    q.push(Buffer.alloc(0))
    q.push(Buffer.from('cde'))
    q.push(Buffer.from('f'))
    assert.equal(q.length, 6)
    assert.equal(q.peek(4).toString(), 'abcd')
    assert.equal(q.take(1).toString(), 'a')
    assert.equal(q.peek(5).toString(), 'bcdef')
    assert.equal(q.skip(2), 2)
    assert.equal(q.take(2).toString(), 'de')
    assert.equal(q.skip(10), 1)
    assert.equal(q.length, 0)
    assert.throws(() => q.peek(1), RangeError)
  })
})

describe('BinaryFrameParser', () => {
  for (const c of CORPUS) {
    it(`${c.name}: whole, split at every offset, and byte by byte`, () => {
      assert.deepEqual(parse([c.frame]), c.expect)
      for (let i = 1; i < c.frame.length; i++) {
        assert.deepEqual(parse([c.frame.subarray(0, i), c.frame.subarray(i)]), c.expect, `split at ${i}`)
      }
      assert.deepEqual(parse([...c.frame].map((byte) => Buffer.from([byte]))), c.expect, 'byte by byte')
    })
  }

  it('parses the whole corpus as one stream split at every offset', () => {
    const usable = CORPUS.filter((c) => !c.expect.some((e) => e.type === 'close' || e.type === 'invalid'))
    const stream = Buffer.concat(usable.map((c) => c.frame))
    const expect = usable.flatMap((c) => c.expect)
    assert.deepEqual(parse([stream]), expect)
    for (let i = 1; i < stream.length; i++) {
      assert.deepEqual(parse([stream.subarray(0, i), stream.subarray(i)]), expect, `split at ${i}`)
    }
  })

  it('needs the whole header before judging the magic', () => {
    const parser = new BinaryFrameParser(LIMITS)
    parser.push(Buffer.alloc(HEADER_LENGTH - 1, 0x42))
    assert.equal(parser.next(), undefined)
    parser.push(Buffer.from([0]))
    assert.deepEqual(parser.next(), {type: 'close', reason: 'invalid magic 0x42'})
    parser.push(encodeRequest({opcode: Opcode.Noop}))
    assert.equal(parser.next(), undefined, 'nothing is parsed after a close')
  })

  it('skips a value over the item size limit without buffering it', () => {
    const parser = new BinaryFrameParser(LIMITS)
    const vlen = 8 * 1024 * 1024
    const head = encodeRequest({opcode: Opcode.Set, key: 'big', extras: setExtras(0, 0), bodyLength: 8 + 3 + vlen, opaque: 4})
    parser.push(head)
    assert.deepEqual(parser.next(), {opcode: 0x01, opaque: 4, quiet: false, type: 'too_large', key: 'big', dropOld: true})
    assert.equal(parser.inBody, true)
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    for (let sent = 0; sent < vlen; sent += chunk.length) {
      parser.push(chunk)
      assert.equal(parser.next(), undefined)
      assert.ok(parser.buffered <= chunk.length, `buffered ${parser.buffered} bytes`)
    }
    assert.equal(parser.inBody, false)
    parser.push(encodeRequest({opcode: Opcode.Noop, opaque: 9}))
    assert.deepEqual(parser.next(), {opcode: 0x0a, opaque: 9, quiet: false, type: 'noop'})
  })

  it('takes a value of exactly the limit and refuses one byte more', () => {
    const fixed = itemTotalSize(1, 0, 0, true)
    const fits = ITEM_SIZE_MAX - fixed
    const ok = parse([encodeRequest({opcode: Opcode.Add, key: 'k', extras: setExtras(0, 0), value: Buffer.alloc(fits)})])
    assert.equal(ok[0]?.type, 'store')
    const big = parse([encodeRequest({opcode: Opcode.Add, key: 'k', extras: setExtras(0, 0), value: Buffer.alloc(fits + 1)})])
    assert.deepEqual(big, [{opcode: 0x02, opaque: 0, quiet: false, type: 'too_large', key: 'k', dropOld: false}])
    // Non-zero flags cost 4 bytes in memcached's accounting.
    const flagged = parse([encodeRequest({opcode: Opcode.Set, key: 'k', extras: setExtras(1, 0), value: Buffer.alloc(fits)})])
    assert.equal(flagged[0]?.type, 'too_large')
  })

  it('treats a body length of 2^31 or more like memcached\'s C ints do', () => {
    // Value length turns negative: too large, nothing skipped, the next frame follows at once.
    const set = encodeRequest({opcode: Opcode.SetQ, key: 'a', extras: setExtras(0, 0), bodyLength: 0x80000010})
    const noop = encodeRequest({opcode: Opcode.Noop, opaque: 1})
    assert.deepEqual(parse([set, noop]), [
      {opcode: 0x11, opaque: 0, quiet: true, type: 'too_large', key: 'a', dropOld: true},
      {opcode: 0x0a, opaque: 1, quiet: false, type: 'noop'},
    ])
    const unknown = encodeRequest({opcode: 0x50, bodyLength: 0x80000000})
    assert.deepEqual(parse([unknown, noop]), [
      {opcode: 0x50, opaque: 0, quiet: false, type: 'unknown', swallowed: 0},
      {opcode: 0x0a, opaque: 1, quiet: false, type: 'noop'},
    ])
  })

  it('drops a client whose request head cannot fit memcached\'s read buffer, once that buffer is full', () => {
    const keyLength = READ_BUFFER_SIZE - HEADER_LENGTH + 1
    const frame = encodeRequest({opcode: Opcode.Get, key: Buffer.alloc(keyLength, 0x61)})
    const parser = new BinaryFrameParser(LIMITS)
    parser.push(frame.subarray(0, READ_BUFFER_SIZE - 1))
    assert.equal(parser.next(), undefined)
    parser.push(frame.subarray(READ_BUFFER_SIZE - 1))
    assert.equal(parser.next()?.type, 'close')
    // One byte shorter fits: memcached reads it all and then refuses the key length.
    const fits = encodeRequest({opcode: Opcode.Get, key: Buffer.alloc(keyLength - 1, 0x61)})
    assert.deepEqual(parse([fits]).map((r) => r.type), ['invalid'])
  })

  it('leaves the body of a Touch past its key to be parsed as the next request', () => {
    const touch = encodeRequest({opcode: Opcode.Touch, key: 'k', extras: u32(0), value: encodeRequest({opcode: Opcode.Version, opaque: 2})})
    assert.deepEqual(parse([touch]).map((r) => r.type), ['touch', 'version'])
  })

  it('reports inBody while a value is incomplete', () => {
    const parser = new BinaryFrameParser(LIMITS)
    const frame = encodeRequest({opcode: Opcode.Set, key: 'k', extras: setExtras(0, 0), value: 'hello'})
    parser.push(frame.subarray(0, frame.length - 2))
    assert.equal(parser.next(), undefined)
    assert.equal(parser.inBody, true)
    parser.push(frame.subarray(frame.length - 2))
    assert.equal(parser.next()?.type, 'store')
    assert.equal(parser.inBody, false)
  })
})
