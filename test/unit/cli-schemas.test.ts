// The JSON Schemas of every command's --json output (src/cli/schemas) and
// the TypeScript result types must describe the same documents. tsc checks
// the lists below against the types (every key, every union member); the
// tests then check those lists against the schemas, and validate samples.

import assert from 'node:assert/strict'
import {readdirSync} from 'node:fs'
import {describe, it} from 'node:test'
import {Config, Errors} from '@oclif/core'
import {BaseCommand, type ErrorJson} from '../../src/cli/base-command.js'
import type {StopOutcome} from '../../src/cluster/node-control.js'
import type {LinkState, NodeObservation, ProcessState, Role} from '../../src/cluster/observe.js'
import type {PromoteResult} from '../../src/cluster/promote.js'
import type {RouterObservation} from '../../src/cluster/router/observe.js'
import type {RouterPairStatus, RouterStatus} from '../../src/cluster/router/status.js'
import type {RouterStartResult} from '../../src/cluster/router/steps.js'
import {routerVerdict, type RouterVerdict} from '../../src/cluster/router/verdict.js'
import {linkAuth, type LinkAuth, type SecretMode} from '../../src/cluster/replication-secret.js'
import type {RejoinResult} from '../../src/cluster/rejoin.js'
import type {RestartResult, RestartedNode} from '../../src/cluster/restart/plan.js'
import type {PairRestart} from '../../src/cluster/restart/decide.js'
import type {StartResult} from '../../src/cluster/start.js'
import type {StatusReport, VipStatus} from '../../src/cluster/status.js'
import type {KeepalivedObservation, VrrpState} from '../../src/cluster/vip/observe.js'
import type {SupervisorInfo} from '../../src/cluster/supervise/presence.js'
import type {SuperviseEvent} from '../../src/cluster/supervise/round.js'
import type {StopResult} from '../../src/cluster/stop.js'
import {routersHealth} from '../../src/cluster/router/status.js'
import {clusterHealth, pairVerdict, vipVerdict, type Health, type Verdict, type VipVerdict} from '../../src/cluster/verdict.js'
import type {InitResult} from '../../src/commands/init.js'
import type {LogsResult} from '../../src/commands/logs.js'
import type {SuperviseResult} from '../../src/commands/supervise.js'
import {ERROR_CATALOGUE, RepctlError, type ErrorCode} from '../../src/errors.js'
import {ROOT} from '../helpers/processes.js'
import {assertInvalid, assertValid, loadSchema, SCHEMA_DIR, SCHEMA_NAMES, type SchemaName} from '../helpers/schemas.js'

// ---- lists that tsc proves complete -------------------------------------

type Missing<T, A extends readonly unknown[]> = [Exclude<T, A[number]>] extends [never] ? unknown : {missing: Exclude<T, A[number]>}

/** Every member of the union T, once: leaving one out is a type error naming it. */
function allOf<T>() {
  return <const A extends readonly T[]>(values: A & Missing<T, A>): readonly T[] => values
}

type PairEntry = StatusReport['pairs'][number]
type StartPair = StartResult['pairs'][number]
type StopEntry = StopResult['nodes'][number]

const KEYS = {
  init: allOf<keyof InitResult>()(['file', 'overwritten']),
  start: allOf<keyof StartResult>()(['cluster', 'pairs', 'routers']),
  startRouter: allOf<keyof RouterStartResult>()(['name', 'action', 'pid', 'added', 'removed', 'movedShare']),
  startPair: allOf<keyof StartPair>()(['nodes', 'master', 'started', 'alreadyRunning', 'restoredFrom']),
  stop: allOf<keyof StopResult>()(['nodes', 'routers']),
  stopEntry: allOf<keyof StopEntry>()(['name', 'outcome']),
  status: allOf<keyof StatusReport>()(['cluster', 'health', 'pairs', 'nodes', 'routers', 'supervisor']),
  statusRouter: allOf<keyof RouterStatus>()([
    'name', 'host', 'port', 'statsPort', 'transport', 'pid', 'process', 'answering', 'verdict', 'reason', 'uptime', 'clientConnections', 'forwardErrors', 'pairs',
  ]),
  statusRouterPair: allOf<keyof RouterPairStatus>()(['name', 'endpoint', 'servedAt', 'via', 'node', 'requests', 'responses', 'errors', 'timeouts', 'connections']),
  supervisor: allOf<keyof SupervisorInfo>()(['running', 'pid', 'lastAction']),
  statusPair: allOf<keyof PairEntry>()(['nodes', 'master', 'verdict', 'reason', 'replicationAuth', 'vip']),
  statusVip: allOf<keyof VipStatus>()(['address', 'interface', 'routerId', 'holder', 'holders', 'unobserved', 'verdict', 'reason', 'keepalived']),
  statusKeepalived: allOf<keyof KeepalivedObservation>()(['node', 'pid', 'process', 'state']),
  linkAuth: allOf<keyof LinkAuth>()(['authenticated', 'secret', 'summary']),
  statusNode: allOf<keyof NodeObservation>()([
    'name', 'host', 'port', 'replicationPort', 'transport', 'pid', 'process', 'reachable', 'hostError', 'role', 'state', 'peer',
    'items', 'bytes', 'queue', 'evictions', 'connections', 'lagMs', 'uptime', 'version', 'release', 'bundleSha256', 'outdated', 'mode', 'autoReconnect', 'snapshot', 'replicationSecret',
  ]),
  promote: allOf<keyof PromoteResult>()(['node', 'previousMaster', 'action', 'vip']),
  promoteVip: allOf<keyof NonNullable<PromoteResult['vip']>>()(['address', 'holdersBefore', 'holdersAfter']),
  rejoin: allOf<keyof RejoinResult>()(['node', 'master', 'restarted', 'changed']),
  restart: allOf<keyof RestartResult>()(['cluster', 'operation', 'dryRun', 'bundleSha256', 'pairs', 'nodes', 'durationMs']),
  restartPair: allOf<keyof PairRestart>()(['nodes', 'masterBefore', 'moves', 'masterAfter']),
  restartNode: allOf<keyof RestartedNode>()(['name', 'pidBefore', 'pidAfter', 'bundleBefore', 'bundleAfter']),
  logs: allOf<keyof LogsResult>()(['node', 'file', 'lines']),
  superviseEvent: allOf<keyof SuperviseEvent>()(['time', 'pair', 'router', 'node', 'event', 'reason', 'action', 'daemon', 'outcome', 'durationMs', 'code', 'verdict', 'vipVerdict']),
  error: allOf<keyof ErrorJson>()(['code', 'message', 'oclif', 'suggestions', 'name']),
}

