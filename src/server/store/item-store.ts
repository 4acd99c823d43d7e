import {absoluteExpiry, now, REALTIME_MAXDELTA} from './clock.js'
import {ItemState, type Item, type RawItem} from './item.js'
import {ItemTable, NIL, type WalkCursor} from './item-table.js'
import {itemTotalSize, SlabClasses} from './slab-classes.js'

export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas'
export type StoreOutcome = 'stored' | 'not_stored' | 'exists' | 'not_found' | 'too_large' | 'no_memory'
export type DeltaOutcome = {status: 'ok'; value: string; item: Item} | {status: 'not_found' | 'non_numeric' | 'no_memory'}
/** What the meta commands read of a live item besides its fields: its access marks as they were before this request. */
export interface MetaItem extends Item {
  /** Read before (memcached's ITEM_FETCHED). */
  readonly fetched: boolean
  /** Last access, unix seconds (memcached's it->time: refreshed at most once a minute). */
  readonly lastAccess: number
  /** memcached's slab class and accounting size (`me`). */
  readonly cls: number
  readonly size: number
}

/** Options of a store that only the meta protocol uses. */
export interface StoreExtras {
  /** ms … I: a cas below the item's stores the value as stale instead of failing (memcached's set_stale). */
  invalidate?: boolean
  /** ms … b: the key came base64-encoded, and meta replies show it so. */
  binaryKey?: boolean
}

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
 * What an item costs beside its chunk: its slot in the item table's typed
 * arrays (~50 bytes), its index entry and the arrays' growth room. Charged
 * against -m with the chunk so that memory tracks the operator's limit.
 */
const SLOT_OVERHEAD = 80

/** What a lookup by key met (memcached's was_found). */
export type LookupResult = 'not_found' | 'found' | 'flushed' | 'expired'

/** An item as `lru_crawler metadump` lists it (see walkMeta). */
export interface DumpItem extends RawItem {
  /** Unix seconds of the last access that refreshed the item. */
  lastAccess: number
  fetched: boolean
  cls: number
  /** memcached's item size (ITEM_ntotal). */
  size: number
}

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
  /** Items of the class the expiry crawl looked at, and removed (`stats items`). */
  crawlerChecked: number; crawlerReclaimed: number
  /** Client hits per class, as `stats slabs` lists them. */
  getHits: number; cmdSet: number; deleteHits: number; incrHits: number; decrHits: number; casHits: number; casBadval: number; touchHits: number
}

function newClassCounters(): ClassCounters {
  return {
    items: 0, bytes: 0, evicted: 0, evictedNonzero: 0, evictedTime: 0, outOfMemory: 0, reclaimed: 0, expiredUnfetched: 0, evictedUnfetched: 0,
    crawlerChecked: 0, crawlerReclaimed: 0,
    getHits: 0, cmdSet: 0, deleteHits: 0, incrHits: 0, decrHits: 0, casHits: 0, casBadval: 0, touchHits: 0,
  }
}

/** memcached's process_started lies this many seconds before its real start (ITEM_UPDATE_INTERVAL + 2). */
const PROCESS_STARTED_OFFSET = 62
/** The item table's `fetched` mark (memcached's ITEM_FETCHED). */
const FETCHED = 1

/** Bounded LRU cache of items with memcached's store/expiry/cas semantics. Knows nothing of protocols. */
export class ItemStore {
  private readonly table = new ItemTable()
  private usedBytes = 0 // sum of memcached's item sizes
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
  private crawler: WalkCursor | undefined
  private readonly walkSlots: number[] = []
  private readonly raw: RawItem = {buf: Buffer.alloc(0), at: 0, keyLength: 0, valueLength: 0, flags: 0, exptime: 0, cas: 0, version: 0}
  readonly counters: StoreCounters = {evictions: 0, evictedUnfetched: 0, evictedActive: 0, expiredUnfetched: 0, reclaimed: 0, crawlerReclaimed: 0, crawlerChecked: 0, totalItems: 0, getExpired: 0, getFlushed: 0}
  readonly perClass: ClassCounters[]
  /** Set by the replication layer; called once per successful change. */
  onMutation: ((m: Mutation) => void) | undefined

  constructor(readonly options: ItemStoreOptions) {
    this.perClass = options.slabs.classes.map(() => newClassCounters())
    this.perClass.unshift(newClassCounters()) // class ids start at 1
    this.chunkMax = options.slabs.classes[options.slabs.classes.length - 1]?.chunkSize ?? Infinity
  }

  get itemCount(): number { return this.table.count }
  get bytes(): number { return this.usedBytes }

  /** The cas of the item the last successful store created (binary replies carry it, even for an already expired item); 0 with -C. */
  get lastStoredCas(): number { return this.options.useCas ? this.lastCas : 0 }

