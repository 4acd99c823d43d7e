// The replication stream decoder: every message, split at every byte, decodes
// to the same thing; malformed input is refused with a message naming it,
// whichever way the bytes arrive.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {PeerDecoder, PeerProtocolError, type PeerMessage} from '../../src/server/replication/wire.js'

function decodeAll(bytes: Buffer, splits: number[], native = true): PeerMessage[] {
  const d = new PeerDecoder(1024 * 1024, native)
  const out: PeerMessage[] = []
  let from = 0
  for (const at of [...splits, bytes.length]) {
    d.push(bytes.subarray(from, at))
    from = at
    for (let m = d.next(); m !== undefined; m = d.next()) out.push(m)
  }
  return out
}

const STREAM = Buffer.from([
  'rep plain 0 0 5 1\r\nhello\r\n',
  'rep flags 4294967295 1700000000 0 9007199254740991\r\n\r\n',
  'rep long-cas 1 2 3 18446744073709551615\r\nabc\r\n',
  'rep bare-lf 3 0 2 7\nhi\r\n',
  `rep ${'k'.repeat(250)} 0 0 3 8\r\n\r\n\n\r\n`,
  'rep bin\x01\xff 0 0 4 9\r\nrep \r\n',
  'rep stale 0 30 1 10 3\r\nv\r\n',
  'delete gone\r\n',
  'delete versioned 1234\r\n',
  'flush_all \r\n',
  'flush_all 1700000000\r\n',
  'hb\r\n',
  'ack 42\r\n',
  'flush_version 3593059912345678 3593059912345679 0\r\n',
  'flush_version 0 3593059912345681 99\r\n',
  'marugoto_end\r\n',
].join(''), 'latin1')

const EXPECTED: PeerMessage[] = [
  {type: 'rep', key: 'plain', flags: 0, exptime: 0, cas: 1, value: Buffer.from('hello', 'latin1'), state: 0},
  {type: 'rep', key: 'flags', flags: 4294967295, exptime: 1700000000, cas: 9007199254740991, value: Buffer.from('', 'latin1'), state: 0},
  {type: 'rep', key: 'long-cas', flags: 1, exptime: 2, cas: 18446744073709551615, value: Buffer.from('abc', 'latin1'), state: 0},
  {type: 'rep', key: 'bare-lf', flags: 3, exptime: 0, cas: 7, value: Buffer.from('hi', 'latin1'), state: 0},
  {type: 'rep', key: 'k'.repeat(250), flags: 0, exptime: 0, cas: 8, value: Buffer.from('\r\n\n', 'latin1'), state: 0},
  {type: 'rep', key: 'bin\x01\xff', flags: 0, exptime: 0, cas: 9, value: Buffer.from('rep ', 'latin1'), state: 0},
  {type: 'rep', key: 'stale', flags: 0, exptime: 30, cas: 10, value: Buffer.from('v', 'latin1'), state: 3},
  {type: 'delete', key: 'gone', cas: undefined},
  {type: 'delete', key: 'versioned', cas: 1234},
  {type: 'flush', at: 0},
  {type: 'flush', at: 1700000000},
  {type: 'hb'},
  {type: 'ack', count: 42},
  {type: 'flush_version', floor: 3593059912345678, issued: 3593059912345679, pending: 0},
  {type: 'flush_version', floor: 0, issued: 3593059912345681, pending: 99},
  {type: 'marugoto_end'},
]

describe('PeerDecoder', () => {
  it('decodes every message the same, whole or split at any byte', () => {
    assert.deepEqual(decodeAll(STREAM, []), EXPECTED)
    for (let at = 1; at < STREAM.length; at++) assert.deepEqual(decodeAll(STREAM, [at]), EXPECTED, `split at ${at}`)
    const bytewise = Array.from({length: STREAM.length - 1}, (_, i) => i + 1)
    assert.deepEqual(decodeAll(STREAM, bytewise), EXPECTED, 'one byte at a time')
  })

  const bad: [string, string, RegExp][] = [
    ['a trailing space', 'rep k 0 0 1 1 \r\nx\r\n', /unexpected "rep k 0 0 1 1 "/],
    ['two spaces', 'rep k  0 0 1 1\r\nx\r\n', /unexpected/],
    ['a sign', 'rep k -1 0 1 1\r\nx\r\n', /bad number/],
    ['21 digits', `rep k 0 0 1 ${'9'.repeat(21)}\r\nx\r\n`, /bad number/],
    ['flags above 32 bits', 'rep k 4294967296 0 1 1\r\nx\r\n', /bad flags/],
    ['a value over the limit', `rep k 0 0 ${1024 * 1024 + 1} 1\r\n`, /exceeds the item size limit/],
    ['a value without CRLF', 'rep k 0 0 1 1\r\nxyz\r\n', /value of "k" is not followed by CRLF/],
    ['a 251-byte key', `rep ${'k'.repeat(251)} 0 0 1 1\r\nx\r\n`, /bad key/],
    ['a get', 'get k\r\n', /unexpected "get k"/],
    ['item marks beyond the three known', 'rep k 0 0 1 1 8\r\nx\r\n', /bad item marks/],
    ['item marks that are not a number', 'rep k 0 0 1 1 x\r\nx\r\n', /unexpected/],
    ['a flush_version without its pending seconds', 'flush_version 1 2\r\n', /unexpected "flush_version 1 2"/],
    ['a flush_version with a sign', 'flush_version 1 -2 0\r\n', /unexpected/],
  ]
  for (const [what, text, why] of bad) {
    it(`refuses ${what}, however it arrives`, () => {
      const bytes = Buffer.from(text, 'latin1')
      for (let at = 0; at < bytes.length; at++) {
        assert.throws(() => decodeAll(bytes, at === 0 ? [] : [at]), (e: unknown) => e instanceof PeerProtocolError && why.test(e.message), `${what}, split at ${at}`)
      }
    })
  }

  it('legacy links refuse the native messages', () => {
    for (const text of ['hb\r\n', 'ack 1\r\n', 'delete k 5\r\n', 'flush_version 1 2 0\r\n', 'rep k 0 0 1 1 3\r\nx\r\n']) {
      assert.throws(() => decodeAll(Buffer.from(text), [], false), PeerProtocolError, text)
    }
  })
})
