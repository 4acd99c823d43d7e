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

import {isAbsolute} from 'node:path'
import type {RouterConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {Host} from '../../hosts/host.js'
import {daemonProcess, ensureDir, startDaemon, stopDaemon, syncFile, type DaemonSpec, type StopOutcome} from '../daemon.js'
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
export async function findNutcracker(host: Host): Promise<string | undefined> {
  const r = await host.run('sh', ['-c', 'for c in "$(command -v nutcracker 2>/dev/null)" /usr/sbin/nutcracker /usr/local/sbin/nutcracker /usr/bin/nutcracker /usr/local/bin/nutcracker; do case $c in /*) if [ -x "$c" ]; then echo "$c"; exit 0; fi;; esac; done; exit 1'], {timeoutMs: 10_000})
  const path = r.stdout.trim()
  return r.exitCode === 0 && isAbsolute(path) ? path : undefined
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
 * Its client and stats ports must be free before it starts: nutcracker -d
 * would only log the failure. `releaseMs`: after stopping the router, how
 * long to wait for its own connections to let go of them.
 */
export async function checkRouterPorts(host: Host, router: RouterConfig, releaseMs = 0): Promise<void> {
  const deadline = Date.now() + releaseMs
  for (const [what, port] of [['client', router.port], ['stats', router.statsPort]] as const) {
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

export type RouterStart = {pid: number; action: 'started' | 'restarted' | 'unchanged'}

/**
 * Bring the router up with this config: leave a running router with the same
 * config alone; else test the new config, stop the running one (if any),
 * check the ports and start nutcracker.
 */
export async function startRouter(host: Host, router: RouterConfig, input: NutcrackerInput): Promise<RouterStart> {
  const spec = routerDaemon(router)
  const paths = routerPaths(router)
  const text = renderNutcrackerConfig(input)
  await ensureDir(host, paths.dir, `the directory ${paths.dir} of router ${router.name}`)
  const running = await daemonProcess(host, spec)
  const installed = await host.readFile(paths.config).catch(() => undefined)
  if (running.process === 'running' && running.pid !== null && installed === text) return {pid: running.pid, action: 'unchanged'}
  const program = await requireNutcracker(host, router)
  const candidate = `${paths.config}.new`
  await syncFile(host, {content: text, remotePath: candidate, mode: 0o600})
  await testRouterConfig(host, program, router, candidate)
  const stopped = running.process === 'running' ? await stopDaemon(host, spec) : 'not_running'
  await checkRouterPorts(host, router, stopped === 'not_running' ? 0 : PORT_RELEASE_MS)
  await syncFile(host, {content: text, remotePath: paths.config, mode: 0o600})
  await host.run('rm', ['-f', candidate, paths.pidFile], {timeoutMs: 10_000})
  const pid = await startDaemon(host, {...spec, file: program, args: nutcrackerArgs(router), cwd: paths.dir, logFile: paths.logFile, startTimeoutMs: ROUTER_START_TIMEOUT_MS})
  return {pid, action: stopped === 'not_running' ? 'started' : 'restarted'}
}

/** Stop the router (SIGTERM, then SIGKILL). Nothing running is fine. */
export function stopRouter(host: Host, router: RouterConfig): Promise<StopOutcome> {
  return stopDaemon(host, routerDaemon(router))
}
