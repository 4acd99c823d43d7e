// The items' fields in typed arrays indexed by slot, a hash index of our own
// and the LRU's links, with keys and values in a ChunkArena. About 50 bytes
// of metadata per item and no JS object: the garbage collector has nothing
// per item to trace, and memory stays near memcached's.

import {ChunkArena, type Handle} from './arena.js'
import type {RawItem} from './item.js'

/** No slot (end of a chain, of the LRU, of the free-slot list). */
export const NIL = -1
const FIRST_CAPACITY = 1024
/** Slot arrays grow by half: less idle room than doubling, still amortised O(1). */
const GROWTH = 1.5
/**
 * Buckets moved to the doubled index per item added. Moving them all at
 * once stalled the server 370 ms at 2M items; at this pace the move is done
 * long before the doubled index fills (it needs buckets/16 adds, has buckets).
 */
const MIGRATE_PER_ADD = 16

/**
 * Where a walk over every item has got to. Positions count buckets of the
 * index as it was when the walk began; the index only ever doubles, so a
 * position names the same keys ever after (bucket p and p + k·base), and an
 * item stored again during the walk stays in its position: a key that exists
 * for the whole walk is met exactly once, however it changes meanwhile.
 */
export interface WalkCursor { base: number; position: number; done: boolean }

