// The one way a user writes a length of time, for repctl's flags and config
// keys and for the server's own (non-memcached) flags: 250ms, 1s, 1.5s, 2m,
// 1h, or a bare number of seconds (as every one of them took before units).
// Values are carried as whole milliseconds. Here, with no imports, because the
// bundled server may only hold src/server; repctl imports it from here.

const UNIT_MS = {ms: 1, s: 1000, m: 60_000, h: 3_600_000} as const

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/

/** What a duration may be, in milliseconds; `zero` says what 0 means when it is allowed below `min`. */
export interface DurationRange {
  min: number
  max: number
  zero?: string
}

export type DurationCheck = {ms: number} | {problem: string}

export const DAY_MS = 86_400_000

export const DURATION_FORMS = 'like 250ms, 1s, 1.5s, 2m or 1h (a bare number is seconds)'

/** `value` as whole milliseconds within `range`, or what is wrong with it ("must be …", without the value). */
export function checkDuration(value: unknown, range: DurationRange): DurationCheck {
  const ms = toMs(value)
  if (ms === undefined) return {problem: `must be ${describeRange(range)}`}
  if (ms === 'fraction') return {problem: `must be a whole number of milliseconds: ${describeRange(range)}`}
  if (ms === 0 && range.zero !== undefined) return {ms}
  if (ms < range.min || ms > range.max) return {problem: `must be ${describeRange(range)}`}
  return {ms}
}

/** The shortest exact spelling: 250ms, 1500ms, 2s, 2m, 1h; parses back to the same value. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  for (const unit of ['h', 'm', 's'] as const) if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`
  return `${ms}ms`
}

export function describeRange(range: DurationRange): string {
  const span = `a duration from ${formatDuration(range.min)} to ${formatDuration(range.max)}, ${DURATION_FORMS}`
  return range.zero === undefined ? span : `0 (${range.zero}) or ${span}`
}

/**
 * Whole milliseconds; 'fraction' when the value falls between two; undefined
 * for anything that is not a duration. A number (from YAML or JSON) is
 * seconds. Decimal text is scaled by moving the point, not by multiplying
 * floats, so 1.1s is exactly 1100 ms and 0.0005s is caught as half of one.
 */
function toMs(value: unknown): number | 'fraction' | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? toMs(String(value)) : undefined
  if (typeof value !== 'string') return undefined
  const m = DURATION.exec(value)
  if (m === null) return undefined
  const [whole, fraction = ''] = m[1]!.split('.') as [string, string?]
  const unit = UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS]
  const digits = fraction.replace(/0+$/, '')
  const scaled = (BigInt(whole) * 10n ** BigInt(digits.length) + BigInt(digits === '' ? 0 : digits)) * BigInt(unit)
  const divisor = 10n ** BigInt(digits.length)
  if (scaled % divisor !== 0n) return 'fraction'
  const ms = scaled / divisor
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(ms)
}
