/**
 * One item's fields as a reader sees them: a copy made when asked for (the
 * store itself keeps items in typed arrays and shared Buffers, see
 * item-table.ts). Keys and values are latin1 strings: one byte per
 * character, a byte-exact round trip with Buffers.
 */
export interface Item {
  readonly key: string
  readonly value: string
  readonly flags: number
  /** Absolute unix time in seconds; 0 = never. */
  readonly exptime: number
  /** The cas a client sees: the version, or 0 with -C (as memcached -C shows it). */
  readonly cas: number
  /**
   * The item's version, kept with -C too: replication orders writes by it
   * (a native pair converges on the newest), and snapshots save it.
   */
  readonly version: number
  /** ItemState bits (the meta protocol's stale and win-token marks); 0 for an ordinary item. */
  readonly state: number
}

/**
 * memcached's per-item marks that the meta protocol reads and sets. Kept by
 * the store as bits, replicated on native links, never shown by get/gets.
 */
export const ItemState = {
  /** `md … I` (or a stale `ms … I`): still served, but marked X, and the next reader wins the recache (W). */
  stale: 1,
  /** A win token (W) was handed out for this item: later readers see Z instead. */
  tokenSent: 2,
  /** Stored with a base64 (`b`) key: meta replies show the key base64-encoded. */
  binaryKey: 4,
} as const

/**
 * One item's fields without copies, for readers that only copy bytes out
 * (snapshots, replies): key then value bytes at buf[at..]. Valid only until
 * the store next changes; the same object is reused for the next item.
 */
export interface RawItem {
  buf: Buffer
  at: number
  keyLength: number
  valueLength: number
  flags: number
  exptime: number
  /** The cas a client sees (see Item.cas). */
  cas: number
  /** The item's version (see Item.version), kept with -C too. */
  version: number
}
