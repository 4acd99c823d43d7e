// What can be seen of a router: its process through its Host (pid file), the
// routes it runs with (its config file on the host, which repctl rewrites
// only together with a restart), and its counters on its stats port.

import type {RouterConfig} from '../../config/schema.js'
import type {Host} from '../../hosts/host.js'
import {daemonProcess, type ProcessState} from '../daemon.js'
import {readRoutes, type RouterPairEndpoint} from './nutcracker-config.js'
import {routerDaemon} from './nutcracker.js'
import {routerPaths} from './paths.js'
import {parseRouterStats, readStatsPort, type RouterStats} from './stats.js'

export interface RouterObservation {
  name: string
  host: string
  port: number
  statsPort: number
  transport: 'local' | 'ssh'
  pid: number | null
  process: ProcessState
  /** Its stats port answered with nutcracker's stats. */
  answering: boolean
  /** Where it sends each pair's keys, from its config on its host; null when there is none or it could not be read. */
  routes: RouterPairEndpoint[] | null
  stats: RouterStats | null
}

export async function observeRouter(host: Host, router: RouterConfig, cluster: string, pairNames: readonly string[]): Promise<RouterObservation> {
  const proc = await daemonProcess(host, routerDaemon(router))
  const config = proc.process === 'unknown' ? undefined : await host.readFile(routerPaths(router).config).catch(() => undefined)
  const text = proc.process === 'running' ? await readStatsPort(router.host, router.statsPort) : undefined
  const stats = text === undefined ? undefined : parseRouterStats(text, cluster, pairNames)
  return {
    name: router.name, host: router.host, port: router.port, statsPort: router.statsPort, transport: host.transport,
    pid: proc.pid, process: proc.process, answering: stats !== undefined,
    routes: config === undefined ? null : readRoutes(config), stats: stats ?? null,
  }
}
