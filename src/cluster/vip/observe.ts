// What can be seen of a pair's VIP: which hosts have it on the interface
// (`ip -o -4 addr show dev IF`, the truth), and each node's keepalived: its
// process (pid file and command line) and the VRRP state its notify command
// last wrote. The state file only means something while the process runs: a
// keepalived killed with -9 leaves its last word behind.
//
// And the one control promote needs: the drain file (a keepalived
// track_file). Writing 1 puts that node's instance in FAULT, so the VIP
// leaves its host within a few hundred milliseconds; 0 lets it back to
// BACKUP, and with nopreempt it does not take the VIP back.

import type {NodeConfig} from '../../config/schema.js'
import type {Host} from '../../hosts/host.js'
import {daemonProcess, type ProcessState} from '../daemon.js'
import {interfaceAddresses} from './ip-addr.js'
import {keepalivedDaemon, type VipPair} from './keepalived.js'
import {vipPaths} from './paths.js'

export type VrrpState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP'

export interface KeepalivedObservation {
  node: string
  pid: number | null
  process: ProcessState
  /** The state the notify command last wrote; null when none was written or the process does not run. */
  state: VrrpState | null
}

export interface VipObservation {
  address: string
  prefixLength: number
  interface: string
  routerId: number
  /** Nodes whose host has the VIP on the interface now. */
  holders: string[]
  /** Nodes whose host could not be asked: it may hold the VIP too. */
  unobserved: string[]
  /** Nodes whose host has no such interface (start refuses them; a host changed since). */
  interfaceMissing: string[]
  /** Per node of the pair, in config order. */
  keepalived: KeepalivedObservation[]
}

const STATES = new Set<string>(['MASTER', 'BACKUP', 'FAULT', 'STOP'])

/** The notify command's one line, or null for anything else (missing, empty, half written). */
export function parseVrrpState(text: string | undefined): VrrpState | null {
  const s = text?.trim()
  return s !== undefined && STATES.has(s) ? s as VrrpState : null
}

type Pool = {for(node: NodeConfig): Host}

async function keepalivedOf(host: Host, node: NodeConfig): Promise<KeepalivedObservation> {
  const proc = await daemonProcess(host, keepalivedDaemon(node))
  if (proc.process !== 'running') return {node: node.name, pid: proc.pid, process: proc.process, state: null}
  const text = await host.readFile(vipPaths(node).stateFile).catch(() => undefined)
  return {node: node.name, pid: proc.pid, process: 'running', state: parseVrrpState(text)}
}

/** Where the pair's VIP is and how each keepalived is; a host that cannot be asked is listed in `unobserved`, never an error. */
export async function observeVip(pool: Pool, pair: VipPair): Promise<VipObservation> {
  const {vip} = pair
  const seen = await Promise.all(pair.nodes.map(async (node) => {
    const host = pool.for(node)
    const [addresses, keepalived] = await Promise.all([
      interfaceAddresses(host, vip.interface).catch(() => undefined),
      keepalivedOf(host, node),
    ])
    return {node: node.name, addresses, keepalived}
  }))
  return {
    address: vip.address,
    prefixLength: vip.prefixLength,
    interface: vip.interface,
    routerId: vip.routerId,
    holders: seen.filter((s) => Array.isArray(s.addresses) && s.addresses.some((a) => a.address === vip.address)).map((s) => s.node),
    unobserved: seen.filter((s) => s.addresses === undefined).map((s) => s.node),
    interfaceMissing: seen.filter((s) => s.addresses === 'missing').map((s) => s.node),
    keepalived: seen.map((s) => s.keepalived),
  }
}

/**
 * Move the VIP away from `node`'s host (on) or let that host take it again
 * when needed (off). Effective at once if keepalived runs; a keepalived
 * started later resets the file to 0 (startKeepalived).
 */
export async function drainVip(pool: Pool, node: NodeConfig, on: boolean): Promise<void> {
  await pool.for(node).writeFile(vipPaths(node).trackFile, on ? '1\n' : '0\n', 0o644)
}
