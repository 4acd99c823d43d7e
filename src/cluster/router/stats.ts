// nutcracker's stats port: on connect it writes one JSON object and closes.
// Its counters are cumulative since the router started and published every
// STATS_INTERVAL_MS. The pool is keyed by the cluster's name, and within it
// each pair by its ring name.

import {connect} from 'node:net'

export interface RouterPairStats {
  name: string
  /** Requests the router forwarded to the pair, and replies it got. */
  requests: number
  responses: number
  /** Connection errors, timeouts (no reply within the config's timeout) and closes by the pair. */
  errors: number
  timeouts: number
  eofs: number
  /** Open connections to the pair (0 until a client's key is routed there: no preconnect). */
  connections: number
}

export interface RouterStats {
  version: string | null
  uptime: number | null
  clientConnections: number | null
  /** Client requests the router could not forward (the pair unreachable). */
  forwardErrors: number | null
  pairs: RouterPairStats[]
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A counter or gauge as status --json reports it (a whole number, at least 0): anything else is not one. */
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const count = (v: unknown): number => (isCount(v) ? v : 0)
const orNull = (v: unknown): number | null => (isCount(v) ? v : null)

/** The numbers of pool `cluster` for the pairs named; undefined when the text is not nutcracker's stats. */
export function parseRouterStats(text: string, cluster: string, pairNames: readonly string[]): RouterStats | undefined {
  let json: unknown
  try { json = JSON.parse(text) } catch { return undefined }
  if (!isRecord(json) || json.service !== 'nutcracker') return undefined
  const pool = isRecord(json[cluster]) ? json[cluster] : {}
  return {
    version: typeof json.version === 'string' ? json.version : null,
    uptime: orNull(json.uptime),
    clientConnections: orNull(pool.client_connections),
    forwardErrors: orNull(pool.forward_error),
    pairs: pairNames.map((name) => {
      const s = isRecord(pool[name]) ? pool[name] : {}
      return {
        name, requests: count(s.requests), responses: count(s.responses), errors: count(s.server_err),
        timeouts: count(s.server_timedout), eofs: count(s.server_eof), connections: count(s.server_connections),
      }
    }),
  }
}

/** The stats port's whole answer, or undefined when it does not answer within `timeoutMs`. */
export function readStatsPort(host: string, port: number, timeoutMs = 1500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let done = false
    const finish = (v: string | undefined): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(v)
    }
    const socket = connect({host, port})
    const timer = setTimeout(() => finish(undefined), timeoutMs)
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('end', () => finish(Buffer.concat(chunks).toString('utf8')))
    socket.on('error', () => finish(undefined))
  })
}
