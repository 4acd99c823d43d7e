// The health of a pair as a pure function of what was observed, so that the
// rules can be read and table-tested in one place.

import type {NodeObservation} from './observe.js'

export type Verdict = 'ok' | 'copying' | 'slave_down' | 'master_down' | 'split_brain' | 'unpaired' | 'down'
export type Health = 'healthy' | 'degraded' | 'critical' | 'unknown'

/** Monitoring-plugin exit codes. */
export const HEALTH_EXIT: Record<Health, number> = {healthy: 0, degraded: 1, critical: 2, unknown: 3}

export interface PairVerdict { verdict: Verdict; master: string | null; reason: string }

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state'>

const up = (n: Obs): boolean => n.process === 'running'
const isMaster = (n: Obs): boolean => n.role === 'master'

export function pairVerdict(a: Obs, b: Obs): PairVerdict {
  const masters = [a, b].filter((n) => up(n) && isMaster(n))
  const master = masters.length === 1 ? masters[0]!.name : null
  // A node we cannot see counts as down, unless its peer shows a live link to it.
  const seenA = a.process === 'unknown' && b.state === 'paired' ? {...a, process: 'running' as const} : a
  const seenB = b.process === 'unknown' && a.state === 'paired' ? {...b, process: 'running' as const} : b
  if (!up(seenA) && !up(seenB)) return {verdict: 'down', master: null, reason: 'no node of the pair is running'}
  if (up(seenA) !== up(seenB)) {
    const live = up(seenA) ? seenA : seenB
    const dead = up(seenA) ? seenB : seenA
    if (isMaster(live)) return {verdict: 'slave_down', master: live.name, reason: `${dead.name} is down; ${live.name} serves alone as master`}
    return {verdict: 'master_down', master: null, reason: `${dead.name} is down and ${live.name} is not (yet) a master`}
  }
  if (a.state === 'paired' && b.state === 'paired' && masters.length === 1) return {verdict: 'ok', master, reason: `${master} is master, the pair is linked`}
  if (a.state === 'paired' && b.state === 'paired' && (a.process === 'unknown' || b.process === 'unknown')) return {verdict: 'ok', master, reason: 'the pair is linked'}
  if (a.state === 'copying' || b.state === 'copying' || (masters.length === 1 && (a.role === null || b.role === null))) {
    return {verdict: 'copying', master, reason: 'a full copy to the slave is in progress'}
  }
  if (masters.length === 2 && a.state !== 'paired' && b.state !== 'paired') {
    return {verdict: 'split_brain', master: null, reason: `${a.name} and ${b.name} are both masters with no link between them`}
  }
  return {verdict: 'unpaired', master, reason: 'both nodes run but they are not linked'}
}

const SEVERITY: Record<Verdict, Health> = {
  ok: 'healthy', copying: 'degraded', slave_down: 'degraded', master_down: 'degraded', unpaired: 'degraded', split_brain: 'critical', down: 'critical',
}

/** Worst of the pairs; a node we could not ask makes a non-critical answer unknown. */
export function clusterHealth(verdicts: Verdict[], nodes: Pick<NodeObservation, 'process'>[]): Health {
  const healths = verdicts.map((v) => SEVERITY[v])
  if (healths.includes('critical')) return 'critical'
  if (nodes.some((n) => n.process === 'unknown')) return 'unknown'
  if (healths.includes('degraded')) return 'degraded'
  return 'healthy'
}
