// The cluster as Prometheus reads it (text exposition format 0.0.4), a pure
// function of one status report and the supervisor's counters. Names follow
// Prometheus' conventions: repctl_ prefix, base units (seconds, bytes),
// counters end in _total, a state is one series per value with 0 or 1.

import type {LinkState, Role} from '../observe.js'
import type {RepairAction} from '../supervise/decide.js'
import type {RouterAction} from '../supervise/decide-router.js'
import type {StatusReport} from '../status.js'
import type {Health, Verdict} from '../verdict.js'

const VERDICTS: Verdict[] = ['ok', 'copying', 'slave_down', 'master_down', 'split_brain', 'unpaired', 'down']
const ROLES: Role[] = ['master', 'slave', 'none']
const LINK_STATES: LinkState[] = ['paired', 'listening', 'connecting', 'copying', 'disconnected']
const HEALTHS: Health[] = ['healthy', 'degraded', 'critical', 'unknown']

/** What the supervisor counted since it started. */
export interface SupervisorCounters {
  /** Finished repairs, by "action outcome". */
  repairs: Map<string, {action: string; outcome: string; count: number}>
  rounds: number
  /** Duration of its last round; null before the first. */
  lastRoundSeconds: number | null
}

/** The repairs a supervisor can make (decide.ts, decide-router.ts): their counters start at 0, so a first repair shows as an increase. */
export const REPAIR_ACTIONS = ['rejoin', 'start_pair', 'heal_split_brain', 'restart_keepalived', 'restart_router', 'update_router'] as const satisfies readonly (RepairAction['action'] | RouterAction['action'])[]

export function freshCounters(): SupervisorCounters {
  const repairs: SupervisorCounters['repairs'] = new Map()
  for (const action of REPAIR_ACTIONS) for (const outcome of ['ok', 'failed']) repairs.set(`${action} ${outcome}`, {action, outcome, count: 0})
  return {repairs, rounds: 0, lastRoundSeconds: null}
}

/** Count one supervisor event (only finished repairs count). */
export function countEvent(c: SupervisorCounters, e: {event: string; action: string | null; outcome: string | null}): void {
  if (e.event !== 'repair' || e.action === null || e.outcome === null) return
  const key = `${e.action} ${e.outcome}`
  const entry = c.repairs.get(key) ?? {action: e.action, outcome: e.outcome, count: 0}
  entry.count++
  c.repairs.set(key, entry)
}

type Labels = Record<string, string>

interface Family { name: string; help: string; type: 'gauge' | 'counter'; samples: [Labels, number][] }

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

function renderFamily(f: Family): string {
  const lines = [`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`]
  for (const [labels, value] of f.samples) {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')
    lines.push(`${f.name}${l === '' ? '' : `{${l}}`} ${formatValue(value)}`)
  }
  return lines.join('\n')
}

