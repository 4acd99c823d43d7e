// The load generator: ../shared/tools/mcload.c, a C epoll client that is not
// the bottleneck on a 2-core machine. Found on PATH or compiled once into
// bench/.cache; the bench says which.

import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
export const REPO = join(HERE, '..', '..')
const SOURCE = join(REPO, '..', 'shared', 'tools', 'mcload.c')
const CACHED = join(REPO, 'bench', '.cache', 'mcload')

function which(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], {encoding: 'utf8'})
  return r.status === 0 ? r.stdout.trim() : undefined
}

/** Path of a usable mcload, and how it was found. */
export function locateMcload(): {path: string; how: string} {
  if (existsSync(SOURCE)) {
    const fresh = existsSync(CACHED) && statSync(CACHED).mtimeMs >= statSync(SOURCE).mtimeMs
    if (fresh) return {path: CACHED, how: `mcload compiled from ${SOURCE} (cached in bench/.cache)`}
    const cc = which('gcc') ?? which('cc')
    if (cc !== undefined) {
      mkdirSync(dirname(CACHED), {recursive: true})
      const r = spawnSync(cc, ['-O2', '-o', CACHED, SOURCE, '-lpthread'], {encoding: 'utf8'})
      if (r.status === 0) return {path: CACHED, how: `mcload compiled from ${SOURCE} with ${cc} -O2`}
      throw new Error(`cannot compile ${SOURCE}: ${r.stderr}`)
    }
  }
  const onPath = which('mcload')
  if (onPath !== undefined) return {path: onPath, how: `mcload from PATH (${onPath})`}
  throw new Error(`no load generator: install gcc (to compile ${SOURCE}) or put mcload on PATH`)
}

export interface LoadSpec {
  port: number
  conns?: number
  depth?: number
  seconds?: number
  warm?: number
  keys?: number
  value?: number
  getRatio?: number
  multiget?: number
  /** Server pid: its CPU time over the run is measured. */
  pid?: number
}

export interface LoadResult { ops: number; p50: number; p99: number; opsPerCpuS: number | null; errors: number; raw: string }

function loadArgs(s: LoadSpec): string[] {
  const args = ['-p', String(s.port), '-c', String(s.conns ?? 50), '-d', String(s.depth ?? 1), '-t', String(s.seconds ?? 4), '-W', String(s.warm ?? 1),
    '-k', String(s.keys ?? 10_000), '-v', String(s.value ?? 100), '-r', String(s.getRatio ?? 0.9), '-m', String(s.multiget ?? 1)]
  if (s.pid !== undefined) args.push('-P', String(s.pid))
  return args
}

export function runLoad(mcload: string, s: LoadSpec): LoadResult {
  const args = loadArgs(s)
  const r = spawnSync(mcload, args, {encoding: 'utf8', timeout: ((s.seconds ?? 4) + (s.warm ?? 1)) * 1000 + 120_000})
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  if (r.status !== 0) throw new Error(`mcload ${args.join(' ')} failed (${r.status ?? r.signal}): ${out}`)
  return parseLoad(out)
}

/** A server's CPU time so far, user and system, in seconds (/proc/PID/stat; clock ticks of 1/100 s on Linux). */
function cpuSeconds(pid: number): {user: number; system: number} {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return {user: Number(f[11]) / 100, system: Number(f[12]) / 100}
}

export interface MeasuredLoad extends LoadResult {
  /** Server CPU per request, µs, over the measured window (sampled when the warm-up ends and when mcload exits). */
  userUsPerOp: number
  systemUsPerOp: number
}

/** runLoad, plus the server's user and system CPU per request: where its time goes. Needs `pid`. */
export async function runLoadMeasured(mcload: string, s: LoadSpec & {pid: number}): Promise<MeasuredLoad> {
  const args = loadArgs(s)
  const child = spawn(mcload, args, {stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  let before: {user: number; system: number} | undefined
  const warm = setTimeout(() => { before = cpuSeconds(s.pid) }, (s.warm ?? 1) * 1000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(warm)
  const after = cpuSeconds(s.pid)
  if (code !== 0) throw new Error(`mcload ${args.join(' ')} failed (${code}): ${out}`)
  const r = parseLoad(out)
  const requests = r.ops * (s.seconds ?? 4)
  const from = before ?? after
  return {...r, userUsPerOp: (after.user - from.user) * 1e6 / requests, systemUsPerOp: (after.system - from.system) * 1e6 / requests}
}

function parseLoad(out: string): LoadResult {
  const num = (re: RegExp): number | null => { const m = re.exec(out); return m === null ? null : Number(m[1]) }
  return {
    ops: num(/RESULT ops=(\d+)/) ?? 0,
    p50: num(/RESULT ops=\d+ p50=(\d+)/) ?? 0,
    p99: num(/p99=(\d+) srvcpu/) ?? 0,
    opsPerCpuS: num(/ops_per_server_cpu_s=(\d+)/),
    errors: num(/errors=(\d+)/) ?? 0,
    raw: out,
  }
}
