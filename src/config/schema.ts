// The shape of repctl.config.yaml and its validation. Every error names the
// file, the key path and the problem, so a typo is fixed in one look.

import {homedir, userInfo} from 'node:os'
import {join, resolve} from 'node:path'
import {checkDuration, DAY_MS, type DurationRange} from '../server/duration.js'
import {RepctlError} from '../errors.js'
import {checkSecurity, type SecurityConfig} from './security.js'
import {checkRouters, checkPairName, pairRingName, type RouterConfig} from './routers.js'
import {assignRouterIds, checkVip, KEEPALIVED_UNSAFE, parseIpv4, type VipConfig, type VipDraft} from './vip.js'

export type {RouterConfig, SecurityConfig, VipConfig}

/**
 * How repctl gets root on a node's host for what needs it (keepalived adds
 * the VIP to an interface and opens raw VRRP sockets; the node itself never
 * needs root). `root`: the user repctl acts as there (the SSH user, or whoever
 * runs repctl for a node on this machine) is root, and is used as it is.
 * `sudo`: that user is not root and runs those commands through `sudo -n`,
 * so it needs passwordless sudo for them. Applied in one place, the Host
 * layer; nothing else adds sudo to a command line.
 */
export type Privilege = 'root' | 'sudo'

export interface NodeSettings {
  port: number
  replicationPort: number
  /** -m, megabytes. */
  memory: number
  maxConnections: number
  queueMax: number
  /** Where the node's bundle, pid file, log and snapshot live (a subdirectory per node). */
  stateDir: string
  /** Keep the node's items in a snapshot file (written at stop and every snapshotInterval, loaded at start). */
  snapshots: boolean
  /** The config's snapshotInterval: time between snapshots while running; 0: only at stop. */
  snapshotIntervalMs: number
  /** How repctl gets root on the node's host when it must (see Privilege). */
  privilege: Privilege
}

/** How to reach a node's host over SSH; absent for nodes on this machine. */
export interface SshConfig {
  /** SSH address; defaults to the node's host. */
  host: string
  port: number
  user: string
  identityFile: string | undefined
  /** ssh-agent socket; defaults to SSH_AUTH_SOCK. */
  agent: string | undefined
  knownHosts: string | undefined
  /** Pinned host key fingerprint (SHA256:...). */
  hostKey: string | undefined
}

export interface NodeConfig extends NodeSettings {
  name: string
  /** The address the node listens on (and its peer connects to). */
  host: string
  ssh: SshConfig | undefined
  /** The cluster's `security` files, on every node when any is configured. */
  security?: SecurityConfig
  /** The VIP of the node's pair (from pairs[].vip), which the node listens on too: it must answer there whenever its host takes it. */
  vipAddress?: string
}

/** Two nodes that replicate to each other, and the virtual IP that follows them if any. */
export interface PairConfig {
  /**
   * The pair's server name in the routers' ketama ring (what ketama hashes):
   * `pairs[].name`, else derived from the node names (see pairRingName).
   * Keys stay on a pair as long as its name does, whatever its address.
   */
  name: string
  /** The node names, in the order written: the first is preferred as master (and for the VIP) when both start. */
  nodes: [string, string]
  /** Absent: clients use the nodes' own addresses. */
  vip?: VipConfig
}

export interface ClusterConfig {
  cluster: string
  nodes: NodeConfig[]
  pairs: PairConfig[]
  /** nutcracker routers that front every pair (config `routers`); empty when absent. */
  routers: RouterConfig[]
  /** Secret files (never the secrets): replication secret, users, TLS. Empty: none of it. */
  security: SecurityConfig
  /** Things to fix that do not stop repctl (a key file others can read). */
  warnings: string[]
  /** The file it came from, or "built-in defaults". */
  source: string
}

export const BUILT_IN_SOURCE = 'built-in defaults'

export const DEFAULTS: NodeSettings = {port: 11211, replicationPort: 11212, memory: 64, maxConnections: 1024, queueMax: 8192, stateDir: '~/.repctl', snapshots: true, snapshotIntervalMs: 60_000, privilege: 'root'}

/** The pair every command uses when there is no config file at all (with DEFAULTS). */
export const BUILT_IN_CONFIG = {
  cluster: 'local',
  nodes: {
    node1: {host: '127.0.0.1', port: 11211, replicationPort: 11212},
    node2: {host: '127.0.0.1', port: 11311, replicationPort: 11312},
  },
  pairs: [['node1', 'node2']],
}