const HEALTHS = allOf<Health>()(['healthy', 'degraded', 'critical', 'unknown'])
const VERDICTS = allOf<Verdict>()(['ok', 'copying', 'slave_down', 'master_down', 'split_brain', 'unpaired', 'down'])
const VIP_VERDICTS = allOf<VipVerdict>()(['ok', 'vip_split', 'vip_missing', 'vip_stranded', 'keepalived_down', 'unknown'])
const VRRP_STATES = allOf<VrrpState>()(['MASTER', 'BACKUP', 'FAULT', 'STOP'])
const PROCESS_STATES = allOf<ProcessState>()(['running', 'stopped', 'unknown'])
const ROLES = allOf<Role>()(['master', 'slave', 'none'])
const SUPERVISE_EVENTS = allOf<SuperviseEvent['event']>()(['observed', 'repairing', 'repair', 'report'])
const SUPERVISE_ACTIONS = allOf<NonNullable<SuperviseEvent['action']>>()(['none', 'report', 'wait', 'rejoin', 'start_pair', 'heal_split_brain', 'restart_keepalived', 'restart_router', 'update_router'])
const SUPERVISE_DAEMONS = allOf<NonNullable<SuperviseEvent['daemon']>>()(['node', 'keepalived', 'nutcracker'])
const ROUTER_VERDICTS = allOf<RouterVerdict>()(['ok', 'stale', 'not_serving', 'down', 'unknown'])
const ROUTER_START_ACTIONS = allOf<RouterStartResult['action']>()(['started', 'restarted', 'unchanged'])
const ROUTE_VIAS = allOf<RouterPairStatus['via']>()(['vip', 'node', 'none'])
const LINK_STATES = allOf<LinkState>()(['paired', 'listening', 'connecting', 'copying', 'disconnected'])
const TRANSPORTS = allOf<NodeObservation['transport']>()(['local', 'ssh'])
const STOP_OUTCOMES = allOf<StopOutcome>()(['stopped', 'killed', 'not_running'])
const SECRET_MODES = allOf<SecretMode>()(['configured', 'generated', 'off'])
const PROMOTE_ACTIONS = allOf<PromoteResult['action']>()(['none', 'switchover', 'heal_split_brain'])

// ---- reading the schemas --------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The subschema at `path` (property names), failing clearly if absent. */
function at(schema: unknown, ...path: string[]): Record<string, unknown> {
  let node = schema
  for (const key of path) {
    assert.ok(isRecord(node), `schema has no object at ${path.join('.')}`)
    node = node[key]
  }
  assert.ok(isRecord(node), `schema has no object at ${path.join('.')}`)
  return node
}

function sorted<T>(values: readonly T[]): string[] {
  return values.map((v) => String(v)).sort()
}

/** An object schema's property names and required list must both be exactly `keys`. */
function assertKeys(obj: Record<string, unknown>, keys: readonly string[], where: string): void {
  assert.deepEqual(sorted(Object.keys(at(obj, 'properties'))), sorted(keys), `${where}: properties differ from the TypeScript type`)
  assert.ok(Array.isArray(obj.required), `${where}: no required list`)
  assert.deepEqual(sorted(obj.required as unknown[]), sorted(keys), `${where}: every key of the type is always present, so all are required`)
  assert.equal(obj.additionalProperties, false, `${where}: additionalProperties must be false`)
}

function assertEnum(obj: Record<string, unknown>, values: readonly (string | null)[], where: string): void {
  assert.ok(Array.isArray(obj.enum), `${where}: no enum`)
  assert.deepEqual(sorted(obj.enum as unknown[]), sorted(values), `${where}: enum differs from the TypeScript union`)
}

/** Every object-shaped subschema anywhere in `schema`, with its path. */
function objectSchemas(schema: unknown, path = '#'): {path: string; node: Record<string, unknown>}[] {
  if (Array.isArray(schema)) return schema.flatMap((s, i) => objectSchemas(s, `${path}/${i}`))
  if (!isRecord(schema)) return []
  const here = schema.type === 'object' || 'properties' in schema ? [{path, node: schema}] : []
  return [...here, ...Object.entries(schema).flatMap(([k, v]) => (k === 'enum' || k === 'required' ? [] : objectSchemas(v, `${path}/${k}`)))]
}

// ---- samples built with the TypeScript types --------------------------------