  /** The version of the last successful store (kept with -C too). */
  get lastStoredVersion(): number { return this.lastCas }

  /**
   * Set by native replication: this node's cas values all have this parity
   * and the peer's the other, so a cas names one version across the pair.
   */
  casParity: 0 | 1 | undefined
  /**
   * Set by native replication: removals leave tombstones and flushes a floor, so versions can be
   * ordered. With -C too: -C only hides the cas from clients (see clientCas).
   */
  versioned = false
  private readonly tombstones = new Map<string, {cas: number; at: number}>()
  /**
   * Versioned stores: every version below this is flushed, whoever wrote it
   * (the newest flush_all known here, this node's or the peer's). One number:
   * unlike tombstones it is never pruned.
   */
  private flushFloor = 0
  /** Versioned stores: the version of the latest flush_all command applied here (a later one replaces a pending delayed flush). */
  private flushIssued = 0

  /**
   * Allocate a version (a cas) that no other version of any item on this node
   * (or its native peer) has had. Drawn with -C too: clients see 0 instead.
   */
  newCas(): number {
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

  /**
   * Removed by a flush_all that has taken effect (see oldestLive). Between
   * native peers by version instead, below the floor (which covers a flush
   * that has come, to the end of its second), so that both nodes judge an
   * item alike: a peer's item linked here during that second is not taken
   * for one stored before it, and with -C, whose flush takes the rest of its
   * second too, nor is a write the peer made after it had the flush.
   */
  private flushed(s: number, t: number): boolean {
    if (this.versioned) return this.table.cas[s]! < this.floorAt(t)
    const ol = this.oldestLive
    return ol !== 0 && ol <= t && this.table.atime[s]! <= ol
  }

  /** The cas a client sees of the item in a slot: its version, or 0 with -C (memcached -C's ITEM_get_cas). */
  private clientCas(s: number): number {
    return this.options.useCas ? this.table.cas[s]! : 0
  }

  /** Expired, or removed by a flush_all that has taken effect. */
  private dead(s: number, t: number): boolean {
    const e = this.table.exptime[s]!
    return (e !== 0 && e <= t) || this.flushed(s, t)
  }

  /** The slot of a live item, or NIL. Expired and flushed items found here are removed. */
  private live(key: string): number {
    const tb = this.table
    const s = tb.find(key)
    if (s === NIL) {
      if (this.onLookup !== undefined) this.onLookup(key, 'not_found', 0, 0)
      return NIL
    }
    const t = now()
    if ((this.oldestLive !== 0 || this.versioned) && this.flushed(s, t)) {
      this.counters.getFlushed++
      if (this.onLookup !== undefined) this.onLookup(key, 'flushed', 0, 0)
      this.unlink(s)
      return NIL
    }
    const e = tb.exptime[s]!
    if (e !== 0 && e <= t) {
      this.counters.getExpired++
      if (tb.fetched[s] === 0) { this.counters.expiredUnfetched++; this.perClass[tb.cls[s]!]!.expiredUnfetched++ }
      if (this.onLookup !== undefined) this.onLookup(key, 'expired', 0, 0)
      this.unlink(s)
      return NIL
    }
    if (this.onLookup !== undefined) this.onLookup(key, 'found', tb.cls[s]!, tb.valueLen[s]!)
    return s
  }

  /** Set while someone watches evictions (memcached's `watch evictions`): each live item evicted to make room. */
  onEvict: ((key: string, fetched: boolean, exptime: number, lastAccess: number, cls: number, valueLength: number) => void) | undefined

  /** Set while someone watches lookups (memcached's `watch fetchers`): every lookup by key, what it found (class and value length of a live item, else 0). */
  onLookup: ((key: string, result: LookupResult, cls: number, valueLength: number) => void) | undefined

  /** A reader's copy of a slot's fields. */
  private view(s: number, key: string = this.table.key(s)): Item {
    const tb = this.table
    return {key, value: tb.value(s), flags: tb.flags[s]!, exptime: tb.exptime[s]!, cas: this.clientCas(s), version: tb.cas[s]!, state: tb.state[s]!}
  }

  /** memcached's accounting size of the item in a slot. */
  private sizeOf(s: number): number {
    const tb = this.table
    return itemTotalSize(tb.keyLen[s]!, tb.flags[s]!, tb.valueLen[s]!, this.options.useCas)
  }

  /** What an item with `bytes` of key and value counts against -m. */
  private chargeFor(bytes: number): number {
    return this.table.arena.chunkSize(bytes) + SLOT_OVERHEAD
  }

  /** Look up for a client read: bumps the item in the LRU. */
  get(key: string): Item | undefined {
    const s = this.live(key)
    if (s === NIL) return undefined
    this.bump(s)
    this.perClass[this.table.cls[s]!]!.getHits++
    return this.view(s, key)
  }

  /**
   * get() without copies, for a reply built straight from the item's bytes:
   * fills `into` (valid until the store next changes); false on a miss.
   */
  getRaw(key: string, into: RawItem): boolean {
    const s = this.live(key)
    if (s === NIL) return false
    this.bump(s)
    this.perClass[this.table.cls[s]!]!.getHits++
    this.table.fillRaw(s, into)
    into.cas = this.clientCas(s)
    return true
  }

  private bump(s: number): void {
    const tb = this.table
    // memcached's segmented LRU: the first hit only marks an item fetched; a later one refreshes its
    // access time (mg's l, me's la show it) once its LRU maintainer has cleared the item's active mark,
    // which it does in the background: we refresh it on every later hit.
    if (tb.fetched[s] === 0) tb.fetched[s] = FETCHED
    else tb.atime[s] = now()
    tb.moveToFront(s)
  }

  /** A live item with its access marks, without counting or bumping it (the meta commands do that after reading them). */
  metaPeek(key: string): MetaItem | undefined {
    const s = this.live(key)
    return s === NIL ? undefined : this.metaView(s, key)
  }

  private metaView(s: number, key: string): MetaItem {
    const tb = this.table
    return {...this.view(s, key), fetched: tb.fetched[s] !== 0, lastAccess: tb.atime[s]!, cls: tb.cls[s]!, size: this.sizeOf(s)}
  }

  /**
   * The meta reads' accounting after the reply is built: a get hit (or a
   * touch hit, with T) for the item's class, and unless `noUpdate` (mg u) the
   * LRU bump that marks it fetched.
   */
  metaRead(key: string, asTouch: boolean, noUpdate: boolean): void {
    const s = this.table.find(key)
    if (s === NIL) return
    const pc = this.perClass[this.table.cls[s]!]!
    if (asTouch) pc.touchHits++
    else pc.getHits++
    if (!noUpdate) this.bump(s)
  }

  /**
   * mg … N on a miss: an empty item (flags 0, no expiry) that the caller
   * then gives its TTL; undefined when there is no room for it.
   */
  vivify(key: string): MetaItem | undefined {
    const size = itemTotalSize(key.length, 0, 0, this.options.useCas)
    if (this.insert(key, 0, 0, '', size, NIL, 'add', this.options.slabs.classOf(size)) !== 'stored') return undefined
    return this.metaPeek(key)
  }

  /**
   * Give a live item a new expiry in place (the meta commands' T and N):
   * no bump, no count. `exptime` is the client's value. Between native peers a new version, like touch.
   */
  setExpiry(key: string, exptime: number): Item | undefined {
    const s = this.live(key)
    return s === NIL ? undefined : this.retime(s, key, exptime)
  }

  /** mg handed out a win token for this item: later readers get Z (replicated, so a failover does not hand it out again). */
  markTokenSent(key: string): void {
    const s = this.table.find(key)
    if (s === NIL) return
    this.table.state[s]! |= ItemState.tokenSent
    this.changed({kind: 'store', key, origin: 'local'})
  }

  /**
   * md … I: mark a live item stale instead of removing it, with a new
   * version (cas) and, if given, a new expiry (the client's value); the next
   * reader wins the recache. False when there is no such item.
   */
  invalidate(key: string, exptime: number | undefined): boolean {
    const s = this.live(key)
    if (s === NIL) return false
    const tb = this.table
    if (exptime !== undefined) tb.setExptime(s, absoluteExpiry(exptime))
    tb.state[s] = (tb.state[s]! | ItemState.stale) & ~ItemState.tokenSent
    tb.cas[s] = this.newCas()
    this.changed({kind: 'store', key, origin: 'local'})
    return true
  }

  /** Look up without counting as an access (replication reads, stats). */
  peek(key: string): Item | undefined {
    const s = this.table.find(key)
    if (s === NIL || this.dead(s, now())) return undefined
    return this.view(s, key)
  }

  /** Change the expiry of a live item (touch, gat). `exptime` is the client's value. */
  touch(key: string, exptime: number): Item | undefined {
    const s = this.live(key)
    if (s === NIL) return undefined
    this.bump(s)
    this.perClass[this.table.cls[s]!]!.touchHits++
    return this.retime(s, key, exptime)
  }

  /** A live item's new expiry (the client's value), reported as a change. */
  private retime(s: number, key: string, exptime: number): Item {
    const tb = this.table
    const e = absoluteExpiry(exptime)
    tb.setExptime(s, e)
    // Between native peers a new expiry is a new version, so that "the newer version wins" carries it over.
    if (this.versioned) tb.cas[s] = this.newCas()
    // A time in the past removes the item (memcached keeps it linked until it is next looked up,
    // and so do we, for its counters): remembered as a removal at that version, like a delete.
    if (e === 1 && this.versioned) this.recordTombstone(key, tb.cas[s]!)
    this.changed({kind: 'store', key, origin: 'local'})
    return this.view(s, key)
  }

  /**
   * The storage commands. `exptime` is the client's value (relative or
   * absolute); `cas` is the client's cas (0 = none).
   */
  store(mode: StoreMode, key: string, flags: number, exptime: number, value: string, cas: number, extras?: StoreExtras): StoreOutcome {
    return this.write(mode, key, flags, exptime, value, cas, true, extras)
  }

  /** `clientSet`: counted as a storage command of its class (an item incr/decr creates is not, for memcached). */
  private write(mode: StoreMode, key: string, flags: number, exptime: number, value: string, cas: number, clientSet: boolean, extras?: StoreExtras): StoreOutcome {
    const tb = this.table
    const size = itemTotalSize(key.length, flags, value.length, this.options.useCas)
    const old = this.live(key)
    if (size > this.options.itemSizeMax) {
      if (mode === 'set' && old !== NIL) this.removeKey(key, old, 'local')
      return 'too_large'
    }
    const cls = this.options.slabs.classOf(size)
    if (clientSet) this.perClass[cls]!.cmdSet++
    if (old === NIL) {
      if (mode === 'cas') return 'not_found'
      if (mode !== 'set' && mode !== 'add') return 'not_stored'
      return this.insert(key, flags, absoluteExpiry(exptime), value, size, NIL, mode, cls, extras?.binaryKey === true ? ItemState.binaryKey : 0)
    }
    if (mode === 'add') {
      tb.moveToFront(old) // memcached promotes the item even though add fails
      return 'not_stored'
    }
    // With -C a client's cas meets 0: a cas command never matches (memcached answers EXISTS).
    const oldCas = this.clientCas(old)
    const binary = extras?.binaryKey === true ? ItemState.binaryKey : 0
    if (mode === 'cas') {
      if (cas !== 0 && extras?.invalidate === true && cas < oldCas) {
        // memcached's CAS_STALE: the value replaces the item but stays stale, with its expiry and any token handed out.
        this.perClass[tb.cls[old]!]!.casHits++
        const state = ItemState.stale | (tb.state[old]! & ItemState.tokenSent) | binary
        return this.insert(key, flags, tb.exptime[old]!, value, size, old, mode, cls, state)
      }
      if (cas === 0 || cas !== oldCas) {
        this.perClass[tb.cls[old]!]!.casBadval++
        return 'exists'
      }
      this.perClass[tb.cls[old]!]!.casHits++
    } else if ((mode === 'append' || mode === 'prepend') && cas !== 0 && cas !== oldCas) {
      return 'exists'
    }
    if (mode === 'append' || mode === 'prepend') {
      const oldValue = tb.value(old)
      const oldFlags = tb.flags[old]!
      const joined = mode === 'append' ? oldValue + value : value + oldValue
      const joinedSize = itemTotalSize(key.length, oldFlags, joined.length, this.options.useCas)
      if (joinedSize > this.options.itemSizeMax) return 'not_stored'
      return this.insert(key, oldFlags, tb.exptime[old]!, joined, joinedSize, old, mode, this.options.slabs.classOf(joinedSize), binary)
    }
    return this.insert(key, flags, absoluteExpiry(exptime), value, size, old, mode, cls, binary)
  }

  private insert(key: string, flags: number, exptime: number, value: string, size: number, old: number, mode: StoreMode, cls: number, state = 0): StoreOutcome {
    const charge = this.chargeFor(key.length + value.length)
    const freed = old === NIL ? 0 : this.chargeFor(this.table.keyLen[old]! + this.table.valueLen[old]!)
    if (!this.makeRoom(charge - freed, old)) {
      this.perClass[cls]!.outOfMemory++
      // memcached drops the old value of a set it cannot store, so that no stale data survives.
      if (mode === 'set' && old !== NIL) this.removeKey(key, old, 'local')
      return 'no_memory'
    }
    const cas = this.newCas()
    this.lastCas = cas
    if (exptime === 1) {
      // Already expired (negative or past exptime): the store succeeds but nothing is visible.
      // It is a write all the same: removed at this version, so no older copy of the key outlives it.
      this.removeKey(key, old, 'local', cas)
      // memcached links it all the same: counted (total_items, curr_items) until a lookup (get_expired) or a crawl
      // (crawler_reclaimed) meets it. Never sent to a peer or saved: walks and copies skip dead items.
      this.table.state[this.link(key, value, flags, exptime, cas, cls, size)] = state
      return 'stored'
    }
    if (old !== NIL) this.unlink(old)
    this.table.state[this.link(key, value, flags, exptime, cas, cls, size)] = state
    this.changed({kind: 'store', key, origin: 'local'})
    return 'stored'
  }

  /** incr/decr with memcached's unsigned 64-bit rules and in-place rewrite. */
  delta(key: string, incr: boolean, delta: bigint): DeltaOutcome {
    const s = this.live(key)
    if (s === NIL) return {status: 'not_found'}
    if (this.refusesDelta(s)) return {status: 'non_numeric'}
    const tb = this.table
    const value = tb.value(s)
    const current = parseStoredNumber(value)
    if (current === undefined) return {status: 'non_numeric'}
    const pc = this.perClass[tb.cls[s]!]!
    if (incr) pc.incrHits++
    else pc.decrHits++
    let next: bigint
    if (incr) next = (current + delta) & 0xffffffffffffffffn
    else next = delta > current ? 0n : current - delta
    const text = next.toString()
    if (tb.fetched[s] === 0) tb.fetched[s] = FETCHED
    if (text.length <= value.length) {
      // memcached rewrites the number in place, padding with spaces to the old length.
      tb.rewriteValue(s, text.length === value.length ? text : text + ' '.repeat(value.length - text.length))
      tb.cas[s] = this.newCas()
      tb.atime[s] = now()
      tb.moveToFront(s)
      this.changed({kind: 'store', key, origin: 'local'})
      return {status: 'ok', value: text, item: this.view(s, key)}
    }
    const size = itemTotalSize(key.length, tb.flags[s]!, text.length, this.options.useCas)
    const outcome = this.insert(key, tb.flags[s]!, tb.exptime[s]!, text, size, s, 'set', this.options.slabs.classOf(size))
    if (outcome !== 'stored') return {status: 'no_memory'}
    return {status: 'ok', value: text, item: this.view(tb.find(key), key)}
  }

  /** Values incr/decr refuse without reading them: empty, or stored in chunks by memcached. */
  private refusesDelta(s: number): boolean {
    return this.table.valueLen[s] === 0 || this.sizeOf(s) > this.chunkMax
  }

  /**
   * incr/decr as the binary protocol does it: a non-zero `cas` must match, and
   * a miss creates the item holding `create.initial` (flags 0) instead of failing.
   */
  deltaOrCreate(key: string, incr: boolean, delta: bigint, cas: number, create: {initial: bigint; exptime: number} | undefined): DeltaOrCreateOutcome {
    const s = this.live(key)
    if (s === NIL) {
      if (create === undefined) return {status: 'not_found'}
      const value = create.initial.toString()
      const outcome = this.write('add', key, 0, create.exptime, value, 0, false)
      if (outcome === 'stored') return {status: 'created', value, cas: this.lastStoredCas}
      return {status: outcome === 'no_memory' ? 'no_memory' : 'not_stored'}
    }
    // memcached refuses an empty or chunked value before it looks at the cas.
    if (!this.refusesDelta(s) && cas !== 0 && cas !== this.clientCas(s)) return {status: 'exists'}
    return this.delta(key, incr, delta)
  }

  delete(key: string): boolean {
    const s = this.live(key)
    if (s === NIL) return false
    this.perClass[this.table.cls[s]!]!.deleteHits++
    this.removeKey(key, s, 'local')
    return true
  }

  /**
   * A set refused before its value was read (over -I): like memcached, drop
   * the key's old value so that no stale data survives. Not a delete hit.
   */
  dropAfterFailedSet(key: string): void {
    const s = this.live(key)
    if (s !== NIL) this.removeKey(key, s, 'local')
  }

  /**
   * flush_all with memcached's rules: `delay` <= 0 flushes now; otherwise
   * the flush takes effect one second before the relative or absolute time
   * it names, and also removes what is stored until then. An absolute time
   * before the server started cancels any pending flush and flushes nothing.
   * Without cas (-C) memcached's boundary is one second later.
   */
  flush(delay: number, origin: Origin = 'local'): void {
    const t = now()
    let oldest: number
    if (delay <= 0) oldest = t - 1
    else if (delay <= REALTIME_MAXDELTA) oldest = t + delay - 1
    else oldest = delay <= this.processStarted ? -1 : delay - 1
    if (!this.options.useCas && oldest !== -1) oldest++
    // The flush in force so far stays in force (as the floor) whatever this one does to a pending one.
    if (this.versioned) this.flushFloor = this.floorAt(t)
    if (oldest === -1) {
      this.setOldestLive(0)
    } else if (oldest < t) {
      // In the past: what is stored so far goes (memcached's oldest_cas), later stores stay.
      this.setOldestLive(0)
      this.clear()
    } else {
      this.setOldestLive(oldest)
    }
    if (this.versioned) {
      // A flush is a version too: every older version, from this node or the peer, has lost to it.
      // In force now (with -C too, whose flush also takes the rest of this second: floorAt adds that):
      // every version drawn before this command is flushed, whatever second the store's coarse clock reads.
      const issued = this.newCas()
      this.flushIssued = issued
      if (oldest !== -1 && oldest <= t) this.flushFloor = issued
    }
    this.changed({kind: 'flush', delay, origin})
  }

  /** memcached's oldest_live (0: none), with the timer that frees what it removes. */
  private setOldestLive(oldest: number): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    this.oldestLive = oldest
    if (oldest !== 0) this.flushAt(oldest)
  }

