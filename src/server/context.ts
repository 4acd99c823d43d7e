import type {Credentials} from './auth.js'
import type {Logger} from './log.js'
import type {ServerOptions} from './options.js'
import type {StatLine} from './stats.js'
import {ServerStats} from './stats.js'
import type {ItemStore} from './store/item-store.js'
import type {EventLog} from './protocol/watch.js'
import type {PrefixStats} from './stats-detail.js'
import type {Tunables} from './tunables.js'
import type {ConnectionInfo} from './stats-conns.js'

/** What request handlers may use: the store, counters and settings. Never a socket. */
export interface ServerContext {
  readonly options: ServerOptions
  readonly store: ItemStore
  readonly stats: ServerStats
  readonly log: Logger
  readonly startedAt: number
  verbosity: number
  /** With -S or -Y: who may use the cache (binary clients by SASL PLAIN; ASCII clients too with -Y). */
  readonly credentials?: Credentials
  /** Extra `stats` lines (replication), after evicted_unfetched like repcached. */
  extra?: () => StatLine[]
  /** What operator commands have set (slabs automove, lru, lru_crawler, extstore); made by the first. */
  tunables?: Tunables
  /** Per-prefix counts (`stats detail`, -D): made at start with -D, or by `stats detail on`. */
  detail?: PrefixStats
  /** Set once a client has used `watch` (watch.ts): the event streams that some watcher wants. */
  events?: EventLog
  /** With -Z: `refresh_certs` (reload the certificate files), set by the listeners; its reply. */
  refreshCerts?: () => string
  /** The listeners and clients (`stats conns`), set by the listeners. */
  connections?: () => ConnectionInfo[]
  /** The client connection whose requests are being handled now (`stats conns`, `watch` lines). */
  activeConnection?: number
  /** Ask the server to stop (the `shutdown` command). */
  requestShutdown(graceful: boolean): void
}

export {ServerStats}
