import {absoluteExpiry, now, REALTIME_MAXDELTA} from './clock.js'
import type {Item} from './item.js'
import {LruList} from './lru.js'
import {itemTotalSize, SlabClasses} from './slab-classes.js'

export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas'
export type StoreOutcome = 'stored' | 'not_stored' | 'exists' | 'not_found' | 'too_large' | 'no_memory'
export type DeltaOutcome = {status: 'ok'; value: string; item: Item} | {status: 'not_found' | 'non_numeric' | 'no_memory'}
export type DeltaOrCreateOutcome = DeltaOutcome | {status: 'created'; value: string; cas: number} | {status: 'exists' | 'not_stored'}

/** Where a change came from: a client of this node, or the replication peer (never echoed back). */
export type Origin = 'local' | 'peer'

/** The one notification of a successful change, the single place replication hooks in. */
export type Mutation =
  | {kind: 'store'; key: string; origin: Origin}
  | {kind: 'delete'; key: string; origin: Origin}
  | {kind: 'flush'; delay: number; origin: Origin}

export interface ItemStoreOptions {
  /** -m in bytes. */
  maxBytes: number
  /** -I in bytes. */
  itemSizeMax: number
  /** false with -M: refuse instead of evicting. */
  evict: boolean
  /** false with -C. */
  useCas: boolean
  slabs: SlabClasses
}

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Memory an item really costs us beyond memcached's accounting size (object,
 * map entry, string headers; measured ~330 bytes of heap for a 100-byte
 * value). Charged against -m so that the heap tracks the operator's limit.
 */
const JS_OVERHEAD_PER_ITEM = 160

export interface StoreCounters {
  evictions: number
  evictedUnfetched: number
  evictedActive: number
  expiredUnfetched: number
  reclaimed: number
  crawlerReclaimed: number
  crawlerChecked: number
  totalItems: number
  getExpired: number
  getFlushed: number
}

export interface ClassCounters {
  items: number; bytes: number; evicted: number; evictedNonzero: number; evictedTime: number; outOfMemory: number; reclaimed: number; expiredUnfetched: number; evictedUnfetched: number
  /** Client hits per class, as `stats slabs` lists them. */
  getHits: number; cmdSet: number; deleteHits: number; incrHits: number; decrHits: number; casHits: number; casBadval: number; touchHits: number
}

function newClassCounters(): ClassCounters {
  return {
    items: 0, bytes: 0, evicted: 0, evictedNonzero: 0, evictedTime: 0, outOfMemory: 0, reclaimed: 0, expiredUnfetched: 0, evictedUnfetched: 0,
    getHits: 0, cmdSet: 0, deleteHits: 0, incrHits: 0, decrHits: 0, casHits: 0, casBadval: 0, touchHits: 0,
  }
}

/** memcached's process_started lies this many seconds before its real start (ITEM_UPDATE_INTERVAL + 2). */
const PROCESS_STARTED_OFFSET = 62

/** Bounded LRU cache of items with memcached's store/expiry/cas semantics. Knows nothing of protocols. */
export class ItemStore {
  private readonly map = new Map<string, Item>()
  private readonly lru = new LruList<Item>()
  private usedBytes = 0 // sum of item.size
  private chargedBytes = 0 // what counts against maxBytes
  private nextCas = 1
  private lastCas = 0
  private flushTimer: NodeJS.Timeout | undefined
  /**
   * memcached's oldest_live, in unix seconds (0 = none): once this second
   * has come, every item stored or bumped at or before it is gone. It makes
   * a delayed flush_all exact, including items stored while it is pending;
   * the flush timer only frees their memory.
   */
  private oldestLive = 0
  /** Absolute times at or before this mean "before the server started" (memcached's process_started). */
  private readonly processStarted = now() - PROCESS_STARTED_OFFSET
  /** memcached stores items bigger than its slab_chunk_max in chunks, and refuses incr/decr on those. */
  private readonly chunkMax: number
  private crawler: IterableIterator<Item> | undefined
  readonly counters: StoreCounters = {evictions: 0, evictedUnfetched: 0, evictedActive: 0, expiredUnfetched: 0, reclaimed: 0, crawlerReclaimed: 0, crawlerChecked: 0, totalItems: 0, getExpired: 0, getFlushed: 0}
  readonly perClass: ClassCounters[]
  /** Set by the replication layer; called once per successful change. */
  onMutation: ((m: Mutation) => void) | undefined

