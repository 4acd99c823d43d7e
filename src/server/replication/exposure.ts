// Whether a node's replication port is open to the network with nothing to
// tell a real peer from anyone else: then whoever reaches it gets a full copy
// of the cache and can write into it. Said once, at -v, at start.

import {isIP} from 'node:net'

/** 127.0.0.0/8, ::1 (also as an IPv4-mapped address) and the name localhost. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase()
  if (a === 'localhost' || a === '::1') return true
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a
  return isIP(v4) === 4 && v4.startsWith('127.')
}

/**
 * The warning for a replication listener on `address` (undefined: every
 * interface) without a secret or replication TLS, or undefined when there is
 * nothing to warn about. A host name other than localhost counts as open: it
 * names a network address as a rule.
 */
export function openReplicationWarning(address: string | undefined, port: number, secret: boolean, tls: boolean): string | undefined {
  if (port === 0 || secret || tls) return undefined
  if (address !== undefined && isLoopback(address)) return undefined
  const where = address === undefined ? `*:${port} (every interface)` : `${address.includes(':') ? `[${address}]` : address}:${port}`
  return `warning: the replication port ${where} listens beyond loopback with no secret: anyone who reaches it gets a full copy of the cache and can write into it; give both nodes --rep-secret-file FILE (the same secret), or --rep-tls-*`
}