const node1: NodeObservation = {
  name: 'node1', host: '127.0.0.1', port: 11211, replicationPort: 11212, transport: 'local', pid: 2576, process: 'running', reachable: true, hostError: null,
  role: 'master', state: 'paired', peer: '127.0.0.1:45353', items: 10, bytes: 1234, queue: 0, evictions: 3, connections: 10, lagMs: null, uptime: 2, version: '1.6.18', release: '0.1.0', bundleSha256: 'ab'.repeat(32), outdated: false,
  mode: 'native', autoReconnect: true, snapshot: {time: '2026-11-24T03:34:57.000Z', items: 10, bytes: 1454}, replicationSecret: true,
}
const node2Down: NodeObservation = {
  name: 'node2', host: '127.0.0.1', port: 11311, replicationPort: 11312, transport: 'local', pid: null, process: 'stopped', reachable: true, hostError: null,
  role: null, state: null, peer: null, items: null, bytes: null, queue: null, evictions: null, connections: null, lagMs: null, uptime: null, version: null, release: null, bundleSha256: null, outdated: null,
  mode: null, autoReconnect: null, snapshot: null, replicationSecret: null,
}
const noSupervisor: SupervisorInfo = {running: false, pid: null, lastAction: null}
const supervising: SupervisorInfo = {
  running: true, pid: 4242,
  lastAction: {time: '2026-11-24T02:00:01.000Z', pair: 'node1,node2', router: null, node: 'node2', event: 'repair', reason: 'node2 is down while node1 serves as master', action: 'rejoin', daemon: 'node', outcome: 'ok', durationMs: 812, code: 'slave-down', verdict: 'slave_down', vipVerdict: null},
}
const routePair1: RouterPairStatus = {name: 'node1+node2', endpoint: '10.0.0.100:11211', servedAt: '10.0.0.100:11211', via: 'vip', node: null, requests: 1520, responses: 1520, errors: 0, timeouts: 0, connections: 1}
const routerOk: RouterStatus = {
  name: 'app1', host: '127.0.0.1', port: 22121, statsPort: 22122, transport: 'local', pid: 3120, process: 'running', answering: true,
  verdict: 'ok', reason: 'router app1 sends every pair\'s keys where it is served', uptime: 42, clientConnections: 3, forwardErrors: 0,
  pairs: [routePair1, {name: 'pair2', endpoint: '127.0.0.1:11411', servedAt: '127.0.0.1:11411', via: 'node', node: 'node3', requests: 0, responses: 0, errors: 0, timeouts: 0, connections: 0}],
}
const routerStale: RouterStatus = {
  ...routerOk, verdict: 'stale', reason: 'router app1: it sends pair node1+node2 to 127.0.0.1:11211, served now at 127.0.0.1:11311', forwardErrors: 17,
  pairs: [
    {...routePair1, endpoint: '127.0.0.1:11211', servedAt: '127.0.0.1:11311', via: 'node', node: 'node2', errors: 17},
    {name: 'pair-new', endpoint: null, servedAt: '127.0.0.1:11511', via: 'node', node: 'node5', requests: 0, responses: 0, errors: 0, timeouts: 0, connections: 0},
  ],
}
const routerDown: RouterStatus = {
  ...routerOk, name: 'app2', host: 'app2.example', transport: 'ssh', pid: null, process: 'stopped', answering: false, verdict: 'down', reason: 'router app2 is not running: its clients reach no pair',
  uptime: null, clientConnections: null, forwardErrors: null,
  pairs: [{...routePair1, via: 'none', servedAt: '127.0.0.1:11211', endpoint: '127.0.0.1:11211', node: 'node1', requests: null, responses: null, errors: null, timeouts: null, connections: null}],
}
const routerUnknown: RouterStatus = {...routerDown, name: 'app3', process: 'unknown', verdict: 'unknown', reason: 'cannot tell whether router app3 runs (its host could not be asked)', pairs: []}
const healthy: StatusReport = {
  cluster: 'local', health: 'healthy',
  pairs: [{nodes: ['node1', 'node2'], master: 'node1', verdict: 'ok', reason: 'node1 is master, the pair is linked', replicationAuth: {authenticated: true, secret: 'generated', summary: 'yes (secret generated by repctl, kept on the node hosts)'}, vip: {
    address: '10.0.0.100', interface: 'eth0', routerId: 163, holder: 'node1', holders: ['node1'], unobserved: [], verdict: 'ok', reason: 'the VIP 10.0.0.100 is on the host of node1',
    keepalived: [{node: 'node1', pid: 812, process: 'running', state: 'MASTER'}, {node: 'node2', pid: 907, process: 'running', state: 'BACKUP'}],
  }}],
  nodes: [node1, {...node1, name: 'node2', port: 11311, replicationPort: 11312, pid: 2598, role: 'slave', peer: '127.0.0.1:11212', lagMs: 3}],
  routers: [routerOk],
  supervisor: supervising,
}
const degraded: StatusReport = {
  cluster: 'local', health: 'degraded',
  pairs: [{nodes: ['node1', 'node2'], master: 'node1', verdict: 'slave_down', reason: 'node2 is down; node1 serves alone as master', replicationAuth: {authenticated: false, secret: 'generated', summary: 'no: node1 runs without a replication secret'}, vip: null}],
  nodes: [{...node1, state: 'listening', peer: null, replicationSecret: false}, node2Down],
  routers: [routerStale, routerDown],
  supervisor: noSupervisor,
}
const unknownHost: StatusReport = {
  cluster: 'prod-eu', health: 'unknown',
  pairs: [{nodes: ['cache-a', 'cache-b'], master: null, verdict: 'master_down', reason: 'cache-b is down and cache-a is not (yet) a master', replicationAuth: {authenticated: null, secret: 'off', summary: 'off (replicationSecretFile: none)'}, vip: null}],
  nodes: [
    {...node2Down, name: 'cache-a', host: 'cache-a.example', transport: 'ssh', pid: 77, process: 'running', role: 'none', state: 'disconnected'},
    {...node2Down, name: 'cache-b', host: '10.0.0.9', transport: 'ssh', process: 'unknown', reachable: false, hostError: {code: 'HOST_UNREACHABLE', message: 'cannot reach 10.0.0.9:22 (connect ECONNREFUSED); check the host is up and sshd listens'}},
  ],
  routers: [routerUnknown],
  supervisor: {...supervising, running: false, pid: null},
}

const SHA = 'c0ffee'.repeat(10) + 'beef'
const restartPair: PairRestart = {nodes: ['node1', 'node2'], masterBefore: 'node1', moves: [{kind: 'restart_slave', node: 'node2', master: 'node1'}, {kind: 'switchover', to: 'node2', from: 'node1'}], masterAfter: 'node2'}
const restartDone: RestartResult = {
  cluster: 'local', operation: 'restart', dryRun: false, bundleSha256: SHA, pairs: [restartPair],
  nodes: [{name: 'node2', pidBefore: 100, pidAfter: 200, bundleBefore: SHA, bundleAfter: SHA}, {name: 'node1', pidBefore: 101, pidAfter: 201, bundleBefore: null, bundleAfter: SHA}], durationMs: 5230,
}
const restartDry: RestartResult = {...restartDone, dryRun: true, nodes: restartDone.nodes.map((n) => ({...n, pidAfter: null, bundleAfter: null})), durationMs: 0}