  constructor(readonly options: ItemStoreOptions) {
    this.perClass = options.slabs.classes.map(() => newClassCounters())
    this.perClass.unshift(newClassCounters()) // class ids start at 1
    this.chunkMax = options.slabs.classes[options.slabs.classes.length - 1]?.chunkSize ?? Infinity
  }

  get itemCount(): number { return this.map.size }
  get bytes(): number { return this.usedBytes }

  /** The cas of the item the last successful store created (binary replies carry it, even for an already expired item). */
  get lastStoredCas(): number { return this.lastCas }

  /**
   * Set by native replication: this node's cas values all have this parity
   * and the peer's the other, so a cas names one version across the pair.
   */
  casParity: 0 | 1 | undefined
  /** Set by native replication: deletes leave tombstones so versions can be ordered. */
  versioned = false
  private readonly tombstones = new Map<string, {cas: number; at: number}>()

  /** Allocate a cas value that no other version of any item on this node (or its native peer) has had. */
  newCas(): number {
    if (!this.options.useCas) return 0
    // Versioned (native pairs): a hybrid clock in microseconds (times two, for the parity bit), so
    // that "newer" follows real time across the pair; 2^53 is reached in the year 2112.
    let c = this.versioned ? Math.max(this.nextCas, Math.floor((performance.timeOrigin + performance.now()) * 1000) * 2) : this.nextCas
    if (this.casParity !== undefined && c % 2 !== this.casParity) c++
    this.nextCas = c + 1
    return c
  }

  /** The version of a recent delete of `key`, if one is remembered. */
  tombstone(key: string): number | undefined {
    return this.tombstones.get(key)?.cas
  }

  /** Every remembered delete, for a full copy to a native peer. */
  tombstoneEntries(): [string, number][] {
    return Array.from(this.tombstones, ([key, t]) => [key, t.cas])
  }

  /** Forget tombstones older than `maxAge` seconds (and the oldest beyond `maxCount`). */
  pruneTombstones(maxAge: number, maxCount = 200_000): void {
    const limit = now() - maxAge
    for (const [key, t] of this.tombstones) {
      if (t.at > limit && this.tombstones.size <= maxCount) break // insertion order is age order
      this.tombstones.delete(key)
    }
  }

  private recordTombstone(key: string, cas: number): void {
    this.tombstones.delete(key) // re-insert at the young end
    this.tombstones.set(key, {cas, at: now()})
  }

  /** Removed by a flush_all that has taken effect (see oldestLive). */
  private flushed(it: Item, t: number): boolean {
    const ol = this.oldestLive
    return ol !== 0 && ol <= t && it.atime <= ol
  }

  /** Expired, or removed by a flush_all that has taken effect. */
  private dead(it: Item, t: number): boolean {
    return (it.exptime !== 0 && it.exptime <= t) || this.flushed(it, t)
  }

  /** A live item, or undefined. Expired and flushed items found here are removed. */
  private live(key: string): Item | undefined {
    const it = this.map.get(key)
    if (it === undefined) return undefined
    const t = now()
    if (this.oldestLive !== 0 && this.flushed(it, t)) {
      this.counters.getFlushed++
      this.unlink(it)
      return undefined
    }
    if (it.exptime !== 0 && it.exptime <= t) {
      this.counters.getExpired++
      if (!it.fetched) { this.counters.expiredUnfetched++; this.perClass[it.cls]!.expiredUnfetched++ }
      this.unlink(it)
      return undefined
    }
    return it
  }

