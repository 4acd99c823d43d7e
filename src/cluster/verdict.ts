// The health of a pair as a pure function of what was observed, so that the
// rules can be read and table-tested in one place.

import type {NodeObservation} from './observe.js'
import type {VipObservation} from './vip/observe.js'

export type Verdict = 'ok' | 'copying' | 'slave_down' | 'master_down' | 'split_brain' | 'unpaired' | 'down'
export type Health = 'healthy' | 'degraded' | 'critical' | 'unknown'

/** Monitoring-plugin exit codes. */
export const HEALTH_EXIT: Record<Health, number> = {healthy: 0, degraded: 1, critical: 2, unknown: 3}

export interface PairVerdict { verdict: Verdict; master: string | null; reason: string }

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state'>

/**
 * Running by its host's word or, when the host could not be asked, because it
 * answered `stats`. A node seen neither way counts as down: its peer's claim of
 * a link to it is no proof, since a link to a silently dead node (power loss,
 * cut cable) stays "paired" until a heartbeat or keepalive gives up.
 */
const up = (n: Obs): boolean => n.process === 'running' || (n.process === 'unknown' && n.role !== null)
const linked = (n: Obs): boolean => n.state === 'paired' || n.state === 'copying'

const downWhy = (n: Obs): string => n.process === 'unknown' ? `${n.name} cannot be observed (neither its host nor its port answered)` : `${n.name} is down`
const describe = (n: Obs): string => n.role === null ? 'it does not answer' : `${n.role}, ${n.state ?? 'no state'}`

export function pairVerdict(a: Obs, b: Obs): PairVerdict {
  if (!up(a) && !up(b)) {
    const reason = a.process === 'stopped' && b.process === 'stopped' ? 'no node of the pair is running' : `${downWhy(a)} and ${downWhy(b)}`
    return {verdict: 'down', master: null, reason}
  }
  if (up(a) !== up(b)) {
    const [live, dead] = up(a) ? [a, b] : [b, a]
    const link = linked(live) ? `it still reports a link to ${dead.name}` : ''
    if (live.role === 'master') return {verdict: 'slave_down', master: live.name, reason: `${downWhy(dead)}; ${live.name} serves alone as master${link && ` (${link})`}`}
    return {verdict: 'master_down', master: null, reason: `${downWhy(dead)} and ${live.name} is not (yet) a master (${describe(live)}${link && `: ${link}`})`}
  }
  const masters = [a, b].filter((n) => n.role === 'master')
  // Two masters are never linked to each other: a link has one master and one slave.
  if (masters.length === 2) return {verdict: 'split_brain', master: null, reason: `${a.name} and ${b.name} are both masters with no link between them`}
  if (masters.length === 0) return {verdict: 'unpaired', master: null, reason: `both nodes run but neither is a master (${a.name}: ${describe(a)}; ${b.name}: ${describe(b)})`}
  const m = masters[0]!
  const other = m === a ? b : a
  if (m.state === 'paired' && other.role === 'slave' && other.state === 'paired') return {verdict: 'ok', master: m.name, reason: `${m.name} is master, the pair is linked`}
  // A slave keeps its client port closed until its copy has arrived: no answer is expected then.
  if (m.state === 'copying' || other.state === 'copying') return {verdict: 'copying', master: m.name, reason: 'a full copy to the slave is in progress'}
  if (m.state === 'paired' && other.role === null) {
    return {verdict: 'copying', master: m.name, reason: `${m.name} reports a live link to ${other.name}, which does not answer yet (a slave opens its client port once its full copy has arrived)`}
  }
  if (other.role === null) return {verdict: 'unpaired', master: m.name, reason: `${other.name} runs but does not answer, and ${m.name} (master, ${m.state ?? 'no state'}) has no link to it`}
  return {verdict: 'unpaired', master: m.name, reason: `both nodes run but they are not linked (${a.name}: ${describe(a)}; ${b.name}: ${describe(b)})`}
}

