// The supervisor's judgement: a pure function from what it sees of a pair
// (and what it remembers of its own recent actions) to at most one action.
// Kept apart from the code that acts, so that every rule is table-tested.

import type {NodeObservation} from '../observe.js'
import {pairVerdict, type Verdict} from '../verdict.js'

export type SplitBrainPolicy = 'keep-larger' | 'keep-first' | 'manual'

export interface SupervisePolicy {
  /** How long a split brain may last before we heal it (native pairs usually heal alone). */
  splitBrainGraceMs: number
  splitBrain: SplitBrainPolicy
  /** At most this many repairs of one node within `windowMs`, then give up on it and report. */
  maxRepairs: number
  windowMs: number
  /** Wait after a repair of a node before the next one: doubles each time, from this. */
  backoffMs: number
}

export const DEFAULT_POLICY: SupervisePolicy = {splitBrainGraceMs: 10_000, splitBrain: 'keep-larger', maxRepairs: 3, windowMs: 600_000, backoffMs: 2000}

/** What the supervisor remembers of one pair between rounds. */
export interface PairMemory {
  /** When the current split brain was first seen. */
  splitSince: number | undefined
  /** Times of recent repairs, per node. */
  repairs: Record<string, number[]>
  /** Nodes we stopped acting on (flapping), with the time we gave up. */
  givenUp: Record<string, number>
}

export const freshMemory = (): PairMemory => ({splitSince: undefined, repairs: {}, givenUp: {}})

export type RepairAction =
  | {action: 'none'; reason: string}
  | {action: 'report'; reason: string}
  | {action: 'wait'; node: string; reason: string}
  | {action: 'rejoin'; node: string; master: string; reason: string}
  | {action: 'start_pair'; first: string; second: string; reason: string}
  | {action: 'heal_split_brain'; keep: string; drop: string; reason: string}

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state' | 'items'>

export interface Decision { verdict: Verdict; act: RepairAction; memory: PairMemory }

/** Whether a node may be repaired now, under the flapping guard. */
function guard(node: string, memory: PairMemory, now: number, p: SupervisePolicy): {ok: true} | {ok: false; act: RepairAction; giveUp?: string} {
  if (memory.givenUp[node] !== undefined) return {ok: false, act: {action: 'report', reason: `${node} keeps failing; gave up repairing it (repair it by hand, then restart the supervisor)`}}
  const recent = (memory.repairs[node] ?? []).filter((t) => now - t < p.windowMs)
  if (recent.length >= p.maxRepairs) {
    return {ok: false, act: {action: 'report', reason: `${node} was repaired ${recent.length} times in ${Math.round(p.windowMs / 1000)} s; giving up on it`}, giveUp: node}
  }
  const last = recent[recent.length - 1]
  const wait = p.backoffMs * 2 ** Math.max(0, recent.length - 1)
  if (last !== undefined && now - last < wait) return {ok: false, act: {action: 'wait', node, reason: `backing off ${Math.round((wait - (now - last)) / 1000)} s before repairing ${node} again`}}
  return {ok: true}
}

export function decideRepair(a: Obs, b: Obs, memory: PairMemory, now: number, p: SupervisePolicy = DEFAULT_POLICY): Decision {
  const v = pairVerdict(a, b)
  const mem: PairMemory = {splitSince: memory.splitSince, repairs: {...memory.repairs}, givenUp: {...memory.givenUp}}
  if (v.verdict !== 'split_brain') mem.splitSince = undefined
  const unreachable = [a, b].filter((n) => n.process === 'unknown')
  const done = (act: RepairAction, giveUp?: string): Decision => {
    if (act.action === 'rejoin' || act.action === 'start_pair' || act.action === 'heal_split_brain') {
      for (const n of act.action === 'rejoin' ? [act.node] : act.action === 'start_pair' ? [act.first, act.second] : [act.drop]) {
        mem.repairs[n] = [...(mem.repairs[n] ?? []).filter((t) => now - t < p.windowMs), now]
      }
    }
    if (giveUp !== undefined) mem.givenUp[giveUp] = now
    return {verdict: v.verdict, act, memory: mem}
  }
  // A host we cannot reach: we cannot tell dead from cut off, so we do nothing to it.
  if (unreachable.length > 0) return done({action: 'report', reason: `${unreachable.map((n) => n.name).join(' and ')} cannot be observed; no action on an unreachable host`})
  switch (v.verdict) {
    case 'ok':
    case 'copying':
      return done({action: 'none', reason: v.reason})
    case 'slave_down': {
      const down = a.process === 'running' ? b : a
      const g = guard(down.name, mem, now, p)
      if (!g.ok) return done(g.act, g.giveUp)
      return done({action: 'rejoin', node: down.name, master: v.master!, reason: `${down.name} is down while ${v.master} serves as master`})
    }
    case 'down': {
      const g = guard(a.name, mem, now, p)
      if (!g.ok) return done(g.act, g.giveUp)
      return done({action: 'start_pair', first: a.name, second: b.name, reason: 'both nodes are down; starting the pair again (their data is lost)'})
    }
    case 'split_brain': {
      if (mem.splitSince === undefined) mem.splitSince = now
      const age = now - mem.splitSince
      if (age < p.splitBrainGraceMs) return done({action: 'wait', node: a.name, reason: `split brain for ${Math.round(age / 1000)} s; waiting ${Math.round(p.splitBrainGraceMs / 1000)} s for the nodes to re-pair by themselves`})
      if (p.splitBrain === 'manual') return done({action: 'report', reason: `split brain for ${Math.round(age / 1000)} s; policy manual: run repctl promote NODE --yes`})
      const keepA = p.splitBrain === 'keep-first' || (a.items ?? 0) >= (b.items ?? 0)
      const [keep, drop] = keepA ? [a, b] : [b, a]
      const g = guard(drop.name, mem, now, p)
      if (!g.ok) return done(g.act, g.giveUp)
      return done({action: 'heal_split_brain', keep: keep.name, drop: drop.name, reason: `split brain for ${Math.round(age / 1000)} s; keeping ${keep.name} (${p.splitBrain}), ${drop.name} rejoins as its slave`})
    }
    case 'master_down':
    case 'unpaired':
      // The survivor is not (yet) a master, or the nodes are not linked: servers usually settle this
      // by themselves within their replication timeout; acting now could split the pair.
      return done({action: 'wait', node: a.name, reason: `${v.reason}; waiting for the servers to settle`})
  }
}