/**
 * Below 100 ms a typo (1ms for 1m) would have the node write snapshots back
 * to back; the server refuses the same range (src/server/options.ts).
 */
export const SNAPSHOT_INTERVAL: DurationRange = {min: 100, max: DAY_MS, zero: 'only at stop'}

/** A config key's check: the settings it gives, or what is wrong with it ("must be …"). */
type SettingRule = (v: unknown) => Partial<NodeSettings> | string

const kept = <K extends keyof NodeSettings>(key: K, check: (v: unknown) => string | undefined): SettingRule =>
  (v) => check(v) ?? {[key]: v as NodeSettings[K]}

/** Every key allowed under defaults and each node, as written in the file. */
const SETTING_RULES: Record<string, SettingRule> = {
  port: kept('port', (v) => intIn(v, 1, 65535)),
  replicationPort: kept('replicationPort', (v) => intIn(v, 1, 65535)),
  memory: kept('memory', (v) => intIn(v, 1, 1024 * 1024)),
  maxConnections: kept('maxConnections', (v) => intIn(v, 1, 1_000_000)),
  queueMax: kept('queueMax', (v) => intIn(v, 1, 100_000_000)),
  stateDir: kept('stateDir', (v) => (typeof v === 'string' && v.trim() !== '' && !/[\n\0]/.test(v) ? undefined : 'must be a directory path')),
  snapshots: kept('snapshots', (v) => (typeof v === 'boolean' ? undefined : 'must be true or false')),
  snapshotInterval: (v) => {
    const r = checkDuration(v, SNAPSHOT_INTERVAL)
    return 'problem' in r ? r.problem : {snapshotIntervalMs: r.ms}
  },
  privilege: kept('privilege', (v) => (v === 'root' || v === 'sudo' ? undefined : 'must be root (repctl acts as root on the host) or sudo (repctl runs what needs root through sudo -n)')),
}

/** The node settings a router takes too (its own keys are checked in routers.ts). */
const ROUTER_SETTINGS = new Set(['stateDir', 'privilege'])

function intIn(v: unknown, min: number, max: number): string | undefined {
  return Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : `must be a whole number from ${min} to ${max}`
}

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
/** A host name or IP literal: no spaces, quotes or shell metacharacters. */
const HOST = /^[A-Za-z0-9.:_-]{1,253}$/

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

class Problems {
  readonly list: string[] = []
  add(path: string, problem: string): void { this.list.push(`${path}: ${problem}`) }
}

function checkSettings(obj: Record<string, unknown>, path: string, problems: Problems, allowed: Set<string>): Partial<NodeSettings> {
  let out: Partial<NodeSettings> = {}
  for (const [key, value] of Object.entries(obj)) {
    if (!allowed.has(key)) { problems.add(`${path}.${key}`, `unknown key; expected one of ${[...allowed].join(', ')}`); continue }
    const rule = SETTING_RULES[key]
    if (rule === undefined) continue
    const r = rule(value)
    if (typeof r === 'string') problems.add(`${path}.${key}`, `${r} (got ${JSON.stringify(value)})`)
    else out = {...out, ...r}
  }
  return out
}

export function expandHome(path: string, home = homedir()): string {
  if (path === '~') return home
  if (path.startsWith('~/')) return join(home, path.slice(2))
  return path
}

