import type {LruNode} from './lru.js'

/**
 * One cached item. Keys and values are kept as latin1 strings: one byte per
 * character, byte-exact round trip with Buffers, and far less per-item
 * overhead in V8 than a Buffer object.
 */
export interface Item extends LruNode<Item> {
  readonly key: string
  value: string
  flags: number
  /** Absolute unix time in seconds; 0 = never. */
  exptime: number
  cas: number
  /** Last access, unix seconds (for `stats items` age). */
  atime: number
  /** memcached's accounting size (see itemTotalSize). */
  size: number
  /** Slab class id, for per-class statistics. */
  cls: number
  fetched: boolean
}
