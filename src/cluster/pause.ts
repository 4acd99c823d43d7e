/** Wait `ms`, or less once `stopped()` says so: looked at every 100 ms, so a signal is answered quickly whatever the wait. */
export async function pause(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms
  while (!stopped() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())))
}