  /** Look up for a client read: bumps the item in the LRU. */
  get(key: string): Item | undefined {
    const it = this.live(key)
    if (it !== undefined) {
      this.bump(it)
      this.perClass[it.cls]!.getHits++
    }
    return it
  }

  private bump(it: Item): void {
    it.fetched = true
    it.atime = now()
    this.lru.moveToFront(it)
  }

  /** Look up without counting as an access (replication reads, stats). */
  peek(key: string): Item | undefined {
    const it = this.map.get(key)
    if (it === undefined || this.dead(it, now())) return undefined
    return it
  }

  /** Change the expiry of a live item (touch, gat). `exptime` is the client's value. */
  touch(key: string, exptime: number): Item | undefined {
    const it = this.live(key)
    if (it === undefined) return undefined
    this.bump(it)
    this.perClass[it.cls]!.touchHits++
    it.exptime = absoluteExpiry(exptime)
    // Between native peers a touch is a new version, so that "the newer version wins" carries it over.
    if (this.versioned) it.cas = this.newCas()
    this.changed({kind: 'store', key, origin: 'local'})
    return it
  }

  /**
   * The storage commands. `exptime` is the client's value (relative or
   * absolute); `cas` is the client's cas (0 = none).
   */
  store(mode: StoreMode, key: string, flags: number, exptime: number, value: string, cas: number): StoreOutcome {
    const size = itemTotalSize(key.length, flags, value.length, this.options.useCas)
    const old = this.live(key)
    if (size > this.options.itemSizeMax) {
      // memcached drops the old value of a failed set so that no stale data survives.
      if (mode === 'set' && old !== undefined) this.remove(old, 'local')
      return 'too_large'
    }
    const cls = this.options.slabs.classOf(size)
    this.perClass[cls]!.cmdSet++
    if (old === undefined) {
      if (mode === 'cas') return 'not_found'
      if (mode !== 'set' && mode !== 'add') return 'not_stored'
      return this.insert(key, flags, absoluteExpiry(exptime), value, size, undefined, mode, cls)
    }
    if (mode === 'add') {
      this.lru.moveToFront(old) // memcached promotes the item even though add fails
      return 'not_stored'
    }
    if (mode === 'cas') {
      if (cas === 0 || cas !== old.cas) {
        this.perClass[old.cls]!.casBadval++
        return 'exists'
      }
      this.perClass[old.cls]!.casHits++
    } else if ((mode === 'append' || mode === 'prepend') && cas !== 0 && cas !== old.cas) {
      return 'exists'
    }
    if (mode === 'append' || mode === 'prepend') {
      const joined = mode === 'append' ? old.value + value : value + old.value
      const joinedSize = itemTotalSize(key.length, old.flags, joined.length, this.options.useCas)
      if (joinedSize > this.options.itemSizeMax) return 'not_stored'
      return this.insert(key, old.flags, old.exptime, joined, joinedSize, old, mode, this.options.slabs.classOf(joinedSize))
    }
    return this.insert(key, flags, absoluteExpiry(exptime), value, size, old, mode, cls)
  }

  private insert(key: string, flags: number, exptime: number, value: string, size: number, old: Item | undefined, mode: StoreMode, cls: number): StoreOutcome {
    const charge = size + JS_OVERHEAD_PER_ITEM
    const freed = old === undefined ? 0 : old.size + JS_OVERHEAD_PER_ITEM
    if (!this.makeRoom(charge - freed, old)) {
      this.perClass[cls]!.outOfMemory++
      if (mode === 'set' && old !== undefined) this.remove(old, 'local')
      return 'no_memory'
    }
    if (old !== undefined) this.unlink(old)
    const cas = this.newCas()
    this.lastCas = cas
    if (exptime === 1) {
      // Already expired (negative or past exptime): the store succeeds but nothing is visible.
      this.changed({kind: 'delete', key, origin: 'local'})
      return 'stored'
    }
    const t = now()
    const it: Item = {key, value, flags, exptime, cas, atime: t, size, cls, fetched: false, prev: null, next: null}
    this.link(it)
    this.changed({kind: 'store', key, origin: 'local'})
    return 'stored'
  }

