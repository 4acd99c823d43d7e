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
  readonly cas: number
}