/** Validate a parsed config object; `baseDir` resolves relative state dirs. */
export function validateConfig(raw: unknown, source: string, baseDir: string): ClusterConfig {
  const problems = new Problems()
  if (!isRecord(raw)) throw new RepctlError('CONFIG_INVALID', `${source}: the config must be a mapping with cluster, defaults, nodes and pairs`)
  for (const key of Object.keys(raw)) {
    if (!['cluster', 'defaults', 'nodes', 'pairs', 'routers', 'security'].includes(key)) problems.add(key, 'unknown key; expected cluster, defaults, nodes, pairs, routers or security')
  }
  const cluster = raw.cluster ?? 'local'
  if (typeof cluster !== 'string' || !NODE_NAME.test(cluster)) problems.add('cluster', 'must be a name (letters, digits, . _ -)')
  const settingKeys = new Set(Object.keys(SETTING_RULES))
  let defaults: NodeSettings = {...DEFAULTS}
  if (raw.defaults !== undefined) {
    if (!isRecord(raw.defaults)) problems.add('defaults', 'must be a mapping')
    else defaults = {...defaults, ...checkSettings(raw.defaults, 'defaults', problems, settingKeys)}
  }
  const nodes: NodeConfig[] = []
  if (!isRecord(raw.nodes) || Object.keys(raw.nodes).length === 0) {
    problems.add('nodes', 'must map node names to their settings (at least two nodes)')
  } else {
    const nodeKeys = new Set(['host', 'ssh', ...settingKeys])
    for (const [name, value] of Object.entries(raw.nodes)) {
      const path = `nodes.${name}`
      if (!NODE_NAME.test(name)) problems.add(path, 'node names use letters, digits, . _ - (at most 63)')
      if (!isRecord(value)) { problems.add(path, 'must be a mapping with at least host'); continue }
      const own = checkSettings(value, path, problems, nodeKeys)
      const settings = {...defaults, ...own}
      const {host, ssh, stateDir} = checkPlacement(value, path, settings.stateDir, baseDir, problems)
      nodes.push({name, host, ...settings, stateDir, ssh})
    }
  }
  const pairs = checkPairs(raw.pairs, nodes, problems)
  assignRouterIds(typeof cluster === 'string' ? cluster : '', pairs)
  checkVips(pairs, nodes, problems)
  const routers = checkRouters(raw.routers, {
    settings: (own, path) => ({...defaults, ...checkSettings(own, path, problems, ROUTER_SETTINGS)}),
    nameIsValid: (name) => NODE_NAME.test(name),
    nodeNames: new Set(nodes.map((n) => n.name)),
    placement: (value, path, stateDir) => checkPlacement(value, path, stateDir, baseDir, problems),
    problem: (path, problem) => problems.add(path, problem),
  })
  checkAddresses(nodes, routers, problems)
  const warnings: string[] = []
  const security = checkSecurity(raw.security, baseDir, (path, problem) => problems.add(path, problem), (w) => warnings.push(`${source}: ${w}`))
  // The server takes its TLS files in one comma-separated -o list.
  if (security.tls !== undefined) for (const n of nodes) if (n.stateDir.includes(',')) problems.add(`nodes.${n.name}.stateDir`, 'must not contain a comma when security.tls is set')
  // A router is a client of every node: it would have to log in and speak TLS, which nutcracker cannot.
  for (const key of ['tls', 'usersFile'] as const) {
    if (security[key] !== undefined && routers.length > 0) problems.add(`security.${key}`, `cannot be used with routers: nutcracker 0.5.0 speaks neither TLS nor memcached's authentication, so it could not reach the nodes; remove routers, or let applications reach the pairs directly (docs/client-side-hashing.md)`)
  }
  if (problems.list.length > 0) {
    const list = problems.list.slice(0, 8).join('; ')
    throw new RepctlError('CONFIG_INVALID', `${source}: ${list}${problems.list.length > 8 ? ` (and ${problems.list.length - 8} more)` : ''}`)
  }
  if (Object.keys(security).length > 0) for (const n of nodes) n.security = security
  const done = pairs.map((p): PairConfig => (p.vip === undefined ? {name: p.name, nodes: p.nodes} : {name: p.name, nodes: p.nodes, vip: {...p.vip, routerId: p.vip.routerId!}}))
  for (const p of done) if (p.vip !== undefined) for (const n of nodes) if (p.nodes.includes(n.name)) n.vipAddress = p.vip.address
  return {cluster: cluster as string, nodes, pairs: done, routers, security, warnings, source}
}

/** Where a node or router runs: its address, how to reach its host (SSH, or this machine) and its state dir. */
export interface Placement {
  host: string
  ssh: SshConfig | undefined
  stateDir: string
}

/** `host` and `ssh` of a node or router, and its stateDir resolved as that host will read it. */
function checkPlacement(value: Record<string, unknown>, path: string, stateDir: string, baseDir: string, problems: Problems): Placement {
  const host = value.host
  if (typeof host !== 'string' || !HOST.test(host)) problems.add(`${path}.host`, `must be a host name or IP address (got ${JSON.stringify(host)})`)
  const ssh = value.ssh === undefined ? undefined : checkSsh(value.ssh, `${path}.ssh`, String(host), problems)
  // On an SSH host, ~ is the remote user's home: it is resolved on that host, not here.
  return {host: String(host), ssh, stateDir: ssh !== undefined && stateDir.startsWith('~') ? stateDir : resolve(baseDir, expandHome(stateDir))}
}

interface PairDraft { name: string; nodes: [string, string]; vip: VipDraft | undefined; path: string }