const samples: {[K in SchemaName]: unknown[]} = {
  init: [{file: '/srv/repctl.config.yaml', overwritten: false} satisfies InitResult, {file: '/x/y.yaml', overwritten: true} satisfies InitResult],
  start: [
    {cluster: 'local', pairs: [{nodes: ['node1', 'node2'], master: 'node1', started: ['node1', 'node2'], alreadyRunning: false, restoredFrom: null}], routers: []} satisfies StartResult,
    {cluster: 'local', pairs: [{nodes: ['node1', 'node2'], master: 'node2', started: ['node2', 'node1'], alreadyRunning: false, restoredFrom: {node: 'node2', time: '2026-11-24T03:34:57.325Z', items: 1000000}}], routers: []} satisfies StartResult,
    {cluster: 'local', pairs: [{nodes: ['node1', 'node2'], master: 'node2', started: [], alreadyRunning: true, restoredFrom: null}], routers: [{name: 'app1', action: 'unchanged', pid: 3120, added: [], removed: [], movedShare: 0}]} satisfies StartResult,
    {cluster: 'c', pairs: [
      {nodes: ['a', 'b'], master: 'b', started: ['a'], alreadyRunning: false, restoredFrom: null},
      {nodes: ['c', 'd'], master: null, started: [], alreadyRunning: true, restoredFrom: null},
    ], routers: [
      {name: 'app1', action: 'started', pid: 3120, added: [], removed: [], movedShare: null},
      {name: 'app2', action: 'restarted', pid: 3188, added: ['c+d'], removed: ['pair9'], movedShare: 0.3366},
    ]} satisfies StartResult,
    {cluster: 'local', pairs: [], routers: []} satisfies StartResult,
  ],
  stop: [
    {nodes: [{name: 'node2', outcome: 'stopped'}, {name: 'node1', outcome: 'killed'}], routers: [{name: 'app1', outcome: 'stopped'}]} satisfies StopResult,
    {nodes: [{name: 'node1', outcome: 'not_running'}], routers: []} satisfies StopResult,
    {nodes: [], routers: [{name: 'app1', outcome: 'not_running'}, {name: 'app2', outcome: 'killed'}]} satisfies StopResult,
    {nodes: [], routers: []} satisfies StopResult,
  ],
  status: [healthy, degraded, unknownHost],
  promote: [
    {node: 'node1', previousMaster: 'node2', action: 'switchover', vip: null} satisfies PromoteResult,
    {node: 'node2', previousMaster: null, action: 'heal_split_brain', vip: null} satisfies PromoteResult,
    {node: 'node1', previousMaster: 'node1', action: 'none', vip: null} satisfies PromoteResult,
    {node: 'node2', previousMaster: 'node1', action: 'switchover', vip: {address: '10.0.0.100', holdersBefore: ['node1'], holdersAfter: ['node2']}} satisfies PromoteResult,
    {node: 'node2', previousMaster: null, action: 'heal_split_brain', vip: {address: '10.0.0.100', holdersBefore: ['node1', 'node2'], holdersAfter: ['node2']}} satisfies PromoteResult,
    {node: 'node2', previousMaster: 'node1', action: 'switchover', vip: {address: '10.0.0.100', holdersBefore: [], holdersAfter: []}} satisfies PromoteResult,
  ],
  rejoin: [
    {node: 'node1', master: 'node2', restarted: false, changed: true} satisfies RejoinResult,
    {node: 'node1', master: 'node2', restarted: true, changed: true} satisfies RejoinResult,
    {node: 'node2', master: 'node1', restarted: false, changed: false} satisfies RejoinResult,
  ],
  logs: [
    {node: 'node1', file: '/home/u/.repctl/node1/repcached.log', lines: ['repcached serving on 11211', 'replication: listen']} satisfies LogsResult,
    {node: 'node1', file: '/home/u/.repctl/node1/repcached.log', lines: []} satisfies LogsResult,
  ],
  supervise: [
    {events: [], unit: null} satisfies SuperviseResult,
    {events: [], unit: {action: 'install', file: '/etc/systemd/system/repctl-supervise-local.service', changed: true}} satisfies SuperviseResult,
    {events: [
      {time: '2026-11-24T02:00:00.000Z', pair: 'node1,node2', router: null, node: null, event: 'observed', reason: 'slave_down: node1 is down while node2 serves as master', action: null, daemon: null, outcome: null, durationMs: null, code: 'slave-down', verdict: 'slave_down', vipVerdict: null},
      {time: '2026-11-24T02:00:00.100Z', pair: 'node1,node2', router: null, node: 'node1', event: 'repairing', reason: 'node1 is down while node2 serves as master', action: 'rejoin', daemon: 'node', outcome: null, durationMs: null, code: 'slave-down', verdict: 'slave_down', vipVerdict: null},
      {time: '2026-11-24T02:00:01.000Z', pair: 'node1,node2', router: null, node: 'node1', event: 'repair', reason: 'node1 is down while node2 serves as master', action: 'rejoin', daemon: 'node', outcome: 'ok', durationMs: 812, code: 'slave-down', verdict: 'slave_down', vipVerdict: null},
      {time: '2026-11-24T02:00:02.000Z', pair: 'node1,node2', router: null, node: null, event: 'report', reason: 'node2 cannot be observed; no action on an unreachable host', action: 'report', daemon: null, outcome: null, durationMs: null, code: 'unreachable', verdict: 'master_down', vipVerdict: null},
      {time: '2026-11-24T02:00:03.000Z', pair: 'node1,node2', router: null, node: 'node2', event: 'repair', reason: 'keepalived of node2 is not running although node2 runs: keepalived of node2 started, pid 4321', action: 'restart_keepalived', daemon: 'keepalived', outcome: 'ok', durationMs: 140, code: 'keepalived-down', verdict: 'ok', vipVerdict: 'keepalived_down'},
      {time: '2026-11-24T02:00:04.000Z', pair: 'node1,node2', router: null, node: 'node2', event: 'report', reason: 'keepalived of node2 was repaired 3 times in 600 s; giving up on it', action: 'report', daemon: 'keepalived', outcome: null, durationMs: null, code: 'gave-up', verdict: 'ok', vipVerdict: 'keepalived_down'},
      {time: '2026-11-24T02:00:05.000Z', pair: null, router: 'app1', node: null, event: 'observed', reason: 'down: router app1 is not running: its clients reach no pair', action: null, daemon: null, outcome: null, durationMs: null, code: 'router-down', verdict: 'down', vipVerdict: null},
      {time: '2026-11-24T02:00:05.010Z', pair: null, router: 'app1', node: null, event: 'repairing', reason: 'router app1 is not running: its clients reach no pair', action: 'restart_router', daemon: 'nutcracker', outcome: null, durationMs: null, code: 'router-down', verdict: 'down', vipVerdict: null},
      {time: '2026-11-24T02:00:05.090Z', pair: null, router: 'app1', node: null, event: 'repair', reason: 'router app1 is not running: its clients reach no pair: router app1 started, pid 3188', action: 'restart_router', daemon: 'nutcracker', outcome: 'ok', durationMs: 80, code: 'router-down', verdict: 'down', vipVerdict: null},
      {time: '2026-11-24T02:00:06.000Z', pair: null, router: 'app1', node: null, event: 'repair', reason: 'router app1: it sends pair node1+node2 to 127.0.0.1:11211, served now at 127.0.0.1:11311; failed: nutcracker is not installed on 127.0.0.1 (local)', action: 'update_router', daemon: 'nutcracker', outcome: 'failed', durationMs: 31, code: 'stale-routes', verdict: 'stale', vipVerdict: null},
      {time: '2026-11-24T02:00:07.000Z', pair: null, router: 'app1', node: null, event: 'report', reason: 'router app1 runs (pid 3188) but its stats port does not answer', action: 'report', daemon: 'nutcracker', outcome: null, durationMs: null, code: 'not-serving', verdict: 'not_serving', vipVerdict: null},
      {time: '2026-11-24T02:00:08.000Z', pair: null, router: 'app1', node: null, event: 'report', reason: 'router app1 is not running: its clients reach no pair; next restart of router app1 in 4 s (backoff)', action: 'wait', daemon: 'nutcracker', outcome: null, durationMs: null, code: 'backoff', verdict: 'down', vipVerdict: null},
    ], unit: null} satisfies SuperviseResult,
  ],
  restart: [restartDone, restartDry, {...restartDry, pairs: [], nodes: []}],
  upgrade: [{...restartDone, operation: 'upgrade'}, {...restartDry, operation: 'upgrade', bundleSha256: null}],
  error: [
    {error: {code: 'NO_LIVE_MASTER', message: 'cannot rejoin node1: no live master to rejoin: node2 is not running', oclif: {exit: 1}, suggestions: ['start the pair with repctl start'], name: 'Error'}} satisfies {error: ErrorJson},
    {error: {code: 'CONFIG_INVALID', message: '/x/repctl.config.yaml: nodes.node2.port: must be a whole number from 1 to 65535 (got 70000)', oclif: {exit: 3}, suggestions: [], name: 'Error'}} satisfies {error: ErrorJson},
  ],
}

