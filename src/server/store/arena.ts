// Keys and values live in large shared Buffers ("pages") cut into chunks of
// a few dozen size classes, instead of a JS string per value. A million items
// then cost a few hundred Buffers outside the JS heap rather than a million
// strings for the garbage collector to trace and for the heap's growth room
// to double (measured: 416 MB RSS for 1M × 100-byte items before, see
// bench/history.md).

/**
 * Page size: big enough that a page holds many chunks, small enough that the
 * one partly filled page each size class in use keeps costs little.
 */
export const PAGE_SIZE = 256 * 1024
/** Chunks above this get a Buffer of their own (rare: memcached's default -I is 1 MiB). */
const LARGEST_CHUNK = 64 * 1024
const SMALLEST_CHUNK = 16
/**
 * Class sizes step by 8 bytes up to 128, then grow by 1/16: a chunk wastes
 * about 3% on average (a 110-byte item takes 112), across about 100 classes.
 */
const GROWTH = 1.0625
const ALIGN = 8
/** End of a free list. */
const NONE = -1

/**
 * A chunk handle: `page * PAGE_SIZE + offset` for a chunk in a page, or
 * `-(index + 2)` for a Buffer of its own. Always an integer below 2^53.
 */
export type Handle = number

export class ChunkArena {
  private readonly sizes: number[] = []
  private readonly pages: Buffer[] = []
  /** Float64 views of the pages, to keep free-list links without a Buffer call. */
  private readonly links: Float64Array[] = []
  /** Per page: its class, chunks in use, head of its free list (offset), first never-used offset. */
  private readonly pageClass: number[] = []
  private readonly pageUsed: number[] = []
  private readonly pageFree: number[] = []
  private readonly pageCarve: number[] = []
  /** Per class: the pages with a chunk to give (a stack; pagePartialAt says where a page sits in it). */
  private readonly partial: number[][] = []
  private readonly pagePartialAt: number[] = []
  /** Pages with nothing in them, for any class to take. */
  private readonly emptyPages: number[] = []
  private readonly large: (Buffer | undefined)[] = []
  private readonly largeFree: number[] = []
  /** Bytes taken from the system: pages plus own-Buffer chunks. */
  reserved = 0

  constructor() {
    for (let size = SMALLEST_CHUNK; size < LARGEST_CHUNK; size = Math.ceil((size * GROWTH) / ALIGN) * ALIGN) this.sizes.push(size)
    this.sizes.push(LARGEST_CHUNK)
    for (let i = 0; i < this.sizes.length; i++) this.partial.push([])
  }

  /** The class a chunk of `bytes` comes from, or -1 for an own Buffer. */
  classOf(bytes: number): number {
    if (bytes > LARGEST_CHUNK) return -1
    const sizes = this.sizes
    // Binary search: about 70 classes.
    let lo = 0
    let hi = sizes.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (sizes[mid]! < bytes) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** What a chunk for `bytes` really takes. */
  chunkSize(bytes: number): number {
    const cls = this.classOf(bytes)
    return cls === -1 ? bytes : this.sizes[cls]!
  }

  alloc(bytes: number): Handle {
    const cls = this.classOf(bytes)
    if (cls === -1) {
      const index = this.largeFree.pop() ?? this.large.length
      this.large[index] = Buffer.allocUnsafeSlow(bytes)
      this.reserved += bytes
      return -(index + 2)
    }
    const partial = this.partial[cls]!
    const page = partial.length > 0 ? partial[partial.length - 1]! : this.takePage(cls)
    const size = this.sizes[cls]!
    let at = this.pageFree[page]!
    if (at !== NONE) this.pageFree[page] = this.links[page]![at / ALIGN]!
    else {
      at = this.pageCarve[page]!
      this.pageCarve[page] = at + size
    }
    this.pageUsed[page]!++
    if (this.pageFree[page] === NONE && this.pageCarve[page]! + size > PAGE_SIZE) this.leavePartial(page)
    return page * PAGE_SIZE + at
  }

  /** Give a chunk back; `bytes` is what it was allocated for. A page left empty can go to any class. */
  free(h: Handle, bytes: number): void {
    if (h < 0) {
      const index = -h - 2
      this.large[index] = undefined
      this.largeFree.push(index)
      this.reserved -= bytes
      return
    }
    const page = (h / PAGE_SIZE) | 0
    const at = h % PAGE_SIZE
    if (this.pagePartialAt[page] === NONE) this.joinPartial(page)
    if (--this.pageUsed[page]! === 0) {
      this.leavePartial(page)
      this.pageFree[page] = NONE
      this.pageCarve[page] = 0
      this.pageClass[page] = NONE
      this.emptyPages.push(page)
      return
    }
    this.links[page]![at / ALIGN] = this.pageFree[page]!
    this.pageFree[page] = at
  }

  private takePage(cls: number): number {
    let page = this.emptyPages.pop()
    if (page === undefined) {
      page = this.pages.length
      const buf = Buffer.allocUnsafeSlow(PAGE_SIZE)
      this.pages.push(buf)
      this.links.push(new Float64Array(buf.buffer, buf.byteOffset, PAGE_SIZE / ALIGN))
      this.pageUsed.push(0)
      this.pageFree.push(NONE)
      this.pageCarve.push(0)
      this.pageClass.push(NONE)
      this.pagePartialAt.push(NONE)
      this.reserved += PAGE_SIZE
    }
    this.pageClass[page] = cls
    this.joinPartial(page)
    return page
  }

  private joinPartial(page: number): void {
    const list = this.partial[this.pageClass[page]!]!
    this.pagePartialAt[page] = list.length
    list.push(page)
  }

  private leavePartial(page: number): void {
    const at = this.pagePartialAt[page]!
    if (at === NONE) return
    const list = this.partial[this.pageClass[page]!]!
    const last = list.pop()!
    if (last !== page) {
      list[at] = last
      this.pagePartialAt[last] = at
    }
    this.pagePartialAt[page] = NONE
  }

  /** The Buffer a chunk lives in; its bytes start at offsetOf(h). */
  bufferOf(h: Handle): Buffer {
    return h < 0 ? this.large[-h - 2]! : this.pages[(h / PAGE_SIZE) | 0]!
  }

  offsetOf(h: Handle): number {
    return h < 0 ? 0 : h % PAGE_SIZE
  }

  /** Drop every chunk at once (flush_all, a failed snapshot load): pages go back to the system. */
  clear(): void {
    for (const a of [this.pages, this.links, this.pageClass, this.pageUsed, this.pageFree, this.pageCarve, this.pagePartialAt, this.emptyPages, this.large, this.largeFree]) a.length = 0
    for (const p of this.partial) p.length = 0
    this.reserved = 0
  }
}
