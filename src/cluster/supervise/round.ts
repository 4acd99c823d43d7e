// One round of the supervisor: point the routers where each pair is served
// now, then observe each pair, decide (decide.ts), act, and report every
// change and action as an event.

import type {ClusterConfig} from '../../config/schema.js'
import type {HostPool} from '../../hosts/pool.js'
import {observeNode} from '../observe.js'
import type {Plan} from '../plan.js'
import {planPromote} from '../promote.js'
import {planRejoin} from '../rejoin.js'
import {planStart} from '../start.js'
import {findNode} from '../topology.js'
import {restartKeepalived, vipPairOf, type VipPair} from '../vip/keepalived.js'
import {observeVip, type VipObservation} from '../vip/observe.js'
import {decideRepair, freshMemory, type Daemon, type PairMemory, type RepairAction, type SupervisePolicy} from './decide.js'
import {decideRouter, freshRouterMemory, type RouterAction, type RouterMemory} from './decide-router.js'
import type {EndpointSeen} from '../router/endpoints.js'
import {startRouter} from '../router/nutcracker.js'
import {observeRouter} from '../router/observe.js'
import {observeEndpoints, routesForRepair, wantedRoutes} from '../router/routes.js'
import {routerVerdict, type RouterVerdict} from '../router/verdict.js'
import type {Verdict, VipVerdict} from '../verdict.js'
import type {DecisionCode} from './codes.js'

/** One line of the supervisor's log (stdout with --json, and the events file). */
export interface SuperviseEvent {
  time: string
  /** The pair (A,B) the event is about; null for a router's event. */
  pair: string | null
  /** The router the event is about; null for a pair's event. */
  router: string | null
  node: string | null
  event: 'observed' | 'repairing' | 'repair' | 'report'
  reason: string
  action: RepairAction['action'] | RouterAction['action'] | null
  /** Which daemon of `node` the action or report is about (null: the pair as a whole). */
  daemon: Daemon | null
  outcome: 'ok' | 'failed' | null
  durationMs: number | null
  /** What the round's decision means (codes.ts): what a restarted supervisor rebuilds its memory from. */
  code: DecisionCode | null
  /** The pair's (or router's) verdict in the round of the event. */
  verdict: Verdict | RouterVerdict | null
  /** The pair's VIP's verdict in that round (null: no VIP, or a router's event). */
  vipVerdict: VipVerdict | null
}

type EventFields = Partial<SuperviseEvent> & Pick<SuperviseEvent, 'event' | 'reason'>

/**
 * What a report or wait is, for saying it once rather than every round: its
 * meaning, not its wording (a reason holds counts of seconds that change
 * every round). A new verdict makes it new.
 */
export function reportKey(e: Pick<SuperviseEvent, 'code' | 'node' | 'daemon' | 'verdict' | 'vipVerdict'>): string {
  return JSON.stringify([e.code, e.node, e.daemon, e.verdict, e.vipVerdict])
}

export interface SupervisorState {
  memories: Map<string, PairMemory>
  routerMemories: Map<string, RouterMemory>
  /** The pair's last verdict (with its VIP's, for a pair with one), to say only changes. */
  verdicts: Map<string, string>
  lastReports: Map<string, string>
}

export const freshState = (): SupervisorState => ({memories: new Map(), routerMemories: new Map(), verdicts: new Map(), lastReports: new Map()})

async function runPlan<R>(plan: Promise<Plan<R>>): Promise<void> {
  for (const step of (await plan).steps) await step.run()
}

function actionNode(act: RepairAction): string | null {
  switch (act.action) {
    case 'rejoin': return act.node
    case 'restart_keepalived': return act.node
    case 'start_pair': return act.first
    case 'heal_split_brain': return act.drop
    case 'wait': return act.node
    case 'report': return act.node ?? null
    default: return null
  }
}

function actionDaemon(act: RepairAction): Daemon | null {
  switch (act.action) {
    case 'restart_keepalived': return 'keepalived'
    case 'rejoin': case 'start_pair': case 'heal_split_brain': return 'node'
    case 'report': case 'wait': return act.node === undefined ? null : act.daemon ?? 'node'
    default: return null
  }
}

