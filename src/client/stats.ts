// Asks one node for its `stats` over the binary protocol (memjs).

import memjs from 'memjs'

/** All stats lines of a node, or undefined if it does not answer within the timeout. */
export function fetchStats(host: string, port: number, timeoutMs = 1500): Promise<Record<string, string> | undefined> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  const seconds = timeoutMs / 1000
  // memjs logs to stdout by default, which would corrupt --json output.
  const client = memjs.Client.create(address, {retries: 0, timeout: seconds, conntimeout: seconds, logger: {log: () => {}}})
  return new Promise((resolve) => {
    let settled = false
    const done = (v: Record<string, string> | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(guard)
      client.close()
      resolve(v)
    }
    const guard = setTimeout(() => done(undefined), timeoutMs + 500)
    client.stats((err, _server, stats) => done(err === null || err === undefined ? (stats ?? undefined) : undefined))
  })
}
