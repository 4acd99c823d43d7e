// nutcracker's ketama ring, as Debian's nutcracker (twemproxy 0.5.0) builds
// it for the config repctl writes (nutcracker-config.ts: `hash: md5`,
// `distribution: ketama`, every pair one server `host:port:1 NAME`, no
// ejection). Written from reading twemproxy's src/hashkit/nc_ketama.c,
// nc_md5.c, src/nc_server.c and nc_conf.c at tag 0.5.0.
//
// Why an application or repctl wants it: it says, without asking a router,
// which pair holds a key (an application can hash across the pairs itself,
// docs/client-side-hashing.md, and still agree with the routers), and how
// much of the key space a change of the pair list moves.
//
// How nutcracker builds the ring:
// - Servers are sorted by name (shorter first, then bytewise: nc_conf.c sorts
//   them to find duplicates and keeps that order), so the order of the config
//   does not matter. The order only breaks ties between two servers' points
//   with the same value (chance about (160 N)² / 2³³), which glibc's qsort,
//   a merge sort, leaves in server order.
// - Each server gets `pointsPerServer(N)` points: 160 for weight 1 in
//   principle, computed in single-precision floats, which rounds to 156 for
//   some pool sizes (25, 47, 50 … pairs; see pointsPerServer).
// - The points of server NAME come from md5(`NAME-0`), md5(`NAME-1`) …: each
//   16-byte digest gives 4 points, its 4 little-endian 32-bit words. The name,
//   not `host:port`, is hashed because the server has one: that is why a pair
//   keeps its keys when its endpoint changes.
// - A key goes to the server of the first point at or after the key's hash,
//   wrapping to the first point. With `hash: md5` the key's hash is the first
//   little-endian 32-bit word of md5(key) (the same md5 as the points: libketama's
//   scheme, spreading keys that differ only in their last bytes, unlike
//   nutcracker's truncated fnv1a_64). An empty key hashes to 0 and a pool of
//   one server takes every key without hashing; both agree with the ring.
// - No hash_tag is configured, so the whole key is hashed.

import {createHash} from 'node:crypto'
import {isRingName} from '../../config/routers.js'
import {RepctlError} from '../../errors.js'

/** Points per server for weight 1, before nutcracker's float arithmetic (KETAMA_POINTS_PER_SERVER). */
const NOMINAL_POINTS = 160
/** One md5 digest gives four 32-bit points. */
const POINTS_PER_HASH = 4
/** Size of the 32-bit hash space. */
export const HASH_SPACE = 2 ** 32

/**
 * Points each of `servers` weight-1 servers gets, as nutcracker computes it:
 * floorf(pct * 160 / 4 * N + 1e-10) * 4 with pct = 1/N, every step in
 * single precision (x86-64 evaluates float expressions in float). For N = 25
 * that product is 39.999996, so each server gets 156 points, not 160: every
 * server loses its `NAME-39` points alike, and the ring stays fair.
 */
export function pointsPerServer(servers: number): number {
  if (!(Number.isInteger(servers) && servers >= 1)) throw new RangeError(`servers must be a whole number of at least 1, got ${servers}`)
  const f = Math.fround
  const pct = f(f(1) / f(servers))
  const product = f(f(f(pct * NOMINAL_POINTS) / 4) * f(servers))
  // + 0.0000000001 is a double; floorf converts the sum back to float.
  return Math.floor(f(product + 0.0000000001)) * POINTS_PER_HASH
}

/** The first little-endian 32-bit word of md5(key): nutcracker's `hash: md5` of a key. */
export function keyHash(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
  if (bytes.length === 0) return 0
  return createHash('md5').update(bytes).digest().readUInt32LE(0)
}

/** nutcracker's server order: by byte length, then bytewise (string_compare in nc_string.c). */
function serverOrder(a: string, b: string): number {
  const [x, y] = [Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')]
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y)
}

function checkNames(names: readonly string[]): void {
  if (names.length === 0) throw new RepctlError('CONFIG_INVALID', 'ketama ring: no pairs given; a ring needs at least one pair name')
  const seen = new Set<string>()
  for (const name of names) {
    if (!isRingName(name)) {
      throw new RepctlError('CONFIG_INVALID', `ketama ring: pair name ${JSON.stringify(name)} is not a ring name (letters, digits, _ . + -, at most 80): use the pairs' names from repctl.config.yaml (pairs[].name, or the node names joined by +)`)
    }
    if (seen.has(name)) throw new RepctlError('CONFIG_INVALID', `ketama ring: pair name ${JSON.stringify(name)} is given twice; nutcracker refuses two servers with one name`)
    seen.add(name)
  }
}

