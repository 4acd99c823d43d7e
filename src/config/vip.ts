// The `vip` of a pair: the virtual IPv4 address keepalived moves between the
// pair's two hosts, the interface it lives on, the VRRP router id and advert
// interval. Rendering the keepalived config is src/cluster/vip/; this file
// only reads and checks what the operator wrote.
//
// IPv6 is refused for now: a VRRP instance carries one address family, so the
// pair's hosts would need IPv6 unicast addresses too, the VIP needs duplicate
// address detection switched off (-nodad) and neighbour adverts instead of
// gratuitous ARP, and nothing here tests that path. A clear "not yet" beats a
// config keepalived half understands.

import {checkDuration, DURATION_FORMS} from '../server/duration.js'
import {createHash} from 'node:crypto'

export interface VipConfig {
  /** The virtual IPv4 address, without its prefix length (e.g. 10.0.0.100). */
  address: string
  /** Its prefix length on the interface (e.g. 24): keepalived adds `address/prefixLength`. */
  prefixLength: number
  /** The Linux network interface on both hosts that carries the VIP and the VRRP adverts. */
  interface: string
  /** VRRP virtual_router_id, 1-255: configured, else derived (see assignRouterIds). */
  routerId: number
  /** Milliseconds between VRRP adverts (keepalived advert_int), a multiple of 10. */
  advertIntervalMs: number
}

/**
 * 400 ms between adverts. A dead keepalived host (or a cut link) is noticed
 * after 3 missed adverts plus the VRRPv3 skew ((256 - priority) / 256 of an
 * interval): about 1.4 s, so the VIP is back within 2 s. The other failure,
 * a node killed while its host lives, does not wait for that timer: the check
 * fails within its 1 s interval, the instance goes to FAULT and sends a
 * priority-0 advert, and the peer takes over after only the skew (~0.25 s).
 * Lower values react faster but a host too busy to send 3 adverts in a row
 * (1.2 s here) would lose the VIP to its peer while it still serves.
 */
export const DEFAULT_ADVERT_INTERVAL_MS = 400

/** VRRPv3 carries the interval in centiseconds in 12 bits: 10 ms to 40.95 s. */
const ADVERT_MIN_MS = 10
const ADVERT_MAX_MS = 40_950

/** Linux interface names: at most 15 bytes; we allow the portable letters only (keepalived's config parser has opinions about the rest). */
const INTERFACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/

const VIP_KEYS = ['address', 'interface', 'routerId', 'advertInterval']

/**
 * What no path in a keepalived config may hold: `"` and `\` (a track file's
 * path is read without escapes), `{` `}` (block delimiters when keepalived
 * skips a block), control characters (a newline ends the line), and `$`
 * before a letter or _ (keepalived substitutes its own $_PWD, $_INSTANCE...
 * even inside quotes; `$0` or `$$` are left alone).
 */
export const KEEPALIVED_UNSAFE = /["\\{}\x00-\x1f\x7f]|\$[A-Za-z_]/

type Report = (path: string, problem: string) => void

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Dotted-quad IPv4 as a 32-bit number; undefined unless exactly four decimal octets without leading zeros. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined
    n = n * 256 + Number(p)
  }
  return n
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** Why an address cannot be a VIP, or undefined. */
function unusableAddress(ip: number, text: string): string | undefined {
  const first = ip >>> 24
  if (first === 0) return `${text} is in 0.0.0.0/8, which is not a host address`
  if (first === 127) return `${text} is a loopback address; a VIP must be reachable on the network`
  if (first >= 224 && first < 240) return `${text} is a multicast address`
  if (first >= 240) return `${text} is a reserved (or the broadcast) address`
  return undefined
}

/** A pair's `vip` as written; routerId is filled in by assignRouterIds when not configured. */
export interface VipDraft extends Omit<VipConfig, 'routerId'> {
  routerId: number | undefined
}