  /**
   * The version below which everything is flushed at time `t`: the floor, or
   * a delayed flush that has come, which removed every item stored up to the
   * end of its second (a cas is the microsecond clock times two).
   */
  private floorAt(t: number): number {
    const ol = this.oldestLive
    return ol !== 0 && ol <= t && this.versioned ? Math.max(this.flushFloor, (ol + 1) * 2_000_000) : this.flushFloor
  }

  /**
   * This node's flush state for a native peer: `floor` (every version below
   * it is flushed), `issued` (the version of the latest flush_all command)
   * and `pending` (seconds until that command's delayed flush takes effect, 0: none).
   */
  flushState(): {floor: number; issued: number; pending: number} {
    const t = now()
    return {floor: this.floorAt(t), issued: this.flushIssued, pending: this.oldestLive > t ? this.oldestLive - t : 0}
  }

  /**
   * The native peer's flush state (see flushState): items older than its
   * floor go, and its flush_all command, if later than ours, replaces our
   * pending delayed flush as a later flush_all does. Items written here after
   * the peer's flush stay.
   */
  applyPeerFlushState(floor: number, issued: number, pending: number): void {
    for (const v of [floor, issued]) if (v >= this.nextCas) this.nextCas = v + 1
    const t = now()
    this.flushFloor = this.floorAt(t)
    if (issued > this.flushIssued) {
      this.flushIssued = issued
      this.setOldestLive(pending > 0 ? t + pending : 0)
    }
    if (floor > this.flushFloor) {
      this.flushFloor = floor
      this.dropOlderThan(floor)
    }
    this.changed({kind: 'flush', delay: 0, origin: 'peer'})
  }

