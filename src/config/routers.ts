// `routers` (nutcracker daemons that front every pair of the cluster) and the
// ring name of each pair. Rendering nutcracker's config is
// src/cluster/router/; this file only reads and checks what the operator wrote.
//
// A router is placed like a node (host, ssh, stateDir and privilege are read
// by the same code as a node's), and listens on two ports of its host: the
// client port and nutcracker's stats port.

import {checkDuration} from '../server/duration.js'
import type {NodeSettings, Placement, Privilege, SshConfig} from './schema.js'

export interface RouterConfig {
  name: string
  /** The address nutcracker listens on for clients (and its stats port). */
  host: string
  ssh: SshConfig | undefined
  /** Client port (memcached text protocol). */
  port: number
  /** nutcracker's stats port (-s): JSON counters for the pool and each pair. */
  statsPort: number
  /** Where the router's config, pid file and log live (a subdirectory per router). */
  stateDir: string
  privilege: Privilege
  /** How long nutcracker waits for a pair's reply (its `timeout`) before it answers the client with an error. */
  timeoutMs: number
}

/** twemproxy's customary client port (its README's examples). */
export const DEFAULT_ROUTER_PORT = 22121

/**
 * The stats port, unless set, is the client port + 1: the same habit as a
 * node's replication port (11211, 11212), so a router's two ports sit
 * together. A clash with anything else on the host is reported by name.
 */
export const STATS_PORT_OFFSET = 1

const ROUTER_KEYS = ['host', 'ssh', 'port', 'statsPort', 'timeout', 'stateDir', 'privilege']

/**
 * nutcracker's server timeout. 1 s is far above any healthy reply and short
 * enough that clients see an error, not a hang, while a pair fails over; a
 * lower one shortens what a VIP move costs through the router (a connect made
 * while the VIP is between hosts waits it out), at the price of errors for
 * slow replies (a large multiget on a loaded pair).
 */
export const DEFAULT_ROUTER_TIMEOUT_MS = 1000
const ROUTER_TIMEOUT = {min: 50, max: 60_000}

/**
 * Ring names: no space (nutcracker takes the server's name after the last
 * space of `host:port:weight name`), nothing YAML would read as syntax, and
 * at most 80 bytes: twemproxy before 0.5.0 hashed `NAME-N` in an 86-byte
 * buffer, so longer names were cut and two of them could share their points.
 * 0.5.0 (Debian's) holds 272 bytes; the cap keeps a config safe with a
 * router built from an older twemproxy, and no real pair name needs more.
 */
const RING_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,79}$/
export const RING_NAME_MAX = 80

type Report = (path: string, problem: string) => void

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === 'localhost'
}

function isPort(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535
}

/** Whether `name` can be a pair's server name in nutcracker's config (see RING_NAME). */
export function isRingName(name: string): boolean {
  return RING_NAME.test(name)
}

/** A pair's `name` as written, or undefined (reported) when it cannot be a ring name. */
export function checkPairName(raw: unknown, path: string, problem: Report): string | undefined {
  if (typeof raw === 'string' && isRingName(raw)) return raw
  problem(path, `must be a name of letters, digits, _ . + - (starting with a letter or digit, at most ${RING_NAME_MAX}), e.g. pair1 (got ${JSON.stringify(raw)})`)
  return undefined
}

/**
 * The default ring name of a pair: its two node names, sorted, joined by `+`
 * (`cache-a+cache-b`). Not its position in `pairs`: removing one pair would
 * rename every pair after it, and ketama would move their keys too. Sorted,
 * so that swapping which node is preferred moves nothing. `+` cannot occur in
 * a node name, so a derived name never equals another pair's node-name-like
 * name by accident. Replacing a node of the pair does rename it (and move its
 * keys): a pair that should outlive its nodes gets a `name`.
 */
export function pairRingName(nodes: readonly [string, string], path: string, problem: Report): string | undefined {
  const name = [...nodes].sort().join('+')
  if (isRingName(name)) return name
  problem(path, `its ring name (the node names joined by +) would be ${name.length} characters; nutcracker hashes at most ${RING_NAME_MAX}: set ${path}.name, e.g. pair1`)
  return undefined
}

