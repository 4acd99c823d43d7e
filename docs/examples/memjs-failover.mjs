// A memjs client for one repcached pair without a virtual IP: give it both
// nodes and turn failover on. Both nodes take writes and replicate to each
// other, so whichever node a key lands on, the other has it too.
//
//   MEMCACHE_SERVERS=10.0.0.8:11211,10.0.0.9:11211 node app.mjs
//
// These are the options test/integration/client-failover.test.ts measures
// (docs/client-failover.md has the figures); that test imports this file.
import memjs from 'memjs'

export const FAILOVER_OPTIONS = Object.freeze({
  // When a node fails, send its keys to the other node...
  failover: true,
  // ...for this many seconds, then try it again (a refused or timed-out try starts another period).
  failoverTime: 5,
  // One attempt per node: a retry on the node that just failed only adds a wait.
  retries: 1,
  retry_delay: 0,
  // Seconds without an answer before a node counts as failed: what a request pays when a host hangs or vanishes.
  timeout: 0.5,
  // Seconds to wait for a connection to be set up (memjs's default is twice `timeout`).
  conntimeout: 1,
})

/** `servers`: "hostA:port,hostB:port" — the two nodes of the pair, in the same order on every client. */
export function createCacheClient(servers = process.env.MEMCACHE_SERVERS, options = {}) {
  if (servers === undefined || servers.split(',').length !== 2) {
    throw new Error(`servers (or MEMCACHE_SERVERS) must name the two nodes of the pair, e.g. 10.0.0.8:11211,10.0.0.9:11211; got ${JSON.stringify(servers)}`)
  }
  return memjs.Client.create(servers, {...FAILOVER_OPTIONS, ...options})
}