  /** Remove every item whose version is below `floor` (a peer's flush; newer items stay). */
  private dropOlderThan(floor: number): void {
    const tb = this.table
    const walk = tb.startWalk()
    const slots: number[] = []
    while (!walk.done) {
      slots.length = 0
      tb.walkStep(walk, slots)
      for (const s of slots) if (tb.cas[s]! < floor) this.unlink(s)
    }
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
   * Begin a walk over every item, for a full copy or a snapshot: no lookup
   * per item, and a key that exists throughout the walk is met exactly once
   * (in the version current when its turn comes) however often it is stored
   * meanwhile. Keys stored or deleted during the walk may or may not be met.
   */
  startWalk(): WalkCursor {
    return this.table.startWalk()
  }

  /** The walk's next live items: at least `atLeast` of them unless the walk ends (`cursor.done`). */
  walkItems(c: WalkCursor, atLeast: number): Item[] {
    const out: Item[] = []
    this.walkLive(c, atLeast, (s) => out.push(this.view(s)))
    return out
  }

  /**
   * The same walk without copies: each live item's bytes and fields are
   * handed to `visit` in place (valid during the call only; it must not
   * change the store). At least `atLeast` items unless the walk ends.
   */
  walkRaw(c: WalkCursor, atLeast: number, visit: (r: RawItem) => void): void {
    const raw = this.raw
    this.walkLive(c, atLeast, (s) => {
      this.table.fillRaw(s, raw)
      raw.cas = this.clientCas(s)
      visit(raw)
    })
  }

  /**
   * The same walk for `lru_crawler metadump`: each live item with its LRU
   * marks, handed over in place like walkRaw's (the key is
   * `buf[at .. at + keyLength)`).
   */
  walkMeta(c: WalkCursor, atLeast: number, visit: (r: DumpItem) => void): void {
    const d = this.dumped
    const tb = this.table
    this.walkLive(c, atLeast, (s) => {
      tb.fillRaw(s, d)
      d.cas = this.clientCas(s)
      d.lastAccess = tb.atime[s]!
      d.fetched = tb.fetched[s] !== 0
      d.cls = tb.cls[s]!
      d.size = this.sizeOf(s)
      visit(d)
    })
  }

  private readonly dumped: DumpItem = {buf: Buffer.alloc(0), at: 0, keyLength: 0, valueLength: 0, flags: 0, exptime: 0, cas: 0, version: 0, lastAccess: 0, fetched: false, cls: 0, size: 0}

  /** True when the periodic crawl (crawl()) has just finished a pass over every item, or has not begun one. */
  get crawlPassEnded(): boolean {
    return this.crawler === undefined
  }

  /** The slots of the walk's next live items, whole index positions at a time, at least `atLeast` unless it ends. */
  private walkLive(c: WalkCursor, atLeast: number, visit: (s: number) => void): void {
    const slots = this.walkSlots
    const t = now()
    let n = 0
    while (n < atLeast && !c.done) {
      slots.length = 0
      this.table.walkStep(c, slots)
      for (const s of slots) {
        if (this.dead(s, t)) continue
        visit(s)
        n++
      }
    }
  }

  /** An item from a snapshot at start: kept as saved (absolute exptime, cas) unless it expired meanwhile. */
  restoreItem(key: string, flags: number, exptime: number, cas: number, value: string): boolean {
    return this.applyPeerItem(key, flags, exptime, cas, value)
  }

  /**
   * `stats reset`: every counter back to 0, overall and per class, as
   * memcached resets its slab and item stats with its global ones (items and
   * bytes held are not counters).
   */
  resetCounters(): void {
    for (const k of Object.keys(this.counters) as (keyof StoreCounters)[]) this.counters[k] = 0
    for (const c of this.perClass) Object.assign(c, newClassCounters(), {items: c.items, bytes: c.bytes})
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
  applyPeerItem(key: string, flags: number, exptime: number, cas: number, value: string | Buffer, newerOnly = false, state = 0): boolean {
    // Later local versions must not reuse a cas the peer handed out.
    if (cas >= this.nextCas) this.nextCas = cas + 1
    const t = now()
    // One lookup: a full copy applies a million of these.
    const stale = this.table.find(key)
    const old = stale !== NIL && !this.dead(stale, t) ? stale : NIL
    if (newerOnly && old !== NIL && this.table.cas[old] === cas && (state & ~this.table.state[old]!) !== 0) {
      // The same version with a mark we lack: a win token handed out by the peer (marks only ever join within a version).
      this.table.state[old]! |= state
      return true
    }
    if (newerOnly && ((old !== NIL && this.table.cas[old]! >= cas) || (this.tombstones.size > 0 && (this.tombstone(key) ?? -1) >= cas) || cas < this.floorAt(t))) return false
    const size = itemTotalSize(key.length, flags, value.length, this.options.useCas)
    if (exptime !== 0 && exptime <= t) {
      // The newest version of the key, already expired: removed at that version.
      this.removeKey(key, stale, 'peer', newerOnly ? cas : undefined)
      return false
    }
    if (stale !== NIL) this.unlink(stale)
    if (size > this.options.itemSizeMax || !this.makeRoom(this.chargeFor(key.length + value.length), NIL)) {
      if (old !== NIL) this.changed({kind: 'delete', key, origin: 'peer'})
      return false
    }
    this.table.state[this.link(key, value, flags, exptime, cas, this.options.slabs.classOf(size), size)] = state
    this.changed({kind: 'store', key, origin: 'peer'})
    return true
  }

  /** A delete from the peer; with a version (native), only a newer delete removes the local item. */
  applyPeerDelete(key: string, cas?: number): void {
    const s = this.table.find(key)
    if (cas !== undefined) {
      if (cas >= this.nextCas) this.nextCas = cas + 1
      if (s !== NIL && !this.dead(s, now()) && this.table.cas[s]! > cas) return
    }
    this.removeKey(key, s, 'peer', cas)
  }

  /** A flush from the peer: `at` is 0 for now, else the absolute time the peer's client asked for. */
  applyPeerFlush(at: number): void {
    this.flush(at, 'peer')
  }

  /** Look at up to `budget` items and drop the expired ones; called periodically. */
  crawl(budget: number): number {
    let reclaimed = 0
    const t = now()
    const slots = this.walkSlots
    let checked = 0
    // Empty index positions cost a little too: bound them, or a sparse index would be walked in one call.
    for (let steps = 0; checked < budget && steps < budget * 4; steps++) {
      if (this.crawler === undefined) this.crawler = this.table.startWalk()
      if (this.crawler.done) { this.crawler = undefined; break }
      slots.length = 0
      this.table.walkStep(this.crawler, slots)
      for (const s of slots) {
        checked++
        this.counters.crawlerChecked++
        const pc = this.perClass[this.table.cls[s]!]!
        pc.crawlerChecked++
        if (!this.dead(s, t)) continue
        if (this.table.fetched[s] === 0) { this.counters.expiredUnfetched++; pc.expiredUnfetched++ }
        this.unlink(s)
        this.counters.crawlerReclaimed++
        pc.crawlerReclaimed++
        reclaimed++
      }
    }
    return reclaimed
  }

  /** Age in seconds of the least recently used item of a class (for `stats items`). */
  oldestAge(cls: number): number {
    const tb = this.table
    for (let s = tb.lruTail; s !== NIL; s = tb.prev[s]!) if (tb.cls[s] === cls) return now() - tb.atime[s]!
    return 0
  }

  /** cache_memlimit: change -m at run time, evicting down to the new limit. */
  setMemoryLimit(bytes: number): void {
    this.options.maxBytes = bytes
    this.makeRoom(0, NIL)
  }

  /** Every live item of a slab class, most recently used first (stats cachedump). */
  *itemsNewestFirst(cls: number): IterableIterator<Item> {
    const t = now()
    const tb = this.table
    for (let s = tb.lruHead; s !== NIL; s = tb.next[s]!) {
      if (tb.cls[s] === cls && !this.dead(s, t)) yield this.view(s)
    }
  }

  /** Bytes of keys and values held outside the JS heap (pages and large chunks). */
  get arenaBytes(): number {
    return this.table.arena.reserved
  }

  close(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
  }

  private clear(): void {
    this.table.clear()
    this.usedBytes = 0
    this.chargedBytes = 0
    this.crawler = undefined
    for (const c of this.perClass) { c.items = 0; c.bytes = 0 }
  }

  private makeRoom(need: number, keep: number): boolean {
    const max = this.options.maxBytes
    if (this.chargedBytes + need <= max) return true
    const t = now()
    const tb = this.table
    let victim = tb.lruTail
    while (this.chargedBytes + need > max && victim !== NIL) {
      const prev = tb.prev[victim]!
      if (victim !== keep && !this.evict(victim, t)) return false
      victim = prev
    }
    return this.chargedBytes + need <= max
  }

  /** Drop an item to make room: reclaimed if dead, else evicted (false with -M). */
  private evict(s: number, t: number): boolean {
    const tb = this.table
    const pc = this.perClass[tb.cls[s]!]!
    if (this.dead(s, t)) {
      this.counters.reclaimed++
      pc.reclaimed++
    } else {
      if (!this.options.evict) return false
      this.counters.evictions++
      pc.evicted++
      pc.evictedTime = t - tb.atime[s]!
      if (tb.exptime[s] !== 0) pc.evictedNonzero++
      if (tb.fetched[s] === 0) { this.counters.evictedUnfetched++; pc.evictedUnfetched++ }
      if (this.onEvict !== undefined) this.onEvict(tb.key(s), tb.fetched[s] !== 0, tb.exptime[s]!, tb.atime[s]!, tb.cls[s]!, tb.valueLen[s]!)
    }
    this.unlink(s)
    return true
  }

  private link(key: string, value: string | Buffer, flags: number, exptime: number, cas: number, cls: number, size: number): number {
    const bytes = key.length + value.length
    const s = this.table.add(key, value, flags, exptime, cas, now(), cls)
    this.usedBytes += size
    this.chargedBytes += this.chargeFor(bytes)
    this.counters.totalItems++
    const pc = this.perClass[cls]!
    pc.items++
    pc.bytes += size
    return s
  }

  private unlink(s: number): void {
    const tb = this.table
    const size = this.sizeOf(s)
    this.usedBytes -= size
    this.chargedBytes -= this.chargeFor(tb.keyLen[s]! + tb.valueLen[s]!)
    const pc = this.perClass[tb.cls[s]!]!
    pc.items--
    pc.bytes -= size
    tb.remove(s)
  }

  /**
   * The one path of every removal by a command (delete, a set that expires
   * at once, a failed set that drops the old value) or by the peer: unlink
   * the item in `s` (if any), remember the removal at its version when
   * versions are kept (a local one without a version gets a new one), so
   * that no older copy of the key from the peer brings it back, and report
   * one delete. Counts nothing: callers count what memcached counts.
   */
  private removeKey(key: string, s: number, origin: Origin, version?: number): void {
    if (s !== NIL) this.unlink(s)
    if (this.versioned) {
      const v = version ?? (origin === 'local' ? this.newCas() : undefined)
      if (v !== undefined && v > (this.tombstone(key) ?? -1)) this.recordTombstone(key, v)
    }
    this.changed({kind: 'delete', key, origin})
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
