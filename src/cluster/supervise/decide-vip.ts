// The supervisor's rules for a pair's VIP (pure, like decide.ts, which asks
// them first). What counts is where clients land: the address on the
// interfaces, and whether each keepalived can still move it.
//
// Order, so that clients are served again as soon as possible:
// 1. A pair whose nodes are both down: nothing here. Starting the pair
//    starts its keepalived too, and removes a VIP a dead one left behind.
// 2. A host that cannot be asked (its address list, or its keepalived): no
//    VIP action; the node rules still run.
// 3. The VIP on both hosts while both keepalived run: the hosts do not hear
//    each other, a network cut. Report, never act: keepalived settles it
//    when the link returns, and nothing done from here reaches the clients
//    on the far side (like a native split brain).
// 4. The VIP on a host whose keepalived is not running (killed with -9: it
//    leaves its address behind): nothing will ever remove it, so it blocks
//    the peer or splits the clients. Restart that keepalived first, before
//    any node repair (a rejoin can take seconds of copying; this takes
//    milliseconds): starting it removes the stale address. A host whose
//    node is down goes first: its copy of the VIP serves nobody.
// 5. keepalived not running beside a running node: restart it (the VIP
//    cannot move to or from that host without it). A keepalived beside a
//    node that is down waits for the node's repair: it would only sit in
//    FAULT.
// 6. The VIP on the host of a down node whose keepalived runs: its check
//    fails and it leaves within a second or so; wait vipGraceMs, then
//    restart that keepalived (it is stuck).
// 7. The VIP on no host longer than vipGraceMs: the node rules act if a node
//    needs a repair; otherwise report (both checks failing, or a drain left
//    on): no action, since only the checks may decide who serves.
// Nothing here moves the VIP away from a healthy node with a running
// keepalived: there is no drain in the supervisor, and keepalived's
// nopreempt keeps the VIP where it is when a repaired node comes back.

import type {NodeObservation} from '../observe.js'
import {vipVerdict, type Verdict, type VipVerdictResult} from '../verdict.js'
import type {VipObservation} from '../vip/observe.js'
import type {Obs, PairMemory, RepairAction, SupervisePolicy} from './decide.js'

export type VipSeen = Pick<VipObservation, 'address' | 'holders' | 'unobserved' | 'keepalived'>

export interface VipJudgement {
  verdict: VipVerdictResult
  /** What to do before the node rules (a restart_keepalived still passes the flapping guard). */
  act?: RepairAction
  /** The VIP has been on no host longer than the grace: what to report when no node repair is due. */
  missing?: string
}

type NodeSeen = Pick<NodeObservation, 'name' | 'process'>

const GRACE_VERDICTS = new Set(['vip_missing', 'vip_stranded'])

export function decideVip(a: Obs, b: Obs, vip: VipSeen, nodeVerdict: Verdict, mem: PairMemory, now: number, p: SupervisePolicy): VipJudgement {
  const verdict = vipVerdict(vip, [a, b])
  if (!GRACE_VERDICTS.has(verdict.verdict)) mem.vipSince = undefined
  else if (mem.vipSince?.verdict !== verdict.verdict) mem.vipSince = {verdict: verdict.verdict, since: now}
  const lasted = mem.vipSince === undefined ? 0 : now - mem.vipSince.since
  const seconds = `${(lasted / 1000).toFixed(0)} s`

  if (nodeVerdict === 'down') return {verdict}
  const nodes: NodeSeen[] = [a, b]
  const k = (name: string) => vip.keepalived.find((x) => x.node === name)
  if (vip.unobserved.length > 0 || nodes.some((n) => n.process === 'unknown' || k(n.name)?.process !== 'running' && k(n.name)?.process !== 'stopped')) return {verdict}
  const running = (name: string): boolean => k(name)!.process === 'running'
  const peerOf = (name: string): string => (name === a.name ? b.name : a.name)
  const nodeOf = (name: string): NodeSeen => (name === a.name ? a : b)
  const {address} = vip

  if (vip.holders.length === 2 && vip.holders.every(running)) {
    return {verdict, act: {action: 'report', code: 'vip-split', reason: `the VIP ${address} is on the hosts of ${a.name} and ${b.name} at once and both keepalived run: they do not hear each other's adverts, so the network between the hosts is cut (VRRP, IP protocol 112); clients land on either. No action: keepalived settles it when the link returns`}}
  }

  const stale = vip.holders.filter((h) => !running(h)).sort((x, y) => Number(nodeOf(x).process === 'running') - Number(nodeOf(y).process === 'running'))
  const first = stale[0]
  if (first !== undefined) {
    const peer = peerOf(first)
    const alsoPeer = vip.holders.includes(peer)
    const why = nodeOf(first).process !== 'running'
      ? `the VIP ${address} is on the host of ${first}, which is down, and its keepalived is not running: nothing will remove it${alsoPeer ? ` (${peer} holds it too: clients land on either)` : `, and it keeps the VIP from ${peer}`}; restarting keepalived of ${first} removes it`
      : alsoPeer
        ? `keepalived of ${first} is not running and left the VIP ${address} on its host; ${peer} holds it too (clients land on either): restarting keepalived of ${first} removes the stale copy, ${peer} keeps serving`
        : `keepalived of ${first} is not running beside ${first}, which holds the VIP ${address}: the VIP could not leave if ${first} failed; restarting it (the VIP leaves the host while keepalived starts: ${peer} takes it if it can serve, otherwise ${first} takes it back within about 1.4 s)`
    return {verdict, act: {action: 'restart_keepalived', code: 'vip-stale', node: first, reason: why}}
  }

  const idle = nodes.find((n) => n.process === 'running' && !running(n.name))
  if (idle !== undefined) {
    return {verdict, act: {action: 'restart_keepalived', code: 'keepalived-down', node: idle.name, reason: `keepalived of ${idle.name} is not running although ${idle.name} runs: the VIP ${address} could not move to its host; restarting it (the VIP stays where it is)`}}
  }

  if (verdict.verdict === 'vip_stranded') {
    const holder = vip.holders[0]!
    if (lasted < p.vipGraceMs) {
      return {verdict, act: {action: 'wait', code: 'vip-stranded', node: holder, daemon: 'keepalived', reason: `the VIP ${address} is on the host of ${holder}, which is down; its keepalived runs and should release it within about a second`}}
    }
    return {verdict, act: {action: 'restart_keepalived', code: 'keepalived-stuck', node: holder, reason: `the VIP ${address} has stayed ${seconds} on the host of ${holder}, which is down, although its keepalived runs (it should have released it within about a second: keepalived is stuck); restarting keepalived of ${holder} removes it`}}
  }

  if (verdict.verdict === 'vip_missing' && lasted >= p.vipGraceMs) {
    const states = vip.keepalived.map((x) => `${x.node}: ${x.state ?? 'no state'}`).join(', ')
    return {verdict, missing: `no host has held the VIP ${address} for ${seconds} although every running node's keepalived runs (${states}): their checks fail, or a drain was left on (vip.drain reads 1); read keepalived.log in each node's directory. No action: only the checks decide which host may serve`}
  }
  return {verdict}
}