/** A deep copy with `edit` applied: samples stay untouched between cases. */
function mutate<T>(doc: T, edit: (d: Record<string, unknown> & T) => void): unknown {
  const copy = structuredClone(doc) as Record<string, unknown> & T
  edit(copy)
  return copy
}

// ---- the tests ------------------------------------------------------------

describe('--json schemas (src/cli/schemas)', () => {
  it('has one schema per command plus the error document, and nothing else', () => {
    const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json')).sort()
    assert.deepEqual(files, SCHEMA_NAMES.map((n) => `${n}.schema.json`).sort())
  })

  it('are draft 2020-12, with additionalProperties: false on every object', () => {
    for (const name of SCHEMA_NAMES) {
      const schema = loadSchema(name)
      assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema', name)
      assert.equal(typeof schema.title, 'string', `${name}: title`)
      const objects = objectSchemas(schema)
      assert.ok(objects.length > 0, name)
      for (const {path, node} of objects) assert.equal(node.additionalProperties, false, `${name} ${path}: additionalProperties must be false`)
    }
  })

  it('name exactly the keys of the TypeScript result types, all required', () => {
    assertKeys(loadSchema('init'), KEYS.init, 'init')
    assertKeys(loadSchema('start'), KEYS.start, 'start')
    assertKeys(at(loadSchema('start'), 'properties', 'pairs', 'items'), KEYS.startPair, 'start pairs[]')
    assertKeys(at(loadSchema('start'), 'properties', 'routers', 'items'), KEYS.startRouter, 'start routers[]')
    assertKeys(loadSchema('stop'), KEYS.stop, 'stop')
    assert.equal(at(loadSchema('stop'), 'properties', 'nodes', 'items').$ref, '#/$defs/outcome', 'stop nodes[]')
    assert.equal(at(loadSchema('stop'), 'properties', 'routers', 'items').$ref, '#/$defs/outcome', 'stop routers[]')
    assertKeys(at(loadSchema('stop'), '$defs', 'outcome'), KEYS.stopEntry, 'stop nodes[] and routers[]')
    assertKeys(loadSchema('status'), KEYS.status, 'status')
    assertKeys(at(loadSchema('status'), 'properties', 'pairs', 'items'), KEYS.statusPair, 'status pairs[]')
    assertKeys(at(loadSchema('status'), 'properties', 'nodes', 'items'), KEYS.statusNode, 'status nodes[]')
    assertKeys(at(loadSchema('status'), 'properties', 'pairs', 'items', 'properties', 'replicationAuth'), KEYS.linkAuth, 'status pairs[].replicationAuth')
    const vip = at(loadSchema('status'), '$defs', 'vip')
    assertKeys(vip, KEYS.statusVip, 'status pairs[].vip')
    assertKeys(at(vip, 'properties', 'keepalived', 'items'), KEYS.statusKeepalived, 'status pairs[].vip.keepalived[]')
    assert.equal(at(loadSchema('status'), 'properties', 'routers', 'items').$ref, '#/$defs/router', 'status routers[]')
    const router = at(loadSchema('status'), '$defs', 'router')
    assertKeys(router, KEYS.statusRouter, 'status routers[]')
    assertKeys(at(router, 'properties', 'pairs', 'items'), KEYS.statusRouterPair, 'status routers[].pairs[]')
    assertKeys(loadSchema('promote'), KEYS.promote, 'promote')
    assertKeys((at(loadSchema('promote'), 'properties', 'vip').oneOf as Record<string, unknown>[])[1]!, KEYS.promoteVip, 'promote vip')
    assertKeys(loadSchema('rejoin'), KEYS.rejoin, 'rejoin')
    for (const name of ['restart', 'upgrade'] as const) {
      assertKeys(loadSchema(name), KEYS.restart, name)
      assertKeys(at(loadSchema(name), 'properties', 'pairs', 'items'), KEYS.restartPair, `${name} pairs[]`)
      assertKeys(at(loadSchema(name), 'properties', 'nodes', 'items'), KEYS.restartNode, `${name} nodes[]`)
    }
    assertKeys(loadSchema('logs'), KEYS.logs, 'logs')
    assertKeys(at(loadSchema('error'), 'properties', 'error'), KEYS.error, 'error.error')
  })

  it('list exactly the members of the TypeScript unions', () => {
    const status = loadSchema('status')
    const node = at(status, 'properties', 'nodes', 'items', 'properties')
    assertEnum(at(status, 'properties', 'health'), HEALTHS, 'status health')
    assertEnum(at(status, 'properties', 'pairs', 'items', 'properties', 'verdict'), VERDICTS, 'status verdict')
    assertEnum(at(node, 'process'), PROCESS_STATES, 'status node process')
    assertEnum(at(node, 'role'), [...ROLES, null], 'status node role')
    assertEnum(at(node, 'state'), [...LINK_STATES, null], 'status node state')
    assertEnum(at(node, 'transport'), TRANSPORTS, 'status node transport')
    assertEnum(at(status, 'properties', 'pairs', 'items', 'properties', 'replicationAuth', 'properties', 'secret'), SECRET_MODES, 'status pair replicationAuth.secret')
    const vip = at(status, '$defs', 'vip', 'properties')
    assertEnum(at(vip, 'verdict'), VIP_VERDICTS, 'status pair vip.verdict')
    assertEnum(at(vip, 'keepalived', 'items', 'properties', 'process'), PROCESS_STATES, 'status pair vip.keepalived[].process')
    assertEnum(at(vip, 'keepalived', 'items', 'properties', 'state'), [...VRRP_STATES, null], 'status pair vip.keepalived[].state')
    assertEnum(at(loadSchema('stop'), '$defs', 'outcome', 'properties', 'outcome'), STOP_OUTCOMES, 'stop outcome')
    const router = at(status, '$defs', 'router', 'properties')
    assertEnum(at(router, 'verdict'), ROUTER_VERDICTS, 'status router verdict')
    assertEnum(at(router, 'process'), PROCESS_STATES, 'status router process')
    assertEnum(at(router, 'transport'), TRANSPORTS, 'status router transport')
    assertEnum(at(router, 'pairs', 'items', 'properties', 'via'), ROUTE_VIAS, 'status router pairs[].via')
    assertEnum(at(loadSchema('start'), 'properties', 'routers', 'items', 'properties', 'action'), ROUTER_START_ACTIONS, 'start router action')
    assertEnum(at(loadSchema('promote'), 'properties', 'action'), PROMOTE_ACTIONS, 'promote action')
    for (const schema of ['supervise', 'status'] as const) {
      const event = at(loadSchema(schema), '$defs', 'event')
      assertKeys(event, KEYS.superviseEvent, `${schema}: supervisor event`)
      assertEnum(at(event, 'properties', 'event'), SUPERVISE_EVENTS, `${schema}: supervisor event`)
      assertEnum(at(event, 'properties', 'action'), [...SUPERVISE_ACTIONS, null], `${schema}: supervisor event action`)
      assertEnum(at(event, 'properties', 'daemon'), [...SUPERVISE_DAEMONS, null], `${schema}: supervisor event daemon`)
    }
    const codes: (ErrorCode | 'INTERNAL')[] = [...(Object.keys(ERROR_CATALOGUE) as ErrorCode[]), 'INTERNAL']
    assertEnum(at(loadSchema('error'), 'properties', 'error', 'properties', 'code'), codes, 'error code (the catalogue in src/errors.ts, plus INTERNAL)')
  })

  it('accept representative documents built with the TypeScript types', () => {
    for (const name of SCHEMA_NAMES) for (const doc of samples[name]) assertValid(name, doc)
  })

  it('accept every pair verdict and cluster health the verdict rules can produce', () => {
    const processes: ProcessState[] = [...PROCESS_STATES]
    const roles: (Role | null)[] = [...ROLES, null]
    const states: (LinkState | null)[] = [...LINK_STATES, null]
    const observations: NodeObservation[] = []
    for (const process of processes) for (const role of roles) for (const state of states) {
      observations.push({...node2Down, name: 'x', process, role, state, pid: process === 'stopped' ? null : 4242, reachable: process !== 'unknown'})
    }
    const seen = new Set<Verdict>()
    for (const a of observations) {
      for (const b of observations) {
        const oa = {...a, name: 'node1'}
        const ob = {...b, name: 'node2', port: 11311, replicationPort: 11312}
        const v = pairVerdict(oa, ob)
        seen.add(v.verdict)
        const replicationAuth = linkAuth('generated', oa, ob)
        const report: StatusReport = {cluster: 'local', health: clusterHealth([v.verdict], [oa, ob]), pairs: [{nodes: ['node1', 'node2'], ...v, replicationAuth, vip: null}], nodes: [oa, ob], routers: [], supervisor: noSupervisor}
        assertValid('status', report)
      }
    }
    assert.deepEqual(sorted([...seen]), sorted(VERDICTS), 'every verdict is reachable')
  })

  it('accept every VIP verdict the rules can produce, with each keepalived process and state', () => {
    const holderSets = [[], ['node1'], ['node2'], ['node1', 'node2']]
    const keepaliveds: KeepalivedObservation[] = [
      ...VRRP_STATES.map((state) => ({node: 'x', pid: 812, process: 'running' as const, state})),
      {node: 'x', pid: 812, process: 'running', state: null}, {node: 'x', pid: null, process: 'stopped', state: null}, {node: 'x', pid: null, process: 'unknown', state: null},
    ]
    const nodeStates: ProcessState[] = [...PROCESS_STATES]
    const seen = new Set<VipVerdict>()
    for (const holders of holderSets) for (const unobserved of [[], ['node2']]) for (const ka of keepaliveds) for (const kb of keepaliveds) for (const pa of nodeStates) {
      const oa = {...node1, process: pa, pid: pa === 'stopped' ? null : 4242}
      const ob = {...node2Down, name: 'node2'}
      const keepalived = [{...ka, node: 'node1'}, {...kb, node: 'node2'}]
      const v = vipVerdict({address: '10.0.0.100', holders, unobserved, keepalived}, [oa, ob])
      seen.add(v.verdict)
      const vip: VipStatus = {address: '10.0.0.100', interface: 'eth0', routerId: 1, holder: holders.length === 1 ? holders[0]! : null, holders, unobserved, verdict: v.verdict, reason: v.reason, keepalived}
      const p = pairVerdict(oa, ob)
      assertValid('status', {cluster: 'local', health: clusterHealth([p.verdict], [oa, ob], [v.verdict]), pairs: [{nodes: ['node1', 'node2'], ...p, replicationAuth: linkAuth('off', oa, ob), vip}], nodes: [oa, ob], routers: [], supervisor: noSupervisor} satisfies StatusReport)
    }
    assert.deepEqual(sorted([...seen]), sorted(VIP_VERDICTS), 'every VIP verdict is reachable')
  })

  it('accept every router verdict the rules can produce, with the cluster health it gives', () => {
    const want = [{name: 'node1+node2', endpoint: {host: '127.0.0.1', port: 11311}}, {name: 'pair2', endpoint: {host: '127.0.0.1', port: 11411}}]
    const routeSets: (RouterObservation['routes'])[] = [null, [], want, [{...want[0]!, endpoint: {host: '127.0.0.1', port: 11211}}, want[1]!], [want[0]!], [...want, {name: 'gone', endpoint: {host: '127.0.0.1', port: 11511}}]]
    const seen = new Set<RouterVerdict>()
    for (const process of PROCESS_STATES) for (const answering of [true, false]) for (const routes of routeSets) {
      const pid = process === 'stopped' ? null : 3120
      const v = routerVerdict({name: 'app1', process, pid, answering, routes}, want)
      seen.add(v.verdict)
      const router: RouterStatus = {
        ...routerOk, process, pid, answering, verdict: v.verdict, reason: v.reason,
        pairs: want.map((w) => {
          const have = routes?.find((r) => r.name === w.name)
          return {name: w.name, endpoint: have === undefined ? null : `${have.endpoint.host}:${have.endpoint.port}`, servedAt: `${w.endpoint.host}:${w.endpoint.port}`, via: 'node', node: 'node2', requests: null, responses: null, errors: null, timeouts: null, connections: null}
        }),
      }
      assertValid('status', {...healthy, health: clusterHealth(['ok'], healthy.nodes, [], routersHealth([v.verdict])), routers: [router]} satisfies StatusReport)
    }
    assert.deepEqual(sorted([...seen]), sorted(ROUTER_VERDICTS), 'every router verdict is reachable')
  })

  it('reject documents that drift from the contract', () => {
    const cases: [SchemaName, unknown, string][] = [
      ['status', mutate(healthy, (d) => { d.extra = 1 }), 'an unknown top-level key'],
      ['status', mutate(healthy, (d) => { (d.nodes[0] as unknown as Record<string, unknown>).weight = 3 }), 'an unknown node key'],
      ['status', mutate(healthy, (d) => { (d.pairs[0] as unknown as Record<string, unknown>).since = 0 }), 'an unknown pair key'],
      ['status', mutate(healthy, (d) => { delete (d.nodes[0] as Partial<NodeObservation>).lagMs }), 'a node without lagMs'],
      ['status', mutate(healthy, (d) => { d.health = 'fine' as Health }), 'an unknown health'],
      ['status', mutate(healthy, (d) => { (d as Partial<StatusReport>).supervisor = undefined }), 'no supervisor'],
      ['status', mutate(healthy, (d) => { (d.supervisor.lastAction as unknown as Record<string, unknown>).event = 'guess' }), 'an unknown supervisor event'],
      ['status', mutate(healthy, (d) => { (d.nodes[0] as unknown as Record<string, unknown>).mode = 'fast' }), 'an unknown replication mode'],
      ['status', mutate(healthy, (d) => { d.pairs[0]!.verdict = 'broken' as Verdict }), 'an unknown verdict'],
      ['status', mutate(healthy, (d) => { d.pairs[0]!.vip!.verdict = 'moving' as VipVerdict }), 'an unknown VIP verdict'],
      ['status', mutate(healthy, (d) => { d.pairs[0]!.vip!.keepalived[0]!.state = 'master' as VrrpState }), 'a VRRP state in the wrong case'],
      ['status', mutate(healthy, (d) => { (d.pairs[0] as Partial<StatusReport['pairs'][number]>).vip = undefined }), 'a pair without vip (null when none)'],
      ['status', mutate(healthy, (d) => { d.pairs[0]!.replicationAuth.secret = 'weak' as SecretMode }), 'an unknown secret mode'],
      ['status', mutate(healthy, (d) => { (d.pairs[0] as Partial<StatusReport['pairs'][number]>).replicationAuth = undefined }), 'a pair without replicationAuth'],
      ['status', mutate(healthy, (d) => { (d.nodes[0] as unknown as Record<string, unknown>).replicationSecret = 'yes' }), 'replicationSecret not a boolean'],
      ['status', mutate(healthy, (d) => { d.pairs[0]!.nodes = ['node1', 'node2', 'node3'] as unknown as [string, string] }), 'a pair of three'],
      ['status', mutate(healthy, (d) => { d.nodes[0]!.port = 70000 }), 'port 70000'],
      ['status', mutate(healthy, (d) => { d.nodes[0]!.pid = 1.5 }), 'a fractional pid'],
      ['status', mutate(healthy, (d) => { d.nodes[0]!.items = -1 }), 'negative items'],
      ['status', mutate(healthy, (d) => { d.nodes[0]!.role = 'primary' as Role }), 'an unknown role'],
      ['status', mutate(healthy, (d) => { d.nodes[0]!.items = '10' as unknown as number }), 'items as a string'],
      ['start', mutate(samples.start[0] as StartResult, (d) => { d.pairs[0]!.alreadyRunning = 'no' as unknown as boolean }), 'a string for a boolean'],
      ['start', mutate(samples.start[0] as StartResult, (d) => { d.pairs[0]!.started = ['node1', 'node1'] }), 'a node started twice'],
      ['start', mutate(samples.start[0] as StartResult, (d) => { delete (d as Partial<StartResult>).routers }), 'a start result without routers'],
      ['start', mutate(samples.start[3] as StartResult, (d) => { (d.routers[0] as unknown as Record<string, unknown>).action = 'reloaded' }), 'an unknown router start action (nutcracker has no reload)'],
      ['start', mutate(samples.start[3] as StartResult, (d) => { d.routers[1]!.movedShare = 1.5 }), 'a moved share past 1'],
      ['start', mutate(samples.start[3] as StartResult, (d) => { d.routers[1]!.movedShare = 33.66 }), 'a moved share as a percentage'],
      ['start', mutate(samples.start[3] as StartResult, (d) => { d.routers[1]!.added = ['pair 9'] }), 'a ring name with a space'],
      ['start', mutate(samples.start[3] as StartResult, (d) => { (d.routers[0] as Partial<RouterStartResult>).pid = undefined }), 'a started router without pid'],
      ['stop', {nodes: [{name: 'node1', outcome: 'crashed'}], routers: []}, 'an unknown stop outcome'],
      ['stop', {nodes: [{name: 'node1', outcome: 'stopped'}]}, 'a stop result without routers'],
      ['stop', {nodes: [], routers: [{name: 'app1', outcome: 'reloaded'}]}, 'an unknown router stop outcome'],
      ['status', mutate(healthy, (d) => { delete (d as Partial<StatusReport>).routers }), 'a status without routers'],
      ['status', mutate(healthy, (d) => { d.routers[0]!.verdict = 'slow' as RouterVerdict }), 'an unknown router verdict'],
      ['status', mutate(healthy, (d) => { (d.routers[0] as unknown as Record<string, unknown>).routes = [] }), 'the raw routes (an unknown router key)'],
      ['status', mutate(healthy, (d) => { delete (d.routers[0] as Partial<RouterStatus>).answering }), 'a router without answering'],
      ['status', mutate(healthy, (d) => { d.routers[0]!.pairs[0]!.via = 'proxy' as RouterPairStatus['via'] }), 'an unknown route via'],
      ['status', mutate(healthy, (d) => { d.routers[0]!.pairs[0]!.endpoint = '10.0.0.100' }), 'an endpoint without its port'],
      ['status', mutate(healthy, (d) => { d.routers[0]!.pairs[0]!.servedAt = null as unknown as string }), 'a pair served nowhere (servedAt is always an address)'],
      ['status', mutate(healthy, (d) => { d.routers[0]!.pairs[0]!.errors = -1 }), 'a negative error count'],
      ['status', mutate(healthy, (d) => { d.routers[0]!.statsPort = 0 }), 'stats port 0'],
      ['status', mutate(healthy, (d) => { (d.supervisor.lastAction as unknown as Record<string, unknown>).router = 'app 1' }), 'an event naming a router that cannot exist'],
      ['status', mutate(healthy, (d) => { delete (d.supervisor.lastAction as Partial<SuperviseEvent>).router }), 'an event without router (null for a pair\'s event)'],
      ['supervise', {events: [{...(samples.supervise[2] as SuperviseResult).events[6]!, action: 'reload_router'}], unit: null}, 'an unknown router action'],
      ['supervise', {events: [{...(samples.supervise[2] as SuperviseResult).events[6]!, daemon: 'twemproxy'}], unit: null}, 'an unknown daemon'],
      ['supervise', {events: [{...(samples.supervise[2] as SuperviseResult).events[6]!, pair: 'node1+node2'}], unit: null}, 'a pair given by its ring name, not A,B'],
      ['promote', {node: 'node1', previousMaster: 'node2', action: 'failover', vip: null}, 'an unknown promote action'],
      ['promote', {node: 'node1', previousMaster: 'node2', action: 'switchover'}, 'a promote result without vip'],
      ['promote', {node: 'node1', previousMaster: 'node2', action: 'switchover', vip: {address: '10.0.0.100', holdersBefore: ['node1'], holdersAfter: 'node1'}}, 'a VIP holder that is not a list'],
      ['rejoin', {node: 'node1', master: 'node2', restarted: false}, 'a rejoin without changed'],
      ['logs', {node: 'node1', file: '/x', lines: 'a\nb'}, 'lines as one string'],
      ['init', {file: '/x', overwritten: false, template: '/t'}, 'an unknown init key'],
      ['error', {error: {code: 'NO_LIVE_MASTER', message: 'm', oclif: {exit: 1}, suggestions: [], name: 'Error', parse: {}}}, "oclif's parser dump"],
      ['error', {error: {code: 'NOPE', message: 'm', oclif: {exit: 1}, suggestions: [], name: 'Error'}}, 'a code outside the catalogue'],
      ['error', {error: {code: 'USAGE', message: 'm', oclif: {exit: 0}, suggestions: [], name: 'Error'}}, 'exit 0 for an error'],
      ['error', {error: {code: 'USAGE', message: 'm', oclif: {}, suggestions: [], name: 'Error'}}, 'an error without its exit code'],
      ['error', {message: 'm'}, 'a bare message'],
    ]
    for (const [name, doc, why] of cases) assertInvalid(name, doc, why)
  })
})

