// memcached parses numeric arguments with strtoul/strtol/strtoull and then
// narrows them into 32-bit fields (see util.c safe_strto*). Clients depend on
// the exact outcome, including the quirky narrowing, so we reproduce it here
// instead of using Number() or parseInt().

const U64_MAX = (1n << 64n) - 1n
const I64_MAX = (1n << 63n) - 1n
const I64_MIN = -(1n << 63n)

function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d)
}

interface Scanned { value: bigint; negative: boolean; end: number; digits: number }

/** Scan like strtoull/strtoll: leading white space, optional sign, decimal digits. */
function scan(s: string): Scanned | undefined {
  let i = 0
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++
  let negative = false
  const sign = s.charCodeAt(i)
  if (sign === 0x2b || sign === 0x2d) { negative = sign === 0x2d; i++ }
  const start = i
  let value = 0n
  // Digits are accumulated in chunks to avoid a BigInt operation per digit.
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c < 0x30 || c > 0x39) break
    i++
  }
  if (i === start) return undefined
  const digits = s.slice(start, i)
  value = digits.length <= 15 ? BigInt(Number(digits)) : BigInt(digits)
  return {value, negative, end: i, digits: i - start}
}

/** The tail check shared by every safe_strto*: the number must end the token or be followed by white space. */
function tailOk(s: string, end: number): boolean {
  return end === s.length || isCSpace(s.charCodeAt(end))
}

/** safe_strtoull: unsigned 64-bit; rejects a '-' only when the result would look negative as signed. */
export function parseU64(s: string): bigint | undefined {
  const r = scan(s)
  if (r === undefined || !tailOk(s, r.end)) return undefined
  if (r.value > U64_MAX) return undefined // ERANGE
  let v = r.value
  if (r.negative) v = (U64_MAX + 1n - v) & U64_MAX // strtoull negates in unsigned arithmetic
  if (v > I64_MAX && s.includes('-')) return undefined
  return v
}

/** safe_strtoul on LP64: parsed as unsigned long (64-bit), then stored into a uint32_t. */
export function parseU32(s: string): number | undefined {
  const v = parseU64(s)
  if (v === undefined) return undefined
  return Number(v & 0xffffffffn)
}

/** safe_strtol on LP64: parsed as long (64-bit), then stored into an int32_t. */
export function parseI32(s: string): number | undefined {
  const r = scan(s)
  if (r === undefined || !tailOk(s, r.end)) return undefined
  const v = r.negative ? -r.value : r.value
  if (v > I64_MAX || v < I64_MIN) return undefined // ERANGE
  return Number(BigInt.asIntN(32, v))
}

/** Up to 9 plain decimal digits (the common case on the hot path), else undefined. */
function shortDecimal(s: string): number | undefined {
  const n = s.length
  if (n === 0 || n > 9) return undefined
  let v = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 0x30
    if (c < 0 || c > 9) return undefined
    v = v * 10 + c
  }
  return v
}

/** parseU32 with a fast path for short plain decimals; same results. */
export function parseSmallU32(s: string): number | undefined {
  return shortDecimal(s) ?? parseU32(s)
}

/** parseI32 with a fast path for short plain decimals; same results. */
export function parseSmallI32(s: string): number | undefined {
  return shortDecimal(s) ?? parseI32(s)
}
