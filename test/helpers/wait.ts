// Polling a real system until it shows what a test waits for: one place for
// the two forms the tests use (a verdict they judge themselves, or a value
// they must have), so each test says only what it waits for.

import assert from 'node:assert/strict'

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Poll until `check` holds: true, or false after `timeoutMs`; a check that throws (a node not answering yet) counts as "not yet". */
export async function until(check: () => Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    try { if (await check()) return true } catch { /* not yet */ }
    if (Date.now() >= end) return false
    await sleep(stepMs)
  }
}

/** Poll until `check` gives a value and return it; fails the test, naming `what`, after `ms`. A check that throws fails at once. */
export async function waitFor<T>(what: string, ms: number, check: () => Promise<T | undefined>, stepMs = 25): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(stepMs)
  }
}