/** `pairs`: each `[a, b]`, or `{nodes: [a, b], name, vip: {...}}`; two nodes and no pairs mean those two. */
function checkPairs(raw: unknown, nodes: NodeConfig[], problems: Problems): PairDraft[] {
  const pairs: PairDraft[] = []
  const names = new Set(nodes.map((n) => n.name))
  const rawPairs = raw ?? (nodes.length === 2 ? [[nodes[0]!.name, nodes[1]!.name]] : undefined)
  if (!Array.isArray(rawPairs) || rawPairs.length === 0) {
    problems.add('pairs', 'must list pairs of node names, e.g. [[node1, node2]]')
    return pairs
  }
  const twoNames = (v: unknown): v is [string, string] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string'
  const used = new Map<string, number>()
  const ringNames = new Map<string, string>()
  rawPairs.forEach((p: unknown, i) => {
    const path = `pairs[${i}]`
    let vip: VipDraft | undefined
    let pairNodes: [string, string]
    let name: string | undefined
    if (twoNames(p)) {
      pairNodes = p
    } else if (isRecord(p)) {
      for (const key of Object.keys(p)) if (!['nodes', 'name', 'vip'].includes(key)) problems.add(`${path}.${key}`, 'unknown key; expected nodes, name or vip')
      if (!twoNames(p.nodes)) { problems.add(`${path}.nodes`, 'must be two node names, e.g. [node1, node2]'); return }
      pairNodes = p.nodes
      if (p.name !== undefined) name = checkPairName(p.name, `${path}.name`, (at, problem) => problems.add(at, problem))
      if (p.vip !== undefined) vip = checkVip(p.vip, `${path}.vip`, (at, problem) => problems.add(at, problem))
    } else {
      problems.add(path, 'must be two node names, e.g. [node1, node2], or a mapping with nodes and vip'); return
    }
    const [a, b] = pairNodes
    if (a === b) problems.add(path, `pairs ${a} with itself`)
    for (const n of [a, b]) {
      if (!names.has(n)) problems.add(path, `names ${n}, which is not under nodes`)
      else if (used.has(n)) problems.add(path, `${n} is already in pairs[${used.get(n)}]; a node belongs to one pair`)
      else used.set(n, i)
    }
    if (name === undefined && !(isRecord(p) && p.name !== undefined)) name = pairRingName([a, b], path, (at, problem) => problems.add(at, problem))
    if (name !== undefined) {
      const other = ringNames.get(name)
      if (other !== undefined) problems.add(isRecord(p) && p.name !== undefined ? `${path}.name` : path, `ring name ${JSON.stringify(name)} is already the name of ${other}; each pair needs its own (set pairs[].name)`)
      else ringNames.set(name, path)
    }
    pairs.push({name: name ?? '', nodes: [a, b], vip, path})
  })
  return pairs
}

/**
 * Across pairs: each VIP and router id once; a VIP no host owns; a pair with a
 * VIP spans two host addresses, given as IPv4 addresses (keepalived's unicast
 * peers are addresses, not names), with state dirs keepalived can name.
 */
function checkVips(pairs: PairDraft[], nodes: NodeConfig[], problems: Problems): void {
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const vips = new Map<string, string>()
  const ids = new Map<number, string>()
  for (const p of pairs) {
    if (p.vip === undefined) continue
    const path = `${p.path}.vip`
    const owner = nodes.find((n) => n.host === p.vip!.address)
    if (owner !== undefined) problems.add(`${path}.address`, `${p.vip.address} is the address of node ${owner.name} (nodes.${owner.name}.host); a VIP must be an address no host owns`)
    const sameVip = vips.get(p.vip.address)
    if (sameVip !== undefined) problems.add(`${path}.address`, `${p.vip.address} is already the VIP of ${sameVip}; each pair needs its own`)
    else vips.set(p.vip.address, p.path)
    if (p.vip.routerId === undefined) {
      problems.add(`${path}.routerId`, 'no router id is left: a cluster has at most 255 pairs with a vip')
    } else {
      const sameId = ids.get(p.vip.routerId)
      if (sameId !== undefined) problems.add(`${path}.routerId`, `${p.vip.routerId} is already the router id of ${sameId}; pairs on one network need distinct ids`)
      else ids.set(p.vip.routerId, p.path)
    }
    const [a, b] = p.nodes.map((n) => byName.get(n))
    if (a === undefined || b === undefined) continue
    for (const n of [a, b]) {
      if (parseIpv4(n.host) === undefined) problems.add(path, `nodes.${n.name}.host must be an IPv4 address for a pair with a vip, since keepalived's unicast peers are addresses (got ${JSON.stringify(n.host)})`)
      if (KEEPALIVED_UNSAFE.test(n.stateDir)) problems.add(`nodes.${n.name}.stateDir`, 'must not contain " \\ { }, $ before a letter, or control characters when its pair has a vip (keepalived\'s config cannot carry them)')
    }
    if (a.host === b.host) problems.add(path, `${a.name} and ${b.name} are both on ${a.host}; a VIP moves between two hosts, so the pair's nodes need different host addresses`)
    // Clients (and routers) reach the pair at VIP:port whichever host holds it.
    if (a.port !== b.port) problems.add(path, `${a.name} listens on port ${a.port} and ${b.name} on ${b.port}; clients reach a pair with a VIP at one address and port, so give both nodes the same port`)
  }
}

