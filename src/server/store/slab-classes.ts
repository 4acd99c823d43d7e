// memcached reports item statistics per slab class. We do not allocate memory
// in slabs, but we compute the same class table (from -n, -f and -I) so that
// `stats items` and `stats slabs` group items the way memcached tools expect.

export const ITEM_HEADER_SIZE = 48 // sizeof(item) on 64-bit memcached 1.6
const CAS_SIZE = 8
const CHUNK_ALIGN = 8
const MAX_CLASSES = 63

export interface SlabClass { id: number; chunkSize: number; perPage: number }

export class SlabClasses {
  readonly classes: SlabClass[] = []
  readonly pageSize: number
  private readonly sizes: number[] = []

  constructor(minSpace: number, factor: number, itemSizeMax: number) {
    this.pageSize = itemSizeMax
    const chunkMax = Math.floor(itemSizeMax / 2)
    let size = ITEM_HEADER_SIZE + minSpace
    let id = 1
    for (; id < MAX_CLASSES - 1; id++) {
      if (size >= chunkMax / factor) break
      if (size % CHUNK_ALIGN) size += CHUNK_ALIGN - (size % CHUNK_ALIGN)
      this.add(id, size)
      size = Math.floor(size * factor)
    }
    this.add(id, chunkMax)
  }

  private add(id: number, chunkSize: number): void {
    this.classes.push({id, chunkSize, perPage: Math.floor(this.pageSize / chunkSize)})
    this.sizes.push(chunkSize)
  }

  /** The class an item of `total` bytes lands in; items over the largest chunk are chunked into the largest class. */
  classOf(total: number): number {
    const sizes = this.sizes
    for (let i = 0; i < sizes.length; i++) if (total <= sizes[i]!) return i + 1
    return sizes.length
  }
}

/**
 * memcached's accounting size of an item (item_make_header + cas): what the
 * `bytes` stat sums and what -I is checked against.
 */
export function itemTotalSize(keyLength: number, flags: number, valueLength: number, useCas: boolean): number {
  return ITEM_HEADER_SIZE + keyLength + 1 + (flags === 0 ? 0 : 4) + valueLength + 2 + (useCas ? CAS_SIZE : 0)
}
