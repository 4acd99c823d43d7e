// One notion of "now" for the whole server, in unix seconds, so expiry checks
// on the hot path cost a field read instead of a Date.now() call each.

let nowSeconds = Math.floor(Date.now() / 1000)
let timer: NodeJS.Timeout | undefined

export function now(): number {
  return nowSeconds
}

/** Refresh the clock now (also done every 100 ms once started). */
export function tick(): number {
  nowSeconds = Math.floor(Date.now() / 1000)
  return nowSeconds
}

export function startClock(): void {
  if (timer !== undefined) return
  tick()
  timer = setInterval(tick, 100)
  timer.unref()
}

export function stopClock(): void {
  if (timer !== undefined) clearInterval(timer)
  timer = undefined
}

/** memcached's limit between relative and absolute expiry times: 30 days. */
export const REALTIME_MAXDELTA = 60 * 60 * 24 * 30

/**
 * Client exptime (seconds, as given on the wire) to an absolute unix time;
 * 0 means never. Negative values mean "already expired", as in memcached.
 */
export function absoluteExpiry(exptime: number, at: number = nowSeconds): number {
  if (exptime === 0) return 0
  if (exptime < 0) return 1
  if (exptime > REALTIME_MAXDELTA) return exptime <= at ? 1 : exptime
  return at + exptime
}
