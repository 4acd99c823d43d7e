// Counters and the `stats` listings. Names and order follow memcached 1.6 so
// that existing dashboards and tools parse our output unchanged; values that
// have no meaning in a single-threaded Node server are reported as memcached
// reports an idle feature (0, or the setting's value).

import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {Tunables} from './tunables.js'
import {now} from './store/clock.js'
import type {ItemStore} from './store/item-store.js'
import type {ServerOptions} from './options.js'
import {MEMCACHED_VERSION, SERVER_RELEASE} from './version.js'

/**
 * What the protocols count: commands and misses. Hits and storage commands are
 * counted once, by the store, per slab class (it knows the item's class); the
 * overall figures are their sums, as memcached's are sums of its slab stats.
 */
export class ServerStats {
  cmdGet = 0
  cmdFlush = 0
  cmdTouch = 0
  /** memcached 1.6.18 counts only `me` as cmd_meta. */
  cmdMeta = 0
  getMisses = 0
  deleteMisses = 0
  incrMisses = 0
  decrMisses = 0
  casMisses = 0
  touchMisses = 0
  storeTooLarge = 0
  storeNoMemory = 0
  authCmds = 0
  authErrors = 0
  /** Requests refused for a key over 250 bytes. */
  limitsKeyTooLong = 0
  /** Connections closed for a request line over memcached's limits (2 KiB, 16 KiB, 8 MiB for a get). */
  limitsLineTooLong = 0
  /** Multigets whose reply would pass GET_REPLY_MAX: answered with memcached's out-of-memory error. */
  limitsGetReplyTooLarge = 0
  /** Times a client that did not read its replies was stopped being read until it did. */
  limitsOutputStalls = 0
  /** Clients whose TLS handshake failed (memcached's ssl_handshake_errors). */
  tlsHandshakeErrors = 0
  idleKicks = 0
  bytesRead = 0
  bytesWritten = 0
  currConnections = 0
  totalConnections = 0
  rejectedConnections = 0
  connectionStructures = 0
  /** Times a connection stopped after -R requests to let others in (memcached's conn_yields). */
  connYields = 0
  /** `lru_crawler metadump`/`crawl` runs started (reset by `stats reset`, as memcached's). */
  lruCrawlerStarts = 0
  /** A dump or crawl is running (a gauge). */
  lruCrawlerRunning = false

  /** `stats reset`: the counters memcached resets (not the gauges). */
  reset(): void {
    const keep = {curr: this.currConnections, structs: this.connectionStructures, crawling: this.lruCrawlerRunning}
    Object.assign(this, new ServerStats())
    this.lruCrawlerRunning = keep.crawling
    this.currConnections = keep.curr
    this.connectionStructures = keep.structs
  }
}

export type StatLine = readonly [string, string | number]

/**
 * The sha256 of the file this server was started from, read once at start: a
 * bundle replaced on disk later does not change what this process runs, so
 * `repctl status` can tell a node that still runs an older bundle.
 */
const BUNDLE_SHA256 = ((): string => {
  try { return createHash('sha256').update(readFileSync(process.argv[1] ?? '')).digest('hex') } catch { return '-' }
})()

type ClassCounted = 'getHits' | 'cmdSet' | 'deleteHits' | 'incrHits' | 'decrHits' | 'casHits' | 'casBadval' | 'touchHits'

/** The per-class counts summed over every class: memcached's overall figures. */
function classTotals(store: ItemStore): Record<ClassCounted, number> {
  const t: Record<ClassCounted, number> = {getHits: 0, cmdSet: 0, deleteHits: 0, incrHits: 0, decrHits: 0, casHits: 0, casBadval: 0, touchHits: 0}
  for (const c of store.perClass) for (const k of Object.keys(t) as ClassCounted[]) t[k] += c[k]
  return t
}

/** `stats reset`: the protocols' counters and the store's, together (memcached resets its slab stats with the rest). */
export function resetStats(src: Pick<StatsSources, 'stats' | 'store' | 'detail' | 'events'>): void {
  src.stats.reset()
  src.detail?.clear()
  src.events?.resetCounters()
  src.store.resetCounters()
}

export interface StatsSources {
  options: ServerOptions
  store: ItemStore
  stats: ServerStats
  startedAt: number
  verbosity: number
  /** Extra lines appended after memcached's own (replication). */
  extra?: () => StatLine[]
  /** What operator commands have set (tunables.ts), once one has. */
  tunables?: Tunables
  /** Per-prefix counts (stats-detail.ts), once made. */
  detail?: {readonly enabled: boolean; clear(): void}
  /** `watch` (protocol/watch.ts), once a client has used it. */
  events?: {readonly watcherCount: number; readonly sent: number; readonly skipped: number; readonly written: number; resetCounters(): void}
}

