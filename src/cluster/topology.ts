// Where each node lives and how it is started: paths in its state dir and
// the repcached command line that makes a plain restart rejoin its pair.

import {join} from 'node:path'
import type {ClusterConfig, NodeConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'

export interface NodePaths { dir: string; bundle: string; pidFile: string; logFile: string; snapshot: string }

export function nodePaths(node: NodeConfig): NodePaths {
  const dir = join(node.stateDir, node.name)
  return {dir, bundle: join(dir, 'repcached.mjs'), pidFile: join(dir, 'repcached.pid'), logFile: join(dir, 'repcached.log'), snapshot: join(dir, 'snapshot.rcs')}
}

/** The node's server flags: its peer as -x, so a restart of either node rejoins as slave. */
export function serverArgs(node: NodeConfig, peer: NodeConfig): string[] {
  const paths = nodePaths(node)
  return [
    paths.bundle,
    '-d', '-v',
    '-P', paths.pidFile,
    '-p', String(node.port),
    '-l', node.host,
    '-m', String(node.memory),
    '-c', String(node.maxConnections),
    '-x', peer.host,
    '-X', `${node.replicationPort}:${peer.replicationPort}`,
    '-q', String(node.queueMax),
    ...(node.snapshots ? ['--snapshot', paths.snapshot, '--snapshot-interval', String(node.snapshotInterval)] : []),
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
  const pair = config.pairs.find(([a, b]) => a === name || b === name)
  if (pair === undefined) throw new RepctlError('PAIR_UNKNOWN', `node "${name}" is in no pair in ${config.source}`)
  return [node, findNode(config, pair[0] === name ? pair[1] : pair[0])]
}

/** The pairs a command works on: all, or the one `--pair a,b` names. */
export function selectPairs(config: ClusterConfig, pair: string | undefined): [NodeConfig, NodeConfig][] {
  if (pair === undefined) return config.pairs.map(([a, b]) => [findNode(config, a), findNode(config, b)])
  const names = pair.split(',').map((s) => s.trim())
  const match = config.pairs.find(([a, b]) => names.length === 2 && ((a === names[0] && b === names[1]) || (a === names[1] && b === names[0])))
  if (match === undefined) throw new RepctlError('PAIR_UNKNOWN', `"${pair}" is not a pair in ${config.source} (pairs: ${config.pairs.map((p) => p.join(',')).join('; ')})`)
  // The order given is the order of preference for the master.
  return [[findNode(config, names[0]!), findNode(config, names[1]!)]]
}
