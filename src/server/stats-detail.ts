// memcached's per-prefix statistics (`stats detail on|off|dump`, `-D`): for
// keys holding the delimiter, the part before it counts text-protocol gets
// (and hits), sets and deletes. Listed as memcached lists them: its 256
// hash buckets in order (murmur3 of the prefix, as memcached 1.6 hashes by
// default), newest prefix first within a bucket.

const BUCKETS = 256

interface PrefixCounts { prefix: string; gets: number; hits: number; sets: number; dels: number }

export class PrefixStats {
  private buckets: PrefixCounts[][] = []

  constructor(public enabled: boolean, readonly delimiter: string) {}

  recordGet(key: string, hit: boolean): void {
    const p = this.find(key)
    if (p === undefined) return
    p.gets++
    if (hit) p.hits++
  }

  recordSet(key: string): void {
    const p = this.find(key)
    if (p !== undefined) p.sets++
  }

  recordDelete(key: string): void {
    const p = this.find(key)
    if (p !== undefined) p.dels++
  }

  /** `stats detail dump`. */
  dump(): string {
    let out = ''
    for (let b = 0; b < BUCKETS; b++) {
      for (const p of this.buckets[b] ?? []) out += `PREFIX ${p.prefix} get ${p.gets} hit ${p.hits} set ${p.sets} del ${p.dels}\r\n`
    }
    return out + 'END\r\n'
  }

  /** `stats reset` forgets every prefix. */
  clear(): void {
    this.buckets = []
  }

  private find(key: string): PrefixCounts | undefined {
    const length = key.indexOf(this.delimiter)
    if (length === -1) return undefined
    const prefix = key.slice(0, length)
    const b = murmur3(prefix) % BUCKETS
    const bucket = (this.buckets[b] ??= [])
    // memcached compares the first `length` bytes only, so a longer prefix in the same bucket can answer for this one.
    for (const p of bucket) if (p.prefix.length >= length && p.prefix.startsWith(prefix)) return p
    const p = {prefix, gets: 0, hits: 0, sets: 0, dels: 0}
    bucket.unshift(p)
    return p
  }
}

/** MurmurHash3 x86 32-bit with seed 0 over a latin1 string's bytes (memcached's default hash). */
export function murmur3(s: string): number {
  const n = s.length
  let h = 0
  let i = 0
  const mix = (k: number): number => {
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    return Math.imul(k, 0x1b873593)
  }
  for (; i + 4 <= n; i += 4) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24)
    h ^= mix(k)
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  const rest = n & 3
  if (rest === 3) k ^= s.charCodeAt(i + 2) << 16
  if (rest >= 2) k ^= s.charCodeAt(i + 1) << 8
  if (rest >= 1) {
    k ^= s.charCodeAt(i)
    h ^= mix(k)
  }
  h ^= n
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