function cpu(us: number): string {
  return `${Math.floor(us / 1e6)}.${String(Math.floor(us % 1e6)).padStart(6, '0')}`
}

export function generalStats(src: StatsSources): StatLine[] {
  const {options: o, store, stats: s} = src
  const c = store.counters
  const h = classTotals(store)
  const usage = process.resourceUsage()
  const t = now()
  const lines: StatLine[] = [
    ['pid', process.pid],
    ['uptime', t - src.startedAt],
    ['time', t],
    ['version', MEMCACHED_VERSION],
    ['libevent', `node-${process.versions.node}`],
    ['pointer_size', 64],
    ['rusage_user', cpu(usage.userCPUTime)],
    ['rusage_system', cpu(usage.systemCPUTime)],
    ['max_connections', o.maxConnections],
    ['curr_connections', s.currConnections],
    ['total_connections', s.totalConnections],
    ['rejected_connections', s.rejectedConnections],
    ['connection_structures', s.connectionStructures],
    ['response_obj_oom', 0],
    ['response_obj_count', 0],
    ['response_obj_bytes', 0],
    ['read_buf_count', 0],
    ['read_buf_bytes', 0],
    ['read_buf_bytes_free', 0],
    ['read_buf_oom', 0],
    ['reserved_fds', 0],
    ['cmd_get', s.cmdGet],
    ['cmd_set', h.cmdSet],
    ['cmd_flush', s.cmdFlush],
    ['cmd_touch', s.cmdTouch],
    ['cmd_meta', s.cmdMeta],
    ['get_hits', h.getHits],
    ['get_misses', s.getMisses],
    ['get_expired', c.getExpired],
    ['get_flushed', c.getFlushed],
    ['delete_misses', s.deleteMisses],
    ['delete_hits', h.deleteHits],
    ['incr_misses', s.incrMisses],
    ['incr_hits', h.incrHits],
    ['decr_misses', s.decrMisses],
    ['decr_hits', h.decrHits],
    ['cas_misses', s.casMisses],
    ['cas_hits', h.casHits],
    ['cas_badval', h.casBadval],
    ['touch_hits', h.touchHits],
    ['touch_misses', s.touchMisses],
    ['store_too_large', s.storeTooLarge],
    ['store_no_memory', s.storeNoMemory],
    ['auth_cmds', s.authCmds],
    ['auth_errors', s.authErrors],
  ]
  if (o.idleTimeout > 0) lines.push(['idle_kicks', s.idleKicks])
  if (o.tls) lines.push(['ssl_handshake_errors', s.tlsHandshakeErrors])
  lines.push(
    ['bytes_read', s.bytesRead],
    ['bytes_written', s.bytesWritten],
    ['limit_maxbytes', o.memoryLimitBytes],
    ['accepting_conns', 1],
    ['listen_disabled_num', 0],
    ['time_in_listen_disabled_us', 0],
    ['threads', 1],
    ['conn_yields', s.connYields],
    ['hash_power_level', 16],
    ['hash_bytes', 524288],
    ['hash_is_expanding', 0],
    // memcached lists these for its slab mover, LRU crawler and maintainer, and
    // loggers, which are on by default; we have none of them, so they stay 0.
    ['slab_reassign_rescues', 0],
    ['slab_reassign_chunk_rescues', 0],
    ['slab_reassign_evictions_nomem', 0],
    ['slab_reassign_inline_reclaim', 0],
    ['slab_reassign_busy_items', 0],
    ['slab_reassign_busy_deletes', 0],
    ['slab_reassign_running', 0],
    ['slabs_moved', 0],
    ['lru_crawler_running', s.lruCrawlerRunning ? 1 : 0],
    ['lru_crawler_starts', s.lruCrawlerStarts],
    ['lru_maintainer_juggles', 0],
    ['malloc_fails', 0],
    ['log_worker_dropped', 0],
    ['log_worker_written', src.events?.written ?? 0],
    ['log_watcher_skipped', src.events?.skipped ?? 0],
    ['log_watcher_sent', src.events?.sent ?? 0],
    ['log_watchers', src.events?.watcherCount ?? 0],
    ['unexpected_napi_ids', 0],
    ['round_robin_fallback', 0],
    ['bytes', store.bytes],
    ['curr_items', store.itemCount],
    ['total_items', c.totalItems],
    ['slab_global_page_pool', 0],
    ['expired_unfetched', c.expiredUnfetched],
    ['evicted_unfetched', c.evictedUnfetched],
  )
  // Replication's lines sit where repcached 2.x puts them.
  if (src.extra !== undefined) lines.push(...src.extra())
  lines.push(
    ['evicted_active', c.evictedActive],
    ['evictions', c.evictions],
    ['reclaimed', c.reclaimed],
    ['crawler_reclaimed', c.crawlerReclaimed],
    ['crawler_items_checked', c.crawlerChecked],
    ['lrutail_reflocked', 0],
    ['moves_to_cold', 0],
    ['moves_to_warm', 0],
    ['moves_within_lru', 0],
    ['direct_reclaims', 0],
    ['lru_bumps_dropped', 0],
  )
  // Ours, after all of memcached's: what the limits on a client's requests and unread output have refused (see README "Security").
  lines.push(['limits_key_too_long', s.limitsKeyTooLong], ['limits_line_too_long', s.limitsLineTooLong], ['limits_get_reply_too_large', s.limitsGetReplyTooLarge], ['limits_output_stalls', s.limitsOutputStalls])
  // Which server this is: the release and the sha256 of the file it was started from (repctl status marks outdated nodes by it).
  lines.push(['repcached_release', SERVER_RELEASE], ['repcached_bundle_sha256', BUNDLE_SHA256])
  return lines
}

