// The systemd unit that keeps `repctl supervise` running (--install / --uninstall).

import {existsSync} from 'node:fs'
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {formatDuration} from '../../server/duration.js'
import {RepctlError} from '../../errors.js'

const TEMPLATE = fileURLToPath(new URL('../../../templates/repctl-supervise.service', import.meta.url))
export const DEFAULT_UNIT_DIR = '/etc/systemd/system'

export function unitName(cluster: string): string {
  return `repctl-supervise-${cluster}.service`
}

/** systemd's own quoting for one word of ExecStart. */
function systemdQuote(word: string): string {
  if (/[\n\0]/.test(word)) throw new RepctlError('CONFIG_INVALID', `cannot put ${JSON.stringify(word)} in a systemd unit`)
  return /^[A-Za-z0-9_./:=@+-]+$/.test(word) ? word : `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`
}

/** What the unit's supervisor runs with: every policy flag, so the unit does what the command line that wrote it would. */
export interface UnitSpec {
  cluster: string
  configFile: string | undefined
  home: string
  intervalMs: number
  splitBrain: string
  splitBrainGraceMs: number
  backoffMs: number
  maxRepairs: number
  /** --metrics, as host:port (undefined: no endpoint). */
  metrics?: string
}

export async function installUnit(spec: UnitSpec, dir = DEFAULT_UNIT_DIR): Promise<{file: string; changed: boolean}> {
  const bin = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))
  const argv = [
    process.execPath, bin, 'supervise', '--interval', formatDuration(spec.intervalMs), '--split-brain', spec.splitBrain,
    '--split-brain-grace', formatDuration(spec.splitBrainGraceMs), '--repair-backoff', formatDuration(spec.backoffMs), '--max-repairs', String(spec.maxRepairs),
    ...(spec.metrics === undefined ? [] : ['--metrics', spec.metrics]),
    ...(spec.configFile === undefined ? [] : ['--config', spec.configFile]),
  ]
  const text = (await readFile(TEMPLATE, 'utf8'))
    .replaceAll('{{cluster}}', spec.cluster)
    .replace('{{execStart}}', argv.map(systemdQuote).join(' '))
    .replace('{{home}}', systemdQuote(spec.home))
  const file = join(dir, unitName(spec.cluster))
  if (existsSync(file) && (await readFile(file, 'utf8')) === text) return {file, changed: false}
  try {
    await mkdir(dir, {recursive: true})
    await writeFile(file, text, {mode: 0o644})
  } catch (e) {
    throw new RepctlError('HOST_ERROR', `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (installing a system unit needs root)`)
  }
  return {file, changed: true}
}

export async function uninstallUnit(cluster: string, dir = DEFAULT_UNIT_DIR): Promise<{file: string; changed: boolean}> {
  const file = join(dir, unitName(cluster))
  if (!existsSync(file)) return {file, changed: false}
  await rm(file)
  return {file, changed: true}
}
