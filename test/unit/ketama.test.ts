// The ketama ring on its own: the properties consistent hashing promises,
// measured exactly over the 32-bit hash space and checked against sampled
// keys. That it is nutcracker's ring, key by key, is shown with a real
// nutcracker in test/integration/router-ring.test.ts.

import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {describe, it} from 'node:test'
import {HASH_SPACE, keyHash, ketamaRing, movedShare, ownedShares, pointsPerServer} from '../../src/cluster/router/ketama.js'
import {RepctlError} from '../../src/errors.js'

const THREE = ['pair1', 'pair2', 'pair3']
const FOUR = [...THREE, 'pair4']
/** Random keys, as an application's keys look to md5. */
const SAMPLE = Array.from({length: 20000}, (_, i) => `${randomBytes(6).toString('hex')}:${i}`)

describe('keyHash', () => {
  it('is the first little-endian word of md5(key); an empty key hashes to 0', () => {
    // md5("foo") = acbd18db 4cc2f85c … (RFC 1321 test vectors are for other strings; this one is well known).
    assert.equal(keyHash('foo'), 0xdb18bdac)
    assert.equal(keyHash(Buffer.from('foo')), 0xdb18bdac)
    assert.equal(keyHash('é'), createHash('md5').update(Buffer.from([0xc3, 0xa9])).digest().readUInt32LE(0), 'strings hash as UTF-8')
    assert.equal(keyHash(''), 0)
  })
})

describe('pointsPerServer', () => {
  it('is 160 for small pools and 156 where nutcracker\'s float arithmetic rounds 40 down', () => {
    for (let n = 1; n <= 24; n++) assert.equal(pointsPerServer(n), 160, `${n} servers`)
    for (const n of [25, 47, 50, 100]) assert.equal(pointsPerServer(n), 156, `${n} servers`)
    assert.throws(() => pointsPerServer(0), /at least 1/)
  })
})

describe('ketamaRing', () => {
  it('gives each pair its points, from md5(NAME-i), sorted', () => {
    const ring = ketamaRing(THREE)
    assert.equal(ring.points.length, 3 * 160)
    for (let i = 1; i < ring.points.length; i++) assert.ok(ring.points[i - 1]! <= ring.points[i]!, 'ascending')
    const counts = [0, 0, 0]
    for (const o of ring.owners) counts[o]!++
    assert.deepEqual(counts, [160, 160, 160])
    const first = createHash('md5').update('pair2-0').digest()
    for (let w = 0; w < 4; w++) {
      const at = ring.points.indexOf(first.readUInt32LE(w * 4))
      assert.ok(at >= 0 && ring.names[ring.owners[at]!] === 'pair2', `word ${w} of md5(pair2-0) is a point of pair2`)
    }
    assert.equal(ketamaRing(Array.from({length: 25}, (_, i) => `p${i}`)).points.length, 25 * 156)
  })

  it('sends a hash to the first point at or after it, wrapping to the first point', () => {
    const ring = ketamaRing(FOUR)
    const {points, owners, names} = ring
    const owner = (i: number): string => names[owners[i]!]!
    for (const i of [0, 1, 200, points.length - 1]) {
      if (points[i]! === points[i + 1]) continue
      assert.equal(ring.ownerOf(points[i]!), owner(i), `point ${i} itself`)
      if (i + 1 < points.length) assert.equal(ring.ownerOf(points[i]! + 1), owner(i + 1), `just after point ${i}`)
    }
    assert.equal(ring.ownerOf(points[points.length - 1]! + 1), owner(0), 'after the last point: the first')
    assert.equal(ring.ownerOf(HASH_SPACE - 1), owner(0))
    assert.equal(ring.ownerOf(0), owner(0))
  })

  it('is deterministic, and the order of the names does not matter', () => {
    const a = ketamaRing(FOUR)
    for (const names of [[...FOUR], [...FOUR].reverse(), ['pair3', 'pair1', 'pair4', 'pair2']]) {
      const b = ketamaRing(names)
      assert.deepEqual(b.names, a.names)
      assert.deepEqual(b.points, a.points)
      assert.deepEqual(b.owners, a.owners)
      for (const k of SAMPLE.slice(0, 500)) assert.equal(b.pairFor(k), a.pairFor(k))
    }
  })

  it('orders servers as nutcracker does: shorter names first, then bytewise', () => {
    assert.deepEqual(ketamaRing(['b', 'aa', 'a', 'B']).names, ['B', 'a', 'b', 'aa'])
  })

  it('spreads keys over the pairs about evenly, in line with the share of the hash space each owns', () => {
    const ring = ketamaRing(FOUR)
    const shares = ownedShares(FOUR)
    assert.ok(Math.abs(Object.values(shares).reduce((s, x) => s + x, 0) - 1) < 1e-12, 'the shares cover the hash space')
    const counts = new Map<string, number>()
    for (const k of SAMPLE) { const pair = ring.pairFor(k); counts.set(pair, (counts.get(pair) ?? 0) + 1) }
    for (const name of FOUR) {
      assert.ok(shares[name]! > 0.15 && shares[name]! < 0.35, `${name} owns ${shares[name]}`)
      const measured = counts.get(name)! / SAMPLE.length
      // 4 standard deviations of a binomial proportion.
      const tolerance = 4 * Math.sqrt(shares[name]! * (1 - shares[name]!) / SAMPLE.length)
      assert.ok(Math.abs(measured - shares[name]!) < tolerance, `${name}: ${measured} of the keys, owns ${shares[name]}`)
    }
  })

  it('refuses no names, a name twice, and a name nutcracker\'s config cannot carry, naming it', () => {
    assert.throws(() => ketamaRing([]), (e: unknown) => e instanceof RepctlError && e.code === 'CONFIG_INVALID' && /no pairs/.test(e.message))
    assert.throws(() => ketamaRing(['pair1', 'pair1']), /"pair1" is given twice/)
    assert.throws(() => ketamaRing(['pair 1']), /"pair 1" is not a ring name/)
    assert.throws(() => ketamaRing(['x'.repeat(81)]), /is not a ring name/)
  })
})