/** Validate one `vip` mapping; problems go to `problem` with their key path. */
export function checkVip(raw: unknown, path: string, problem: Report): VipDraft | undefined {
  if (!isRecord(raw)) { problem(path, 'must be a mapping with address and interface, e.g. {address: 10.0.0.100/24, interface: eth0}'); return undefined }
  let ok = true
  const bad = (key: string, message: string): void => { problem(`${path}.${key}`, message); ok = false }
  for (const key of Object.keys(raw)) {
    if (key === 'priority') bad(key, 'unknown key; repctl sets the VRRP priorities (the pair\'s first node is preferred when both start)')
    else if (!VIP_KEYS.includes(key)) bad(key, `unknown key; expected one of ${VIP_KEYS.join(', ')}`)
  }

  let address = ''
  let prefixLength = 0
  const a = raw.address
  if (a === undefined) {
    bad('address', 'is required: the virtual IPv4 address with its prefix length, e.g. 10.0.0.100/24')
  } else if (typeof a === 'string' && a.includes(':')) {
    bad('address', `IPv6 VIPs are not supported yet; use an IPv4 address with its prefix length, e.g. 10.0.0.100/24 (got ${JSON.stringify(a)})`)
  } else {
    const m = typeof a === 'string' ? /^([0-9.]+)\/([0-9]{1,2})$/.exec(a) : null
    const ip = m === null ? undefined : parseIpv4(m[1]!)
    const len = m === null ? NaN : Number(m[2])
    if (m === null || ip === undefined || !(len >= 1 && len <= 32)) {
      bad('address', `must be an IPv4 address with its prefix length (CIDR), e.g. 10.0.0.100/24 (got ${JSON.stringify(a)})`)
    } else {
      const unusable = unusableAddress(ip, m[1]!)
      // /31 and /32 have no network or broadcast address (RFC 3021).
      const hostBits = 32 - len
      const hostPart = ip % 2 ** hostBits
      if (unusable !== undefined) bad('address', unusable)
      else if (len <= 30 && hostPart === 0) bad('address', `${m[1]} is the network address of ${a}; choose a host address inside it`)
      else if (len <= 30 && hostPart === 2 ** hostBits - 1) bad('address', `${m[1]} is the broadcast address of ${a}; choose a host address inside it`)
      else { address = m[1]!; prefixLength = len }
    }
  }

  const iface = raw.interface
  if (iface === undefined) bad('interface', 'is required: the network interface that carries the VIP on both hosts, e.g. eth0')
  else if (typeof iface !== 'string' || !INTERFACE.test(iface)) {
    bad('interface', `must be a network interface name (1 to 15 letters, digits, _ . -, not starting with . or -), e.g. eth0 (got ${JSON.stringify(iface)})`)
  }

  const rid = raw.routerId
  if (rid !== undefined && !(Number.isInteger(rid) && (rid as number) >= 1 && (rid as number) <= 255)) {
    bad('routerId', `must be a whole number from 1 to 255 (got ${JSON.stringify(rid)})`)
  }

  let advertIntervalMs = DEFAULT_ADVERT_INTERVAL_MS
  if (raw.advertInterval !== undefined) {
    const r = checkDuration(raw.advertInterval, {min: ADVERT_MIN_MS, max: ADVERT_MAX_MS})
    if ('problem' in r || r.ms % 10 !== 0) {
      bad('advertInterval', `must be a duration from 10ms to 40.95s in steps of 10ms (VRRPv3 counts centiseconds), ${DURATION_FORMS} (got ${JSON.stringify(raw.advertInterval)})`)
    } else {
      advertIntervalMs = r.ms
    }
  }
  if (!ok) return undefined
  return {address, prefixLength, interface: iface as string, routerId: rid as number | undefined, advertIntervalMs}
}

/**
 * Router ids for the pairs that did not set one. Each such pair starts from an
 * id derived from the cluster name and its two node names (sorted, so the
 * order of preference does not matter), then takes the next id not used by
 * another pair of this cluster. Derived rather than counted from a fixed base,
 * so that adding or removing a pair does not renumber the others (the two
 * hosts of a pair must always agree on the id), and two clusters rarely meet
 * on the same id. Rarely is not never: operators who run several clusters (or
 * other keepalived setups) on one network set routerId themselves.
 */
export function assignRouterIds(cluster: string, pairs: {nodes: readonly [string, string]; vip: VipDraft | undefined}[]): void {
  const used = new Set<number>()
  for (const p of pairs) if (p.vip?.routerId !== undefined) used.add(p.vip.routerId)
  for (const p of pairs) {
    if (p.vip === undefined || p.vip.routerId !== undefined) continue
    if (used.size >= 255) return
    const seed = createHash('sha256').update(`${cluster}\n${[...p.nodes].sort().join('\n')}`).digest().readUInt32BE(0)
    let id = (seed % 255) + 1
    while (used.has(id)) id = (id % 255) + 1
    used.add(id)
    p.vip.routerId = id
  }
}
