// What a rolling restart does, decided from observations only (table-tested):
// per pair, one node at a time, never both down. The slave is restarted on
// this repctl's bundle first (it comes back with a full copy); a master is
// restarted by switching over to its slave (promote: the old master hands over
// every queued change as it stops, then comes back as the new slave).

import {pairVerdict} from '../verdict.js'
import type {NodeObservation} from '../observe.js'

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state'>

export type RestartMove =
  | {kind: 'restart_slave'; node: string; master: string}
  /** Promote `to` (the slave); `from`, the master, is stopped after its drain and started again as slave. */
  | {kind: 'switchover'; to: string; from: string}

export interface PairRestart {
  nodes: [string, string]
  masterBefore: string
  /** In order; each waits until the pair is linked again. */
  moves: RestartMove[]
  /** The pair's master once the moves are done. */
  masterAfter: string
}

export type RestartDecision =
  | {action: 'restart'; pairs: PairRestart[]}
  | {action: 'refuse'; code: 'NOT_PAIRED' | 'HOST_ERROR'; reason: string; suggestion: string}

/**
 * `targets`: the nodes to restart. A pair with none of them is left alone; a
 * pair with one must be healthy (linked, neither copying) before anything is
 * done to any pair, so that no restart leaves a pair with no serving node.
 */
export function decideRestart(pairs: [Obs, Obs][], targets: ReadonlySet<string>): RestartDecision {
  const out: PairRestart[] = []
  for (const [a, b] of pairs) {
    const wanted = [a, b].filter((n) => targets.has(n.name))
    if (wanted.length === 0) continue
    const names = `${a.name},${b.name}`
    if (a.process === 'unknown' || b.process === 'unknown') {
      return {action: 'refuse', code: 'HOST_ERROR', reason: `pair ${names}: cannot tell whether ${a.process === 'unknown' ? a.name : b.name} runs`, suggestion: 'check the host, then run the command again'}
    }
    const v = pairVerdict(a, b)
    if (v.verdict !== 'ok' || v.master === null) {
      return {
        action: 'refuse', code: 'NOT_PAIRED',
        reason: `pair ${names} is not healthy (${v.verdict}: ${v.reason}); restarting one of its nodes now could leave no node serving or lose writes`,
        suggestion: 'bring the pair back first (repctl status; repctl rejoin, repctl start or repctl supervise), then run the command again',
      }
    }
    const master = v.master
    const slave = master === a.name ? b.name : a.name
    const moves: RestartMove[] = []
    if (targets.has(slave)) moves.push({kind: 'restart_slave', node: slave, master})
    if (targets.has(master)) moves.push({kind: 'switchover', to: slave, from: master})
    out.push({nodes: [a.name, b.name], masterBefore: master, moves, masterAfter: targets.has(master) ? slave : master})
  }
  return {action: 'restart', pairs: out}
}

/** One line per move, for --dry-run and the progress titles. */
export function describeMove(m: RestartMove): string {
  return m.kind === 'restart_slave'
    ? `Restart ${m.node} (slave of ${m.master}) on this repctl's bundle; it comes back with a full copy`
    : `Switch over to ${m.to}: ${m.from} hands over every queued change, then restarts as slave of ${m.to} on this repctl's bundle`
}
