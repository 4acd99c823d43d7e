// Counters and the `stats` listings. Names and order follow memcached 1.6 so
// that existing dashboards and tools parse our output unchanged; values that
// have no meaning in a single-threaded Node server are reported as memcached
// reports an idle feature (0, or the setting's value).

import {now} from './store/clock.js'
import type {ItemStore} from './store/item-store.js'
import type {ServerOptions} from './options.js'
import {MEMCACHED_VERSION} from './version.js'

export class ServerStats {
  cmdGet = 0
  cmdSet = 0
  cmdFlush = 0
  cmdTouch = 0
  getHits = 0
  getMisses = 0
  deleteMisses = 0
  deleteHits = 0
  incrMisses = 0
  incrHits = 0
  decrMisses = 0
  decrHits = 0
  casMisses = 0
  casHits = 0
  casBadval = 0
  touchHits = 0
  touchMisses = 0
  storeTooLarge = 0
  storeNoMemory = 0
  authCmds = 0
  authErrors = 0
  idleKicks = 0
  bytesRead = 0
  bytesWritten = 0
  currConnections = 0
  totalConnections = 0
  rejectedConnections = 0
  connectionStructures = 0

  /** `stats reset`: the counters memcached resets (not the gauges). */
  reset(): void {
    const keep = {curr: this.currConnections, structs: this.connectionStructures}
    Object.assign(this, new ServerStats())
    this.currConnections = keep.curr
    this.connectionStructures = keep.structs
  }
}

export type StatLine = readonly [string, string | number]

export interface StatsSources {
  options: ServerOptions
  store: ItemStore
  stats: ServerStats
  startedAt: number
  verbosity: number
  /** Extra lines appended after memcached's own (replication). */
  extra?: () => StatLine[]
}

function cpu(us: number): string {
  return `${Math.floor(us / 1e6)}.${String(Math.floor(us % 1e6)).padStart(6, '0')}`
}

export function generalStats(src: StatsSources): StatLine[] {
  const {options: o, store, stats: s} = src
  const c = store.counters
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
    ['cmd_set', s.cmdSet],
    ['cmd_flush', s.cmdFlush],
    ['cmd_touch', s.cmdTouch],
    ['cmd_meta', 0],
    ['get_hits', s.getHits],
    ['get_misses', s.getMisses],
    ['get_expired', c.getExpired],
    ['get_flushed', c.getFlushed],
    ['delete_misses', s.deleteMisses],
    ['delete_hits', s.deleteHits],
    ['incr_misses', s.incrMisses],
    ['incr_hits', s.incrHits],
    ['decr_misses', s.decrMisses],
    ['decr_hits', s.decrHits],
    ['cas_misses', s.casMisses],
    ['cas_hits', s.casHits],
    ['cas_badval', s.casBadval],
    ['touch_hits', s.touchHits],
    ['touch_misses', s.touchMisses],
    ['store_too_large', s.storeTooLarge],
    ['store_no_memory', s.storeNoMemory],
    ['auth_cmds', s.authCmds],
    ['auth_errors', s.authErrors],
  ]
  if (o.idleTimeout > 0) lines.push(['idle_kicks', s.idleKicks])
  lines.push(
    ['bytes_read', s.bytesRead],
    ['bytes_written', s.bytesWritten],
    ['limit_maxbytes', o.memoryLimitBytes],
    ['accepting_conns', 1],
    ['listen_disabled_num', 0],
    ['time_in_listen_disabled_us', 0],
    ['threads', 1],
    ['conn_yields', 0],
    ['hash_power_level', 16],
    ['hash_bytes', 524288],
    ['hash_is_expanding', 0],
    ['malloc_fails', 0],
    ['bytes', store.bytes],
    ['curr_items', store.itemCount],
    ['total_items', c.totalItems],
    ['expired_unfetched', c.expiredUnfetched],
    ['evicted_unfetched', c.evictedUnfetched],
  )
  if (src.extra !== undefined) lines.push(...src.extra())
  lines.push(
    ['evicted_active', c.evictedActive],
    ['evictions', c.evictions],
    ['reclaimed', c.reclaimed],
    ['crawler_reclaimed', c.crawlerReclaimed],
    ['crawler_items_checked', c.crawlerChecked],
  )
  return lines
}

export function settingsStats(src: StatsSources): StatLine[] {
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
    ['stat_key_prefix', ':'],
    ['detail_enabled', 'no'],
    ['reqs_per_event', o.reqsPerEvent],
    ['cas_enabled', o.useCas ? 'yes' : 'no'],
    ['tcp_backlog', o.backlog],
    ['binding_protocol', o.protocol === 'auto' ? 'auto-negotiate' : o.protocol],
    ['auth_enabled_sasl', 'no'],
    ['auth_enabled_ascii', 'no'],
    ['item_size_max', o.itemSizeMax],
    ['maxconns_fast', 'yes'],
    ['hashpower_init', 0],
    ['slab_reassign', 'no'],
    ['slab_automove', 0],
    ['slab_chunk_max', Math.floor(o.itemSizeMax / 2)],
    ['lru_crawler', 'yes'],
    ['flush_enabled', o.flushEnabled ? 'yes' : 'no'],
    ['dump_enabled', 'yes'],
    ['idle_timeout', o.idleTimeout],
    ['ssl_enabled', 'no'],
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
      [p + 'crawler_reclaimed', 0],
      [p + 'crawler_items_checked', 0],
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
    if (pc.items === 0) continue
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
