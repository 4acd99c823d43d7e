// probeKeys (src/cluster/router/probe-keys.ts): one key per pair that the
// routers' ring places on that very pair, so a `get` of each through a router
// reaches every pair. (test/unit/router-stats.test.ts sends them through a
// real nutcracker and reads one request per pair off its stats.)

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {ketamaRing} from '../../src/cluster/router/ketama.js'
import {probeKeys} from '../../src/cluster/router/probe-keys.js'
import {RepctlError} from '../../src/errors.js'

const rings: [string, string[]][] = [
  ['one pair', ['node1+node2']],
  ['two pairs', ['a+b', 'pair2']],
  ['three pairs in config order, not ring order', ['zeta', 'a+b', 'm']],
  ['25 pairs (156 points each)', Array.from({length: 25}, (_, i) => `node${i}+node${i + 100}`)],
  ['64 pairs', Array.from({length: 64}, (_, i) => `p${i}`)],
]

describe('probeKeys', () => {
  for (const [what, names] of rings) {
    it(`${what}: every pair gets one key, in the order given, and the ring puts each on its pair`, () => {
      const keys = probeKeys(names)
      assert.deepEqual(keys.map((k) => k.pair), names)
      const ring = ketamaRing(names)
      for (const {pair, key} of keys) assert.equal(ring.pairFor(key), pair, `${key} is meant for ${pair}`)
      assert.equal(new Set(keys.map((k) => k.key)).size, names.length, 'distinct keys')
      for (const {key} of keys) assert.match(key, /^repctl:probe:\d+$/, 'a key no application writes, valid for the text protocol')
    })
  }

  it('the same pairs give the same keys, whatever their order (the ring does not depend on it)', () => {
    const names = ['zeta', 'a+b', 'm', 'orders']
    const byPair = (ks: ReturnType<typeof probeKeys>) => Object.fromEntries(ks.map((k) => [k.pair, k.key]))
    assert.deepEqual(byPair(probeKeys(names)), byPair(probeKeys([...names].reverse())))
  })

  it('a pair added changes only the keys of pairs that lost the first key they owned', () => {
    const before = probeKeys(['a+b', 'pair2', 'pair3'])
    const after = probeKeys(['a+b', 'pair2', 'pair3', 'pair4'])
    const ring = ketamaRing(['a+b', 'pair2', 'pair3', 'pair4'])
    for (const b of before) {
      const now = after.find((k) => k.pair === b.pair)!
      if (ring.pairFor(b.key) === b.pair) assert.equal(now.key, b.key, `${b.pair} keeps ${b.key}`)
    }
  })

  it('refuses what the ring refuses: no pairs, a name nutcracker cannot take', () => {
    assert.throws(() => probeKeys([]), (e: unknown) => e instanceof RepctlError && e.code === 'CONFIG_INVALID')
    assert.throws(() => probeKeys(['a b']), (e: unknown) => e instanceof RepctlError && /not a ring name/.test(e.message))
  })
})