const SSH_KEYS = ['host', 'port', 'user', 'identityFile', 'agent', 'knownHosts', 'hostKey']
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/

/** `ssh: user@host[:port]` or `{host, user, port, identityFile, agent, knownHosts, hostKey}`. */
function checkSsh(raw: unknown, path: string, nodeHost: string, problems: Problems): SshConfig | undefined {
  const ssh: SshConfig = {host: nodeHost, port: 22, user: userInfo().username, identityFile: undefined, agent: undefined, knownHosts: undefined, hostKey: undefined}
  if (typeof raw === 'string') {
    const m = /^(?:([^@\s]+)@)?([A-Za-z0-9.:_-]+?|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(raw)
    if (m === null) { problems.add(path, `must be user@host[:port] (got ${JSON.stringify(raw)})`); return undefined }
    if (m[1] !== undefined) ssh.user = m[1]
    ssh.host = m[2]!.replace(/^\[|\]$/g, '')
    if (m[3] !== undefined) ssh.port = Number(m[3])
  } else if (isRecord(raw)) {
    for (const [key, v] of Object.entries(raw)) {
      if (!SSH_KEYS.includes(key)) { problems.add(`${path}.${key}`, `unknown key; expected one of ${SSH_KEYS.join(', ')}`); continue }
      if (key === 'port') {
        const problem = intIn(v, 1, 65535)
        if (problem !== undefined) problems.add(`${path}.port`, problem)
        else ssh.port = v as number
      } else if (typeof v !== 'string' || v === '' || /[\n\0]/.test(v)) {
        problems.add(`${path}.${key}`, 'must be a non-empty string')
      } else {
        (ssh as unknown as Record<string, string>)[key] = v
      }
    }
  } else {
    problems.add(path, 'must be user@host[:port] or a mapping with host, user, port, identityFile, agent, knownHosts, hostKey')
    return undefined
  }
  if (!USER.test(ssh.user)) problems.add(`${path}.user`, `must be a user name (got ${JSON.stringify(ssh.user)})`)
  if (!HOST.test(ssh.host)) problems.add(`${path}.host`, `must be a host name or IP address (got ${JSON.stringify(ssh.host)})`)
  if (ssh.hostKey !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(ssh.hostKey)) problems.add(`${path}.hostKey`, 'must be an OpenSSH SHA256 fingerprint, e.g. SHA256:abc… (ssh-keygen -lf KEY)')
  for (const f of ['identityFile', 'knownHosts', 'agent'] as const) if (ssh[f] !== undefined) ssh[f] = expandHome(ssh[f]!)
  return ssh
}

/** Nodes and routers on one address cannot share a port: client, replication or stats. */
function checkAddresses(nodes: NodeConfig[], routers: RouterConfig[], problems: Problems): void {
  const taken = new Map<string, string>()
  const listeners = [
    ...nodes.flatMap((n) => [[`nodes.${n.name}.port`, n.host, n.port], [`nodes.${n.name}.replicationPort`, n.host, n.replicationPort]] as const),
    ...routers.flatMap((r) => [[`routers.${r.name}.port`, r.host, r.port], [`routers.${r.name}.statsPort`, r.host, r.statsPort]] as const),
  ]
  for (const [path, host, port] of listeners) {
    const key = `${host}:${port}`
    const other = taken.get(key)
    if (other !== undefined) problems.add(path, `${key} is already used by ${other}; nodes and routers on one address need distinct ports`)
    else taken.set(key, path)
  }
}
