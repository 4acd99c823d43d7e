// The nutcracker.yml of one router (Debian's nutcracker, twemproxy 0.5.0).
// Pure: the cluster, the router and where each pair is reached come in, text
// goes out. Keys as twemproxy's README and its parser (nc_conf.c) define them.
//
// What the config makes nutcracker do:
// - One pool, named after the cluster, listening on the router's host and
//   port, speaking memcached's text protocol (redis: false is the default).
// - Each pair is one server, `host:port:1 NAME`. ketama places a server on the
//   ring by hashing its name (`NAME-0` … `NAME-39`), and hashes `host:port`
//   only for a server without a name. So a pair keeps its keys when its
//   endpoint changes (the survivor of a failover, a new node address), and
//   only adding or removing a pair (or renaming one) moves keys: about 1/N.
// - distribution ketama: consistent hashing, so a change of the ring moves
//   only the keys of the pairs that changed.
// - hash md5 (ketama's own, as in libmemcached), not fnv1a_64 as twemproxy's
//   README examples have it: nutcracker keeps only the low 32 bits of
//   fnv1a_64, whose last step multiplies by a prime whose low 32 bits are
//   0x1b3, so keys that differ in their last characters (k10 … k99, user:1 …)
//   land within a sliver of the ring, on one server. Measured: of k0 … k99
//   over two servers, 90 went to one with fnv1a_64; md5 split them 45/55
//   (test/integration/router-ring.test.ts fails with fnv1a_64).
//   An md5 per key costs nothing next to the network hop.
// - auto_eject_hosts: false. With ejection, a pair that fails
//   server_failure_limit times is taken off the ring and its keys go to the
//   next pair until it returns; a key written there meanwhile is read back
//   from the first pair when it returns, which still holds the value from
//   before: a stale read. Without ejection the pair's keys fail (fast: the
//   connection is refused, or the timeout below) until repctl points the
//   router at the survivor. server_retry_timeout and server_failure_limit
//   only matter with ejection, so they are not written.
// - timeout: the router's `timeout` (default 1000 ms). nutcracker's default
//   is to wait forever for a server's reply, so one frozen node would hang
//   every client request routed to it. A pair answers in well under a
//   millisecond on a LAN; 1 s is far above any healthy reply (a large
//   multiget included) and short enough that a client sees an error, not a
//   hang, while the pair fails over. On timeout nutcracker answers the client
//   with an error and closes its connection to that server. A connect it
//   makes while a VIP is between hosts gets no answer and waits the timeout
//   out too: measured, the router adds about 0.6 s to a VIP's move at 1 s.
// - server_connections: 1 (nutcracker's default, written so it is seen):
//   nutcracker pipelines every client's requests to a pair over one
//   connection, which keeps each pair's replies in order.
// - preconnect is left off (the default): with it, a pair that is down when
//   the router starts would only be logged, and a router that starts while a
//   pair is being repaired should still start.

import type {RouterConfig} from '../../config/schema.js'
import {DEFAULT_ROUTER_TIMEOUT_MS, isRingName} from '../../config/routers.js'
import {RepctlError} from '../../errors.js'

export interface RouterPairEndpoint {
  /** The pair's ring name (PairConfig.name). */
  name: string
  /** Where the router sends the pair's keys: the pair's VIP when it has one, else a live node's client address. */
  endpoint: {host: string; port: number}
}

export interface NutcrackerInput {
  cluster: string
  /** `timeoutMs` absent: DEFAULT_ROUTER_TIMEOUT_MS. */
  router: Pick<RouterConfig, 'name' | 'host' | 'port'> & Partial<Pick<RouterConfig, 'timeoutMs'>>
  /** Every pair of the cluster, in config order (the order does not affect hashing). */
  pairs: readonly RouterPairEndpoint[]
}

export const SERVER_CONNECTIONS = 1
export const HASH = 'md5'
export const DISTRIBUTION = 'ketama'

/** A pool name: a YAML plain key that nutcracker takes as it is (no `:`, `#`, quotes, spaces). */
const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
/** A host name or IPv4 address; IPv6 literals are refused (see checkHost). */
const HOST = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/

function invalid(input: NutcrackerInput, what: string, value: unknown, problem: string): never {
  throw new RepctlError('CONFIG_INVALID', `nutcracker config for router ${input.router.name}: ${what} ${JSON.stringify(value)} ${problem}`)
}

function checkHost(input: NutcrackerInput, what: string, host: string): void {
  if (host.includes(':')) invalid(input, what, host, 'is an IPv6 address; routers take IPv4 addresses or host names for now (nutcracker 0.5.0 reads host:port without brackets)')
  if (!HOST.test(host)) invalid(input, what, host, 'must be a host name or IPv4 address (letters, digits, . _ -)')
}

function checkPort(input: NutcrackerInput, what: string, port: number): void {
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) invalid(input, what, port, 'must be a whole number from 1 to 65535')
}

function checkInput(input: NutcrackerInput): void {
  if (!POOL_NAME.test(input.cluster)) invalid(input, 'cluster', input.cluster, 'must be a name of letters, digits, _ . -')
  checkHost(input, 'listen host', input.router.host)
  checkPort(input, 'listen port', input.router.port)
  if (input.pairs.length === 0) invalid(input, 'pairs', [], 'is empty; nutcracker needs at least one server in the pool')
  const seen = new Set<string>()
  input.pairs.forEach((p, i) => {
    if (!isRingName(p.name)) invalid(input, `pairs[${i}].name`, p.name, 'must be a ring name of letters, digits, _ . + - (at most 80)')
    if (seen.has(p.name)) invalid(input, `pairs[${i}].name`, p.name, 'names two pairs; ketama would give them the same points')
    seen.add(p.name)
    checkHost(input, `pair ${p.name} endpoint host`, p.endpoint.host)
    checkPort(input, `pair ${p.name} endpoint port`, p.endpoint.port)
  })
}

/** nutcracker.yml for `input.router`. Throws CONFIG_INVALID naming the input nutcracker could not be given. */
export function renderNutcrackerConfig(input: NutcrackerInput): string {
  checkInput(input)
  const lines = [
    `# nutcracker for router ${input.router.name} of cluster ${input.cluster}.`,
    '# Written by repctl, which rewrites it: change repctl.config.yaml instead.',
    `${input.cluster}:`,
    `  listen: ${input.router.host}:${input.router.port}`,
    `  hash: ${HASH}`,
    `  distribution: ${DISTRIBUTION}`,
    '  auto_eject_hosts: false',
    `  timeout: ${input.router.timeoutMs ?? DEFAULT_ROUTER_TIMEOUT_MS}`,
    `  server_connections: ${SERVER_CONNECTIONS}`,
    '  servers:',
    ...input.pairs.map((p) => `    - ${p.endpoint.host}:${p.endpoint.port}:1 ${p.name}`),
  ]
  return lines.join('\n') + '\n'
}

const SERVER_LINE = /^ {4}- ([^\s:]+):(\d+):\d+ (\S+)$/

/**
 * The pairs and endpoints of a config this file rendered, read back from the
 * router's host: what the running router uses (a router is restarted whenever
 * its file changes). Lines it does not recognise are skipped.
 */
export function readRoutes(text: string): RouterPairEndpoint[] {
  return text.split('\n').flatMap((line) => {
    const m = SERVER_LINE.exec(line)
    return m === null ? [] : [{name: m[3]!, endpoint: {host: m[1]!, port: Number(m[2])}}]
  })
}