describe('movedShare', () => {
  it('adding a 4th pair to 3 moves about 1/4 of the hash space, all of it to the new pair: exactly what it now owns', () => {
    const m = movedShare(THREE, FOUR)
    assert.ok(m.share > 0.18 && m.share < 0.32, `moved ${m.share}`)
    assert.deepEqual(Object.values(m.byPair).flatMap((row) => Object.keys(row)).filter((to) => to !== 'pair4'), [], 'keys move only to pair4')
    assert.deepEqual(Object.keys(m.byPair).sort(), THREE, 'from each of the three')
    assert.equal(m.share, m.moved / HASH_SPACE)
    assert.ok(Math.abs(m.share - ownedShares(FOUR).pair4!) < 1e-12, 'the new pair takes only keys that move')
    const byPairTotal = Object.values(m.byPair).flatMap((row) => Object.values(row)).reduce((s, x) => s + x, 0)
    assert.ok(Math.abs(byPairTotal - m.share) < 1e-12)
  })

  it('agrees with sampled keys: those that change pair are the moved share, and each moves as byPair says', () => {
    const [a, b] = [ketamaRing(THREE), ketamaRing(FOUR)]
    const moved = SAMPLE.filter((k) => a.pairFor(k) !== b.pairFor(k))
    assert.ok(moved.every((k) => b.pairFor(k) === 'pair4'))
    const m = movedShare(THREE, FOUR)
    const tolerance = 4 * Math.sqrt(m.share * (1 - m.share) / SAMPLE.length)
    assert.ok(Math.abs(moved.length / SAMPLE.length - m.share) < tolerance, `${moved.length} of ${SAMPLE.length} keys moved; the hash space says ${m.share}`)
    for (const from of THREE) {
      const fromThis = moved.filter((k) => a.pairFor(k) === from).length / SAMPLE.length
      const expected = m.byPair[from]!.pair4!
      assert.ok(Math.abs(fromThis - expected) < 4 * Math.sqrt(expected * (1 - expected) / SAMPLE.length), `${from} → pair4: ${fromThis} sampled, ${expected} exact`)
    }
  })

  it('removing a pair moves exactly that pair\'s share, only from it, spread over the others', () => {
    for (const gone of FOUR) {
      const rest = FOUR.filter((n) => n !== gone)
      const m = movedShare(FOUR, rest)
      assert.deepEqual(Object.keys(m.byPair), [gone], `only ${gone}'s keys move`)
      assert.ok(Math.abs(m.share - ownedShares(FOUR)[gone]!) < 1e-12, `${gone}'s share moves`)
      assert.deepEqual(Object.keys(m.byPair[gone]!).sort(), rest, 'to each of the others')
      assert.equal(movedShare(rest, FOUR).moved, m.moved, 'adding it back moves the same hashes back')
    }
  })

  it('moves nothing between a ring and itself, whatever the order; a rename moves what either name owned', () => {
    assert.deepEqual(movedShare(FOUR, [...FOUR].reverse()), {moved: 0, share: 0, byPair: {}})
    const five = ['pair1', 'pair2', 'pair3', 'pair5']
    const renamed = movedShare(FOUR, five)
    // pair4's hashes leave it, pair5's arrive from others; those that pair5 takes over from pair4 count once.
    const expected = ownedShares(FOUR).pair4! + ownedShares(five).pair5! - (renamed.byPair.pair4?.pair5 ?? 0)
    assert.ok(Math.abs(renamed.share - expected) < 1e-12, `rename moved ${renamed.share}, expected ${expected}`)
    assert.ok(renamed.share > 0.3, 'a rename moves about two pairs\' worth, not nothing')
  })
})
