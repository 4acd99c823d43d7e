// The supervisor's judgement: a pure function from what it sees of a pair
// (and what it remembers of its own recent actions) to at most one action.
// Kept apart from the code that acts, so that every rule is table-tested.
//
// A pair with a VIP adds keepalived beside each node, and one more thing to
// judge: where the VIP is (vip.ts below the node rules explains the order).

import type {NodeObservation} from '../observe.js'
import {pairVerdict, type Verdict, type VipVerdict} from '../verdict.js'
import type {DecisionCode, PairCode} from './codes.js'
import {decideVip, type VipSeen} from './decide-vip.js'

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
  /**
   * How long a VIP may stay on no host, or on the host of a node that is down
   * while its keepalived runs, before that is reported (or acted on).
   * keepalived settles either within about 1.4 s (check, adverts, skew).
   */
  vipGraceMs: number
}

export const DEFAULT_POLICY: SupervisePolicy = {splitBrainGraceMs: 10_000, splitBrain: 'keep-larger', maxRepairs: 3, windowMs: 600_000, backoffMs: 2000, vipGraceMs: 3000}

/** The managed daemons of a node's host that the supervisor repairs. */
export type Daemon = 'node' | 'keepalived' | 'nutcracker'

/** The flapping guard counts repairs per node and daemon (node names cannot contain '/'). */
export const repairKey = (node: string, daemon: Daemon): string => (daemon === 'node' ? node : `${node}/${daemon}`)

/** What the supervisor remembers of one pair between rounds. */
export interface PairMemory {
  /** When the current split brain was first seen. */
  splitSince: number | undefined
  /** Times of recent repairs, per node. */
  repairs: Record<string, number[]>
  /** Nodes (and their keepalived, by repairKey) we stopped acting on (flapping), with the time we gave up. */
  givenUp: Record<string, number>
  /** The VIP's verdict when it was not ok, and since when (for vipGraceMs). */
  vipSince?: {verdict: VipVerdict; since: number} | undefined
}

export const freshMemory = (): PairMemory => ({splitSince: undefined, repairs: {}, givenUp: {}, vipSince: undefined})

/**
 * The part of a past event that the flapping guard needs. `daemon` is absent
 * from events written before keepalived; `code`, `verdict` and `vipVerdict`
 * from events written before codes (read as their wording said then).
 */
export interface PastRepair {
  time: string; pair: string | null; router?: string | null; node: string | null; event: string; action: string | null; reason: string; daemon?: Daemon | null
  code?: DecisionCode | null; verdict?: string | null; vipVerdict?: string | null
}

/** Whether a past `observed` event saw the pair wholly healthy (its VIP too). */
function sawHealthy(e: PastRepair): boolean {
  // Events from before codes: only a wholly healthy pair's reason began "ok:".
  if (e.verdict === undefined || e.verdict === null) return e.reason.startsWith('ok:')
  return e.verdict === 'ok' && (e.vipVerdict === undefined || e.vipVerdict === null || e.vipVerdict === 'ok')
}

/** Whether a past report says the supervisor gave up on `node` (events from before codes: any report naming a node did). */
export function saysGaveUp(e: PastRepair): boolean {
  return e.event === 'report' && e.action === 'report' && (e.code === undefined || e.code === null ? e.node !== null && e.pair !== null : e.code === 'gave-up')
}

/**
 * What a restarted supervisor remembers: the repairs it began within the
 * window, from its events file, and the daemons it gave up on. Without this,
 * a supervisor that crashes (or is restarted by systemd) in a loop would reset
 * its own flapping guard. Read from the events' fields, never their wording.
 */
export function memoryFromEvents(events: PastRepair[], now: number, p: SupervisePolicy = DEFAULT_POLICY): Map<string, PairMemory> {
  const out = new Map<string, PairMemory>()
  for (const e of events) {
    // A router's events (pair null) are read by routerMemoryFromEvents.
    if (e.pair === null) continue
    // A healthy pair after a give-up: it was repaired by hand; start afresh.
    if (e.event === 'observed' && sawHealthy(e)) {
      const mem = out.get(e.pair)
      for (const n of Object.keys(mem?.givenUp ?? {})) { delete mem!.givenUp[n]; delete mem!.repairs[n] }
      continue
    }
    if (saysGaveUp(e) && e.node !== null) {
      const mem = out.get(e.pair) ?? freshMemory()
      mem.givenUp[repairKey(e.node, e.daemon ?? 'node')] = Date.parse(e.time)
      out.set(e.pair, mem)
      continue
    }
    if (e.event !== 'repairing' || e.node === null) continue
    const t = Date.parse(e.time)
    if (!Number.isFinite(t) || now - t >= p.windowMs || t > now) continue
    const mem = out.get(e.pair) ?? freshMemory()
    const keys = e.action === 'start_pair' ? e.pair.split(',') : [repairKey(e.node, e.action === 'restart_keepalived' ? 'keepalived' : 'node')]
    for (const k of keys) mem.repairs[k] = [...(mem.repairs[k] ?? []), t]
    out.set(e.pair, mem)
  }
  return out
}