/** The VIP as seen, or undefined when it could not be looked at (the node rules still run). */
async function seeVip(pool: HostPool, pair: VipPair | undefined): Promise<VipObservation | undefined> {
  return pair === undefined ? undefined : observeVip(pool, pair).catch(() => undefined)
}

async function restartKeepalivedOf(pool: HostPool, pair: VipPair, name: string): Promise<string> {
  const node = pair.nodes.find((n) => n.name === name)!
  const r = await restartKeepalived(pool.for(node), pair, node)
  return `keepalived of ${name} started, pid ${r.pid}${r.staleVipRemoved ? `; removed the VIP ${pair.vip.address} it had left on ${pair.vip.interface}` : ''}`
}

export async function superviseRound(config: ClusterConfig, pool: HostPool, state: SupervisorState, policy: SupervisePolicy, emit: (e: SuperviseEvent) => void): Promise<void> {
  // Routers before any repair, from a look of their own at every node, and again just before
  // each pair's repair with that pair as it was just seen (a node may die between the two looks):
  // a rejoin waits for the dead node's full copy (seconds to minutes on a big cache), and a router
  // still sending the pair's keys to that node fails them for every client all along, while the
  // survivor serves.
  if (config.routers.length === 0) return superviseRoundPairs(config, pool, state, policy, emit, undefined)
  const seen = await observeEndpoints(config, pool)
  await superviseRouters(config, pool, state, policy, emit, seen)
  await superviseRoundPairs(config, pool, state, policy, emit, seen)
}

/** `nodesSeen`: with routers, every node as last seen, for the router pass before each repair. */
async function superviseRoundPairs(config: ClusterConfig, pool: HostPool, state: SupervisorState, policy: SupervisePolicy, emit: (e: SuperviseEvent) => void, nodesSeen: Map<string, EndpointSeen> | undefined): Promise<void> {
  for (const {nodes: [an, bn]} of config.pairs) {
    const pair = `${an},${bn}`
    const [a, b] = [findNode(config, an), findNode(config, bn)]
    const vipPair = vipPairOf(config, [an, bn])
    const [oa, ob, vip] = await Promise.all([observeNode(pool.for(a), a), observeNode(pool.for(b), b), seeVip(pool, vipPair)])
    nodesSeen?.set(an, oa).set(bn, ob)
    const d = decideRepair(oa, ob, state.memories.get(pair) ?? freshMemory(), Date.now(), policy, vip)
    state.memories.set(pair, d.memory)
    const event = (e: EventFields): void =>
      emit({time: new Date().toISOString(), pair, router: null, node: e.node ?? null, event: e.event, reason: e.reason, action: e.action ?? null, daemon: e.daemon ?? null, outcome: e.outcome ?? null, durationMs: e.durationMs ?? null,
        code: d.act.code, verdict: d.verdict, vipVerdict: d.vipVerdict})
    const seen = `${d.verdict}/${d.vipVerdict ?? '-'}`
    if (state.verdicts.get(pair) !== seen) {
      state.verdicts.set(pair, seen)
      // A healthy pair with an unhealthy VIP leads with the VIP's verdict (memoryFromEvents reads the verdict fields, not this).
      const vipSays = d.vipReason === null ? '' : `${d.vipVerdict}: ${d.vipReason}`
      event({event: 'observed', reason: d.verdict === 'ok' && vipSays !== '' ? `${vipSays}; pair ok` : `${d.verdict}: ${d.act.reason}${vipSays === '' ? '' : `; VIP ${vipSays}`}`})
    }
    const act = d.act
    if (act.action === 'report' || act.action === 'wait') {
      // Say it once, not every round.
      const report: EventFields = {event: 'report', node: actionNode(act), reason: act.reason, action: act.action, daemon: actionDaemon(act)}
      const key = reportKey({code: act.code, node: report.node ?? null, daemon: report.daemon ?? null, verdict: d.verdict, vipVerdict: d.vipVerdict})
      if (state.lastReports.get(pair) !== key) {
        state.lastReports.set(pair, key)
        event(report)
      }
      continue
    }
    state.lastReports.delete(pair)
    if (act.action === 'none') continue
    if (nodesSeen !== undefined) await superviseRouters(config, pool, state, policy, emit, nodesSeen)
    // Said before acting, so that a supervisor killed mid-repair leaves a trace, and its successor counts the attempt.
    event({event: 'repairing', node: actionNode(act), reason: act.reason, action: act.action, daemon: actionDaemon(act)})
    const t0 = Date.now()
    let outcome: 'ok' | 'failed' = 'ok'
    let reason = act.reason
    try {
      if (act.action === 'rejoin') await runPlan(planRejoin(config, pool, act.node))
      else if (act.action === 'restart_keepalived') reason = `${reason}: ${await restartKeepalivedOf(pool, vipPair!, act.node)}`
      else if (act.action === 'start_pair') {
        const plan = await planStart(config, pool, `${act.first},${act.second}`, {routers: false})
        for (const step of plan.steps) await step.run()
        const from = plan.result().pairs[0]?.restoredFrom ?? null
        reason = from === null ? `${reason}: there was none, the data is lost` : `${reason}: restored ${from.items} items from ${from.node}'s snapshot of ${from.time}`
      }
      else await runPlan(planPromote(config, pool, act.keep, async () => true))
    } catch (e) {
      outcome = 'failed'
      reason = `${reason}; failed: ${(e as Error).message}`
    }
    event({event: 'repair', node: actionNode(act), reason, action: act.action, daemon: actionDaemon(act), outcome, durationMs: Date.now() - t0})
  }
}

