// The node's snapshots over its life: loaded once at start, written every
// --snapshot-interval and once more at shutdown, never two at a time.

import {beginBulkLoad, endBulkLoad} from '../heap.js'
import type {Logger} from '../log.js'
import type {StatLine} from '../stats.js'
import type {ItemStore} from '../store/item-store.js'
import {loadSnapshot, type LoadResult} from './loader.js'
import {writeSnapshot, type SnapshotReport} from './writer.js'

export class Snapshots {
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> | undefined
  private last: SnapshotReport | undefined
  private loaded = 0
  private failures = 0

  constructor(private readonly file: string, private readonly intervalMs: number, private readonly store: ItemStore, private readonly log: Logger) {}

  /** Load the snapshot into the (empty) store; every outcome is logged. */
  load(): LoadResult {
    beginBulkLoad()
    let r: LoadResult
    try { r = loadSnapshot(this.file, this.store) } finally { endBulkLoad() }
    if (r.loaded) {
      this.loaded = this.store.itemCount
      this.last = {items: this.loaded, bytes: r.bytes, durationMs: 0, longestPauseMs: 0, created: r.created}
      const age = Math.max(0, Math.round((Date.now() - r.created) / 1000))
      this.log.info(`snapshot: loaded ${this.loaded} items from ${this.file} in ${Math.round(r.ms)} ms (written ${age} s ago; ${r.expired} expired meanwhile${r.notKept > 0 ? `, ${r.notKept} did not fit in -m` : ''})`)
    } else if (r.missing) {
      this.log.info(`snapshot: none at ${this.file}; starting empty`)
    } else {
      // Said at any verbosity: an operator must learn that data was not restored.
      this.log.warn(`snapshot: refused ${this.file}: ${r.reason}; starting empty${r.movedTo === undefined ? '' : ` (the file was moved to ${r.movedTo})`}`)
    }
    return r
  }

  /** A slave takes its master's full copy instead: its own snapshot is left unread. */
  skipLoad(master: string): void {
    this.log.info(`snapshot: not loading ${this.file}: this node starts as the slave of ${master}, whose full copy replaces it`)
  }

  startPeriodic(): void {
    if (this.intervalMs <= 0) return
    this.timer = setInterval(() => { void this.write('periodic') }, this.intervalMs)
    this.timer.unref()
  }

  /** Write one now (waiting for one in progress first). */
  async write(why: 'periodic' | 'shutdown'): Promise<void> {
    if (this.writing !== undefined) {
      if (why === 'periodic') return
      await this.writing
    }
    const run = writeSnapshot(this.file, this.store).then(
      (r) => {
        this.last = r
        this.log.info(`snapshot (${why}): ${r.items} items, ${r.bytes} bytes to ${this.file} in ${Math.round(r.durationMs)} ms (longest pause ${r.longestPauseMs.toFixed(1)} ms)`)
      },
      (e: Error) => {
        this.failures++
        this.log.warn(`snapshot (${why}): cannot write ${this.file}: ${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}; the previous snapshot is kept`)
      },
    )
    this.writing = run
    await run
    if (this.writing === run) this.writing = undefined
  }

  /** Shutdown: the final snapshot, taken once clients can no longer write. */
  async final(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    await this.write('shutdown')
  }

  /** The last snapshot on disk: the one loaded at start until this process writes one. */
  statLines(): StatLine[] {
    const l = this.last
    return [
      ['snapshot_loaded_items', this.loaded],
      ['snapshot_last_time', l === undefined ? 0 : Math.floor(l.created / 1000)],
      ['snapshot_last_items', l?.items ?? 0],
      ['snapshot_last_bytes', l?.bytes ?? 0],
      ['snapshot_last_duration_ms', l === undefined ? 0 : Math.round(l.durationMs)],
      ['snapshot_last_pause_ms', l === undefined ? 0 : Math.round(l.longestPauseMs)],
      ['snapshot_failures', this.failures],
    ]
  }
}
