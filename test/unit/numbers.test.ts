// memcached's numeric arguments: strtoull/strtoul/strtol with memcached's
// extra checks (util.c safe_strto*), then narrowed into 32-bit fields on a
// 64-bit (LP64) build. The expected values below were produced by glibc's
// strtoull/strtoul/strtol on x86-64 with those same checks, so the table is
// C's behaviour, not our reading of it.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {parseI32, parseSmallI32, parseSmallU32, parseU32, parseU64} from '../../src/server/protocol/numbers.js'
import {parseStoredNumber} from '../../src/server/store/item-store.js'

/** input, safe_strtoull, safe_strtoul narrowed to uint32, safe_strtol narrowed to int32 (undefined = refused). */
type Row = [string, bigint | undefined, number | undefined, number | undefined]

const U = undefined
const TABLE: Row[] = [
  ['0', 0n, 0, 0],
  ['5', 5n, 5, 5],
  ['-5', U, U, -5],
  ['+5', 5n, 5, 5],
  [' 5', 5n, 5, 5],
  ['5 ', 5n, 5, 5],
  ['5x', U, U, U],
  ['', U, U, U],
  ['-', U, U, U],
  ['+', U, U, U],
  ['-0', 0n, 0, 0],
  ['4294967295', 4294967295n, 4294967295, -1],
  ['4294967296', 4294967296n, 0, 0],
  ['4294967297', 4294967297n, 1, 1],
  ['-1', U, U, -1],
  ['-4294967295', U, U, 1],
  ['18446744073709551615', 18446744073709551615n, 4294967295, U],
  ['18446744073709551616', U, U, U],
  // strtoull negates in unsigned arithmetic; memcached only refuses a '-' when the result looks negative as signed.
  ['-18446744073709551615', 1n, 1, U],
  ['-9223372036854775808', U, U, 0],
  ['-9223372036854775809', 9223372036854775807n, 4294967295, U],
  ['9223372036854775807', 9223372036854775807n, 4294967295, -1],
  ['9223372036854775808', 9223372036854775808n, 0, U],
  ['2147483647', 2147483647n, 2147483647, 2147483647],
  ['2147483648', 2147483648n, 2147483648, -2147483648],
  ['-2147483648', U, U, -2147483648],
  ['-2147483649', U, U, 2147483647],
  // C white space before the number is skipped; after it, any white space may follow.
  ['\t7', 7n, 7, 7],
  ['7\t', 7n, 7, 7],
  ['7\tx', 7n, 7, 7],
  ['\v7\f', 7n, 7, 7],
  ['7\r', 7n, 7, 7],
  ['\n5', 5n, 5, 5],
  ['0x10', U, U, U],
  ['1e3', U, U, U],
  ['00000000000000000000000000001', 1n, 1, 1],
  ['99999999999999999999', U, U, U],
  ['- 5', U, U, U],
  ['--5', U, U, U],
  ['+-5', U, U, U],
  ['5-', U, U, U],
  ['123456789012345', 123456789012345n, 2249056121, -2045911175],
  ['1234567890123456', 1234567890123456n, 1015724736, 1015724736],
  ['0000000001', 1n, 1, 1],
  ['999999999', 999999999n, 999999999, 999999999],
  ['-12345678', U, U, -12345678],
]

describe('numbers: strtoull/strtoul/strtol as memcached uses them', () => {
  for (const [input, u64, u32, i32] of TABLE) {
    it(JSON.stringify(input), () => {
      assert.equal(parseU64(input), u64, 'safe_strtoull')
      assert.equal(parseU32(input), u32, 'safe_strtoul')
      assert.equal(parseI32(input), i32, 'safe_strtol')
      // The fast paths must agree with the exact rules on every input.
      assert.equal(parseSmallU32(input), u32, 'parseSmallU32')
      assert.equal(parseSmallI32(input), i32, 'parseSmallI32')
    })
  }

  it('fast paths agree with the exact rules on every short digit string', () => {
    for (const s of ['1', '12', '123456789', '000000000', '100000000', '987654321', '0', '09']) {
      assert.equal(parseSmallU32(s), parseU32(s), s)
      assert.equal(parseSmallI32(s), parseI32(s), s)
    }
  })
})

describe('parseStoredNumber: a stored value read by incr/decr', () => {
  // memcached reads the value followed by its "\r\n", so the end of the value counts as white space.
  const rows: [string, bigint | undefined][] = [
    ['0', 0n], ['5', 5n], ['-5', undefined], ['+5', 5n], [' 5', 5n], ['5 ', 5n], ['5x', undefined], ['-0', 0n],
    ['18446744073709551615', 18446744073709551615n], ['18446744073709551616', undefined],
    ['-18446744073709551615', 1n], ['-9223372036854775809', 9223372036854775807n],
    ['\t7', 7n], ['7\tx', 7n], ['0x10', undefined], ['00000000000000000000000000001', 1n], ['5-', undefined],
    ['12 abc', 12n], ['5\t1', 5n], ['  42', 42n], ['42  ', 42n], ['007', 7n], ['12\0abc', 12n], ['', undefined], ['   ', undefined],
  ]
  for (const [value, expected] of rows) {
    it(JSON.stringify(value), () => assert.equal(parseStoredNumber(value), expected))
  }
})
