// `repctl promote NODE`: make NODE the master. A planned switchover loses
// nothing (the old master drains to NODE when stopped); healing a split
// brain keeps NODE's data and drops the other's, so it must be confirmed.
// A pair with a VIP: the VIP moves to NODE's host first (vip/switchover.ts).

import type {ClusterConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'
import type {HostPool} from '../hosts/pool.js'
import {stopNode, waitUntil} from './node-control.js'
import {routeAwayStep} from './router/steps.js'
import {observeForAction, observeNode, type NodeObservation} from './observe.js'
import type {Plan} from './plan.js'
import {startSteps, verifyPairedStep} from './start.js'
import {pairOf} from './topology.js'
import {pairVerdict} from './verdict.js'
import {vipPairOf} from './vip/keepalived.js'
import {observeVip} from './vip/observe.js'
import {decideVipMove, planVipMove, type VipMovePlan} from './vip/switchover.js'

export type PromoteDecision =
  | {action: 'none'; reason: string}
  | {action: 'switchover'}
  | {action: 'heal_split_brain'}
  | {action: 'refuse'; code: 'NODE_DOWN' | 'NOT_PAIRED' | 'HOST_ERROR'; reason: string}

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state'>

export function decidePromote(node: Obs, peer: Obs): PromoteDecision {
  if (node.process === 'unknown' || peer.process === 'unknown') return {action: 'refuse', code: 'HOST_ERROR', reason: 'a node of the pair cannot be observed'}
  if (node.process !== 'running') return {action: 'refuse', code: 'NODE_DOWN', reason: `${node.name} is not running`}
  const v = pairVerdict(node, peer)
  switch (v.verdict) {
    case 'ok':
      return node.role === 'master' ? {action: 'none', reason: `${node.name} is already the master`} : {action: 'switchover'}
    case 'split_brain':
      return {action: 'heal_split_brain'}
    case 'slave_down':
      if (node.role === 'master') return {action: 'none', reason: `${node.name} is already the master (${peer.name} is down: repctl rejoin ${peer.name})`}
      return {action: 'refuse', code: 'NOT_PAIRED', reason: v.reason}
    default:
      return {action: 'refuse', code: 'NOT_PAIRED', reason: `${v.reason}; wait until the pair is linked`}
  }
}

export interface PromoteResult {
  node: string
  previousMaster: string | null
  action: 'none' | 'switchover' | 'heal_split_brain'
  /** A pair with a VIP: the nodes whose host held it before and after the command (null: the pair has no VIP). */
  vip: {address: string; holdersBefore: string[]; holdersAfter: string[]} | null
}

export async function planPromote(config: ClusterConfig, pool: HostPool, name: string, confirmed: () => Promise<boolean>): Promise<Plan<PromoteResult>> {
  const [node, peer] = pairOf(config, name)
  const [on, op] = await observeForAction(pool, [node, peer]) as [NodeObservation, NodeObservation]
  const d = decidePromote(on, op)
  if (d.action === 'refuse') throw new RepctlError(d.code, `cannot promote ${name}: ${d.reason}`)
  const previousMaster = pairVerdict(on, op).master
  const vipPair = vipPairOf(config, [node.name, peer.name])
  const seen = vipPair === undefined ? undefined : await observeVip(pool, vipPair)
  const result: PromoteResult = {node: name, previousMaster: d.action === 'heal_split_brain' ? null : previousMaster, action: d.action, vip: null}
  if (vipPair !== undefined && seen !== undefined) result.vip = {address: vipPair.vip.address, holdersBefore: seen.holders, holdersAfter: seen.holders}
  if (d.action === 'none') return {steps: [{title: d.reason, run: async () => undefined}], result: () => result}
  if (d.action === 'heal_split_brain' && !(await confirmed())) {
    throw new RepctlError('CONFIRMATION_NEEDED', `promoting ${name} heals the split brain by restarting ${peer.name} as its slave; the data ${peer.name} holds now is dropped`)
  }
  let move: VipMovePlan | undefined
  if (vipPair !== undefined && seen !== undefined) {
    const m = decideVipMove(seen, name, peer.name, d.action === 'heal_split_brain', `${vipPair.nodes[0].name},${vipPair.nodes[1].name}`)
    if (m.action === 'refuse') throw new RepctlError(m.code, `cannot promote ${name}: ${m.reason}`, [m.suggestion])
    move = planVipMove(pool, vipPair, node, peer, m, seen)
  }
  const peerHost = pool.for(peer)
  const nodeSteps = [
    ...routeAwayStep(config, pool, [peer.name]),
    {
      title: d.action === 'switchover' ? `Stop ${peer.name} (it sends ${name} every pending change first)` : `Stop ${peer.name} (its divergent data is dropped)`,
      run: async () => { await stopNode(peerHost, peer) },
    },
    {
      title: `Wait until ${name} serves as master`,
      run: async () => {
        await waitUntil(async () => (await observeNode(pool.for(node), node)).role === 'master', 10_000, `${name} to become master`)
      },
    },
    ...startSteps(pool, peer, node, on),
    verifyPairedStep(pool, node, peer),
  ]
  if (move === undefined) return {steps: nodeSteps, result: () => result}
  const vipMove = move
  return {
    steps: [...vipMove.before, ...nodeSteps.map((s) => vipMove.guard(s)), ...vipMove.after],
    result: () => (result.vip === null ? result : {...result, vip: {...result.vip, holdersAfter: vipMove.holdersAfter()}}),
  }
}
