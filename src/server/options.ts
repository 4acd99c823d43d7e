// The repcached / memcached command line. Short options follow getopt rules
// (clustered flags, attached or separate values); memcached 1.6's long
// options are accepted too. Where repcached and memcached 1.6 disagree on a
// letter, repcached wins (-X is the replication port, not "disable dumping").

import {checkDuration, DAY_MS, type DurationRange} from './duration.js'
import {MEMCACHED_VERSION, REPCACHED_VERSION, SERVER_RELEASE} from './version.js'

export type BindingProtocol = 'auto' | 'ascii' | 'binary'

export interface ServerOptions {
  port: number
  udpPort: number
  unixSocket: string | undefined
  unixMask: number
  /** Addresses to listen on; empty = all interfaces. */
  listen: string[]
  daemonize: boolean
  user: string | undefined
  memoryLimitBytes: number
  evict: boolean
  maxConnections: number
  verbosity: number
  pidFile: string | undefined
  growthFactor: number
  minSpace: number
  threads: number
  reqsPerEvent: number
  /** -D: the character ending a key's prefix for `stats detail`; also turns detail on at start. */
  prefixDelimiter: string
  detailEnabled: boolean
  /** -W turns the `watch` command off. */
  watchEnabled: boolean
  /** -o no_lru_crawler (or no_modern) starts with the LRU crawler off (`lru_crawler enable` starts it). */
  lruCrawlerAtStart: boolean
  useCas: boolean
  backlog: number
  protocol: BindingProtocol
  itemSizeMax: number
  enableShutdown: boolean
  flushEnabled: boolean
  idleTimeout: number
  /** -x: replication peer host. */
  peer: string | undefined
  /** -X: replication listen port and the peer's port we connect to. */
  replicationListenPort: number
  replicationConnectPort: number
  /** -q: most replication queue entries. */
  queueMax: number
  /** --rep-drain-timeout: how long shutdown may spend sending queued changes to the peer. */
  drainTimeoutMs: number
  /** --rep-connect-timeout: how long -x may take to reach the peer before we listen instead. */
  connectTimeoutMs: number
  /** --rep-timeout: a native link silent this long is dead. */
  repTimeoutMs: number
  /** --rep-secret-file (or REPCACHED_REP_SECRET_FILE): the shared replication secret's file. */
  repSecretFile: string | undefined
  /** false with --rep-no-reconnect: never dial a lost peer again (repcached's behaviour). */
  repReconnect: boolean
  /** --snapshot (or -e / --memory-file): the snapshot file, loaded at start and written at shutdown. */
  snapshotFile: string | undefined
  /** --snapshot-interval: also write it this often (0: only at shutdown). */
  snapshotIntervalMs: number
  /** --snapshot-check: the file to verify (action 'check-snapshot'). */
  checkFile: string | undefined
  /** -S: binary clients must authenticate (SASL PLAIN; users from the file MEMCACHED_SASL_PWDB names). */
  sasl: boolean
  /** -Y: ASCII clients must authenticate with `set` of "user password" (binary clients with SASL PLAIN). */
  authFile: string | undefined
  /** -Z: TLS on every client listener (certificate and key from -o ssl_chain_cert / ssl_key). */
  tls: boolean
  tlsCert: string | undefined
  tlsKey: string | undefined
  tlsCa: string | undefined
  /** -o ssl_verify_mode: 0 none, 1 ask for a client certificate, 2 require one, 3 require it once (as 2). */
  tlsVerifyMode: 0 | 1 | 2 | 3
  /** --rep-tls-cert/-key/-ca: TLS on the native replication link, each side verifying the other against the CA. */
  repTlsCert: string | undefined
  repTlsKey: string | undefined
  repTlsCa: string | undefined
  /** --check-serving: the client address to ask (action 'check-serving', keepalived's check of a VIP pair). */
  checkServing: {host: string; port: number} | undefined
  /** --check-tls: that address speaks TLS (-Z). */
  checkTls: boolean
  /** --check-timeout: the check's bound, connect to answer. */
  checkTimeoutMs: number
  /** Accepted flags that change nothing here, reported at -v. */
  ignored: string[]
  /** What to do instead of serving: print help, version or license, check a snapshot or a serving node. */
  action: 'serve' | 'help' | 'version' | 'license' | 'check-snapshot' | 'snapshot-info' | 'check-serving'
}