  /** incr/decr with memcached's unsigned 64-bit rules and in-place rewrite. */
  delta(key: string, incr: boolean, delta: bigint): DeltaOutcome {
    const it = this.live(key)
    if (it === undefined) return {status: 'not_found'}
    if (this.refusesDelta(it)) return {status: 'non_numeric'}
    const current = parseStoredNumber(it.value)
    if (current === undefined) return {status: 'non_numeric'}
    const pc = this.perClass[it.cls]!
    if (incr) pc.incrHits++
    else pc.decrHits++
    let next: bigint
    if (incr) next = (current + delta) & 0xffffffffffffffffn
    else next = delta > current ? 0n : current - delta
    const text = next.toString()
    it.fetched = true
    if (text.length <= it.value.length) {
      // memcached rewrites the number in place, padding with spaces to the old length.
      it.value = text.length === it.value.length ? text : text + ' '.repeat(it.value.length - text.length)
      it.cas = this.newCas()
      it.atime = now()
      this.lru.moveToFront(it)
      this.changed({kind: 'store', key, origin: 'local'})
      return {status: 'ok', value: text, item: it}
    }
    const size = itemTotalSize(key.length, it.flags, text.length, this.options.useCas)
    const outcome = this.insert(key, it.flags, it.exptime, text, size, it, 'set', this.options.slabs.classOf(size))
    if (outcome !== 'stored') return {status: 'no_memory'}
    return {status: 'ok', value: text, item: this.map.get(key)!}
  }

  /** Values incr/decr refuse without reading them: empty, or stored in chunks by memcached. */
  private refusesDelta(it: Item): boolean {
    return it.value.length === 0 || it.size > this.chunkMax
  }

  /**
   * incr/decr as the binary protocol does it: a non-zero `cas` must match, and
   * a miss creates the item holding `create.initial` (flags 0) instead of failing.
   */
  deltaOrCreate(key: string, incr: boolean, delta: bigint, cas: number, create: {initial: bigint; exptime: number} | undefined): DeltaOrCreateOutcome {
    const it = this.live(key)
    if (it === undefined) {
      if (create === undefined) return {status: 'not_found'}
      const value = create.initial.toString()
      const outcome = this.store('add', key, 0, create.exptime, value, 0)
      if (outcome === 'stored') return {status: 'created', value, cas: this.lastCas}
      return {status: outcome === 'no_memory' ? 'no_memory' : 'not_stored'}
    }
    // memcached refuses an empty or chunked value before it looks at the cas.
    if (!this.refusesDelta(it) && cas !== 0 && cas !== it.cas) return {status: 'exists'}
    return this.delta(key, incr, delta)
  }

  delete(key: string): boolean {
    const it = this.live(key)
    if (it === undefined) return false
    this.perClass[it.cls]!.deleteHits++
    this.remove(it, 'local')
    return true
  }

