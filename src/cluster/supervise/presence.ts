// Where a supervisor leaves its traces on this machine, and what they say:
// a pid file that is also its lock (two supervisors of one cluster would fight
// over the same nodes), and the events file that `status` reads for the last
// action and a restarted supervisor reads to keep its flapping guard.

import {closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {RepctlError} from '../../errors.js'
import {LocalHost} from '../../hosts/local-host.js'
import type {SuperviseEvent} from './round.js'

export interface SupervisorPaths { dir: string; pidFile: string; eventsFile: string }

export function supervisorPaths(cluster: string, home = homedir()): SupervisorPaths {
  const dir = join(home, '.repctl', 'supervisor')
  return {dir, pidFile: join(dir, `${cluster}.pid`), eventsFile: join(dir, `${cluster}.events.jsonl`)}
}

/** `status --json` → supervisor: whether one runs on this machine, and what it did last. */
export interface SupervisorInfo {
  running: boolean
  pid: number | null
  /** The newest repair or report event (null when there is none). */
  lastAction: SuperviseEvent | null
}

const local = new LocalHost('127.0.0.1')

/** The pid of this cluster's live supervisor, if one runs (a stale pid file, or a reused pid, does not count). */
async function livePid(paths: SupervisorPaths): Promise<number | undefined> {
  let text: string
  try { text = readFileSync(paths.pidFile, 'utf8') } catch { return undefined }
  const pid = Number(text.trim())
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined
  const info = await local.processInfo(pid)
  return info.alive && (info.commandLine === undefined || info.commandLine.includes('supervise')) ? pid : undefined
}

/** Take the cluster's supervisor lock; returns how to let it go. */
export async function claimSupervisor(cluster: string, home?: string): Promise<() => void> {
  const paths = supervisorPaths(cluster, home)
  mkdirSync(paths.dir, {recursive: true, mode: 0o700})
  const running = await livePid(paths)
  if (running !== undefined) throw new RepctlError('SUPERVISOR_RUNNING', `a supervisor of cluster ${cluster} already runs on this machine (pid ${running}, ${paths.pidFile})`)
  rmSync(paths.pidFile, {force: true})
  let fd: number
  try {
    fd = openSync(paths.pidFile, 'wx', 0o600)
  } catch {
    // Another supervisor claimed it between our check and now.
    throw new RepctlError('SUPERVISOR_RUNNING', `a supervisor of cluster ${cluster} is starting on this machine (${paths.pidFile})`)
  }
  writeSync(fd, `${process.pid}\n`)
  closeSync(fd)
  return () => {
    try {
      if (readFileSync(paths.pidFile, 'utf8').trim() === String(process.pid)) rmSync(paths.pidFile, {force: true})
    } catch { /* already gone */ }
  }
}

/** Past `limit` bytes (4 MiB) the events file becomes FILE.1 (one generation kept), so it never fills the disk. */
export function rotateEvents(file: string, limit = 4 * 1024 * 1024): void {
  if (existsSync(file) && statSync(file).size > limit) renameSync(file, `${file}.1`)
}

/** Every event in the file that parses (a torn last line after a crash is skipped). */
export function readEvents(eventsFile: string): SuperviseEvent[] {
  if (!existsSync(eventsFile)) return []
  const out: SuperviseEvent[] = []
  for (const line of readFileSync(eventsFile, 'utf8').split('\n')) {
    if (line.trim() === '') continue
    try {
      const e = JSON.parse(line) as SuperviseEvent
      // An event is a pair's (A,B) or a router's (pair null). Events written before keepalived was
      // supervised have no daemon, before routers no router, before codes no code, verdict, vipVerdict: read as null, so status --json keeps its shape.
      const about = typeof e.pair === 'string' || (e.pair === null && typeof e.router === 'string')
      if (typeof e.time === 'string' && about && typeof e.event === 'string') out.push({...e, router: e.router ?? null, daemon: e.daemon ?? null, code: e.code ?? null, verdict: e.verdict ?? null, vipVerdict: e.vipVerdict ?? null})
    } catch { /* torn line */ }
  }
  return out
}

export async function supervisorInfo(cluster: string, home?: string): Promise<SupervisorInfo> {
  const paths = supervisorPaths(cluster, home)
  const pid = await livePid(paths)
  const acts = readEvents(paths.eventsFile).filter((e) => e.event === 'repair' || e.event === 'report')
  return {running: pid !== undefined, pid: pid ?? null, lastAction: acts[acts.length - 1] ?? null}
}
