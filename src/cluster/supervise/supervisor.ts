// The supervisor as a running thing: one per cluster on this machine (its
// lock), its memory carried over from its events file, its rounds every
// interval until SIGINT or SIGTERM, and every event written to that file
// before anyone else hears of it.

import {appendFileSync} from 'node:fs'
import type {ClusterConfig} from '../../config/schema.js'
import {HostPool} from '../../hosts/pool.js'
import {serveMetrics, type ListenAddress, type MetricsEndpoint} from '../metrics/endpoint.js'
import {countEvent, freshCounters, renderExposition} from '../metrics/exposition.js'
import {pause} from '../pause.js'
import {gatherStatus} from '../status.js'
import {memoryFromEvents, type SupervisePolicy} from './decide.js'
import {routerMemoryFromEvents} from './decide-router.js'
import {claimSupervisor, readEvents, rotateEvents, supervisorPaths} from './presence.js'
import {freshState, superviseRound, type SuperviseEvent, type SupervisorState} from './round.js'

export interface SupervisorRun {
  policy: SupervisePolicy
  intervalMs: number
  /** One round, then return. */
  once: boolean
  /** Where the lock and the events file are (default: the home directory). */
  home?: string
  /** Serve Prometheus metrics on /metrics there while supervising. */
  metrics?: ListenAddress
  /** Told the endpoint's URL once it listens. */
  metricsListening?: (url: string) => void
}

/** What a restarted supervisor remembers: the repairs and give-ups its predecessors wrote to the events file. */
export function stateFromEvents(events: SuperviseEvent[], now: number, policy: SupervisePolicy): SupervisorState {
  return {...freshState(), memories: memoryFromEvents(events, now, policy), routerMemories: routerMemoryFromEvents(events, now, policy)}
}

/**
 * Supervise the cluster: `say` hears each event once it is in the events
 * file. Returns the round's events with `once`, else the last 100 once
 * stopped by SIGINT or SIGTERM. `started` runs once the lock is held.
 */
export async function runSupervisor(config: ClusterConfig, pool: HostPool, run: SupervisorRun, say: (e: SuperviseEvent) => void, started?: () => void): Promise<SuperviseEvent[]> {
  const paths = supervisorPaths(config.cluster, run.home)
  const release = await claimSupervisor(config.cluster, run.home)
  try {
    rotateEvents(paths.eventsFile)
    const events: SuperviseEvent[] = []
    const counters = freshCounters()
    const emit = (e: SuperviseEvent): void => {
      countEvent(counters, e)
      events.push(e)
      if (events.length > 1000) events.splice(0, events.length - 100)
      appendFileSync(paths.eventsFile, JSON.stringify(e) + '\n', {mode: 0o600})
      say(e)
    }
    // A restarted supervisor keeps counting the repairs its predecessor began.
    const state = stateFromEvents(readEvents(paths.eventsFile), Date.now(), run.policy)
    started?.()
    if (run.once) {
      await superviseRound(config, pool, state, run.policy, emit)
      return events
    }
    let stop = false
    const onSignal = (): void => { stop = true }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    let endpoint: MetricsEndpoint | undefined
    try {
      if (run.metrics !== undefined) {
        // A scrape observes the cluster itself, with its own hosts: the rounds close theirs between rounds.
        endpoint = await serveMetrics(run.metrics, async () => {
          const scrapePool = new HostPool()
          scrapePool.acceptNewHostKey = pool.acceptNewHostKey
          try {
            return renderExposition(await gatherStatus(config, scrapePool), counters, Date.now())
          } finally { await scrapePool.close() }
        })
        run.metricsListening?.(endpoint.url)
      }
      while (!stop) {
        const t0 = Date.now()
        await superviseRound(config, pool, state, run.policy, emit)
        counters.rounds++
        counters.lastRoundSeconds = (Date.now() - t0) / 1000
        // Connections are not kept between rounds: a host that goes away must not hang the next one.
        await pool.close()
        await pause(run.intervalMs, () => stop)
      }
    } finally {
      await endpoint?.close()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    return events.slice(-100)
  } finally {
    release()
  }
}