/** `code` says what the decision means (codes.ts); `reason` says it to a person. */
export type RepairAction = {code: PairCode; reason: string} & (
  | {action: 'none'}
  | {action: 'report'; node?: string; daemon?: Daemon}
  | {action: 'wait'; node: string; daemon?: Daemon}
  | {action: 'rejoin'; node: string; master: string}
  | {action: 'start_pair'; first: string; second: string}
  | {action: 'heal_split_brain'; keep: string; drop: string}
  | {action: 'restart_keepalived'; node: string}
)

export type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state' | 'items' | 'mode' | 'autoReconnect'>

export interface Decision {
  verdict: Verdict
  /** The VIP's verdict, for a pair with one (null otherwise). */
  vipVerdict: VipVerdict | null
  /** The VIP's reason, when its verdict is not ok (null otherwise). */
  vipReason: string | null
  act: RepairAction
  memory: PairMemory
}

export type Guarded = {ok: true} | {ok: false; act: RepairAction; giveUp?: string}

/** What to run by hand once the supervisor gave up on a daemon. */
function byHand(node: string, daemon: Daemon, pair: string): string {
  return daemon === 'node' ? `repctl rejoin ${node}` : `repctl start --pair ${pair} (it starts each keepalived of the pair that is not running; read keepalived.log in ${node}'s directory first)`
}

/** Whether a daemon of a node may be repaired now, under the flapping guard. */
export function guard(node: string, daemon: Daemon, pair: string, memory: PairMemory, now: number, p: SupervisePolicy): Guarded {
  const key = repairKey(node, daemon)
  const what = daemon === 'node' ? node : `keepalived of ${node}`
  const tail = `repair it by hand (${byHand(node, daemon, pair)}); once the pair is healthy the supervisor watches it again`
  if (memory.givenUp[key] !== undefined) return {ok: false, act: {action: 'report', code: 'gave-up', node, daemon, reason: `${what} keeps failing; gave up repairing it: ${tail}`}}
  const recent = (memory.repairs[key] ?? []).filter((t) => now - t < p.windowMs)
  if (recent.length >= p.maxRepairs) {
    return {ok: false, act: {action: 'report', code: 'gave-up', node, daemon, reason: `${what} was repaired ${recent.length} times in ${Math.round(p.windowMs / 1000)} s; giving up on it: ${tail}`}, giveUp: key}
  }
  const last = recent[recent.length - 1]
  const wait = p.backoffMs * 2 ** Math.max(0, recent.length - 1)
  if (last !== undefined && now - last < wait) return {ok: false, act: {action: 'wait', code: 'backoff', node, daemon, reason: `backing off ${Math.round((wait - (now - last)) / 1000)} s before repairing ${what} again`}}
  return {ok: true}
}

/**
 * `vip`: what was seen of the pair's VIP, for a pair with one. Its rules come
 * before the node rules (decide-vip.ts says why), except for a pair whose
 * nodes are both down: starting the pair starts its keepalived too.
 */