/**
 * Each router, before the pairs' repairs (and again before each): restart a
 * dead one, and one that sends a pair to a node that no longer serves it
 * (decide-router.ts). Its events say only changes of its verdict, and each
 * report once.
 */
async function superviseRouters(config: ClusterConfig, pool: HostPool, state: SupervisorState, policy: SupervisePolicy, emit: (e: SuperviseEvent) => void, seen: ReadonlyMap<string, EndpointSeen>): Promise<void> {
  const names = config.pairs.map((p) => p.name)
  for (const router of config.routers) {
    const key = `router:${router.name}`
    const host = pool.for(router)
    const o = await observeRouter(host, router, config.cluster, names).catch(() => undefined)
    const want = wantedRoutes(config, seen, o?.routes ?? null)
    const v = o === undefined ? {verdict: 'unknown' as const, reason: `cannot tell whether router ${router.name} runs`, stale: [], removed: [], added: []} : routerVerdict(o, want)
    const d = decideRouter(router.name, v, state.routerMemories.get(router.name) ?? freshRouterMemory(), Date.now(), policy)
    state.routerMemories.set(router.name, d.memory)
    const event = (e: EventFields): void =>
      emit({time: new Date().toISOString(), pair: null, router: router.name, node: null, event: e.event, reason: e.reason, action: e.action ?? null, daemon: e.daemon ?? null, outcome: e.outcome ?? null, durationMs: e.durationMs ?? null,
        code: d.act.code, verdict: v.verdict, vipVerdict: null})
    if (state.verdicts.get(key) !== v.verdict) {
      state.verdicts.set(key, v.verdict)
      event({event: 'observed', reason: `${v.verdict}: ${v.reason}`})
    }
    const act = d.act
    if (act.action === 'report' || act.action === 'wait') {
      const said = reportKey({code: act.code, node: null, daemon: 'nutcracker', verdict: v.verdict, vipVerdict: null})
      if (state.lastReports.get(key) !== said) {
        state.lastReports.set(key, said)
        event({event: 'report', reason: act.reason, action: act.action, daemon: 'nutcracker'})
      }
      continue
    }
    state.lastReports.delete(key)
    if (act.action === 'none') continue
    event({event: 'repairing', reason: act.reason, action: act.action, daemon: 'nutcracker'})
    const t0 = Date.now()
    let outcome: 'ok' | 'failed' = 'ok'
    let reason = act.reason
    try {
      const r = await startRouter(host, router, {cluster: config.cluster, router, pairs: routesForRepair(want, o?.routes ?? null)})
      reason = `${reason}: router ${router.name} ${r.action}, pid ${r.pid}`
    } catch (e) {
      outcome = 'failed'
      reason = `${reason}; failed: ${(e as Error).message}`
    }
    event({event: 'repair', reason, action: act.action, daemon: 'nutcracker', outcome, durationMs: Date.now() - t0})
  }
}