export interface RouterChecks {
  /** A router's stateDir and privilege (a subset of its mapping) checked as a node's are, over the cluster's defaults. */
  settings: (own: Record<string, unknown>, path: string) => Pick<NodeSettings, 'stateDir' | 'privilege'>
  /** The rule for node names, which router names follow too. */
  nameIsValid: (name: string) => boolean
  /** Routers keep their files in <stateDir>/<name> like nodes, so the names must differ. */
  nodeNames: ReadonlySet<string>
  /** A node's host/ssh/stateDir check, given the stateDir to resolve. */
  placement: (value: Record<string, unknown>, path: string, stateDir: string) => Placement
  problem: Report
}

/** `routers: {NAME: {host, ssh?, port?, statsPort?, timeout?, stateDir?, privilege?}}`; absent: none. */
export function checkRouters(raw: unknown, checks: RouterChecks): RouterConfig[] {
  const {problem} = checks
  if (raw === undefined) return []
  if (!isRecord(raw)) { problem('routers', 'must map router names to their settings, e.g. {app1: {host: 10.0.1.5, port: 22121}}'); return [] }
  const routers: RouterConfig[] = []
  for (const [name, value] of Object.entries(raw)) {
    const path = `routers.${name}`
    if (!checks.nameIsValid(name)) problem(path, 'router names use letters, digits, . _ - (at most 63)')
    else if (checks.nodeNames.has(name)) problem(path, `${name} is also a node; a router needs its own name (its files live in <stateDir>/${name})`)
    if (!isRecord(value)) { problem(path, 'must be a mapping with at least host, e.g. {host: 127.0.0.1, port: 22121}'); continue }
    let ok = true
    const bad = (key: string, message: string): void => { problem(`${path}.${key}`, message); ok = false }
    for (const key of Object.keys(value)) if (!ROUTER_KEYS.includes(key)) bad(key, `unknown key; expected one of ${ROUTER_KEYS.join(', ')}`)
    const port = value.port ?? DEFAULT_ROUTER_PORT
    if (!isPort(port)) bad('port', `must be a whole number from 1 to 65535 (got ${JSON.stringify(value.port)})`)
    const statsPort = value.statsPort ?? (isPort(port) ? port + STATS_PORT_OFFSET : undefined)
    if (value.statsPort !== undefined && !isPort(value.statsPort)) bad('statsPort', `must be a whole number from 1 to 65535 (got ${JSON.stringify(value.statsPort)})`)
    else if (statsPort === 65536) bad('statsPort', 'defaults to port + 1, which is past 65535: set it')
    else if (statsPort === port) bad('statsPort', `is the client port ${String(port)}; nutcracker needs two ports`)
    const timeout = value.timeout === undefined ? {ms: DEFAULT_ROUTER_TIMEOUT_MS} : checkDuration(value.timeout, ROUTER_TIMEOUT)
    if ('problem' in timeout) bad('timeout', `${timeout.problem}, e.g. 1s or 300ms: how long the router waits for a pair's reply (got ${JSON.stringify(value.timeout)})`)
    const own: Record<string, unknown> = {}
    for (const key of ['stateDir', 'privilege']) if (value[key] !== undefined) own[key] = value[key]
    const {stateDir, privilege} = checks.settings(own, path)
    const placed = checks.placement(value, path, stateDir)
    if (placed.host.includes(':')) bad('host', `is an IPv6 address; routers take IPv4 addresses or host names for now (nutcracker 0.5.0 reads host:port without brackets) (got ${JSON.stringify(placed.host)})`)
    // repctl checks a router (a request through it, its stats) over the network from where repctl runs.
    if (placed.ssh !== undefined && isLoopback(placed.host) && !isLoopback(placed.ssh.host)) {
      bad('host', `is a loopback address of the SSH host ${placed.ssh.host}: repctl checks a router and reads its stats over the network from the machine it runs on, where ${placed.host} is this machine; give the router an address of its host that this machine reaches (got ${JSON.stringify(placed.host)})`)
    }
    if (ok && 'ms' in timeout) routers.push({name, host: placed.host, ssh: placed.ssh, port: port as number, statsPort: statsPort as number, stateDir: placed.stateDir, privilege, timeoutMs: timeout.ms})
  }
  return routers
}
