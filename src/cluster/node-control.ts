// Starting and stopping one node on its host: preflight, install the bundle
// and security files, start the server as a managed daemon (daemon.ts; it
// returns once serving — for a slave, once the full copy has arrived), stop it
// with SIGTERM and SIGKILL as a last resort.

import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import type {NodeConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'
import type {Host} from '../hosts/host.js'
import {ensureDir, startDaemon, stopDaemon, syncFile, type StopOutcome} from './daemon.js'
import type {SecretUse} from './replication-secret.js'
import {NODE_STOP_TIMEOUT_MS, nodeDaemon, nodePaths, secretFiles, serverArgs} from './topology.js'

export type {StopOutcome} from './daemon.js'

/** The single-file server this package ships (built by `npm run build`). */
export const SERVER_BUNDLE = fileURLToPath(new URL('../../dist/repcached.mjs', import.meta.url))

const MIN_NODE = [20, 19]
/** A slave's start includes the full copy: generous for large caches. */
const START_TIMEOUT_MS = 180_000

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
  await ensureDir(host, paths.dir, `the state directory ${paths.dir} of node ${node.name}`)
  return syncFile(host, {localPath: SERVER_BUNDLE, remotePath: paths.bundle, mode: 0o600})
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
  await ensureDir(host, dir, `the secrets directory ${dir} of node ${node.name}`)
  let changed = false
  for (const [local, name] of files) {
    if (await syncFile(host, {localPath: local, remotePath: `${dir}/${name}`, mode: 0o600}) === 'installed') changed = true
  }
  return changed ? 'installed' : 'unchanged'
}

/** Start the node with its peer as -x and the settled replication secret; resolves once it serves clients. */
export async function startNode(host: Host, node: NodeConfig, peer: NodeConfig, secret: SecretUse): Promise<number> {
  const paths = nodePaths(node)
  return startDaemon(host, {
    ...nodeDaemon(node), file: host.nodePath, args: serverArgs(node, peer, secret), cwd: paths.dir, logFile: paths.logFile, startTimeoutMs: START_TIMEOUT_MS,
  })
}

/** SIGTERM, wait for the drain, SIGKILL after a timeout. Nothing running is fine. */
export function stopNode(host: Host, node: NodeConfig, timeoutMs = NODE_STOP_TIMEOUT_MS): Promise<StopOutcome> {
  return stopDaemon(host, nodeDaemon(node, timeoutMs))
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