const SEVERITY: Record<Verdict, Health> = {
  ok: 'healthy', copying: 'degraded', slave_down: 'degraded', master_down: 'degraded', unpaired: 'degraded', split_brain: 'critical', down: 'critical',
}

/**
 * The VIP of a pair with one: where clients land. The address on the
 * interface is the truth; keepalived's own processes say whether the VIP can
 * still move.
 */
export type VipVerdict = 'ok' | 'vip_split' | 'vip_missing' | 'vip_stranded' | 'keepalived_down' | 'unknown'

export interface VipVerdictResult { verdict: VipVerdict; holder: string | null; reason: string }

type VipSeen = Pick<VipObservation, 'address' | 'holders' | 'unobserved' | 'keepalived'>

export function vipVerdict(vip: VipSeen, nodes: Obs[]): VipVerdictResult {
  const {address: a, holders} = vip
  const keepalivedOf = (name: string): string => {
    const k = vip.keepalived.find((x) => x.node === name)
    return k === undefined ? 'unknown' : k.process === 'running' ? `running${k.state === null ? '' : `, ${k.state}`}` : k.process
  }
  if (holders.length >= 2) {
    return {verdict: 'vip_split', holder: null, reason: `the VIP ${a} is on the hosts of ${holders.join(' and ')} at once: clients land on either (a network cut between the hosts, or a keepalived killed without its VIP removed)`}
  }
  if (holders.length === 0) {
    if (vip.unobserved.length > 0) return {verdict: 'unknown', holder: null, reason: `no host that could be asked holds the VIP ${a}; the host of ${vip.unobserved.join(' and ')} could not be asked`}
    const ks = vip.keepalived.map((k) => `${k.node}: ${keepalivedOf(k.node)}`).join('; ')
    return {verdict: 'vip_missing', holder: null, reason: `no host holds the VIP ${a}: clients of the VIP reach nothing (keepalived ${ks})`}
  }
  const holder = holders[0]!
  const held = nodes.find((n) => n.name === holder)
  if (held !== undefined && held.process === 'stopped') {
    return {verdict: 'vip_stranded', holder, reason: `the VIP ${a} is on the host of ${holder}, which is down: clients of the VIP are refused (keepalived of ${holder}: ${keepalivedOf(holder)})`}
  }
  for (const n of nodes) {
    const k = vip.keepalived.find((x) => x.node === n.name)
    if (n.process !== 'running' || k === undefined || k.process === 'running') continue
    if (k.process === 'unknown') return {verdict: 'unknown', holder, reason: `the VIP ${a} is on the host of ${holder}; whether keepalived of ${n.name} runs cannot be told`}
    return {verdict: 'keepalived_down', holder, reason: `the VIP ${a} is on the host of ${holder}, but keepalived of ${n.name} is not running although ${n.name} runs: the VIP cannot move ${n.name === holder ? 'away from' : 'to'} its host`}
  }
  return {verdict: 'ok', holder, reason: `the VIP ${a} is on the host of ${holder}`}
}

const VIP_SEVERITY: Record<VipVerdict, Health> = {
  ok: 'healthy', keepalived_down: 'degraded', vip_split: 'critical', vip_missing: 'critical', vip_stranded: 'critical', unknown: 'unknown',
}

/** Worst of the pairs (and their VIPs); a node we could not ask makes a non-critical answer unknown. */
/** `more`: the healths of what else the cluster runs (its routers). */
export function clusterHealth(verdicts: Verdict[], nodes: Pick<NodeObservation, 'process'>[], vipVerdicts: VipVerdict[] = [], more: Health[] = []): Health {
  const healths = [...verdicts.map((v) => SEVERITY[v]), ...vipVerdicts.map((v) => VIP_SEVERITY[v]), ...more]
  if (healths.includes('critical')) return 'critical'
  if (nodes.some((n) => n.process === 'unknown') || healths.includes('unknown')) return 'unknown'
  if (healths.includes('degraded')) return 'degraded'
  return 'healthy'
}