/** A command-line mistake: one line for the operator, exit code 64 (EX_USAGE). */
export class UsageError extends Error {
  readonly exitCode = 64
}

export function defaultOptions(): ServerOptions {
  return {
    port: 11211, udpPort: 0, unixSocket: undefined, unixMask: 0o700, listen: [], daemonize: false, user: undefined,
    memoryLimitBytes: 64 * 1024 * 1024, evict: true, maxConnections: 1024, verbosity: 0, pidFile: undefined,
    growthFactor: 1.25, minSpace: 48, threads: 4, reqsPerEvent: 20, prefixDelimiter: ':', detailEnabled: false, watchEnabled: true, lruCrawlerAtStart: true, useCas: true, backlog: 1024, protocol: 'auto',
    itemSizeMax: 1024 * 1024, enableShutdown: false, flushEnabled: true, idleTimeout: 0,
    peer: undefined, replicationListenPort: 11212, replicationConnectPort: 11212, queueMax: 8192, drainTimeoutMs: 5000, connectTimeoutMs: 2000,
    repTimeoutMs: 3000, repSecretFile: undefined, repReconnect: true, snapshotFile: undefined, snapshotIntervalMs: 0, checkFile: undefined,
    sasl: false, authFile: undefined, tls: false, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined, tlsVerifyMode: 0,
    repTlsCert: undefined, repTlsKey: undefined, repTlsCa: undefined,
    checkServing: undefined, checkTls: false, checkTimeoutMs: 800,
    ignored: [], action: 'serve',
  }
}

type Setter = (o: ServerOptions, value: string, flag: string) => void

interface OptionSpec { short?: string; long?: string[]; takesValue: boolean; set: Setter }