export interface KetamaRing {
  /** The pair names in nutcracker's server order. */
  readonly names: readonly string[]
  /** The ring's point values, ascending. */
  readonly points: Uint32Array
  /** For each point, the index in `names` of the pair it belongs to. */
  readonly owners: Uint32Array
  /** The pair that owns 32-bit hash value `hash`: the first point at or after it, wrapping around. */
  ownerOf(hash: number): string
  /** The pair nutcracker sends `key` to (a string is hashed as UTF-8, as memcached clients send it). */
  pairFor(key: string | Uint8Array): string
}

/** The ring nutcracker builds for a pool of these pairs (any order). */
export function ketamaRing(names: readonly string[]): KetamaRing {
  checkNames(names)
  const ordered = [...names].sort(serverOrder)
  const hashes = pointsPerServer(ordered.length) / POINTS_PER_HASH
  const raw: {value: number; owner: number}[] = []
  ordered.forEach((name, owner) => {
    for (let i = 0; i < hashes; i++) {
      const digest = createHash('md5').update(`${name}-${i}`, 'utf8').digest()
      for (let word = 0; word < POINTS_PER_HASH; word++) raw.push({value: digest.readUInt32LE(word * 4), owner})
    }
  })
  // Equal values keep server order, as glibc's (merge sort) qsort leaves them.
  raw.sort((a, b) => a.value - b.value || a.owner - b.owner)
  const points = Uint32Array.from(raw, (p) => p.value)
  const owners = Uint32Array.from(raw, (p) => p.owner)

  const ownerOf = (hash: number): string => {
    // The first point >= hash (ketama_dispatch's binary search); past the last point, the first.
    let [lo, hi] = [0, points.length]
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (points[mid]! < hash) lo = mid + 1
      else hi = mid
    }
    return ordered[owners[lo === points.length ? 0 : lo]!]!
  }
  return {names: ordered, points, owners, ownerOf, pairFor: (key) => ownerOf(keyHash(key))}
}

/** The share of the 32-bit hash space (so of keys) each pair owns: 1/N each, give or take the luck of 160 points. */
export function ownedShares(names: readonly string[]): Record<string, number> {
  const ring = ketamaRing(names)
  const {points, owners} = ring
  const shares: Record<string, number> = Object.fromEntries(ring.names.map((n) => [n, 0]))
  points.forEach((value, i) => {
    // Point i owns the hashes after the point before it (the arc through 0 for the first point).
    const arc = i === 0 ? HASH_SPACE - points[points.length - 1]! + value : value - points[i - 1]!
    shares[ring.names[owners[i]!]!]! += arc
  })
  for (const name of ring.names) shares[name] = shares[name]! / HASH_SPACE
  return shares
}

export interface MovedShare {
  /** Hash values (of 2³²) whose pair differs between the two rings. */
  moved: number
  /** moved / 2³²: the share of keys that go to another pair after the change. */
  share: number
  /** byPair[from][to]: the share of the hash space that goes from pair `from` (old ring) to pair `to` (new ring); only moves. */
  byPair: Record<string, Record<string, number>>
}

/**
 * The exact share of the 32-bit hash space whose pair changes from ring
 * `from` to ring `to` (pair names, any order). Between two neighbouring
 * point values of either ring both rings' owners are constant, so walking
 * the merged points once measures every arc exactly.
 */
export function movedShare(from: readonly string[], to: readonly string[]): MovedShare {
  const [a, b] = [ketamaRing(from), ketamaRing(to)]
  const cuts = [...new Set([...a.points, ...b.points])].sort((x, y) => x - y)
  const byPair: Record<string, Record<string, number>> = {}
  let moved = 0
  const count = (hash: number, size: number): void => {
    const [was, now] = [a.ownerOf(hash), b.ownerOf(hash)]
    if (was === now) return
    moved += size
    const row = byPair[was] ?? (byPair[was] = {})
    row[now] = (row[now] ?? 0) + size
  }
  // The arc through 0: after the last cut, and from 0 up to the first cut.
  count(cuts[0]!, HASH_SPACE - cuts[cuts.length - 1]! + cuts[0]!)
  for (let i = 1; i < cuts.length; i++) count(cuts[i]!, cuts[i]! - cuts[i - 1]!)
  for (const row of Object.values(byPair)) for (const to of Object.keys(row)) row[to] = row[to]! / HASH_SPACE
  return {moved, share: moved / HASH_SPACE, byPair}
}
