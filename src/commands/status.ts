import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {durationFlag} from '../cli/duration-flag.js'
import {pause} from '../cluster/pause.js'
import {humanBytes, humanDuration, table} from '../cli/table.js'
import {renderExposition} from '../cluster/metrics/exposition.js'
import {gatherStatus, statusExitCode, type StatusReport, type VipStatus} from '../cluster/status.js'
import type {NodeObservation} from '../cluster/observe.js'
import type {RouterStatus} from '../cluster/router/status.js'
import type {SupervisorInfo} from '../cluster/supervise/presence.js'
import {DAY_MS, formatDuration} from '../server/duration.js'

export function renderStatus(r: StatusReport): string {
  const rows = r.nodes.map((n) => [
    n.name, `${n.host}:${n.port}`, n.pid === null ? '-' : String(n.pid), n.process, n.role ?? '-', n.state ?? '-', n.peer ?? '-',
    n.items === null ? '-' : String(n.items), humanBytes(n.bytes), n.queue === null ? '-' : String(n.queue), n.lagMs === null ? '-' : `${n.lagMs}ms`, humanDuration(n.uptime),
    n.snapshot === null ? '-' : `${humanDuration(Math.max(0, Math.round((Date.now() - Date.parse(n.snapshot.time)) / 1000)))} ago, ${humanBytes(n.snapshot.bytes)}`,
    renderBundle(n),
  ])
  const body = table(['NODE', 'ADDRESS', 'PID', 'PROCESS', 'ROLE', 'STATE', 'PEER', 'ITEMS', 'MEMORY', 'QUEUE', 'LAG', 'UPTIME', 'SNAPSHOT', 'SERVER'], rows)
  const verdicts = r.pairs.map((p) => `pair ${p.nodes.join(',')}: ${p.verdict} — ${p.reason}\n  replication link authenticated: ${p.replicationAuth.summary}${renderVip(p.vip)}`)
  return `${body}\n\n${verdicts.join('\n')}\n${renderRouters(r.routers)}${renderSupervisor(r.supervisor)}\ncluster ${r.cluster}: ${r.health.toUpperCase()}\n`
}

/** Per router a table of its pairs (where it sends them, where they are served, its counters), then its verdict. */
function renderRouters(routers: RouterStatus[]): string {
  return routers.map((r) => {
    const n = (x: number | null): string => (x === null ? '-' : String(x))
    const rows = r.pairs.map((p) => [p.name, p.endpoint ?? '-', p.endpoint === p.servedAt ? 'yes' : p.via === 'none' ? 'no node serves' : `no: ${p.servedAt}`, n(p.requests), n(p.errors), n(p.timeouts)])
    const head = `router ${r.name} ${r.host}:${r.port} (stats ${r.statsPort}): ${r.process}${r.pid === null ? '' : ` pid ${r.pid}`}, ${n(r.clientConnections)} clients, up ${humanDuration(r.uptime)}`
    return `\n${head}\n${table(['PAIR', 'SENT TO', 'SERVED THERE', 'REQUESTS', 'ERRORS', 'TIMEOUTS'], rows)}\n  ${r.verdict} — ${r.reason}\n`
  }).join('') + (routers.length > 0 ? '\n' : '')
}

/** Release and the bundle's first 12 hex digits; "outdated" when it is not the bundle this repctl installs. */
function renderBundle(n: NodeObservation): string {
  if (n.outdated === null) return '-'
  const id = n.bundleSha256 === null ? 'older server (no checksum)' : `${n.release ?? '?'} ${n.bundleSha256.slice(0, 12)}`
  return n.outdated ? `${id} outdated` : id
}

function renderVip(v: VipStatus | null): string {
  if (v === null) return ''
  const k = v.keepalived.map((x) => `${x.node} ${x.process}${x.pid === null ? '' : ` (pid ${x.pid})`}${x.state === null ? '' : ` ${x.state}`}`).join(', ')
  return `\n  vip ${v.address} on ${v.interface}: ${v.verdict} — ${v.reason}\n  keepalived: ${k}`
}

function renderSupervisor(s: SupervisorInfo): string {
  const runs = s.running ? `running (pid ${s.pid})` : 'not running on this machine'
  const e = s.lastAction
  if (e === null) return `supervisor: ${runs}`
  const what = [e.event, e.action, e.node, e.outcome].filter((x) => x !== null).join(' ')
  return `supervisor: ${runs}; last action ${e.time} ${what}: ${e.reason}`
}

export default class Status extends BaseCommand<typeof Status> {
  static override description = `Show every node (process, role, link, items, memory, queue) and a verdict per pair.
Show each router too: where it sends each pair's keys, whether the pair is served there, its counters.
Exit code: 0 healthy, 1 degraded (a node down or a copy in progress, a keepalived down, a router down or sending a pair to a node that no longer serves it), 2 critical (no node serving, split brain, a VIP on no host, on both, or on a down node, every router down), 3 unknown.`
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json', '<%= config.bin %> status --watch']
  static override flags = {
    watch: Flags.boolean({char: 'w', description: 'refresh in place until interrupted', default: false}),
    prometheus: Flags.boolean({description: 'print Prometheus text format instead (for node-exporter\'s textfile collector); the exit code is still the health', default: false, exclusive: ['watch', 'json']}),
    interval: durationFlag({description: 'time between refreshes with --watch', default: 2000, range: {min: 100, max: DAY_MS}}),
  }

  async run(): Promise<StatusReport> {
    const {flags} = this
    const config = await this.clusterConfig()
    let report = await gatherStatus(config, this.pool)
    if (flags.prometheus) {
      process.stdout.write(renderExposition(report, null, Date.now()))
      process.exitCode = statusExitCode(report)
      return report
    }
    if (flags.watch && !this.jsonEnabled()) {
      let stop = false
      process.once('SIGINT', () => { stop = true })
      while (!stop) {
        process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}  (every ${formatDuration(flags.interval)}, Ctrl-C to stop)\n\n${renderStatus(report)}`)
        await pause(flags.interval, () => stop)
        if (!stop) report = await gatherStatus(config, this.pool)
      }
    } else {
      this.log(renderStatus(report).trimEnd())
    }
    process.exitCode = statusExitCode(report)
    return report
  }

  // Monitoring reads the exit code: a status that could not be taken is "unknown".
  protected override errorExitCode = 3
}
