// What can be seen of a node from outside: its pid file and process through
// its Host, its role and numbers through `stats` over the network.

import {fetchStats} from '../client/stats.js'
import type {NodeConfig} from '../config/schema.js'
import type {Host} from '../hosts/host.js'
import {RepctlError, type ErrorCode} from '../errors.js'
import {daemonProcess, type DaemonProcess, type ProcessState} from './daemon.js'
import {isOutdated, localBundleSha256} from './bundle.js'
import {readSnapshot, type NodeSnapshot} from './snapshots.js'
import {nodeDaemon} from './topology.js'

export type {ProcessState} from './daemon.js'
export type Role = 'master' | 'slave' | 'none'
export type LinkState = 'paired' | 'listening' | 'connecting' | 'copying' | 'disconnected'

/** One node as `status --json` reports it; what cannot be known is null. */
export interface NodeObservation {
  name: string
  host: string
  port: number
  replicationPort: number
  transport: 'local' | 'ssh'
  pid: number | null
  process: ProcessState
  reachable: boolean
  /** Why the node's host could not be asked (process 'unknown'): the host's error as met; null otherwise. */
  hostError: {code: ErrorCode; message: string} | null
  role: Role | null
  state: LinkState | null
  peer: string | null
  items: number | null
  bytes: number | null
  queue: number | null
  /** Items evicted since the server started (stat evictions). */
  evictions: number | null
  /** Open client connections (stat curr_connections). */
  connections: number | null
  lagMs: number | null
  uptime: number | null
  version: string | null
  /** The server's own release (stat repcached_release). */
  release: string | null
  /** sha256 of the bundle file the running server was started from (stat repcached_bundle_sha256). */
  bundleSha256: string | null
  /** Whether it runs another bundle than the one this repctl installs (`repctl upgrade` restarts it); null: not answering. */
  outdated: boolean | null
  /** Replication protocol of the node's current or last link. */
  mode: 'legacy' | 'native' | null
  /** Whether the node pairs again by itself after losing its peer. */
  autoReconnect: boolean | null
  /** The node's last snapshot (a running node's word; for a stopped one, its file's header as read on its host). */
  snapshot: NodeSnapshot | null
  /**
   * Whether the running node demands the replication secret of its peer: its
   * `repl_secret` stat, or for a server too old to have it, its command line.
   */
  replicationSecret: boolean | null
}

const ROLES = new Set(['master', 'slave', 'none'])
const STATES = new Set(['paired', 'listening', 'connecting', 'copying', 'disconnected'])

function num(v: string | undefined): number | null {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null
}

/** The pid of a running server of this node, or why there is none. */
export function nodeProcess(host: Host, node: NodeConfig): Promise<DaemonProcess> {
  return daemonProcess(host, nodeDaemon(node))
}

/** Observe the nodes an operation needs; a host that cannot be observed stops it with that host's error. */
export async function observeForAction(pool: {for(node: NodeConfig): Host}, nodes: NodeConfig[]): Promise<NodeObservation[]> {
  const seen = await Promise.all(nodes.map((n) => observeNode(pool.for(n), n)))
  for (const o of seen) if (o.hostError !== null) throw new RepctlError(o.hostError.code, o.hostError.message)
  return seen
}

async function snapshotSeen(host: Host, node: NodeConfig, process: ProcessState, stats: Record<string, string> | undefined, withSnapshot: boolean): Promise<NodeSnapshot | null> {
  if (!node.snapshots) return null
  if (stats !== undefined) {
    const time = num(stats.snapshot_last_time)
    return time === null || time === 0 ? null : {time: new Date(time * 1000).toISOString(), items: num(stats.snapshot_last_items) ?? 0, bytes: num(stats.snapshot_last_bytes) ?? 0}
  }
  if (process !== 'stopped' || !withSnapshot) return null
  const seen = await readSnapshot(host, node, false)
  return seen.valid ? seen.snapshot : null
}

/** From the node's own word (repl_secret), else from how it was started (a server from before that stat). */
export function secretSeen(stats: Record<string, string> | undefined, commandLine: string | undefined): boolean | null {
  if (stats?.repl_secret === '1') return true
  if (stats?.repl_secret === '0') return false
  if (commandLine !== undefined) return /(^| )--rep-secret-file( |=)/.test(commandLine)
  return null
}

/**
 * `withSnapshot`: also read a stopped node's snapshot header on its host (for
 * `status`; it costs a process start on the host, which the supervisor's rounds need not pay).
 */
export async function observeNode(host: Host, node: NodeConfig, withSnapshot = false): Promise<NodeObservation> {
  const proc = await nodeProcess(host, node)
  const stats = proc.process === 'stopped' ? undefined : await fetchStats(node.host, node.port, undefined, node.security)
  const role = stats?.repl_role
  const state = stats?.repl_state
  return {
    name: node.name,
    host: node.host,
    port: node.port,
    replicationPort: node.replicationPort,
    transport: host.transport,
    pid: proc.pid,
    process: proc.process,
    reachable: proc.process !== 'unknown',
    hostError: proc.hostError === undefined ? null : {code: proc.hostError.code, message: proc.hostError.sentence},
    role: role !== undefined && ROLES.has(role) ? role as Role : null,
    state: state !== undefined && STATES.has(state) ? state as LinkState : null,
    peer: stats?.repl_peer === undefined || stats.repl_peer === '-' ? null : stats.repl_peer,
    items: num(stats?.curr_items),
    bytes: num(stats?.bytes),
    queue: num(stats?.repl_queue),
    evictions: num(stats?.evictions),
    connections: num(stats?.curr_connections),
    lagMs: num(stats?.repl_lag_ms),
    uptime: num(stats?.uptime),
    version: stats?.version ?? null,
    release: stats?.repcached_release ?? null,
    bundleSha256: stats?.repcached_bundle_sha256 !== undefined && /^[0-9a-f]{64}$/.test(stats.repcached_bundle_sha256) ? stats.repcached_bundle_sha256 : null,
    outdated: isOutdated(stats?.repcached_bundle_sha256 ?? null, stats !== undefined, localBundleSha256()),
    mode: stats?.repl_mode === 'legacy' || stats?.repl_mode === 'native' ? stats.repl_mode : null,
    autoReconnect: stats?.repl_reconnect === '1' ? true : stats?.repl_reconnect === '0' ? false : null,
    snapshot: await snapshotSeen(host, node, proc.process, stats, withSnapshot),
    replicationSecret: proc.process === 'running' || stats !== undefined ? secretSeen(stats, proc.commandLine) : null,
  }
}
