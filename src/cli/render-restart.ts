import {describeMove} from '../cluster/restart/decide.js'
import type {RestartResult} from '../cluster/restart/plan.js'

/** --dry-run's plan, and the summary after the moves. */
export function renderRestart(r: RestartResult): string {
  const verb = r.operation === 'upgrade' ? 'upgrade' : 'restart'
  if (r.pairs.length === 0) return r.operation === 'upgrade' ? `every node runs this repctl's bundle (${r.bundleSha256?.slice(0, 12) ?? '?'}): nothing to upgrade` : 'no node to restart'
  if (r.dryRun) {
    const lines = r.pairs.flatMap((p) => [`pair ${p.nodes.join(',')} (master ${p.masterBefore}):`, ...p.moves.map((m, i) => `  ${i + 1}. ${describeMove(m)}`), `  then master: ${p.masterAfter}`])
    return `${verb} plan (nothing done, --dry-run):\n${lines.join('\n')}`
  }
  const nodes = r.nodes.map((n) => `${n.name}: pid ${n.pidBefore ?? '-'} -> ${n.pidAfter ?? '-'}, bundle ${n.bundleBefore?.slice(0, 12) ?? 'unknown'} -> ${n.bundleAfter?.slice(0, 12) ?? 'unknown'}`)
  return `${nodes.join('\n')}\n${r.pairs.map((p) => `pair ${p.nodes.join(',')}: linked, master ${p.masterAfter}`).join('\n')}\n${verb} done in ${(r.durationMs / 1000).toFixed(1)} s`
}
