import {absoluteExpiry, now} from './clock.js'
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

export interface ClassCounters { items: number; bytes: number; evicted: number; evictedNonzero: number; evictedTime: number; outOfMemory: number; reclaimed: number; expiredUnfetched: number; evictedUnfetched: number }

function newClassCounters(): ClassCounters {
  return {items: 0, bytes: 0, evicted: 0, evictedNonzero: 0, evictedTime: 0, outOfMemory: 0, reclaimed: 0, expiredUnfetched: 0, evictedUnfetched: 0}
}

/** Bounded LRU cache of items with memcached's store/expiry/cas semantics. Knows nothing of protocols. */
export class ItemStore {
  private readonly map = new Map<string, Item>()
  private readonly lru = new LruList<Item>()
  private usedBytes = 0 // sum of item.size
  private chargedBytes = 0 // what counts against maxBytes
  private nextCas = 1
  private lastCas = 0
  private flushTimer: NodeJS.Timeout | undefined
  private crawler: IterableIterator<Item> | undefined
  readonly counters: StoreCounters = {evictions: 0, evictedUnfetched: 0, evictedActive: 0, expiredUnfetched: 0, reclaimed: 0, crawlerReclaimed: 0, crawlerChecked: 0, totalItems: 0, getExpired: 0, getFlushed: 0}
  readonly perClass: ClassCounters[]
  /** Set by the replication layer; called once per successful change. */
  onMutation: ((m: Mutation) => void) | undefined

  constructor(readonly options: ItemStoreOptions) {
    this.perClass = options.slabs.classes.map(() => newClassCounters())
    this.perClass.unshift(newClassCounters()) // class ids start at 1
  }

  get itemCount(): number { return this.map.size }
  get bytes(): number { return this.usedBytes }

  /** The cas of the item the last successful store created (binary replies carry it, even for an already expired item). */
  get lastStoredCas(): number { return this.lastCas }

  /** Allocate a cas value that no other version of any item on this node has had. */
  newCas(): number {
    return this.options.useCas ? this.nextCas++ : 0
  }

  /** A live item, or undefined. Expired items found here are removed. */
  private live(key: string): Item | undefined {
    const it = this.map.get(key)
    if (it === undefined) return undefined
    if (it.exptime !== 0 && it.exptime <= now()) {
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
      it.fetched = true
      it.atime = now()
      this.lru.moveToFront(it)
    }
    return it
  }

  /** Look up without counting as an access (replication reads, stats). */
  peek(key: string): Item | undefined {
    const it = this.map.get(key)
    if (it === undefined || (it.exptime !== 0 && it.exptime <= now())) return undefined
    return it
  }

  /** Change the expiry of a live item (touch, gat). `exptime` is the client's value. */
  touch(key: string, exptime: number): Item | undefined {
    const it = this.get(key)
    if (it === undefined) return undefined
    it.exptime = absoluteExpiry(exptime)
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
    if (old === undefined) {
      if (mode === 'cas') return 'not_found'
      if (mode !== 'set' && mode !== 'add') return 'not_stored'
      return this.insert(key, flags, absoluteExpiry(exptime), value, size, undefined, mode)
    }
    if (mode === 'add') {
      this.lru.moveToFront(old) // memcached promotes the item even though add fails
      return 'not_stored'
    }
    if (mode === 'cas') {
      if (cas === 0 || cas !== old.cas) return 'exists'
    } else if ((mode === 'append' || mode === 'prepend') && cas !== 0 && cas !== old.cas) {
      return 'exists'
    }
    if (mode === 'append' || mode === 'prepend') {
      const joined = mode === 'append' ? old.value + value : value + old.value
      const joinedSize = itemTotalSize(key.length, old.flags, joined.length, this.options.useCas)
      if (joinedSize > this.options.itemSizeMax) return 'not_stored'
      return this.insert(key, old.flags, old.exptime, joined, joinedSize, old, mode)
    }
    return this.insert(key, flags, absoluteExpiry(exptime), value, size, old, mode)
  }

  private insert(key: string, flags: number, exptime: number, value: string, size: number, old: Item | undefined, mode: StoreMode): StoreOutcome {
    const charge = size + JS_OVERHEAD_PER_ITEM
    const freed = old === undefined ? 0 : old.size + JS_OVERHEAD_PER_ITEM
    if (!this.makeRoom(charge - freed, old)) {
      this.perClass[this.options.slabs.classOf(size)]!.outOfMemory++
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
    const it: Item = {key, value, flags, exptime, cas, atime: t, size, cls: this.options.slabs.classOf(size), fetched: false, prev: null, next: null}
    this.link(it)
    this.changed({kind: 'store', key, origin: 'local'})
    return 'stored'
  }

  /** incr/decr with memcached's unsigned 64-bit rules and in-place rewrite. */
  delta(key: string, incr: boolean, delta: bigint): DeltaOutcome {
    const it = this.live(key)
    if (it === undefined) return {status: 'not_found'}
    if (it.value.length === 0) return {status: 'non_numeric'}
    const current = parseStoredNumber(it.value)
    if (current === undefined) return {status: 'non_numeric'}
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
    const outcome = this.insert(key, it.flags, it.exptime, text, size, it, 'set')
    if (outcome !== 'stored') return {status: 'no_memory'}
    return {status: 'ok', value: text, item: this.map.get(key)!}
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
    // memcached refuses an empty value before it looks at the cas.
    if (it.value.length > 0 && cas !== 0 && cas !== it.cas) return {status: 'exists'}
    return this.delta(key, incr, delta)
  }

  delete(key: string): boolean {
    const it = this.live(key)
    if (it === undefined) return false
    this.remove(it, 'local')
    return true
  }

  /** flush_all: now (delay <= 0) or at now + delay (memcached's relative/absolute rules). */
  flush(delay: number): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (delay > 0) {
      this.flushAt(absoluteExpiry(delay))
    } else {
      this.clear()
    }
    this.changed({kind: 'flush', delay, origin: 'local'})
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
      if (it.exptime !== 0 && it.exptime <= t) {
        if (!it.fetched) { this.counters.expiredUnfetched++; this.perClass[it.cls]!.expiredUnfetched++ }
        this.unlink(it)
        this.counters.crawlerReclaimed++
        reclaimed++
      }
    }
    return reclaimed
  }

  /** Every live item, least recently used first (for stats and later full copies). */
  *items(): IterableIterator<Item> {
    const t = now()
    for (let it = this.lru.tail; it !== null; it = it.prev) {
      if (it.exptime === 0 || it.exptime > t) yield it
    }
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
      if (it.exptime === 0 || it.exptime > t) yield it
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
        const expired = victim.exptime !== 0 && victim.exptime <= t
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
