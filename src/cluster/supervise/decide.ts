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

/** The part of a past event that the flapping guard needs. */
export interface PastRepair { time: string; pair: string; node: string | null; event: string; action: string | null; reason: string }

/**
 * What a restarted supervisor remembers: the repairs it began within the
 * window, from its events file. Without this, a supervisor that crashes (or
 * is restarted by systemd) in a loop would reset its own flapping guard.
 */
export function memoryFromEvents(events: PastRepair[], now: number, p: SupervisePolicy = DEFAULT_POLICY): Map<string, PairMemory> {
  const out = new Map<string, PairMemory>()
  for (const e of events) {
    // A healthy pair after a give-up (a report naming a node): it was repaired by hand; start afresh.
    if (e.event === 'observed' && e.reason.startsWith('ok:')) {
      const mem = out.get(e.pair)
      for (const n of Object.keys(mem?.givenUp ?? {})) { delete mem!.givenUp[n]; delete mem!.repairs[n] }
      continue
    }
    if (e.event === 'report' && e.node !== null && e.action === 'report') {
      const mem = out.get(e.pair) ?? freshMemory()
      mem.givenUp[e.node] = Date.parse(e.time)
      out.set(e.pair, mem)
      continue
    }
    if (e.event !== 'repairing' || e.node === null) continue
    const t = Date.parse(e.time)
    if (!Number.isFinite(t) || now - t >= p.windowMs || t > now) continue
    const mem = out.get(e.pair) ?? freshMemory()
    const nodes = e.action === 'start_pair' ? e.pair.split(',') : [e.node]
    for (const n of nodes) mem.repairs[n] = [...(mem.repairs[n] ?? []), t]
    out.set(e.pair, mem)
  }
  return out
}

export type RepairAction =
  | {action: 'none'; reason: string}
  | {action: 'report'; node?: string; reason: string}
  | {action: 'wait'; node: string; reason: string}
  | {action: 'rejoin'; node: string; master: string; reason: string}
  | {action: 'start_pair'; first: string; second: string; reason: string}
  | {action: 'heal_split_brain'; keep: string; drop: string; reason: string}

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state' | 'items' | 'mode' | 'autoReconnect'>

export interface Decision { verdict: Verdict; act: RepairAction; memory: PairMemory }

/** Whether a node may be repaired now, under the flapping guard. */
function guard(node: string, memory: PairMemory, now: number, p: SupervisePolicy): {ok: true} | {ok: false; act: RepairAction; giveUp?: string} {
  if (memory.givenUp[node] !== undefined) return {ok: false, act: {action: 'report', node, reason: `${node} keeps failing; gave up repairing it: repair it by hand (repctl rejoin ${node}); once the pair is healthy the supervisor watches it again`}}
  const recent = (memory.repairs[node] ?? []).filter((t) => now - t < p.windowMs)
  if (recent.length >= p.maxRepairs) {
    return {ok: false, act: {action: 'report', node, reason: `${node} was repaired ${recent.length} times in ${Math.round(p.windowMs / 1000)} s; giving up on it: repair it by hand (repctl rejoin ${node}); once the pair is healthy the supervisor watches it again`}, giveUp: node}
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
  // A healthy pair after we gave up on a node: someone repaired it. It is ours to watch again.
  if (v.verdict === 'ok') {
    for (const n of Object.keys(mem.givenUp)) {
      delete mem.givenUp[n]
      delete mem.repairs[n]
    }
  }
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
      return done({action: 'start_pair', first: a.name, second: b.name, reason: 'both nodes are down; starting the pair again, from its newest snapshot if it has one'})
    }
    case 'split_brain': {
      if (mem.splitSince === undefined) mem.splitSince = now
      const age = now - mem.splitSince
      if (age < p.splitBrainGraceMs) return done({action: 'wait', node: a.name, reason: `split brain for ${Math.round(age / 1000)} s; waiting ${Math.round(p.splitBrainGraceMs / 1000)} s for the nodes to re-pair by themselves`})
      // Native nodes that dial each other again converge by themselves (newest write wins) once
      // the link returns. If they have not, the link between them is cut: restarting one would
      // discard the writes it took, and it could not reach the other to copy anyway.
      if ([a, b].every((n) => n.mode === 'native' && n.autoReconnect === true)) {
        return done({action: 'report', reason: `split brain for ${Math.round(age / 1000)} s: both nodes keep trying to reach each other, so the network between them is cut; they converge by themselves when it returns (no restart: it would discard one side's writes)`})
      }
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