export function decideRepair(a: Obs, b: Obs, memory: PairMemory, now: number, p: SupervisePolicy = DEFAULT_POLICY, vip?: VipSeen): Decision {
  const v = pairVerdict(a, b)
  const pair = `${a.name},${b.name}`
  const mem: PairMemory = {splitSince: memory.splitSince, repairs: {...memory.repairs}, givenUp: {...memory.givenUp}, vipSince: memory.vipSince}
  if (v.verdict !== 'split_brain') mem.splitSince = undefined
  const vipJudged = vip === undefined ? undefined : decideVip(a, b, vip, v.verdict, mem, now, p)
  const vv = vipJudged?.verdict
  // A healthy pair after we gave up on a node: someone repaired it. It is ours to watch again.
  if (v.verdict === 'ok' && (vv === undefined || vv.verdict === 'ok')) {
    for (const n of Object.keys(mem.givenUp)) {
      delete mem.givenUp[n]
      delete mem.repairs[n]
    }
  }
  const unreachable = [a, b].filter((n) => n.process === 'unknown')
  const done = (act: RepairAction, giveUp?: string): Decision => {
    const repaired = act.action === 'rejoin' ? [act.node] : act.action === 'start_pair' ? [act.first, act.second] : act.action === 'heal_split_brain' ? [act.drop]
      : act.action === 'restart_keepalived' ? [repairKey(act.node, 'keepalived')] : []
    for (const k of repaired) mem.repairs[k] = [...(mem.repairs[k] ?? []).filter((t) => now - t < p.windowMs), now]
    if (giveUp !== undefined) mem.givenUp[giveUp] = now
    return {verdict: v.verdict, vipVerdict: vv?.verdict ?? null, vipReason: vv === undefined || vv.verdict === 'ok' ? null : vv.reason, act, memory: mem}
  }
  // A host we cannot reach: we cannot tell dead from cut off, so we do nothing to it.
  if (unreachable.length > 0) return done({action: 'report', code: 'unreachable', reason: `${unreachable.map((n) => n.name).join(' and ')} cannot be observed; no action on an unreachable host`})
  const act = decideNodes(a, b, v, mem, now, p, pair)
  if (vipJudged?.act !== undefined) {
    const g = vipJudged.act
    if (g.action !== 'restart_keepalived') return done(g)
    const ok = guard(g.node, 'keepalived', pair, mem, now, p)
    if (ok.ok) return done(g)
    // A keepalived we back off from, or gave up on, does not hold up a node's repair.
    if (!REPAIRS.has(act.act.action)) return done(ok.act, ok.giveUp)
  }
  // No host holds the VIP for longer than keepalived needs, and no node repair is due: say so.
  if (act.act.action === 'none' && vipJudged?.missing !== undefined) return done({action: 'report', code: 'vip-missing', reason: vipJudged.missing})
  return done(act.act, act.giveUp)
}

const REPAIRS = new Set<RepairAction['action']>(['rejoin', 'start_pair', 'heal_split_brain'])

function decideNodes(a: Obs, b: Obs, v: ReturnType<typeof pairVerdict>, mem: PairMemory, now: number, p: SupervisePolicy, pair: string): {act: RepairAction; giveUp?: string} {
  const guarded = (node: string, act: RepairAction): {act: RepairAction; giveUp?: string} => {
    const g = guard(node, 'node', pair, mem, now, p)
    return g.ok ? {act} : {act: g.act, giveUp: g.giveUp}
  }
  switch (v.verdict) {
    case 'ok':
    case 'copying':
      return {act: {action: 'none', code: v.verdict === 'ok' ? 'healthy' : 'copying', reason: v.reason}}
    case 'slave_down': {
      const down = a.process === 'running' ? b : a
      return guarded(down.name, {action: 'rejoin', code: 'slave-down', node: down.name, master: v.master!, reason: `${down.name} is down while ${v.master} serves as master`})
    }
    case 'down': {
      return guarded(a.name, {action: 'start_pair', code: 'pair-down', first: a.name, second: b.name, reason: 'both nodes are down; starting the pair again, from its newest snapshot if it has one'})
    }
    case 'split_brain': {
      if (mem.splitSince === undefined) mem.splitSince = now
      const age = now - mem.splitSince
      if (age < p.splitBrainGraceMs) return {act: {action: 'wait', code: 'split-grace', node: a.name, reason: `split brain for ${Math.round(age / 1000)} s; waiting ${Math.round(p.splitBrainGraceMs / 1000)} s for the nodes to re-pair by themselves`}}
      // Native nodes that dial each other again converge by themselves (newest write wins) once
      // the link returns. If they have not, the link between them is cut: restarting one would
      // discard the writes it took, and it could not reach the other to copy anyway.
      if ([a, b].every((n) => n.mode === 'native' && n.autoReconnect === true)) {
        return {act: {action: 'report', code: 'split-cut', reason: `split brain for ${Math.round(age / 1000)} s: both nodes keep trying to reach each other, so the network between them is cut; they converge by themselves when it returns (no restart: it would discard one side's writes)`}}
      }
      if (p.splitBrain === 'manual') return {act: {action: 'report', code: 'split-manual', reason: `split brain for ${Math.round(age / 1000)} s; policy manual: run repctl promote NODE --yes`}}
      const keepA = p.splitBrain === 'keep-first' || (a.items ?? 0) >= (b.items ?? 0)
      const [keep, drop] = keepA ? [a, b] : [b, a]
      return guarded(drop.name, {action: 'heal_split_brain', code: 'split-heal', keep: keep.name, drop: drop.name, reason: `split brain for ${Math.round(age / 1000)} s; keeping ${keep.name} (${p.splitBrain}), ${drop.name} rejoins as its slave`})
    }
    case 'master_down':
    case 'unpaired':
      // The survivor is not (yet) a master, or the nodes are not linked: servers usually settle this
      // by themselves within their replication timeout; acting now could split the pair.
      return {act: {action: 'wait', code: 'settling', node: a.name, reason: `${v.reason}; waiting for the servers to settle`}}
  }
}
