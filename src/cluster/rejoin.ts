// `repctl rejoin NODE`: the repcached guides' manual step — restart the node
// as the slave of its pair's live master, and wait for the full copy.

import type {ClusterConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'
import type {HostPool} from '../hosts/pool.js'
import {stopNode} from './node-control.js'
import {observeForAction, type NodeObservation} from './observe.js'
import type {Plan} from './plan.js'
import {routeAwayStep} from './router/steps.js'
import {startSteps, verifyPairedStep} from './start.js'
import {pairOf} from './topology.js'
import {pairVerdict} from './verdict.js'

export type RejoinDecision =
  | {action: 'none'; reason: string}
  | {action: 'rejoin'; restart: boolean}
  | {action: 'refuse'; code: 'NO_LIVE_MASTER' | 'SPLIT_BRAIN' | 'HOST_ERROR'; reason: string; suggestion: string}

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state'>

export function decideRejoin(node: Obs, peer: Obs): RejoinDecision {
  if (node.process === 'unknown' || peer.process === 'unknown') {
    return {action: 'refuse', code: 'HOST_ERROR', reason: `cannot tell whether ${node.process === 'unknown' ? node.name : peer.name} runs`, suggestion: 'check the host'}
  }
  const v = pairVerdict(node, peer)
  if (v.verdict === 'ok' && node.role === 'slave') return {action: 'none', reason: `${node.name} is already the slave of ${peer.name}`}
  // Restarting a slave in the middle of its copy would only start the copy over.
  if (v.verdict === 'copying' && v.master === peer.name) return {action: 'none', reason: `${node.name} is receiving its full copy from ${peer.name}`}
  if (v.verdict === 'split_brain') {
    return {action: 'refuse', code: 'SPLIT_BRAIN', reason: v.reason, suggestion: `keep one node's data: repctl promote ${peer.name} --yes (drops ${node.name}'s divergent data)`}
  }
  if (peer.process !== 'running' || peer.role !== 'master') {
    const why = peer.process !== 'running' ? `${peer.name} is not running` : `${peer.name} is not a master (${peer.role ?? 'no answer'})`
    // A slave whose master is gone becomes master by itself once it notices the lost link.
    const suggestion = node.role === 'master'
      ? peer.process === 'running' ? `${node.name} is the master; to swap roles use repctl promote ${peer.name}` : `${node.name} is already the master; bring ${peer.name} back as its slave: repctl rejoin ${peer.name}`
      : peer.process === 'running' ? `wait until ${peer.name} serves as master (repctl status), then run repctl rejoin ${node.name} again`
        : node.process === 'running' ? `wait until ${node.name} serves as master (repctl status), then run repctl rejoin ${peer.name}`
          : 'start the pair with repctl start'
    return {action: 'refuse', code: 'NO_LIVE_MASTER', reason: `no live master to rejoin: ${why}`, suggestion}
  }
  return {action: 'rejoin', restart: node.process === 'running'}
}

export interface RejoinResult { node: string; master: string; restarted: boolean; changed: boolean }

export async function planRejoin(config: ClusterConfig, pool: HostPool, name: string): Promise<Plan<RejoinResult>> {
  const [node, peer] = pairOf(config, name)
  const [on, op] = await observeForAction(pool, [node, peer]) as [NodeObservation, NodeObservation]
  const d = decideRejoin(on, op)
  if (d.action === 'refuse') throw new RepctlError(d.code, `cannot rejoin ${name}: ${d.reason}`, [d.suggestion])
  const result: RejoinResult = {node: name, master: peer.name, restarted: d.action === 'rejoin' && d.restart, changed: d.action === 'rejoin'}
  if (d.action === 'none') return {steps: [{title: d.reason, run: async () => undefined}], result: () => result}
  const steps = [
    ...(d.restart ? routeAwayStep(config, pool, [node.name]) : []),
    ...(d.restart ? [{title: `Stop ${node.name}`, run: async () => { await stopNode(pool.for(node), node) }}] : []),
    ...startSteps(pool, node, peer, op),
    verifyPairedStep(pool, peer, node),
  ]
  return {steps, result: () => result}
}
