// Hash across repctl's pairs in the application, with no router in between:
// one memjs client per pair, and the ketama ring repctl's routers
// (nutcracker) use to pick the pair of a key. A key lands on the same pair
// whether it is written here or through a router, so an application can mix
// both (docs/client-side-hashing.md).
//
//   CACHE_PAIRS='pair1=10.0.0.100:11211 cache-c+cache-d=10.0.0.12:11211,10.0.0.13:11211' node app.mjs
//
// Each pair is `NAME=SERVERS`: NAME is the pair's ring name exactly as in
// repctl.config.yaml (pairs[].name, or its two node names sorted and joined
// by `+`), because the ring hashes names, not addresses. SERVERS is the
// pair's VIP, or, for a pair without one, both of its nodes (memjs then fails
// over between them, as in memjs-failover.mjs). List every pair of the
// cluster; the order does not matter.
//
// test/integration/client-side-hashing.test.ts imports this file.
import memjs from 'memjs'
// repctl's ring, exported by the package (package.json "exports"): the same
// code as the one that predicts where repctl's routers put keys.
import {ketamaRing} from 'repctl/ketama'
import {FAILOVER_OPTIONS} from './memjs-failover.mjs'

/** For a VIP: one server, so no failover; the VIP moves to the survivor in about 2 s. */
export const VIP_OPTIONS = Object.freeze({retries: 1, retry_delay: 0, timeout: 0.5, conntimeout: 1})

/** `"pair1=host:port other=hostA:port,hostB:port"` (spaces or newlines between pairs) → [{name, servers}]. */
export function parsePairs(text = process.env.CACHE_PAIRS) {
  if (text === undefined || text.trim() === '') {
    throw new Error('CACHE_PAIRS must list every pair of the cluster as NAME=SERVERS, e.g. pair1=10.0.0.100:11211 pair2=10.0.0.12:11211,10.0.0.13:11211')
  }
  return text.trim().split(/\s+/).map((item) => {
    const m = /^([^=]+)=([^=,]+:\d+(?:,[^=,]+:\d+)?)$/.exec(item)
    if (m === null) throw new Error(`CACHE_PAIRS: ${JSON.stringify(item)} is not NAME=host:port or NAME=hostA:port,hostB:port`)
    return {name: m[1], servers: m[2]}
  })
}

/**
 * A cache over all pairs: `get`, `set`, `delete` go to the pair the ring
 * names for the key; `clientFor(key)` gives that pair's memjs client for
 * anything else. `options` are added to every memjs client's.
 */
export function createRingClient(pairs = parsePairs(), options = {}) {
  // Throws, naming it, on a missing, repeated or malformed pair name.
  const ring = ketamaRing(pairs.map((p) => p.name))
  const clients = new Map(pairs.map((p) => {
    const both = p.servers.includes(',')
    return [p.name, memjs.Client.create(p.servers, {...(both ? FAILOVER_OPTIONS : VIP_OPTIONS), ...options})]
  }))
  const clientFor = (key) => clients.get(ring.pairFor(key))
  return {
    ring,
    clientFor,
    /** Resolves to the value (a Buffer), or null on a miss. */
    get: async (key) => (await clientFor(key).get(key)).value,
    /** `expires` in seconds, 0 for none. */
    set: (key, value, expires = 0) => clientFor(key).set(key, value, {expires}),
    delete: (key) => clientFor(key).delete(key),
    close() { for (const c of clients.values()) c.close() },
  }
}
