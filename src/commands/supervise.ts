import {Flags} from '@oclif/core'
import {homedir} from 'node:os'
import {BaseCommand} from '../cli/base-command.js'
import {durationFlag} from '../cli/duration-flag.js'
import {DEFAULT_POLICY, type SplitBrainPolicy} from '../cluster/supervise/decide.js'
import type {SuperviseEvent} from '../cluster/supervise/round.js'
import {parseListenAddress, type ListenAddress} from '../cluster/metrics/endpoint.js'
import {runSupervisor} from '../cluster/supervise/supervisor.js'
import {DEFAULT_UNIT_DIR, installUnit, uninstallUnit, unitName} from '../cluster/supervise/unit.js'
import {BUILT_IN_SOURCE} from '../config/schema.js'
import {DAY_MS} from '../server/duration.js'

export interface SuperviseResult {
  events: SuperviseEvent[]
  /** With --install/--uninstall: the unit file and whether it changed; otherwise null. */
  unit: {action: 'install' | 'uninstall'; file: string; changed: boolean} | null
}

export default class Supervise extends BaseCommand<typeof Supervise> {
  static override description = `Watch every pair and repair it: rejoin a dead node as slave of the live master, restart a pair whose nodes are all down, heal a split brain that outlasts its grace period (by --split-brain policy). A pair with a VIP: restart a keepalived that is not running beside a running node or that left its VIP behind; report a VIP on both hosts (a network cut); never move a VIP away from a healthy node. Unreachable hosts are reported, never acted on. A node (or keepalived) that keeps failing is given up on after --max-repairs within 10 minutes.
Every change and action is an event (one JSON line with --json), also appended to ~/.repctl/supervisor/<cluster>.events.jsonl.`
  static override examples = ['<%= config.bin %> supervise', '<%= config.bin %> supervise --once --json', '<%= config.bin %> supervise --interval 500ms --split-brain manual']
  static override flags = {
    interval: durationFlag({description: 'time between rounds', default: 1000, range: {min: 100, max: DAY_MS}}),
    once: Flags.boolean({description: 'one round, then exit', default: false}),
    'split-brain': Flags.string({description: 'how to heal a split brain that lasts: keep the node with more items, keep the first node of the pair, or only report', options: ['keep-larger', 'keep-first', 'manual'], default: 'keep-larger'}),
    'split-brain-grace': durationFlag({description: 'how long a split brain may last before it is healed', default: DEFAULT_POLICY.splitBrainGraceMs, range: {min: 0, max: DAY_MS}}),
    'repair-backoff': durationFlag({description: 'how long to wait after repairing a node before repairing it again (doubles with each repair within 10 minutes)', default: DEFAULT_POLICY.backoffMs, range: {min: 0, max: DAY_MS}}),
    'max-repairs': Flags.integer({description: 'repairs of one node within 10 minutes before giving up on it', default: DEFAULT_POLICY.maxRepairs, min: 1}),
    install: Flags.boolean({description: 'write a systemd unit that runs this supervisor (with these flags), then print how to enable it', default: false, exclusive: ['uninstall', 'once']}),
    uninstall: Flags.boolean({description: 'remove the systemd unit written by --install', default: false, exclusive: ['install', 'once']}),
    metrics: Flags.string({description: 'serve Prometheus metrics on http://[ADDR:]PORT/metrics while supervising (ADDR defaults to 127.0.0.1)', exclusive: ['once'], helpValue: '[ADDR:]PORT'}),
    'unit-dir': Flags.string({description: 'where the unit goes', default: DEFAULT_UNIT_DIR, hidden: true}),
  }

  /** The loop under --json prints one line per event; it must not end with a multi-line document. */
  private streaming = false

  protected override logJson(json: unknown): void {
    if (!this.streaming) return super.logJson(json)
    // Only an error is said at the end of a stream, on one line like the events.
    if (typeof json === 'object' && json !== null && 'error' in json) process.stdout.write(JSON.stringify(json) + '\n')
  }

  async run(): Promise<SuperviseResult> {
    const {flags} = this
    const config = await this.clusterConfig()
    const metrics = flags.metrics === undefined ? undefined : parseListenAddress(flags.metrics)
    if (flags.install || flags.uninstall) return this.unit(config.cluster, config.source, metrics)
    const policy = {...DEFAULT_POLICY, splitBrain: flags['split-brain'] as SplitBrainPolicy, splitBrainGraceMs: flags['split-brain-grace'], maxRepairs: flags['max-repairs'], backoffMs: flags['repair-backoff']}
    const json = this.jsonEnabled()
    // --once prints one document at the end; the loop prints each event as it happens.
    const say = (e: SuperviseEvent): void => {
      if (json && !flags.once) process.stdout.write(JSON.stringify(e) + '\n')
      else if (!json) this.log(renderEvent(e))
    }
    // Said on stderr: stdout under --json carries only events.
    const listening = (url: string): void => { process.stderr.write(`serving Prometheus metrics on ${url}\n`) }
    const events = await runSupervisor(config, this.pool, {policy, intervalMs: flags.interval, once: flags.once, metrics, metricsListening: listening}, say, () => { this.streaming = !flags.once })
    return {events, unit: null}
  }

  private async unit(cluster: string, source: string, metrics: ListenAddress | undefined): Promise<SuperviseResult> {
    const {flags} = this
    const name = unitName(cluster)
    if (flags.install) {
      const configFile = source === BUILT_IN_SOURCE ? undefined : source
      const r = await installUnit({
        cluster, configFile, home: homedir(), intervalMs: flags.interval, splitBrain: flags['split-brain'],
        splitBrainGraceMs: flags['split-brain-grace'], backoffMs: flags['repair-backoff'], maxRepairs: flags['max-repairs'],
        metrics: metrics === undefined ? undefined : `${metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host}:${metrics.port}`,
      }, flags['unit-dir'])
      this.log(`${r.changed ? 'Wrote' : 'Unchanged:'} ${r.file}\nEnable it with: systemctl daemon-reload && systemctl enable --now ${name}`)
      return {events: [], unit: {action: 'install', file: r.file, changed: r.changed}}
    }
    const r = await uninstallUnit(cluster, flags['unit-dir'])
    this.log(r.changed ? `Removed ${r.file}\nIf it was running: systemctl disable --now ${name} && systemctl daemon-reload` : `No unit at ${r.file}`)
    return {events: [], unit: {action: 'uninstall', file: r.file, changed: r.changed}}
  }
}

export function renderEvent(e: SuperviseEvent): string {
  return `${e.time} ${e.pair ?? `router ${e.router}`} ${e.event}${e.action === null ? '' : ` ${e.action}`}${e.node === null ? '' : ` ${e.node}`}${e.outcome === null ? '' : ` ${e.outcome}`}${e.durationMs === null ? '' : ` ${e.durationMs}ms`}: ${e.reason}`
}