  /**
   * flush_all with memcached's rules: `delay` <= 0 flushes now; otherwise
   * the flush takes effect one second before the relative or absolute time
   * it names, and also removes what is stored until then. An absolute time
   * before the server started cancels any pending flush and flushes nothing.
   * Without cas (-C) memcached's boundary is one second later.
   */
  flush(delay: number, origin: Origin = 'local'): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const t = now()
    let oldest: number
    if (delay <= 0) oldest = t - 1
    else if (delay <= REALTIME_MAXDELTA) oldest = t + delay - 1
    else oldest = delay <= this.processStarted ? -1 : delay - 1
    if (!this.options.useCas && oldest !== -1) oldest++
    if (oldest === -1) {
      this.oldestLive = 0
    } else if (oldest < t) {
      // In the past: what is stored so far goes (memcached's oldest_cas), later stores stay.
      this.oldestLive = 0
      this.clear()
    } else {
      this.oldestLive = oldest
      this.flushAt(oldest)
    }
    this.changed({kind: 'flush', delay, origin})
  }

  /** setTimeout fires at once for delays over 2^31-1 ms (~24.8 days), so far deadlines are reached in steps. */
  private flushAt(at: number): void {
    const ms = Math.max(0, at * 1000 - Date.now())
    const step = Math.min(ms, MAX_TIMER_MS)
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      if (step < ms) this.flushAt(at)
      else this.clear()
    }, step)
    this.flushTimer.unref()
  }

  /**
   * Every item, lazily, in storage order, for a full copy or a snapshot: no
   * lookup per item. Items removed during the walk are skipped; items stored
   * (or re-stored) during it may be met. Check each with isLive.
   */
  itemWalk(): IterableIterator<Item> {
    return this.map.values()
  }

  /** Not expired and not flushed (what peek would return). */
  isLive(it: Item): boolean {
    return !this.dead(it, now())
  }

  /** An item from a snapshot at start: kept as saved (absolute exptime, cas) unless it expired meanwhile. */
  restoreItem(key: string, flags: number, exptime: number, cas: number, value: string): boolean {
    return this.applyPeerItem(key, flags, exptime, cas, value)
  }

  /** Forget everything at once (a snapshot that failed half-way through loading). */
  reset(): void {
    this.clear()
  }

  /**
   * An item from the replication peer: stored as sent (absolute exptime, the
   * peer's cas), evicting as needed; never reported back to the peer. With
   * `newerOnly` (native links) it is kept only if its cas is above the local
   * version and any remembered delete: crossing writes then converge.
   * Returns false when it is not kept.
   */
  applyPeerItem(key: string, flags: number, exptime: number, cas: number, value: string, newerOnly = false): boolean {
    // Later local versions must not reuse a cas the peer handed out.
    if (cas >= this.nextCas) this.nextCas = cas + 1
    const t = now()
    // One lookup: a full copy applies a million of these.
    const stale = this.map.get(key)
    const old = stale !== undefined && !this.dead(stale, t) ? stale : undefined
    if (newerOnly && ((old !== undefined && old.cas >= cas) || (this.tombstone(key) ?? -1) >= cas)) return false
    const size = itemTotalSize(key.length, flags, value.length, this.options.useCas)
    if (stale !== undefined) this.unlink(stale)
    if (size > this.options.itemSizeMax || (exptime !== 0 && exptime <= t) || !this.makeRoom(size + JS_OVERHEAD_PER_ITEM, undefined)) {
      if (old !== undefined) this.changed({kind: 'delete', key, origin: 'peer'})
      return false
    }
    const cls = this.options.slabs.classOf(size)
    this.link({key, value, flags, exptime, cas: this.options.useCas ? cas : 0, atime: t, size, cls, fetched: false, prev: null, next: null})
    this.changed({kind: 'store', key, origin: 'peer'})
    return true
  }

  /** A delete from the peer; with a version (native), only a newer delete removes the local item. */
  applyPeerDelete(key: string, cas?: number): void {
    if (cas !== undefined) {
      if (cas >= this.nextCas) this.nextCas = cas + 1
      const live = this.peek(key)
      if (live !== undefined && live.cas > cas) return
      if ((this.tombstone(key) ?? -1) < cas) this.recordTombstone(key, cas)
    }
    const it = this.map.get(key)
    if (it !== undefined) this.remove(it, 'peer')
  }

  /** A flush from the peer: `at` is 0 for now, else the absolute time the peer's client asked for. */
  applyPeerFlush(at: number): void {
    this.flush(at, 'peer')
  }

  /** Walk up to `budget` items and drop the expired ones; called periodically. */
  crawl(budget: number): number {
    let reclaimed = 0
    const t = now()
    if (this.crawler === undefined) this.crawler = this.map.values()
    for (let i = 0; i < budget; i++) {
      const r = this.crawler.next()
      if (r.done === true) { this.crawler = undefined; break }
      const it = r.value
      this.counters.crawlerChecked++
      if (this.dead(it, t)) {
        if (!it.fetched) { this.counters.expiredUnfetched++; this.perClass[it.cls]!.expiredUnfetched++ }
        this.unlink(it)
        this.counters.crawlerReclaimed++
        reclaimed++
      }
    }
    return reclaimed
  }

  /** Age in seconds of the least recently used item of a class (for `stats items`). */
  oldestAge(cls: number): number {
    for (let it = this.lru.tail; it !== null; it = it.prev) if (it.cls === cls) return now() - it.atime
    return 0
  }

  /** cache_memlimit: change -m at run time, evicting down to the new limit. */
  setMemoryLimit(bytes: number): void {
    this.options.maxBytes = bytes
    this.makeRoom(0, undefined)
  }

  /** Every live item, most recently used first (stats cachedump). */
  *itemsNewestFirst(): IterableIterator<Item> {
    const t = now()
    for (let it = this.lru.head; it !== null; it = it.next) {
      if (!this.dead(it, t)) yield it
    }
  }

  close(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
  }

  private clear(): void {
    this.map.clear()
    this.lru.clear()
    this.usedBytes = 0
    this.chargedBytes = 0
    this.crawler = undefined
    for (const c of this.perClass) { c.items = 0; c.bytes = 0 }
  }

  private makeRoom(need: number, keep: Item | undefined): boolean {
    const max = this.options.maxBytes
    if (this.chargedBytes + need <= max) return true
    const t = now()
    let victim = this.lru.tail
    while (this.chargedBytes + need > max && victim !== null) {
      const prev = victim.prev
      if (victim !== keep) {
        const expired = this.dead(victim, t)
        if (expired) {
          this.counters.reclaimed++
          this.perClass[victim.cls]!.reclaimed++
        } else {
          if (!this.options.evict) return false
          this.counters.evictions++
          const pc = this.perClass[victim.cls]!
          pc.evicted++
          pc.evictedTime = t - victim.atime
          if (victim.exptime !== 0) pc.evictedNonzero++
          if (!victim.fetched) { this.counters.evictedUnfetched++; pc.evictedUnfetched++ }
        }
        this.unlink(victim)
      }
      victim = prev
    }
    return this.chargedBytes + need <= max
  }

  private link(it: Item): void {
    this.map.set(it.key, it)
    this.lru.pushFront(it)
    this.usedBytes += it.size
    this.chargedBytes += it.size + JS_OVERHEAD_PER_ITEM
    this.counters.totalItems++
    const pc = this.perClass[it.cls]!
    pc.items++
    pc.bytes += it.size
  }

  private unlink(it: Item): void {
    this.map.delete(it.key)
    this.lru.remove(it)
    this.usedBytes -= it.size
    this.chargedBytes -= it.size + JS_OVERHEAD_PER_ITEM
    const pc = this.perClass[it.cls]!
    pc.items--
    pc.bytes -= it.size
  }

  private remove(it: Item, origin: Origin): void {
    this.unlink(it)
    if (this.versioned && origin === 'local') this.recordTombstone(it.key, this.newCas())
    this.changed({kind: 'delete', key: it.key, origin})
  }

  private changed(m: Mutation): void {
    if (this.onMutation !== undefined) this.onMutation(m)
  }
}

/**
 * The number stored in an item, read the way memcached's safe_strtoull reads
 * it: leading white space, digits, then white space or the end; NUL ends it.
 */
export function parseStoredNumber(value: string): bigint | undefined {
  const nul = value.indexOf('\0')
  const s = nul === -1 ? value : value.slice(0, nul)
  const m = /^[\t\n\v\f\r ]*([+-]?)(\d+)(?:[\t\n\v\f\r ]|$)/.exec(s)
  if (m === null) return undefined
  const digits = BigInt(m[2]!)
  if (digits > 0xffffffffffffffffn) return undefined // ERANGE
  const v = m[1] === '-' ? (0x10000000000000000n - digits) & 0xffffffffffffffffn : digits
  // strtoull accepts "-5" as 2^64-5; memcached refuses it when a '-' appears anywhere in the value.
  if (v > 0x7fffffffffffffffn && s.includes('-')) return undefined
  return v
}
