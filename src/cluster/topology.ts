// Where each node lives and how it is started: paths in its state dir and
// the repcached command line that makes a plain restart rejoin its pair.

import {join} from 'node:path'
import type {ClusterConfig, NodeConfig} from '../config/schema.js'
import {formatDuration} from '../server/duration.js'
import {RepctlError} from '../errors.js'
import type {DaemonSpec} from './daemon.js'
import type {SecretUse} from './replication-secret.js'

export interface NodePaths { dir: string; bundle: string; pidFile: string; logFile: string; snapshot: string; secrets: string }

export function nodePaths(node: NodeConfig): NodePaths {
  const dir = join(node.stateDir, node.name)
  return {dir, bundle: join(dir, 'repcached.mjs'), pidFile: join(dir, 'repcached.pid'), logFile: join(dir, 'repcached.log'), snapshot: join(dir, 'snapshot.rcs'), secrets: join(dir, 'secrets')}
}

/** SIGTERM lets the server drain replication (5 s by default) and write its snapshot (about 1 s per million items) before we insist. */
export const NODE_STOP_TIMEOUT_MS = 60_000

/** The node's server as a managed daemon: its process is the one running its bundle. */
export function nodeDaemon(node: NodeConfig, stopTimeoutMs = NODE_STOP_TIMEOUT_MS): DaemonSpec {
  const paths = nodePaths(node)
  return {name: `node ${node.name}`, pidFile: paths.pidFile, marker: paths.bundle, stopTimeoutMs, errors: {start: 'NODE_START_FAILED', stop: 'NODE_STOP_FAILED'}}
}

/** Where repctl keeps the replication secret it generated for the node's pair (a name no configured file uses). */
export function generatedSecretPath(node: NodeConfig): string {
  return join(nodePaths(node).secrets, 'replication-generated.secret')
}

/**
 * The security files a node needs on its host, as [local file, name in the node's secrets dir].
 * Copied there with mode 0600; the server is given their paths, never their contents.
 */
export function secretFiles(node: NodeConfig): [string, string][] {
  const s = node.security
  if (s === undefined) return []
  const files: [string | undefined, string][] = [
    [s.replicationSecretFile, 'replication.secret'], [s.usersFile, 'users'],
    [s.tls?.cert, 'tls-cert.pem'], [s.tls?.key, 'tls-key.pem'], [s.tls?.ca, 'tls-ca.pem'],
    [s.replicationTls?.cert, 'rep-tls-cert.pem'], [s.replicationTls?.key, 'rep-tls-key.pem'], [s.replicationTls?.ca, 'rep-tls-ca.pem'],
  ]
  return files.filter((f): f is [string, string] => f[0] !== undefined)
}

/** The server flags that lock a node down: replication secret (its path only), users (-Y), client TLS (-Z), replication TLS. */
function securityArgs(node: NodeConfig, secret: SecretUse): string[] {
  const at = (name: string): string => join(nodePaths(node).secrets, name)
  const args: string[] = []
  if (secret === 'configured') args.push('--rep-secret-file', at('replication.secret'))
  if (secret === 'generated') args.push('--rep-secret-file', generatedSecretPath(node))
  const s = node.security
  if (s === undefined) return args
  if (s.usersFile !== undefined) args.push('-Y', at('users'))
  if (s.tls !== undefined) {
    const o = [`ssl_chain_cert=${at('tls-cert.pem')}`, `ssl_key=${at('tls-key.pem')}`]
    if (s.tls.ca !== undefined) o.push(`ssl_ca_cert=${at('tls-ca.pem')}`)
    if (s.tls.verifyClients) o.push('ssl_verify_mode=2')
    args.push('-Z', '-o', o.join(','))
  }
  if (s.replicationTls !== undefined) args.push('--rep-tls-cert', at('rep-tls-cert.pem'), '--rep-tls-key', at('rep-tls-key.pem'), '--rep-tls-ca', at('rep-tls-ca.pem'))
  return args
}

/**
 * The node's server flags: its peer as -x, so a restart of either node rejoins
 * as slave; `secret`: which replication secret (settled by replication-secret.ts).
 * -l is the node's own address first (the server binds its replication
 * connections to the first -l address), then its pair's VIP if any: the node
 * listens there while the other host holds it (ip_nonlocal_bind, set by
 * `repctl start`), so it answers the moment the VIP moves to its host.
 */
export function serverArgs(node: NodeConfig, peer: NodeConfig, secret: SecretUse): string[] {
  const paths = nodePaths(node)
  return [
    paths.bundle,
    '-d', '-v',
    '-P', paths.pidFile,
    '-p', String(node.port),
    '-l', node.vipAddress === undefined ? node.host : `${node.host},${node.vipAddress}`,
    '-m', String(node.memory),
    '-c', String(node.maxConnections),
    '-x', peer.host,
    '-X', `${node.replicationPort}:${peer.replicationPort}`,
    '-q', String(node.queueMax),
    ...(node.snapshots ? ['--snapshot', paths.snapshot, '--snapshot-interval', formatDuration(node.snapshotIntervalMs)] : []),
    ...securityArgs(node, secret),
  ]
}

export function findNode(config: ClusterConfig, name: string): NodeConfig {
  const node = config.nodes.find((n) => n.name === name)
  if (node === undefined) throw new RepctlError('NODE_UNKNOWN', `no node named "${name}" in ${config.source} (nodes: ${config.nodes.map((n) => n.name).join(', ')})`)
  return node
}

/** The pair a node belongs to, as [node, its peer]. */
export function pairOf(config: ClusterConfig, name: string): [NodeConfig, NodeConfig] {
  const node = findNode(config, name)
  const pair = config.pairs.find(({nodes: [a, b]}) => a === name || b === name)
  if (pair === undefined) throw new RepctlError('PAIR_UNKNOWN', `node "${name}" is in no pair in ${config.source}`)
  const [a, b] = pair.nodes
  return [node, findNode(config, a === name ? b : a)]
}

/** The pairs a command works on: all, or the one `--pair a,b` names. */
export function selectPairs(config: ClusterConfig, pair: string | undefined): [NodeConfig, NodeConfig][] {
  if (pair === undefined) return config.pairs.map(({nodes: [a, b]}) => [findNode(config, a), findNode(config, b)])
  const names = pair.split(',').map((s) => s.trim())
  const match = config.pairs.find(({nodes: [a, b]}) => names.length === 2 && ((a === names[0] && b === names[1]) || (a === names[1] && b === names[0])))
  if (match === undefined) throw new RepctlError('PAIR_UNKNOWN', `"${pair}" is not a pair in ${config.source} (pairs: ${config.pairs.map((p) => p.nodes.join(',')).join('; ')})`)
  // The order given is the order of preference for the master.
  return [[findNode(config, names[0]!), findNode(config, names[1]!)]]
}