function int(flag: string, value: string, min: number, max: number, what: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: "${value}" is not a number; expected ${what}`)
  const n = Number(value)
  if (n < min || n > max) throw new UsageError(`${flag}: ${value} is out of range; expected ${what}`)
  return n
}

/**
 * Our own time flags (not memcached's, whose -o idle_timeout stays plain
 * seconds) take repctl's durations: 250ms, 1.5s, 2m, 1h, or bare seconds as before.
 */
function duration(flag: string, value: string, range: DurationRange): number {
  const r = checkDuration(value, range)
  if ('problem' in r) throw new UsageError(`${flag}: ${r.problem} (got ${JSON.stringify(value)})`)
  return r.ms
}

/** As the config's snapshotInterval (src/config/schema.ts): below 100 ms a typo for minutes would write back to back. */
const SNAPSHOT_INTERVAL: DurationRange = {min: 100, max: DAY_MS, zero: 'only at shutdown'}

/** keepalived runs the check every second and counts whole seconds only: the check must give up well within one. */
const CHECK_TIMEOUT: DurationRange = {min: 10, max: 60_000}

/** --check-serving ADDRESS:PORT (IPv6 in brackets). */
function hostPort(flag: string, value: string): {host: string; port: number} {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(value)
  const p = m === null ? NaN : Number(m[3])
  if (m === null || !(p >= 1 && p <= 65535)) throw new UsageError(`${flag}: "${value}" is not ADDRESS:PORT (e.g. 10.0.0.1:11211)`)
  return {host: m[1] ?? m[2]!, port: p}
}

function port(flag: string, value: string): number {
  return int(flag, value, 0, 65535, 'a port number from 0 to 65535')
}

/** -I accepts bytes, or a number with k/m suffix, like memcached. */
function size(flag: string, value: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(value)
  if (m === null) throw new UsageError(`${flag}: "${value}" is not a size; expected bytes, or a number with k or m (e.g. 1m)`)
  const unit = m[2]!.toLowerCase()
  const n = Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1)
  if (n < 1024) throw new UsageError(`${flag}: item size ${value} is below the minimum of 1k`)
  if (n > 1024 * 1024 * 1024) throw new UsageError(`${flag}: item size ${value} is above the maximum of 1024m`)
  return n
}

function nonEmpty(flag: string, value: string): string {
  if (value === '') throw new UsageError(`${flag}: the file path is empty`)
  return value
}

function note(o: ServerOptions, flag: string, why: string): void {
  o.ignored.push(`${flag}: ${why}`)
}

/** -o suboptions memcached 1.6 knows; all are accepted, the ones we implement take effect. */
const KNOWN_EXTENDED = new Set([
  'maxconns_fast', 'no_maxconns_fast', 'hashpower', 'tail_repair_time', 'hash_algorithm', 'lru_crawler', 'no_lru_crawler',
  'lru_crawler_sleep', 'lru_crawler_tocrawl', 'read_buf_mem_limit', 'lru_maintainer', 'no_lru_maintainer', 'hot_lru_pct',
  'warm_lru_pct', 'hot_max_factor', 'warm_max_factor', 'temporary_ttl', 'idle_timeout', 'slab_chunk_max',
  'watcher_logbuf_size', 'worker_logbuf_size', 'track_sizes', 'no_hashexpand', 'modern', 'no_modern', 'sock_cookie_id',
  'slab_reassign', 'slab_automove', 'slab_automove_ratio', 'slab_automove_window', 'slab_sizes', 'no_slab_reassign',
  'no_slab_automove', 'no_inline_ascii_resp', 'inline_ascii_resp', 'no_chunked_items', 'large_memory_pages',
  'ext_path', 'ext_page_size', 'ext_wbuf_size', 'ext_threads', 'ext_item_size', 'ext_item_age', 'ext_low_ttl',
  'ext_drop_unread', 'ext_recache_rate', 'ext_compact_under', 'ext_drop_under', 'ext_max_frag', 'ext_max_sleep',
  'slab_automove_freeratio', 'ssl_chain_cert', 'ssl_key', 'ssl_keyformat', 'ssl_verify_mode', 'ssl_ciphers',
  'ssl_ca_cert', 'ssl_wbuf_size', 'ssl_session_cache', 'ssl_kernel_tls', 'ssl_min_version', 'proxy_config', 'napi_ids',
])

function extended(o: ServerOptions, value: string): void {
  for (const part of value.split(',')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = eq === -1 ? part : part.slice(0, eq)
    const arg = eq === -1 ? undefined : part.slice(eq + 1)
    if (!KNOWN_EXTENDED.has(name)) throw new UsageError(`-o: unknown suboption "${name}"; see -h for the list`)
    if (name === 'no_lru_crawler' || name === 'no_modern') {
      o.lruCrawlerAtStart = false
    } else if (name === 'lru_crawler') {
      o.lruCrawlerAtStart = true
    } else if (name === 'idle_timeout') {
      if (arg === undefined) throw new UsageError('-o idle_timeout: needs a value in seconds (idle_timeout=N)')
      o.idleTimeout = int('-o idle_timeout', arg, 0, 2 ** 31 - 1, 'seconds')
    } else if (name === 'ssl_chain_cert' || name === 'ssl_key' || name === 'ssl_ca_cert') {
      if (arg === undefined || arg === '') throw new UsageError(`-o ${name}: needs a file (${name}=PATH)`)
      if (name === 'ssl_chain_cert') o.tlsCert = arg
      else if (name === 'ssl_key') o.tlsKey = arg
      else o.tlsCa = arg
    } else if (name === 'ssl_verify_mode') {
      if (arg === undefined) throw new UsageError('-o ssl_verify_mode: needs 0, 1, 2 or 3')
      o.tlsVerifyMode = int('-o ssl_verify_mode', arg, 0, 3, '0 (none), 1 (request), 2 (require) or 3 (once)') as 0 | 1 | 2 | 3
    } else {
      note(o, `-o ${name}`, 'memcached tuning with no effect in this server')
    }
  }
}

const SPECS: OptionSpec[] = [
  {short: 'p', long: ['port'], takesValue: true, set: (o, v, f) => { o.port = port(f, v) }},
  {short: 'U', long: ['udp-port'], takesValue: true, set: (o, v, f) => {
    o.udpPort = port(f, v)
    if (o.udpPort !== 0) note(o, f, 'UDP is not served; clients must use TCP')
  }},
  {short: 's', long: ['unix-socket'], takesValue: true, set: (o, v) => { o.unixSocket = v }},
  {short: 'a', long: ['unix-mask'], takesValue: true, set: (o, v, f) => {
    if (!/^[0-7]{1,4}$/.test(v)) throw new UsageError(`${f}: "${v}" is not an octal mask (e.g. 700)`)
    o.unixMask = parseInt(v, 8)
  }},
  {short: 'A', long: ['enable-shutdown'], takesValue: false, set: (o) => { o.enableShutdown = true }},
  {short: 'l', long: ['listen'], takesValue: true, set: (o, v, f) => {
    for (const a of v.split(',')) {
      if (a === '') throw new UsageError(`${f}: empty address in "${v}"`)
      o.listen.push(a)
    }
  }},
  {short: 'd', long: ['daemon'], takesValue: false, set: (o) => { o.daemonize = true }},
  {short: 'r', long: ['enable-coredumps'], takesValue: false, set: (o, _v, f) => note(o, f, 'core file limits are left to the shell (ulimit -c)')},
  {short: 'u', long: ['user'], takesValue: true, set: (o, v) => { o.user = v }},
  {short: 'm', long: ['memory-limit'], takesValue: true, set: (o, v, f) => {
    o.memoryLimitBytes = int(f, v, 1, 1024 * 1024 * 1024, 'megabytes (a positive whole number)') * 1024 * 1024
  }},
  {short: 'M', long: ['disable-evictions'], takesValue: false, set: (o) => { o.evict = false }},
  {short: 'c', long: ['conn-limit'], takesValue: true, set: (o, v, f) => { o.maxConnections = int(f, v, 1, 1_000_000, 'a positive number of connections') }},
  {short: 'k', long: ['lock-memory'], takesValue: false, set: (o, _v, f) => note(o, f, 'Node cannot lock its heap in memory')},
  {short: 'v', long: ['verbose'], takesValue: false, set: (o) => { o.verbosity++ }},
  {short: 'h', long: ['help'], takesValue: false, set: (o) => { o.action = 'help' }},
  {short: 'i', long: ['license'], takesValue: false, set: (o) => { o.action = 'license' }},
  {short: 'V', long: ['version'], takesValue: false, set: (o) => { o.action = 'version' }},
  {short: 'P', long: ['pidfile'], takesValue: true, set: (o, v) => { o.pidFile = v }},
  {short: 'f', long: ['slab-growth-factor'], takesValue: true, set: (o, v, f) => {
    const n = Number(v)
    if (!/^\d+(\.\d+)?$/.test(v) || !(n > 1)) throw new UsageError(`${f}: factor "${v}" must be a number greater than 1`)
    o.growthFactor = n
  }},
  {short: 'n', long: ['slab-min-size'], takesValue: true, set: (o, v, f) => { o.minSpace = int(f, v, 1, 1024 * 1024, 'a positive number of bytes') }},
  {short: 't', long: ['threads'], takesValue: true, set: (o, v, f) => {
    o.threads = int(f, v, 1, 1024, 'a positive number of threads')
    note(o, f, 'the server is single-threaded; the value is only reported in stats')
  }},
  {short: 'D', takesValue: true, set: (o, v, f) => {
    if (v === '') throw new UsageError(`${f}: no delimiter given; give one character, like -D :`)
    o.prefixDelimiter = v[0]!
    o.detailEnabled = true
  }},
  {short: 'L', long: ['enable-largepages'], takesValue: false, set: (o, _v, f) => note(o, f, 'large pages are not used')},
  {short: 'R', long: ['max-reqs-per-event'], takesValue: true, set: (o, v, f) => { o.reqsPerEvent = int(f, v, 1, 1_000_000, 'a positive number') }},
  {short: 'C', long: ['disable-cas'], takesValue: false, set: (o) => { o.useCas = false }},
  {short: 'b', long: ['listen-backlog'], takesValue: true, set: (o, v, f) => { o.backlog = int(f, v, 1, 1_000_000, 'a positive number') }},
  {short: 'B', long: ['protocol'], takesValue: true, set: (o, v, f) => {
    if (v !== 'auto' && v !== 'ascii' && v !== 'binary') throw new UsageError(`${f}: protocol "${v}" is not one of ascii, binary, auto`)
    o.protocol = v
  }},
  {short: 'I', long: ['max-item-size'], takesValue: true, set: (o, v, f) => { o.itemSizeMax = size(f, v) }},
  {short: 'F', long: ['disable-flush-all'], takesValue: false, set: (o) => { o.flushEnabled = false }},
  {short: 'W', long: ['disable-watch'], takesValue: false, set: (o) => { o.watchEnabled = false }},
  {short: 'o', long: ['extended'], takesValue: true, set: (o, v) => extended(o, v)},
  {short: 'S', long: ['enable-sasl'], takesValue: false, set: (o) => { o.sasl = true }},
  {short: 'Y', long: ['auth-file'], takesValue: true, set: (o, v, f) => {
    if (v === '') throw new UsageError(`${f}: the file path is empty`)
    o.authFile = v
  }},
  {short: 'Z', long: ['enable-ssl'], takesValue: false, set: (o) => { o.tls = true }},
  // repcached
  {short: 'x', takesValue: true, set: (o, v, f) => {
    if (v === '' || /\s/.test(v)) throw new UsageError(`${f}: "${v}" is not a host name or address`)
    o.peer = v
  }},
  {short: 'X', takesValue: true, set: (o, v, f) => {
    const parts = v.split(':')
    if (parts.length === 1) {
      o.replicationListenPort = o.replicationConnectPort = port(f, v)
    } else if (parts.length === 2) {
      o.replicationListenPort = port(f, parts[0]!)
      o.replicationConnectPort = port(f, parts[1]!)
    } else {
      throw new UsageError(`${f}: "${v}" must be PORT or LISTEN_PORT:CONNECT_PORT`)
    }
  }},
  {short: 'q', takesValue: true, set: (o, v, f) => { o.queueMax = int(f, v, 1, 100_000_000, 'a positive number of queue entries') }},
  {long: ['rep-drain-timeout'], takesValue: true, set: (o, v, f) => { o.drainTimeoutMs = duration(f, v, {min: 0, max: 3_600_000}) }},
  {long: ['rep-connect-timeout'], takesValue: true, set: (o, v, f) => { o.connectTimeoutMs = duration(f, v, {min: 1000, max: 3_600_000}) }},
  {long: ['rep-timeout'], takesValue: true, set: (o, v, f) => { o.repTimeoutMs = duration(f, v, {min: 1000, max: 3_600_000}) }},
  {long: ['rep-secret-file'], takesValue: true, set: (o, v, f) => {
    if (v === '') throw new UsageError(`${f}: the file path is empty`)
    o.repSecretFile = v
  }},
  {long: ['rep-no-reconnect'], takesValue: false, set: (o) => { o.repReconnect = false }},
  {long: ['rep-tls-cert'], takesValue: true, set: (o, v, f) => { o.repTlsCert = nonEmpty(f, v) }},
  {long: ['rep-tls-key'], takesValue: true, set: (o, v, f) => { o.repTlsKey = nonEmpty(f, v) }},
  {long: ['rep-tls-ca'], takesValue: true, set: (o, v, f) => { o.repTlsCa = nonEmpty(f, v) }},
  {short: 'e', long: ['snapshot', 'memory-file'], takesValue: true, set: (o, v, f) => {
    if (v === '') throw new UsageError(`${f}: the file path is empty`)
    o.snapshotFile = v
  }},
  {long: ['snapshot-interval'], takesValue: true, set: (o, v, f) => { o.snapshotIntervalMs = duration(f, v, SNAPSHOT_INTERVAL) }},
  {long: ['snapshot-check'], takesValue: true, set: (o, v, f) => {
    if (v === '') throw new UsageError(`${f}: the file path is empty`)
    o.checkFile = v
    o.action = 'check-snapshot'
  }},
  {long: ['snapshot-info'], takesValue: true, set: (o, v, f) => {
    if (v === '') throw new UsageError(`${f}: the file path is empty`)
    o.checkFile = v
    o.action = 'snapshot-info'
  }},
  {long: ['check-serving'], takesValue: true, set: (o, v, f) => {
    o.checkServing = hostPort(f, v)
    o.action = 'check-serving'
  }},
  {long: ['check-tls'], takesValue: false, set: (o) => { o.checkTls = true }},
  {long: ['check-timeout'], takesValue: true, set: (o, v, f) => { o.checkTimeoutMs = duration(f, v, CHECK_TIMEOUT) }},
]

const BY_SHORT = new Map(SPECS.filter((s) => s.short !== undefined).map((s) => [s.short!, s]))
const BY_LONG = new Map(SPECS.flatMap((s) => (s.long ?? []).map((l) => [l, s] as const)))

export function parseOptions(argv: readonly string[]): ServerOptions {
  const o = defaultOptions()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=')
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      const spec = BY_LONG.get(name)
      if (spec === undefined) throw new UsageError(`unknown option --${name}; run with -h for the list`)
      let value = ''
      if (spec.takesValue) {
        if (eq !== -1) value = arg.slice(eq + 1)
        else if (i + 1 < argv.length) value = argv[++i]!
        else throw new UsageError(`--${name} needs a value`)
      } else if (eq !== -1) {
        throw new UsageError(`--${name} takes no value`)
      }
      spec.set(o, value, `--${name}`)
      continue
    }
    if (!arg.startsWith('-') || arg === '-' || arg === '--') throw new UsageError(`unexpected argument "${arg}"; options start with -, run with -h for the list`)
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!
      const spec = BY_SHORT.get(letter)
      if (spec === undefined) throw new UsageError(`unknown option -${letter}; run with -h for the list`)
      if (!spec.takesValue) { spec.set(o, '', `-${letter}`); continue }
      let value: string
      if (j + 1 < arg.length) value = arg.slice(j + 1)
      else if (i + 1 < argv.length) value = argv[++i]!
      else throw new UsageError(`-${letter} needs a value`)
      spec.set(o, value, `-${letter}`)
      break
    }
  }
  validate(o)
  return o
}

function validate(o: ServerOptions): void {
  if (o.repSecretFile === undefined && process.env.REPCACHED_REP_SECRET_FILE) o.repSecretFile = process.env.REPCACHED_REP_SECRET_FILE
  if (o.itemSizeMax > o.memoryLimitBytes / 2) {
    throw new UsageError(`-I: item size ${o.itemSizeMax} is more than half of the memory limit (-m ${o.memoryLimitBytes / 1048576}); raise -m or lower -I`)
  }
  if (o.pidFile !== undefined && o.pidFile === '') throw new UsageError('-P: the pid file path is empty')
  if (o.unixSocket !== undefined && o.unixSocket === '') throw new UsageError('-s: the socket path is empty')
  if (o.sasl && o.authFile === undefined) {
    // memcached: SASL is a binary-protocol mechanism, so -S serves binary only (unless -Y offers ASCII auth).
    if (o.protocol === 'ascii') throw new UsageError('-S: SASL authenticates binary clients only; drop -B ascii, or add -Y FILE for ASCII authentication')
    o.protocol = 'binary'
  }
  if (o.tls && o.tlsCert === undefined) throw new UsageError('-Z: TLS needs a certificate: -o ssl_chain_cert=FILE (and ssl_key=FILE unless the key is in it)')
  if (!o.tls && (o.tlsCert !== undefined || o.tlsKey !== undefined || o.tlsCa !== undefined)) note(o, '-o ssl_*', 'TLS files are only used with -Z')
  if (o.tlsVerifyMode !== 0 && o.tlsCa === undefined && o.tls) throw new UsageError('-o ssl_verify_mode: verifying client certificates needs -o ssl_ca_cert=FILE')
  const rep = [o.repTlsCert, o.repTlsKey, o.repTlsCa]
  if (rep.some((f) => f !== undefined) && rep.some((f) => f === undefined)) {
    throw new UsageError('--rep-tls-cert, --rep-tls-key and --rep-tls-ca go together: each side shows its certificate and verifies the other\'s against the CA')
  }
  if (o.peer !== undefined && (o.replicationConnectPort === 0 || o.replicationListenPort === 0)) {
    throw new UsageError('-X: replication port 0 turns replication off, which contradicts -x; give real ports')
  }
}

export function helpText(): string {
  return `memcached ${MEMCACHED_VERSION}
repcached ${REPCACHED_VERSION} (TypeScript server ${SERVER_RELEASE}, bundled with repctl)
-p, --port=<num>          TCP port to listen on (default: 11211)
-U, --udp-port=<num>      UDP port (accepted; UDP is not served, default: 0, off)
-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)
-A, --enable-shutdown     enable ascii "shutdown" command
-l, --listen=<addr>       interface to listen on (default: INADDR_ANY); comma list or repeated
-d, --daemon              run as a daemon
-r, --enable-coredumps    maximize core file limit (accepted, no effect)
-u, --user=<user>         assume identity of <username> (only when run as root)
-m, --memory-limit=<num>  item memory in megabytes (default: 64)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: 1024)
-k, --lock-memory         lock down all paged memory (accepted, no effect)
-v, --verbose             verbose (print errors/warnings while in event loop)
-vv                       very verbose (also print client commands/responses)
-h, --help                print this help and exit
-i, --license             print the license and exit
-V, --version             print version and exit
-P, --pidfile=<file>      save PID in <file>, only used with -d option
-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)
-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)
-t, --threads=<num>       number of threads (accepted; the server is single-threaded)
-R, --max-reqs-per-event  maximum number of requests per event (default: 20)
-C, --disable-cas         disable use of CAS
-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)
-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)
-I, --max-item-size=<num> adjusts max item size (default: 1m, min: 1k, max: 1024m)
-F, --disable-flush-all   disable flush_all command
-o, --extended            comma separated list of extended options (idle_timeout=N;
                          ssl_chain_cert=FILE, ssl_key=FILE, ssl_ca_cert=FILE, ssl_verify_mode=0-3;
                          memcached's other tuning options are accepted and ignored)
-S, --enable-sasl         binary clients must authenticate (SASL PLAIN); users are the
                          user:password lines of the file MEMCACHED_SASL_PWDB names
-Y, --auth-file=<file>    ASCII clients must authenticate: first command "set <any> 0 0 <n>"
                          with data "user password"; users are the file's user:password lines
-Z, --enable-ssl          TLS on the client port (needs -o ssl_chain_cert, ssl_key)
-x <ip_addr>              hostname or IP address of the master replication server
-X <num>                  TCP port number of the master (default: 11212; 0 = no replication)
-X <listen>:<connect>     separate replication listen and connect ports
-q <num>                  max replication queue entries (default: 8192)
--rep-drain-timeout=<t>   on SIGTERM, send queued changes to the peer for at most t (default: 5s)
--rep-connect-timeout=<t> with -x, wait this long for the peer before listening as master (default: 2s)
--rep-timeout=<t>         native links: a peer silent this long is declared dead (default: 3s)
--rep-secret-file=<file>  shared secret; peers must prove it (also REPCACHED_REP_SECRET_FILE)
--rep-no-reconnect        never dial a lost peer again (repcached's behaviour)
--rep-tls-cert=<file>     TLS on the native replication link: this node's certificate (PEM),
--rep-tls-key=<file>      its key, and
--rep-tls-ca=<file>       the CA the peer's certificate must be signed by (both sides verify)
-e, --snapshot=<file>     load the items saved in <file> at start; save them there at shutdown
                          (memcached's --memory-file spelling works too)
--snapshot-interval=<t>   also save a snapshot every t (default: 0, only at shutdown)
--snapshot-check=<file>   verify a snapshot, print what it holds as JSON, and exit (0 valid, 1 not)
--snapshot-info=<file>    the same from the header alone (the body's checksum is not read)
--check-serving=<a:port>  exit 0 if the server at a:port answers a request, else 1 (keepalived's
                          check: a slave receiving its full copy keeps the port closed)
--check-tls               ... through TLS (-Z); the certificate is not verified, nothing secret is sent
--check-timeout=<t>       ... giving up after t (default: 800ms)
Times <t> are 250ms, 1.5s, 2m, 1h, or a bare number of seconds.
`
}

export function licenseText(): string {
  return `repcached-compatible server, part of repctl ${SERVER_RELEASE}. MIT License.
Protocol compatible with memcached ${MEMCACHED_VERSION} (BSD) and repcached ${REPCACHED_VERSION} (BSD); no code from either is included.
`
}