/** `now`: milliseconds since the epoch, for the snapshots' ages. */
export function renderExposition(r: StatusReport, supervisor: SupervisorCounters | null, now: number): string {
  const cluster = r.cluster
  const fam: Family[] = []
  const add = (name: string, type: Family['type'], help: string, samples: [Labels, number][]): void => { fam.push({name, type, help, samples}) }
  const nodeLabels = (n: {name: string}): Labels => ({cluster, node: n.name})
  const known = <T>(pick: (n: StatusReport['nodes'][number]) => T | null, to: (v: T) => number): [Labels, number][] =>
    r.nodes.flatMap((n) => { const v = pick(n); return v === null ? [] : [[nodeLabels(n), to(v)] as [Labels, number]] })

  add('repctl_cluster_health', 'gauge', 'The cluster\'s health as repctl status judges it: 1 for the current value of health, 0 for the others.',
    HEALTHS.map((h) => [{cluster, health: h}, r.health === h ? 1 : 0]))
  add('repctl_node_up', 'gauge', 'Whether the node\'s server answers stats (1) or not (0: stopped, not reachable, or a slave still receiving its full copy).',
    r.nodes.map((n) => [nodeLabels(n), n.role !== null ? 1 : 0]))
  add('repctl_node_role', 'gauge', 'The node\'s replication role: 1 for its current role, 0 for the others (all 0 when it does not answer).',
    r.nodes.flatMap((n) => ROLES.map((role) => [{...nodeLabels(n), role}, n.role === role ? 1 : 0] as [Labels, number])))
  add('repctl_node_replication_state', 'gauge', 'The node\'s replication link state: 1 for its current state, 0 for the others.',
    r.nodes.flatMap((n) => LINK_STATES.map((state) => [{...nodeLabels(n), state}, n.state === state ? 1 : 0] as [Labels, number])))
  add('repctl_node_replication_lag_seconds', 'gauge', 'How far the node\'s replication is behind its peer, in seconds.', known((n) => n.lagMs, (ms) => ms / 1000))
  add('repctl_node_replication_queue_length', 'gauge', 'Changes queued for the peer and not yet sent.', known((n) => n.queue, (v) => v))
  add('repctl_node_items', 'gauge', 'Items the node holds.', known((n) => n.items, (v) => v))
  add('repctl_node_bytes', 'gauge', 'Bytes the node\'s items take.', known((n) => n.bytes, (v) => v))
  add('repctl_node_evictions_total', 'counter', 'Items evicted to make room since the node\'s server started.', known((n) => n.evictions, (v) => v))
  add('repctl_node_connections', 'gauge', 'Open client connections.', known((n) => n.connections, (v) => v))
  add('repctl_node_snapshot_age_seconds', 'gauge', 'Seconds since the node\'s last snapshot was written.',
    known((n) => n.snapshot, (s) => Math.max(0, (now - Date.parse(s.time)) / 1000)))
  add('repctl_node_outdated', 'gauge', 'Whether the node runs another server bundle than this repctl installs (repctl upgrade restarts it).', known((n) => n.outdated, (o) => (o ? 1 : 0)))
  add('repctl_node_info', 'gauge', 'The server release and bundle checksum the node runs (always 1).',
    r.nodes.flatMap((n) => (n.bundleSha256 === null ? [] : [[{...nodeLabels(n), release: n.release ?? '', bundle_sha256: n.bundleSha256}, 1] as [Labels, number]])))

  const pairName = (p: StatusReport['pairs'][number]): string => p.nodes.join(',')
  add('repctl_pair_verdict', 'gauge', 'The pair\'s verdict: 1 for the current one, 0 for the others (split_brain and down are critical).',
    r.pairs.flatMap((p) => VERDICTS.map((v) => [{cluster, pair: pairName(p), verdict: v}, p.verdict === v ? 1 : 0] as [Labels, number])))
  add('repctl_pair_vip_holder', 'gauge', 'For a pair with a VIP: 1 for each node whose host holds it (two 1s: the VIP is on both hosts).',
    r.pairs.flatMap((p) => (p.vip === null ? [] : p.nodes.map((n) => [{cluster, pair: pairName(p), node: n, vip: p.vip!.address}, p.vip!.holders.includes(n) ? 1 : 0] as [Labels, number]))))
  add('repctl_pair_replication_authenticated', 'gauge', 'Whether the pair\'s replication link proves the shared secret (1) or not (0); absent when it cannot be told.',
    r.pairs.flatMap((p) => (p.replicationAuth.authenticated === null ? [] : [[{cluster, pair: pairName(p)}, p.replicationAuth.authenticated ? 1 : 0] as [Labels, number]])))
  add('repctl_router_up', 'gauge', 'Whether the router (nutcracker) runs and answers on its stats port.',
    r.routers.map((x) => [{cluster, router: x.name}, x.process === 'running' && x.answering ? 1 : 0]))

  if (supervisor !== null) {
    add('repctl_supervisor_repairs_total', 'counter', 'Repairs the supervisor finished since it started, by action and outcome.',
      [...supervisor.repairs.values()].sort((a, b) => `${a.action} ${a.outcome}`.localeCompare(`${b.action} ${b.outcome}`)).map((x) => [{cluster, action: x.action, outcome: x.outcome}, x.count]))
    add('repctl_supervisor_rounds_total', 'counter', 'Rounds the supervisor finished since it started.', [[{cluster}, supervisor.rounds]])
    if (supervisor.lastRoundSeconds !== null) add('repctl_supervisor_last_round_duration_seconds', 'gauge', 'How long the supervisor\'s last round took.', [[{cluster}, supervisor.lastRoundSeconds]])
  }
  return fam.filter((f) => f.samples.length > 0).map(renderFamily).join('\n') + '\n'
}
