// keepalived next to each node of a pair with a VIP: one managed daemon per
// node (daemon.ts), its config rendered (keepalived-config.ts) into the
// node's directory (paths.ts), started and signalled as root.
//
// Lifecycle rules:
// - start: the config is written only when changed. A running keepalived
//   with an unchanged config is left alone; with a changed one it gets
//   SIGHUP, keepalived's reload, which keeps its instance's state (with
//   nopreempt the VIP stays where it is) instead of the failover a restart
//   would cause. Before a start (nothing of ours running): a leftover drain
//   file is reset to 0 (a 1 would keep the VIP away for good), stale pid
//   files are removed (keepalived refuses to start while its pid file names
//   a live process, and pids are reused), and a VIP left on the interface by
//   a keepalived killed with -9 is removed: no one manages it any more.
// - stop: SIGTERM, on which keepalived drops the VIP and tells the peer
//   (priority 0), which takes it at once; then its VRRP child if it outlived
//   the parent; then, whatever happened, no VIP may stay on this host: one
//   left by a keepalived killed with -9 is removed with `ip addr del`.
// keepalived runs VRRP only (-P): repctl has no use for its LVS checkers.

import {isAbsolute} from 'node:path'
import type {ClusterConfig, NodeConfig, VipConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {Host} from '../../hosts/host.js'
import {requireRoot} from '../../hosts/privilege.js'
import {daemonProcess, ensureDir, findProgram, startDaemon, stopDaemon, syncFile, type DaemonSpec, type StopOutcome} from '../daemon.js'
import {findNode, nodePaths} from '../topology.js'
import {servingCheckCommand} from './check-command.js'
import {holdsAddress} from './ip-addr.js'
import {renderKeepalivedConfig, type KeepalivedInput} from './keepalived-config.js'
import {vipPaths} from './paths.js'

/** A pair with a VIP, its nodes in config order: the first is preferred when both keepalived start together. */
export interface VipPair {
  cluster: string
  nodes: readonly [NodeConfig, NodeConfig]
  vip: VipConfig
}

/** SIGTERM: keepalived drops the VIP and sends its priority-0 advert within milliseconds. */
export const KEEPALIVED_STOP_TIMEOUT_MS = 10_000
/** keepalived forks and returns at once; its daemon writes the pid file after reading the config. */
const KEEPALIVED_START_TIMEOUT_MS = 10_000

/** The pair with a VIP that `names` form (in either order), or undefined (no such pair, or no VIP). */
export function vipPairOf(config: ClusterConfig, names: readonly [string, string]): VipPair | undefined {
  const p = config.pairs.find(({nodes: [a, b]}) => (a === names[0] && b === names[1]) || (a === names[1] && b === names[0]))
  if (p?.vip === undefined) return undefined
  return {cluster: config.cluster, nodes: [findNode(config, p.nodes[0]), findNode(config, p.nodes[1])], vip: p.vip}
}

/** The pair with a VIP that node `name` belongs to, or undefined. */
export function vipPairOfNode(config: ClusterConfig, name: string): VipPair | undefined {
  const p = config.pairs.find(({nodes}) => nodes.includes(name))
  return p === undefined ? undefined : vipPairOf(config, p.nodes)
}

export function peerIn(pair: VipPair, node: NodeConfig): NodeConfig {
  return pair.nodes[0].name === node.name ? pair.nodes[1] : pair.nodes[0]
}

/** keepalived's main process: recognised by its config's path in its command line. */
export function keepalivedDaemon(node: NodeConfig): DaemonSpec {
  const p = vipPaths(node)
  return {name: `keepalived of ${node.name}`, pidFile: p.pidFile, marker: p.config, stopTimeoutMs: KEEPALIVED_STOP_TIMEOUT_MS, asRoot: true}
}

/** Its VRRP child (same command line): outlives a parent killed with -9 for a moment, or longer. */
export function keepalivedVrrpDaemon(node: NodeConfig): DaemonSpec {
  return {...keepalivedDaemon(node), name: `keepalived (VRRP process) of ${node.name}`, pidFile: vipPaths(node).vrrpPidFile}
}

/**
 * keepalived's argv after the program: detailed log (-D) to the console (-l),
 * which runDaemon appends to keepalived.log; VRRP only (-P); this config (-f);
 * pid files of the main process (-p) and the VRRP child (-r) in the node's dir.
 * No -n: keepalived forks and the daemon writes its pid file (daemon.ts waits for it).
 */
export function keepalivedArgs(node: NodeConfig): string[] {
  const p = vipPaths(node)
  return ['-D', '-l', '-P', '-f', p.config, '-p', p.pidFile, '-r', p.vrrpPidFile]
}

/** The keepalived program on the host (absolute path), or undefined when it is not installed. */
export function findKeepalived(host: Host): Promise<string | undefined> {
  return findProgram(host, 'keepalived')
}

/** The same, or KEEPALIVED_MISSING naming the host, the node and the apt command. */
export async function requireKeepalived(host: Host, node: NodeConfig): Promise<string> {
  const path = await findKeepalived(host)
  if (path === undefined) {
    throw new RepctlError('KEEPALIVED_MISSING', `keepalived is not installed on ${host.label} (needed by node ${node.name}, whose pair has a VIP)`,
      [`install it on that host: apt-get install keepalived (repctl starts it itself; the keepalived service of the package may stay disabled: systemctl disable --now keepalived)`])
  }
  return path
}

/** Who keepalived runs the check and notify commands as: root, or the login user when repctl escalates (the check needs no privilege). */
async function scriptUser(host: Host): Promise<string> {
  if (host.privileged) return 'root'
  const r = await host.run('id', ['-un'], {timeoutMs: 10_000})
  const user = r.stdout.trim()
  if (r.exitCode !== 0 || user === '') throw new RepctlError('HOST_ERROR', `cannot tell the login user on ${host.label} (id -un: ${r.stderr.trim() || `exit code ${r.exitCode}`})`)
  return user
}

/** keepalived.conf for `node` on its host (asks the host for its script user and, with client TLS, its Node.js path). */
export async function keepalivedConfigFor(host: Host, pair: VipPair, node: NodeConfig): Promise<string> {
  // The TLS check runs the host's Node.js, which keepalived must be given as an absolute path.
  if (node.security?.tls !== undefined && !isAbsolute(host.nodePath)) await host.nodeVersion()
  const paths = vipPaths(node)
  const input: KeepalivedInput = {
    cluster: pair.cluster,
    pair: [pair.nodes[0].name, pair.nodes[1].name],
    node: node.name,
    address: node.host,
    peerAddress: peerIn(pair, node).host,
    vip: pair.vip,
    checkCommand: servingCheckCommand(node, host.nodePath),
    scriptUser: await scriptUser(host),
    stateFile: paths.stateFile,
    trackFile: paths.trackFile,
  }
  return renderKeepalivedConfig(input)
}

/** Write keepalived.conf into the node's directory unless the same is there. */
export async function installKeepalivedConfig(host: Host, pair: VipPair, node: NodeConfig): Promise<'installed' | 'unchanged'> {
  const dir = nodePaths(node).dir
  await ensureDir(host, dir, `the state directory ${dir} of node ${node.name}`)
  return syncFile(host, {content: await keepalivedConfigFor(host, pair, node), remotePath: vipPaths(node).config, mode: 0o600})
}

/** Remove the VIP from the host's interface if it is there (as root). Returns whether it was there. */
export async function releaseVip(host: Host, pair: VipPair, node: NodeConfig): Promise<boolean> {
  const {vip} = pair
  if (!(await holdsAddress(host, vip.interface, vip.address))) return false
  requireRoot(host, `removing the VIP ${vip.address} of node ${node.name}`)
  const r = await host.run('ip', ['addr', 'del', `${vip.address}/${vip.prefixLength}`, 'dev', vip.interface], {asRoot: true, timeoutMs: 10_000})
  if (r.exitCode !== 0 && await holdsAddress(host, vip.interface, vip.address)) {
    throw new RepctlError('HOST_ERROR', `cannot remove the VIP ${vip.address} from ${vip.interface} on ${host.label}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`,
      [`remove it by hand: ip addr del ${vip.address}/${vip.prefixLength} dev ${vip.interface}`])
  }
  return true
}

export type KeepalivedStart = {pid: number; action: 'started' | 'reloaded' | 'unchanged'; staleVipRemoved: boolean}

/**
 * Bring keepalived of `node` up with the current config: start it, reload it
 * (SIGHUP) when its config changed, or leave it alone. Needs root on the host
 * (PRIVILEGE_NEEDED), keepalived installed (KEEPALIVED_MISSING).
 */
export async function startKeepalived(host: Host, pair: VipPair, node: NodeConfig): Promise<KeepalivedStart> {
  const spec = keepalivedDaemon(node)
  requireRoot(host, spec.name)
  const config = await installKeepalivedConfig(host, pair, node)
  const running = await daemonProcess(host, spec)
  if (running.process === 'running' && running.pid !== null) {
    if (config === 'unchanged') return {pid: running.pid, action: 'unchanged', staleVipRemoved: false}
    await host.signal(running.pid, 'SIGHUP', {asRoot: true})
    return {pid: running.pid, action: 'reloaded', staleVipRemoved: false}
  }
  const program = await requireKeepalived(host, node)
  // Nothing of ours runs: what the last one left behind goes.
  await stopDaemon(host, keepalivedVrrpDaemon(node))
  const paths = vipPaths(node)
  await host.writeFile(paths.trackFile, '0\n', 0o644)
  await host.run('rm', ['-f', paths.pidFile, paths.vrrpPidFile], {timeoutMs: 10_000})
  const staleVipRemoved = await releaseVip(host, pair, node)
  const pid = await startDaemon(host, {...spec, file: program, args: keepalivedArgs(node), cwd: nodePaths(node).dir, logFile: paths.logFile, startTimeoutMs: KEEPALIVED_START_TIMEOUT_MS})
  return {pid, action: 'started', staleVipRemoved}
}

export interface KeepalivedStop { outcome: StopOutcome; vipRemoved: boolean }

/** Stop keepalived of `node` (SIGTERM, then SIGKILL) and leave no VIP on its host. Nothing running is fine. */
export async function stopKeepalived(host: Host, pair: VipPair, node: NodeConfig): Promise<KeepalivedStop> {
  const outcome = await stopDaemon(host, keepalivedDaemon(node))
  const child = await stopDaemon(host, keepalivedVrrpDaemon(node))
  const vipRemoved = await releaseVip(host, pair, node)
  return {outcome: outcome === 'not_running' && child !== 'not_running' ? child : outcome, vipRemoved}
}

/** For the supervisor: stop (leaving no VIP here) and start again; the peer holds the VIP meanwhile. */
export async function restartKeepalived(host: Host, pair: VipPair, node: NodeConfig): Promise<KeepalivedStart> {
  const stopped = await stopKeepalived(host, pair, node)
  const started = await startKeepalived(host, pair, node)
  // A VIP left by a keepalived killed with -9 is removed by the stop already.
  return {...started, staleVipRemoved: started.staleVipRemoved || stopped.vipRemoved}
}
