// One round of the supervisor: observe each pair, decide (decide.ts), act,
// and report every change and action as an event.

import type {ClusterConfig} from '../../config/schema.js'
import type {HostPool} from '../../hosts/pool.js'
import {observeNode} from '../observe.js'
import type {Plan} from '../plan.js'
import {planPromote} from '../promote.js'
import {planRejoin} from '../rejoin.js'
import {planStart} from '../start.js'
import {findNode} from '../topology.js'
import type {Verdict} from '../verdict.js'
import {decideRepair, freshMemory, type PairMemory, type RepairAction, type SupervisePolicy} from './decide.js'

/** One line of the supervisor's log (stdout with --json, and the events file). */
export interface SuperviseEvent {
  time: string
  pair: string
  node: string | null
  event: 'observed' | 'repairing' | 'repair' | 'report'
  reason: string
  action: RepairAction['action'] | null
  outcome: 'ok' | 'failed' | null
  durationMs: number | null
}

export interface SupervisorState {
  memories: Map<string, PairMemory>
  verdicts: Map<string, Verdict>
  lastReports: Map<string, string>
}

export const freshState = (): SupervisorState => ({memories: new Map(), verdicts: new Map(), lastReports: new Map()})

async function runPlan<R>(plan: Promise<Plan<R>>): Promise<void> {
  for (const step of (await plan).steps) await step.run()
}

function actionNode(act: RepairAction): string | null {
  switch (act.action) {
    case 'rejoin': return act.node
    case 'start_pair': return act.first
    case 'heal_split_brain': return act.drop
    case 'wait': return act.node
    case 'report': return act.node ?? null
    default: return null
  }
}

export async function superviseRound(config: ClusterConfig, pool: HostPool, state: SupervisorState, policy: SupervisePolicy, emit: (e: SuperviseEvent) => void): Promise<void> {
  for (const {nodes: [an, bn]} of config.pairs) {
    const pair = `${an},${bn}`
    const [a, b] = [findNode(config, an), findNode(config, bn)]
    const [oa, ob] = await Promise.all([observeNode(pool.for(a), a), observeNode(pool.for(b), b)])
    const d = decideRepair(oa, ob, state.memories.get(pair) ?? freshMemory(), Date.now(), policy)
    state.memories.set(pair, d.memory)
    const event = (e: Partial<SuperviseEvent> & Pick<SuperviseEvent, 'event' | 'reason'>): void =>
      emit({time: new Date().toISOString(), pair, node: e.node ?? null, event: e.event, reason: e.reason, action: e.action ?? null, outcome: e.outcome ?? null, durationMs: e.durationMs ?? null})
    if (state.verdicts.get(pair) !== d.verdict) {
      state.verdicts.set(pair, d.verdict)
      event({event: 'observed', reason: `${d.verdict}: ${d.act.reason}`})
    }
    const act = d.act
    if (act.action === 'report' || act.action === 'wait') {
      // Say it once, not every round.
      if (state.lastReports.get(pair) !== act.reason.replace(/\d+ s/g, '')) {
        state.lastReports.set(pair, act.reason.replace(/\d+ s/g, ''))
        event({event: 'report', node: actionNode(act), reason: act.reason, action: act.action})
      }
      continue
    }
    state.lastReports.delete(pair)
    if (act.action === 'none') continue
    // Said before acting, so that a supervisor killed mid-repair leaves a trace, and its successor counts the attempt.
    event({event: 'repairing', node: actionNode(act), reason: act.reason, action: act.action})
    const t0 = Date.now()
    let outcome: 'ok' | 'failed' = 'ok'
    let reason = act.reason
    try {
      if (act.action === 'rejoin') await runPlan(planRejoin(config, pool, act.node))
      else if (act.action === 'start_pair') {
        const plan = await planStart(config, pool, `${act.first},${act.second}`)
        for (const step of plan.steps) await step.run()
        const from = plan.result().pairs[0]?.restoredFrom ?? null
        reason = from === null ? `${reason}: there was none, the data is lost` : `${reason}: restored ${from.items} items from ${from.node}'s snapshot of ${from.time}`
      }
      else await runPlan(planPromote(config, pool, act.keep, async () => true))
    } catch (e) {
      outcome = 'failed'
      reason = `${reason}; failed: ${(e as Error).message}`
    }
    event({event: 'repair', node: actionNode(act), reason, action: act.action, outcome, durationMs: Date.now() - t0})
  }
}
