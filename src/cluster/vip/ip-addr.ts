// The addresses on a host's interface, as `ip -o -4 addr show dev IF` prints
// them: the truth about who holds a VIP (keepalived's own state file can be
// stale, e.g. after a kill -9). Parsing is pure; asking runs `ip` on the host.

import {RepctlError} from '../../errors.js'
import type {Host} from '../../hosts/host.js'

export interface InterfaceAddress { address: string; prefixLength: number }

/**
 * The IPv4 addresses in `ip -o -4 addr show` output, one line per address:
 * `2: eth0    inet 10.0.0.100/24 scope global secondary eth0\       valid_lft ...`.
 * Lines of other shapes are skipped.
 */
export function parseIpv4Addresses(output: string): InterfaceAddress[] {
  const found: InterfaceAddress[] = []
  for (const line of output.split('\n')) {
    const m = /\sinet\s+(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})\s/.exec(`${line} `)
    if (m !== null) found.push({address: m[1]!, prefixLength: Number(m[2])})
  }
  return found
}

/** `ip` says so when the device is not there (iproute2 6.1: `Device "eth9" does not exist.`). */
export function isMissingDevice(stderr: string): boolean {
  return /Device ".*" does not exist|Cannot find device/.test(stderr)
}

/** The interface's IPv4 addresses on the host, or 'missing' when the host has no such interface. Throws HOST_ERROR otherwise. */
export async function interfaceAddresses(host: Host, iface: string): Promise<InterfaceAddress[] | 'missing'> {
  const r = await host.run('ip', ['-o', '-4', 'addr', 'show', 'dev', iface], {timeoutMs: 10_000})
  if (r.exitCode === 0) return parseIpv4Addresses(r.stdout)
  if (isMissingDevice(r.stderr)) return 'missing'
  throw new RepctlError('HOST_ERROR', `\`ip -o -4 addr show dev ${iface}\` on ${host.label} failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`,
    ['check that iproute2 is installed on the host (apt-get install iproute2)'])
}

/** Whether the host has `address` on `iface` (a missing interface holds nothing). */
export async function holdsAddress(host: Host, iface: string, address: string): Promise<boolean> {
  const seen = await interfaceAddresses(host, iface)
  return seen !== 'missing' && seen.some((a) => a.address === address)
}
