// nutcracker (twemproxy) as a managed daemon of a router: its config rendered
// (nutcracker-config.ts) into the router's directory (paths.ts), started
// detached with its pid file, log and stats port there, stopped by pid.
//
// nutcracker has no reload (SIGHUP only reopens its log), so a changed config
// means a restart, which drops every client connection of that router: a
// router is restarted only when its rendered config differs from the one on
// its host, never otherwise. The new config is tested (`nutcracker -t`)
// before the running router is stopped, so a config nutcracker refuses leaves
// the running one alone.

import {connect} from 'node:net'
import type {RouterConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {Host} from '../../hosts/host.js'
import {daemonProcess, ensureDir, findProgram, startDaemon, stopDaemon, syncFile, type DaemonSpec, type StopOutcome} from '../daemon.js'
import {renderNutcrackerConfig, type NutcrackerInput} from './nutcracker-config.js'
import {routerPaths} from './paths.js'

/** nutcracker exits at once on SIGTERM (it has no drain). */
export const ROUTER_STOP_TIMEOUT_MS = 5000
/** With -d the program forks and returns at once; the child writes the pid file once its ports are bound. */
const ROUTER_START_TIMEOUT_MS = 10_000
/**
 * How often nutcracker publishes its counters on the stats port: its default
 * is 30 s, which would show `status` numbers half a minute old.
 */
export const STATS_INTERVAL_MS = 1000

/** Ports below 1024 need root to bind; others run as the login user. */
function needsRoot(router: Pick<RouterConfig, 'port' | 'statsPort'>): boolean {
  return router.port < 1024 || router.statsPort < 1024
}

/** nutcracker's process: recognised by its config's path in its command line. */
export function routerDaemon(router: RouterConfig): DaemonSpec {
  const p = routerPaths(router)
  return {name: `router ${router.name}`, pidFile: p.pidFile, marker: p.config, stopTimeoutMs: ROUTER_STOP_TIMEOUT_MS, asRoot: needsRoot(router), errors: {start: 'ROUTER_START_FAILED', stop: 'DAEMON_STOP_FAILED'}}
}

/**
 * Detached (-d), this config (-c), pid file (-p) and log (-o) in the router's
 * directory, stats on the router's own address (-a; nutcracker's default is
 * every interface) and port (-s), published every STATS_INTERVAL_MS (-i).
 */
export function nutcrackerArgs(router: RouterConfig): string[] {
  const p = routerPaths(router)
  return ['-d', '-c', p.config, '-p', p.pidFile, '-o', p.logFile, '-s', String(router.statsPort), '-a', router.host, '-i', String(STATS_INTERVAL_MS)]
}

/** The nutcracker program on the host (absolute path), or undefined when it is not installed. */
export function findNutcracker(host: Host): Promise<string | undefined> {
  return findProgram(host, 'nutcracker')
}

/** The same, or NUTCRACKER_MISSING naming the host, the router and the apt command. */
export async function requireNutcracker(host: Host, router: RouterConfig): Promise<string> {
  const path = await findNutcracker(host)
  if (path === undefined) {
    throw new RepctlError('NUTCRACKER_MISSING', `nutcracker is not installed on ${host.label} (needed by router ${router.name})`,
      ['install it on that host: apt-get install nutcracker (repctl starts it itself; the package\'s own service may stay disabled: systemctl disable --now nutcracker)'])
  }
  return path
}

type RouterPort = 'client' | 'stats'

/**
 * How long the ports of a router we have just stopped may take to be free
 * again. Its client connections outlive it, orphaned in FIN-WAIT-1, until
 * each client reads the close, and Linux refuses to bind the port meanwhile,
 * SO_REUSEADDR or not: under client load a restart found the port taken in
 * about 1 of 5 tries, for ~10 ms. A client that stops reading holds it longer.
 */
export const PORT_RELEASE_MS = 3000
const PORT_POLL_MS = 20

/**
 * Its client and stats ports (or those named in `which`) must be free before
 * it starts: nutcracker -d would only log the failure. `releaseMs`: after
 * stopping the router, how long to wait for its own connections to let go of them.
 */
export async function checkRouterPorts(host: Host, router: RouterConfig, which: readonly RouterPort[] = ['client', 'stats'], releaseMs = 0): Promise<void> {
  const deadline = Date.now() + releaseMs
  for (const [what, port] of [['client', router.port], ['stats', router.statsPort]] as const) {
    if (!which.includes(what)) continue
    while (!(await host.portFree(router.host, port))) {
      if (Date.now() < deadline) { await new Promise((r) => setTimeout(r, PORT_POLL_MS)); continue }
      const key = `routers.${router.name}.${what === 'client' ? 'port' : 'statsPort'}`
      throw new RepctlError('PORT_IN_USE', `${what} port ${router.host}:${port} of router ${router.name} is already in use on ${host.label}${releaseMs > 0 ? ` (still ${releaseMs} ms after the router stopped)` : ''}`,
        [`stop what uses it, or give the router another ${what === 'client' ? 'port' : 'statsPort'} in the config (${key})`])
    }
  }
}

/** `nutcracker -t` on a config file; ROUTER_CONFIG_REFUSED with nutcracker's own words when it refuses it. */
export async function testRouterConfig(host: Host, program: string, router: RouterConfig, file: string): Promise<void> {
  const r = await host.run(program, ['-t', '-c', file], {timeoutMs: 10_000})
  if (r.exitCode === 0) return
  const said = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  throw new RepctlError('ROUTER_CONFIG_REFUSED', `nutcracker on ${host.label} refused the config of router ${router.name} (${file}): ${said.join('; ') || `exit code ${r.exitCode}`}`)
}

/**
 * The router's ports that the running nutcracker is known not to hold (its
 * config's listen line, its -a/-s arguments): those can be checked before it
 * is stopped, so a port taken by something else leaves it running. A port it
 * may hold itself is only free once it stopped.
 */
export function portsNotHeld(router: Pick<RouterConfig, 'host' | 'port' | 'statsPort'>, installed: string | undefined, commandLine: string | undefined): RouterPort[] {
  const listen = installed === undefined ? undefined : /^ {2}listen: (\S+)$/m.exec(installed)?.[1]
  const statsPort = commandLine === undefined ? undefined : / -s (\d+)(?: |$)/.exec(commandLine)?.[1]
  const statsHost = commandLine === undefined ? undefined : / -a (\S+)(?: |$)/.exec(commandLine)?.[1]
  // Either unknown: any port may be one it holds (as client or stats port), so none is claimed.
  if (listen === undefined || statsPort === undefined || statsHost === undefined) return []
  const held = new Set([listen, `${statsHost}:${statsPort}`])
  return [
    ...(held.has(`${router.host}:${router.port}`) ? [] : ['client' as const]),
    ...(held.has(`${router.host}:${router.statsPort}`) ? [] : ['stats' as const]),
  ]
}

export type RouterStart = {pid: number; action: 'started' | 'restarted' | 'unchanged'}

/**
 * Bring the router up with this config: leave a running router with the same
 * config and ports alone; else test the new config, check the ports the running one
 * (if any) does not hold, stop it, check the rest and start nutcracker. A
 * refused config or a taken port leaves the running router alone.
 */
export async function startRouter(host: Host, router: RouterConfig, input: NutcrackerInput): Promise<RouterStart> {
  const spec = routerDaemon(router)
  const paths = routerPaths(router)
  const text = renderNutcrackerConfig(input)
  await ensureDir(host, paths.dir, `the directory ${paths.dir} of router ${router.name}`)
  const running = await daemonProcess(host, spec)
  const installed = await host.readFile(paths.config).catch(() => undefined)
  // Not on a port of the config any more (a new port changes the file; a new statsPort only the command line).
  const notHeld = running.process === 'running' ? portsNotHeld(router, installed, running.commandLine) : []
  if (running.process === 'running' && running.pid !== null && installed === text && notHeld.length === 0) return {pid: running.pid, action: 'unchanged'}
  const program = await requireNutcracker(host, router)
  const candidate = `${paths.config}.new`
  await syncFile(host, {content: text, remotePath: candidate, mode: 0o600})
  await testRouterConfig(host, program, router, candidate)
  if (running.process === 'running') await checkRouterPorts(host, router, notHeld)
  const stopped = running.process === 'running' ? await stopDaemon(host, spec) : 'not_running'
  await checkRouterPorts(host, router, ['client', 'stats'], stopped === 'not_running' ? 0 : PORT_RELEASE_MS)
  await syncFile(host, {content: text, remotePath: paths.config, mode: 0o600})
  await host.run('rm', ['-f', candidate, paths.pidFile], {timeoutMs: 10_000})
  const pid = await startDaemon(host, {...spec, file: program, args: nutcrackerArgs(router), cwd: paths.dir, logFile: paths.logFile, startTimeoutMs: ROUTER_START_TIMEOUT_MS})
  await waitListening(host, router, pid)
  return {pid, action: stopped === 'not_running' ? 'started' : 'restarted'}
}

/** Whether something accepts a connection at host:port (as a client of the router would connect). */
function accepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({host, port})
    const done = (ok: boolean): void => { clearTimeout(timer); socket.destroy(); resolve(ok) }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * nutcracker writes its pid file before it reads its config, resolves the
 * pairs' host names and binds its ports, so a client (the start's probe)
 * right after the pid file could be refused (measured: 8 of 40 starts with
 * 30 pairs named by host name). Wait until both ports accept, or until it
 * exits (a port taken meanwhile): then its log says why. Connecting, not a
 * test bind, so the check never takes a port from under it.
 */
async function waitListening(host: Host, router: RouterConfig, pid: number): Promise<void> {
  const end = Date.now() + ROUTER_START_TIMEOUT_MS
  const bound = (port: number): Promise<boolean> => accepts(router.host, port)
  for (;;) {
    if (await bound(router.port) && await bound(router.statsPort)) return
    const gone = !(await host.processInfo(pid)).alive
    if (gone || Date.now() >= end) {
      const log = (await host.tail(routerPaths(router).logFile, 1).catch(() => '')).trim()
      const why = gone ? 'exited before it listened' : `did not listen within ${ROUTER_START_TIMEOUT_MS / 1000} s`
      throw new RepctlError('ROUTER_START_FAILED', `router ${router.name} on ${host.label} (pid ${pid}) ${why} on ${router.host}:${router.port} and stats port ${router.statsPort}${log === '' ? '' : `: ${log}`}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Stop the router (SIGTERM, then SIGKILL). Nothing running is fine. */
export function stopRouter(host: Host, router: RouterConfig): Promise<StopOutcome> {
  return stopDaemon(host, routerDaemon(router))
}