describe('the error document BaseCommand prints under --json', () => {
  class Probe extends BaseCommand {
    static override id = 'probe'
    async run(): Promise<void> {}
    errorJson(err: unknown): unknown { return this.toErrorJson(err) }
  }

  async function probe(): Promise<Probe> {
    return new Probe([], await Config.load(ROOT))
  }

  it('matches error.schema.json for a catalogued error, a bug and a usage error', async () => {
    const p = await probe()
    p.parsed = true // the command line was fine; the command failed
    const repctl = new RepctlError('NODE_UNKNOWN', 'no node named "node9" in built-in defaults (nodes: node1, node2)')
    // What BaseCommand.catch turns a RepctlError into.
    const cli = new Errors.CLIError(repctl.message, {code: repctl.code, exit: repctl.exitCode, suggestions: repctl.suggestions})
    const doc = p.errorJson(cli)
    assertValid('error', doc)
    assert.deepEqual(doc, {error: {code: 'NODE_UNKNOWN', message: repctl.message, oclif: {exit: 2}, suggestions: [ERROR_CATALOGUE.NODE_UNKNOWN.hint], name: 'Error'}})

    const bug = p.errorJson(new TypeError('x is undefined'))
    assertValid('error', bug)
    assert.deepEqual(bug, {error: {code: 'INTERNAL', message: 'x is undefined', oclif: {exit: 1}, suggestions: [], name: 'TypeError'}})

    // Before this.parse() succeeded, any error is oclif's parser rejecting the command line.
    const unparsed = await probe()
    // Its errors carry their whole input (config, flag definitions): none of it may leak.
    const parse = Object.assign(new Errors.CLIError('Nonexistent flag: --bogus'), {parse: {input: {context: {config: {home: '/root'}}}}, showHelp: true})
    const usage = unparsed.errorJson(parse)
    assertValid('error', usage)
    assert.deepEqual(usage, {error: {code: 'USAGE', message: 'Nonexistent flag: --bogus', oclif: {exit: 2}, suggestions: ['see repctl probe --help'], name: 'Error'}})
    const flagValue = unparsed.errorJson(new Errors.CLIError('Parsing --interval \n\tExpected an integer greater than or equal to 1 but received: 0'))
    assertValid('error', flagValue)
    assert.equal((flagValue as {error: ErrorJson}).error.code, 'USAGE')
  })
})