/** FNV-1a over a latin1 string: one byte per character, the same as over its bytes. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h >>> 0
}

function hashBytes(buf: Buffer, start: number, length: number): number {
  let h = 0x811c9dc5
  for (let i = start; i < start + length; i++) h = Math.imul(h ^ buf[i]!, 0x01000193)
  return h >>> 0
}

export class ItemTable {
  readonly arena = new ChunkArena()
  private capacity = 0
  /** Slots handed out so far; slots below this are in use or on the free-slot list. */
  private highWater = 0
  private freeSlot = NIL
  count = 0
  keyLen = new Uint16Array(0)
  valueLen = new Uint32Array(0)
  flags = new Uint32Array(0)
  /** Absolute unix seconds, 0 = never. */
  exptime = new Uint32Array(0)
  cas = new Float64Array(0)
  /** Last access, unix seconds. */
  atime = new Uint32Array(0)
  /** memcached's slab class of the item, for per-class statistics. */
  cls = new Uint8Array(0)
  fetched = new Uint8Array(0)
  /** The meta protocol's per-item marks (ItemState bits: stale, win token handed out, binary key); 0 for a new slot. */
  state = new Uint8Array(0)
  /** Chunk of key + value bytes; NaN marks a free slot. */
  private handle = new Float64Array(0)
  /** LRU links: prev is towards the most recently used end. */
  prev = new Int32Array(0)
  next = new Int32Array(0)
  /** Hash chain links; also the free-slot list. */
  private chain = new Int32Array(0)
  private buckets: Int32Array = new Int32Array(FIRST_CAPACITY).fill(NIL)
  /** While the index doubles: the new index; buckets below `migrated` have moved into it. */
  private doubled: Int32Array | undefined
  private migrated = 0
  lruHead = NIL
  lruTail = NIL

  /** The slot holding `key`, or NIL. */
  find(key: string): number {
    const h = hashKey(key)
    const d = this.doubled
    let s = d !== undefined && (h & (this.buckets.length - 1)) < this.migrated ? d[h & (d.length - 1)]! : this.buckets[h & (this.buckets.length - 1)]!
    while (s !== NIL) {
      if (this.keyIs(s, key)) return s
      s = this.chain[s]!
    }
    return NIL
  }

  private keyIs(s: number, key: string): boolean {
    const n = key.length
    if (this.keyLen[s] !== n) return false
    const h = this.handle[s]!
    const buf = this.arena.bufferOf(h)
    const at = this.arena.offsetOf(h)
    for (let i = 0; i < n; i++) if (buf[at + i] !== key.charCodeAt(i)) return false
    return true
  }

  /**
   * A new slot holding key and value, indexed and at the LRU's head. The
   * caller has removed any slot with the same key first.
   */
  add(key: string, value: string | Buffer, flags: number, exptime: number, cas: number, atime: number, cls: number): number {
    const s = this.takeSlot()
    const bytes = key.length + value.length
    const chunk = this.arena.alloc(bytes)
    const buf = this.arena.bufferOf(chunk)
    const at = this.arena.offsetOf(chunk)
    buf.latin1Write(key, at, key.length)
    // A peer's value arrives as bytes (replication), a client's as a string.
    if (typeof value !== 'string') value.copy(buf, at + key.length)
    else if (value.length > 0) buf.latin1Write(value, at + key.length, value.length)
    this.handle[s] = chunk
    this.keyLen[s] = key.length
    this.valueLen[s] = value.length
    this.flags[s] = flags
    this.setExptime(s, exptime)
    this.cas[s] = cas
    this.atime[s] = atime
    this.cls[s] = cls
    this.fetched[s] = 0
    this.state[s] = 0
    const h = hashKey(key)
    const index = this.indexOf(h)
    const b = h & (index.length - 1)
    this.chain[s] = index[b]!
    index[b] = s
    this.pushFront(s)
    this.count++
    if (this.doubled !== undefined) this.migrate(MIGRATE_PER_ADD)
    else if (this.count > this.buckets.length) {
      this.doubled = new Int32Array(this.buckets.length * 2).fill(NIL)
      this.migrated = 0
    }
    return s
  }

  /** Unindex, unlink and free a slot. */
  remove(s: number): void {
    const chunk = this.handle[s]!
    const h = hashBytes(this.arena.bufferOf(chunk), this.arena.offsetOf(chunk), this.keyLen[s]!)
    const index = this.indexOf(h)
    const b = h & (index.length - 1)
    let p = index[b]!
    if (p === s) index[b] = this.chain[s]!
    else {
      while (this.chain[p] !== s) p = this.chain[p]!
      this.chain[p] = this.chain[s]!
    }
    this.unlinkLru(s)
    this.arena.free(chunk, this.keyLen[s]! + this.valueLen[s]!)
    this.handle[s] = NaN
    this.chain[s] = this.freeSlot
    this.freeSlot = s
    this.count--
  }

  /** Times past 2106 (only a peer or an old snapshot could send one) are kept as the latest time there is. */
  setExptime(s: number, exptime: number): void {
    this.exptime[s] = exptime > 0xffffffff ? 0xffffffff : exptime
  }

  key(s: number): string {
    const h = this.handle[s]!
    const at = this.arena.offsetOf(h)
    return this.arena.bufferOf(h).latin1Slice(at, at + this.keyLen[s]!)
  }

  value(s: number): string {
    const h = this.handle[s]!
    const at = this.arena.offsetOf(h) + this.keyLen[s]!
    return this.arena.bufferOf(h).latin1Slice(at, at + this.valueLen[s]!)
  }

  /** Point `r` at a slot's bytes and fields (no copy). */
  fillRaw(s: number, r: RawItem): void {
    const h = this.handle[s]!
    r.buf = this.arena.bufferOf(h)
    r.at = this.arena.offsetOf(h)
    r.keyLength = this.keyLen[s]!
    r.valueLength = this.valueLen[s]!
    r.flags = this.flags[s]!
    r.exptime = this.exptime[s]!
    r.version = this.cas[s]!
    r.cas = r.version
  }

  /** Overwrite the value with one of the same length (incr/decr's in-place rewrite). */
  rewriteValue(s: number, value: string): void {
    const h = this.handle[s]!
    this.arena.bufferOf(h).latin1Write(value, this.arena.offsetOf(h) + this.keyLen[s]!, value.length)
  }

  /** The index a hash is in: the doubled one once its old bucket has moved. */
  private indexOf(h: number): Int32Array {
    const d = this.doubled
    return d !== undefined && (h & (this.buckets.length - 1)) < this.migrated ? d : this.buckets
  }

  pushFront(s: number): void {
    this.prev[s] = NIL
    this.next[s] = this.lruHead
    if (this.lruHead !== NIL) this.prev[this.lruHead] = s
    else this.lruTail = s
    this.lruHead = s
  }

  moveToFront(s: number): void {
    if (this.lruHead === s) return
    this.unlinkLru(s)
    this.pushFront(s)
  }

  private unlinkLru(s: number): void {
    const p = this.prev[s]!
    const n = this.next[s]!
    if (p !== NIL) this.next[p] = n
    else this.lruHead = n
    if (n !== NIL) this.prev[n] = p
    else this.lruTail = p
  }

  startWalk(): WalkCursor {
    return {base: this.buckets.length, position: 0, done: false}
  }

  /** The slots of the walk's next position, pushed onto `into`; marks the cursor done at the end. */
  walkStep(c: WalkCursor, into: number[]): void {
    if (c.done) return
    // An item is in exactly one of the two indexes while the index doubles: visit both.
    for (const index of this.doubled === undefined ? [this.buckets] : [this.buckets, this.doubled]) {
      for (let b = c.position; b < index.length; b += c.base) {
        for (let s = index[b]!; s !== NIL; s = this.chain[s]!) into.push(s)
      }
    }
    if (++c.position >= c.base) c.done = true
  }

  /** Forget every item. Slot arrays and the index keep their size; the arena's pages are released. */
  clear(): void {
    if (this.doubled !== undefined) this.buckets = this.doubled // keep the larger size: walks count positions in it
    this.doubled = undefined
    this.buckets.fill(NIL)
    this.highWater = 0
    this.freeSlot = NIL
    this.count = 0
    this.lruHead = NIL
    this.lruTail = NIL
    this.arena.clear()
  }

  private takeSlot(): number {
    if (this.freeSlot !== NIL) {
      const s = this.freeSlot
      this.freeSlot = this.chain[s]!
      return s
    }
    if (this.highWater === this.capacity) this.growSlots()
    return this.highWater++
  }

  private growSlots(): void {
    const n = this.capacity === 0 ? FIRST_CAPACITY : Math.ceil(this.capacity * GROWTH)
    this.keyLen = grown(this.keyLen, new Uint16Array(n))
    this.valueLen = grown(this.valueLen, new Uint32Array(n))
    this.flags = grown(this.flags, new Uint32Array(n))
    this.exptime = grown(this.exptime, new Uint32Array(n))
    this.cas = grown(this.cas, new Float64Array(n))
    this.atime = grown(this.atime, new Uint32Array(n))
    this.cls = grown(this.cls, new Uint8Array(n))
    this.fetched = grown(this.fetched, new Uint8Array(n))
    this.state = grown(this.state, new Uint8Array(n))
    this.handle = grown(this.handle, new Float64Array(n))
    this.prev = grown(this.prev, new Int32Array(n))
    this.next = grown(this.next, new Int32Array(n))
    this.chain = grown(this.chain, new Int32Array(n))
    this.capacity = n
  }

  /** Move the next `n` buckets into the doubled index; switch to it when all have moved. */
  private migrate(n: number): void {
    const old = this.buckets
    const d = this.doubled!
    const mask = d.length - 1
    const end = Math.min(old.length, this.migrated + n)
    for (let b = this.migrated; b < end; b++) {
      let s = old[b]!
      old[b] = NIL
      while (s !== NIL) {
        const following = this.chain[s]!
        const h = this.handle[s]!
        const nb = hashBytes(this.arena.bufferOf(h), this.arena.offsetOf(h), this.keyLen[s]!) & mask
        this.chain[s] = d[nb]!
        d[nb] = s
        s = following
      }
    }
    this.migrated = end
    if (end === old.length) {
      this.buckets = d
      this.doubled = undefined
    }
  }
}

function grown<T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(old: T, into: T): T {
  into.set(old as ArrayLike<number> & T)
  return into
}
