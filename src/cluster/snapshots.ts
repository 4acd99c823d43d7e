// A node's snapshot as seen from repctl: verified on the node's own host by
// the installed server (`repcached --snapshot-check`), so the same code that
// will load it judges it, on a local or an SSH host alike.

import type {NodeConfig} from '../config/schema.js'
import type {Host} from '../hosts/host.js'
import {nodePaths} from './topology.js'

/** A valid snapshot: when it was taken, what it holds. */
export interface NodeSnapshot { time: string; items: number; bytes: number }

export type SnapshotSeen = {valid: true; snapshot: NodeSnapshot} | {valid: false; reason: string}

/**
 * What the node's snapshot file holds; `missing` and damage are both "not
 * valid", with the reason. `verify`: read it all and check its checksum (to
 * choose a master); otherwise its header only (for status).
 */
export async function readSnapshot(host: Host, node: NodeConfig, verify = true): Promise<SnapshotSeen> {
  if (!node.snapshots) return {valid: false, reason: 'snapshots are off for this node'}
  const paths = nodePaths(node)
  let r
  try {
    r = await host.run(host.nodePath, [paths.bundle, verify ? '--snapshot-check' : '--snapshot-info', paths.snapshot], {timeoutMs: 120_000})
  } catch (e) {
    return {valid: false, reason: `cannot check it on ${host.label}: ${(e as Error).message}`}
  }
  let doc: unknown
  try { doc = JSON.parse(r.stdout) } catch { doc = undefined }
  if (typeof doc !== 'object' || doc === null || !('valid' in doc)) {
    return {valid: false, reason: `cannot check it on ${host.label} (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`}
  }
  const d = doc as {valid: boolean; created?: string; items?: number; bytes?: number; reason?: string}
  if (d.valid && typeof d.created === 'string' && typeof d.items === 'number' && typeof d.bytes === 'number') {
    return {valid: true, snapshot: {time: d.created, items: d.items, bytes: d.bytes}}
  }
  return {valid: false, reason: d.reason ?? 'invalid'}
}

/**
 * Which node of a pair whose nodes are both down starts as master: the one
 * with the newest valid snapshot (its data is the most recent the pair has);
 * without any, the preferred (first-named) node. A pure rule, table-tested.
 */
export function chooseMaster(preferred: string, ps: SnapshotSeen, other: string, os: SnapshotSeen): {first: string; second: string; from: NodeSnapshot | null; why: string} {
  const newer = os.valid && (!ps.valid || Date.parse(os.snapshot.time) > Date.parse(ps.snapshot.time))
  if (newer) return {first: other, second: preferred, from: os.snapshot, why: `${other} has the newest snapshot (${os.snapshot.time}, ${os.snapshot.items} items)`}
  if (ps.valid) return {first: preferred, second: other, from: ps.snapshot, why: `${preferred} has the newest snapshot (${ps.snapshot.time}, ${ps.snapshot.items} items)`}
  const why = (s: SnapshotSeen): string => (s.valid ? 'valid' : s.reason)
  return {first: preferred, second: other, from: null, why: `no valid snapshot (${preferred}: ${why(ps)}; ${other}: ${why(os)}): the pair starts empty`}
}