/** C's %.2f, which prints what a client may set through strtod: nan, inf. */
function fixed2(n: number): string {
  if (Number.isNaN(n)) return 'nan'
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf'
  return n.toFixed(2)
}

export function settingsStats(src: StatsSources): StatLine[] {
  const t = src.tunables ?? new Tunables(src.options.lruCrawlerAtStart)
  const o = src.options
  return [
    ['maxbytes', o.memoryLimitBytes],
    ['maxconns', o.maxConnections],
    ['tcpport', o.port],
    ['udpport', o.udpPort],
    ['inter', o.listen.length > 0 ? o.listen.join(',') : 'NULL'],
    ['verbosity', src.verbosity],
    ['oldest', 0],
    ['evictions', o.evict ? 'on' : 'off'],
    ['domain_socket', o.unixSocket ?? 'NULL'],
    ['umask', o.unixMask.toString(8)],
    ['shutdown_command', o.enableShutdown ? 'yes' : 'no'],
    ['growth_factor', o.growthFactor.toFixed(2)],
    ['chunk_size', o.minSpace],
    ['num_threads', o.threads],
    ['num_threads_per_udp', o.threads],
    ['stat_key_prefix', o.prefixDelimiter],
    ['detail_enabled', src.detail?.enabled === true ? 'yes' : 'no'],
    ['reqs_per_event', o.reqsPerEvent],
    ['cas_enabled', o.useCas ? 'yes' : 'no'],
    ['tcp_backlog', o.backlog],
    ['binding_protocol', o.protocol === 'auto' ? 'auto-negotiate' : o.protocol],
    // Binary clients must authenticate with -S, and here with -Y as well (memcached leaves them open with -Y alone).
    ['auth_enabled_sasl', o.sasl || o.authFile !== undefined ? 'yes' : 'no'],
    ['auth_enabled_ascii', o.authFile ?? 'no'],
    ['item_size_max', o.itemSizeMax],
    ['maxconns_fast', 'yes'],
    ['hashpower_init', 0],
    // Among the rest, what we have no counterpart for (slab mover, LRU
    // maintainer, loggers, extstore, TLS) shows memcached 1.6.18's defaults, as
    // Debian builds it (extstore and TLS compiled in), so that tools reading
    // `stats settings` find every line they expect.
    ['slab_reassign', 'yes'],
    ['slab_automove', t.slabAutomove],
    ['slab_automove_ratio', fixed2(t.slabAutomoveRatio)],
    ['slab_automove_window', 30],
    ['slab_chunk_max', Math.floor(o.itemSizeMax / 2)],
    ['lru_crawler', t.lruCrawler ? 'yes' : 'no'],
    ['lru_crawler_sleep', t.lruCrawlerSleep],
    ['lru_crawler_tocrawl', t.lruCrawlerTocrawl],
    ['tail_repair_time', 0],
    ['flush_enabled', o.flushEnabled ? 'yes' : 'no'],
    ['dump_enabled', 'yes'],
    ['hash_algorithm', 'murmur3'],
    ['lru_maintainer_thread', 'yes'],
    ['lru_segmented', t.lruSegmented ? 'yes' : 'no'],
    ['hot_lru_pct', t.hotLruPct],
    ['warm_lru_pct', t.warmLruPct],
    ['hot_max_factor', fixed2(t.hotMaxFactor)],
    ['warm_max_factor', fixed2(t.warmMaxFactor)],
    ['temp_lru', t.tempLru ? 'yes' : 'no'],
    ['temporary_ttl', t.temporaryTtl],
    ['idle_timeout', o.idleTimeout],
    ['watcher_logbuf_size', 262144],
    ['worker_logbuf_size', 65536],
    ['read_buf_mem_limit', 0],
    ['track_sizes', 'no'],
    ['inline_ascii_response', 'no'],
    ['ext_item_size', t.extItemSize],
    ['ext_item_age', t.extItemAge],
    ['ext_low_ttl', t.extLowTtl],
    ['ext_recache_rate', t.extRecacheRate],
    ['ext_wbuf_size', 4194304],
    ['ext_compact_under', t.extCompactUnder],
    ['ext_drop_under', t.extDropUnder],
    ['ext_max_sleep', t.extMaxSleep],
    ['ext_max_frag', fixed2(t.extMaxFrag)],
    ['slab_automove_freeratio', '0.010'],
    ['ext_drop_unread', t.extDropUnread ? 'yes' : 'no'],
    ['ssl_enabled', o.tls ? 'yes' : 'no'],
    ['ssl_chain_cert', o.tlsCert ?? '(null)'],
    ['ssl_key', o.tlsKey ?? '(null)'],
    ['ssl_verify_mode', o.tlsVerifyMode],
    ['ssl_keyformat', 1],
    ['ssl_ciphers', 'NULL'],
    ['ssl_ca_cert', o.tlsCa ?? 'NULL'],
    ['ssl_wbuf_size', 16384],
    ['ssl_session_cache', 'no'],
    ['ssl_kernel_tls', 'no'],
    ['ssl_min_version', 'tlsv1.2'],
    ['num_napi_ids', '(null)'],
    ['memory_file', '(null)'],
  ]
}

