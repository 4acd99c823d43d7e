// Starting and stopping one node on its host: preflight, install the bundle,
// start the daemon (which returns once serving — for a slave, once the full
// copy has arrived), stop with SIGTERM and SIGKILL as a last resort.

import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {fileURLToPath} from 'node:url'
import type {NodeConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'
import type {Host} from '../hosts/host.js'
import {nodeProcess, surfaceHostError} from './observe.js'
import type {SecretUse} from './replication-secret.js'
import {nodePaths, secretFiles, serverArgs} from './topology.js'

/** The single-file server this package ships (built by `npm run build`). */
export const SERVER_BUNDLE = fileURLToPath(new URL('../../dist/repcached.mjs', import.meta.url))

const MIN_NODE = [20, 19]
/** A slave's start includes the full copy: generous for large caches. */
const START_TIMEOUT_MS = 180_000
/** SIGTERM lets the server drain replication (5 s by default) and write its snapshot (about 1 s per million items) before we insist. */
const STOP_TIMEOUT_MS = 60_000

function versionOk(v: string): boolean {
  const [major, minor] = v.split('.').map(Number) as [number, number]
  return major > MIN_NODE[0]! || (major === MIN_NODE[0] && minor >= MIN_NODE[1]!)
}

/** Can this node be started here: runtime, ports. Throws with what to fix. */
export async function preflight(host: Host, node: NodeConfig): Promise<void> {
  const version = await host.nodeVersion()
  if (version === undefined) throw new RepctlError('RUNTIME_MISSING', `Node.js is not installed on ${host.label} (needed by node ${node.name})`)
  if (!versionOk(version)) throw new RepctlError('RUNTIME_MISSING', `Node.js ${version} on ${host.label} is too old for node ${node.name}; 20.19 or newer is needed`)
  for (const [what, port] of [['client', node.port], ['replication', node.replicationPort]] as const) {
    if (!(await host.portFree(node.host, port))) {
      throw new RepctlError('PORT_IN_USE', `${what} port ${node.host}:${port} of node ${node.name} is already in use on ${host.label}`)
    }
  }
}

/** Copy the server bundle into the node's state dir unless an identical copy is there. */
export async function installBundle(host: Host, node: NodeConfig): Promise<'installed' | 'unchanged'> {
  if (!existsSync(SERVER_BUNDLE)) throw new RepctlError('BUNDLE_MISSING', `the server bundle ${SERVER_BUNDLE} is missing`)
  const paths = nodePaths(node)
  try {
    await host.makePrivateDir(paths.dir)
  } catch (e) {
    throw new RepctlError('HOST_ERROR', `cannot create the state directory ${paths.dir} of node ${node.name} on ${host.label}: ${(e as Error).message}`)
  }
  const local = createHash('sha256').update(await readFile(SERVER_BUNDLE)).digest('hex')
  if (local === await host.sha256(paths.bundle)) return 'unchanged'
  await host.upload(SERVER_BUNDLE, paths.bundle, 0o600)
  return 'installed'
}

/** The bundle and the security files, for a step's title line. */
export async function installNode(host: Host, node: NodeConfig): Promise<string> {
  const bundle = (await installBundle(host, node)) === 'unchanged' ? 'up to date' : 'installed'
  const secrets = await installSecrets(host, node)
  return secrets === 'none' ? bundle : `${bundle}; security files ${secrets === 'unchanged' ? 'up to date' : 'installed (0600)'}`
}

/** Copy the node's security files into its secrets dir (0700) with mode 0600, where changed. */
export async function installSecrets(host: Host, node: NodeConfig): Promise<'installed' | 'unchanged' | 'none'> {
  const files = secretFiles(node)
  if (files.length === 0) return 'none'
  const dir = nodePaths(node).secrets
  try {
    await host.makePrivateDir(dir)
  } catch (e) {
    throw new RepctlError('HOST_ERROR', `cannot create the secrets directory ${dir} of node ${node.name} on ${host.label}: ${(e as Error).message}`)
  }
  let changed = false
  for (const [local, name] of files) {
    const remote = `${dir}/${name}`
    const data = await readFile(local)
    if (createHash('sha256').update(data).digest('hex') === await host.sha256(remote)) continue
    await host.upload(local, remote, 0o600)
    changed = true
  }
  return changed ? 'installed' : 'unchanged'
}

/** Start the node with its peer as -x and the settled replication secret; resolves once it serves clients. */
export async function startNode(host: Host, node: NodeConfig, peer: NodeConfig, secret: SecretUse): Promise<number> {
  const paths = nodePaths(node)
  const r = await host.runDaemon(host.nodePath, serverArgs(node, peer, secret), {cwd: paths.dir, logFile: paths.logFile, timeoutMs: START_TIMEOUT_MS})
  if (r.exitCode !== 0) {
    const log = (await host.tail(paths.logFile, 3)).trim().split('\n').filter((l) => l !== '').pop()
    const why = r.exitCode === 124 ? `did not come up within ${START_TIMEOUT_MS / 1000} s` : `exited with code ${r.exitCode}`
    throw new RepctlError('NODE_START_FAILED', `node ${node.name} on ${host.label} ${why}${log === undefined ? '' : `: ${log}`}`)
  }
  const proc = await nodeProcess(host, node)
  if (proc.pid === null) throw new RepctlError('NODE_START_FAILED', `node ${node.name} on ${host.label} started but wrote no pid file at ${paths.pidFile}`)
  return proc.pid
}

export type StopOutcome = 'stopped' | 'killed' | 'not_running'

/** SIGTERM, wait for the drain, SIGKILL after a timeout. Nothing running is fine. */
export async function stopNode(host: Host, node: NodeConfig, timeoutMs = STOP_TIMEOUT_MS): Promise<StopOutcome> {
  const {pid, process: state} = await nodeProcess(host, node)
  if (state === 'unknown') return surfaceHostError(host, node)
  if (pid === null) return 'not_running'
  await host.signal(pid, 'SIGTERM')
  if (await waitGone(host, pid, timeoutMs)) return 'stopped'
  await host.signal(pid, 'SIGKILL')
  if (await waitGone(host, pid, 5000)) return 'killed'
  throw new RepctlError('NODE_STOP_FAILED', `node ${node.name} (pid ${pid}) on ${host.label} survived SIGKILL`)
}

async function waitGone(host: Host, pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (!(await host.processInfo(pid)).alive) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return !(await host.processInfo(pid)).alive
}

/** Poll until `check` holds; throws a TIMEOUT naming `what`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  if (!(await check())) throw new RepctlError('TIMEOUT', `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`)
}