export function itemsStats(src: StatsSources): StatLine[] {
  const lines: StatLine[] = []
  const store = src.store
  store.perClass.forEach((pc, id) => {
    if (id === 0 || pc.items === 0) return
    const p = `items:${id}:`
    lines.push(
      [p + 'number', pc.items],
      [p + 'number_hot', 0],
      [p + 'number_warm', 0],
      [p + 'number_cold', pc.items],
      [p + 'age_hot', 0],
      [p + 'age_warm', 0],
      [p + 'age', store.oldestAge(id)],
      [p + 'mem_requested', pc.bytes],
      [p + 'evicted', pc.evicted],
      [p + 'evicted_nonzero', pc.evictedNonzero],
      [p + 'evicted_time', pc.evictedTime],
      [p + 'outofmemory', pc.outOfMemory],
      [p + 'tailrepairs', 0],
      [p + 'reclaimed', pc.reclaimed],
      [p + 'expired_unfetched', pc.expiredUnfetched],
      [p + 'evicted_unfetched', pc.evictedUnfetched],
      [p + 'evicted_active', 0],
      [p + 'crawler_reclaimed', pc.crawlerReclaimed],
      [p + 'crawler_items_checked', pc.crawlerChecked],
      [p + 'lrutail_reflocked', 0],
      [p + 'moves_to_cold', 0],
      [p + 'moves_to_warm', 0],
      [p + 'moves_within_lru', 0],
      [p + 'direct_reclaims', 0],
      [p + 'hits_to_hot', 0],
      [p + 'hits_to_warm', 0],
      [p + 'hits_to_cold', 0],
      [p + 'hits_to_temp', 0],
    )
  })
  return lines
}

export function slabsStats(src: StatsSources): StatLine[] {
  const lines: StatLine[] = []
  const store = src.store
  const slabs = store.options.slabs
  let active = 0
  let malloced = 0
  for (const cls of slabs.classes) {
    const pc = store.perClass[cls.id]!
    // memcached lists a class once it has a page, i.e. once a value of that size was received.
    if (pc.items === 0 && pc.cmdSet === 0) continue
    active++
    const pages = Math.max(1, Math.ceil(pc.items / cls.perPage))
    malloced += pages * slabs.pageSize
    const p = `${cls.id}:`
    lines.push(
      [p + 'chunk_size', cls.chunkSize],
      [p + 'chunks_per_page', cls.perPage],
      [p + 'total_pages', pages],
      [p + 'total_chunks', pages * cls.perPage],
      [p + 'used_chunks', pc.items],
      [p + 'free_chunks', pages * cls.perPage - pc.items],
      [p + 'free_chunks_end', 0],
      [p + 'get_hits', pc.getHits],
      [p + 'cmd_set', pc.cmdSet],
      [p + 'delete_hits', pc.deleteHits],
      [p + 'incr_hits', pc.incrHits],
      [p + 'decr_hits', pc.decrHits],
      [p + 'cas_hits', pc.casHits],
      [p + 'cas_badval', pc.casBadval],
      [p + 'touch_hits', pc.touchHits],
    )
  }
  lines.push(['active_slabs', active], ['total_malloced', malloced])
  return lines
}

export function formatStats(lines: readonly StatLine[]): string {
  let out = ''
  for (const [k, v] of lines) out += `STAT ${k} ${v}\r\n`
  return out + 'END\r\n'
}
