// A daemon repctl manages on a host (the node's server, keepalived, ...):
// started through Host.runDaemon, known afterwards only by the pid file it
// writes and a marker in its command line, stopped with SIGTERM then SIGKILL.
// And the files such a daemon needs on its host, copied only when changed.
//
// Two kinds of start fit: a program that returns once its daemon is ready
// having written the pid file (repcached -d), and one that forks and returns at
// once, its daemon writing the pid file a moment later (keepalived without -n):
// after the program returns, the pid file is awaited for a bounded time.

import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {isAbsolute} from 'node:path'
import {RepctlError, type ErrorCode} from '../errors.js'
import type {Host} from '../hosts/host.js'
import {requireRoot} from '../hosts/privilege.js'

export type ProcessState = 'running' | 'stopped' | 'unknown'
export type StopOutcome = 'stopped' | 'killed' | 'not_running'

/** What tells a daemon's process apart, and how it is stopped. */
export interface DaemonSpec {
  /** For messages: "node node1", "keepalived of node1". */
  name: string
  /** Written by the daemon itself (repcached -P, keepalived -p). */
  pidFile: string
  /** A string its /proc/PID/cmdline must hold: a pid file outlives a crash, and pids are reused. */
  marker: string
  /** Between SIGTERM and SIGKILL. */
  stopTimeoutMs: number
  /** Start and signal it as root (the host's login, or its privilege escalation: Host.run asRoot). */
  asRoot?: boolean
  /** Catalogue codes of start and stop failures; default DAEMON_START_FAILED, DAEMON_STOP_FAILED. */
  errors?: {start: ErrorCode; stop: ErrorCode}
}

/** A daemon and how it is started. */
export interface DaemonStart extends DaemonSpec {
  file: string
  args: string[]
  cwd: string
  /** Where the program's and its daemon's stdout and stderr are appended. */
  logFile: string
  /** Bound on the program (which returns once its daemon is ready or forked). */
  startTimeoutMs: number
  /** Bound on the pid file's appearance after the program returned; default 5000. */
  pidFileTimeoutMs?: number
}

export interface DaemonProcess {
  pid: number | null
  process: ProcessState
  commandLine?: string
  /** With process 'unknown': the host's own error (unreachable, host key, auth...), which names the host and what to do. */
  hostError?: RepctlError
}

const PID_FILE_TIMEOUT_MS = 5000
const KILL_TIMEOUT_MS = 5000

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}

/** The pid of the running daemon, or why there is none ('unknown': its host could not be asked, and its error). */
export async function daemonProcess(host: Host, spec: Pick<DaemonSpec, 'name' | 'pidFile' | 'marker'>): Promise<DaemonProcess> {
  let text: string | undefined
  try {
    text = await host.readFile(spec.pidFile)
  } catch (e) {
    return {pid: null, process: 'unknown', hostError: hostError(e, `cannot read the state of ${spec.name} on ${host.label}`)}
  }
  const pid = text === undefined ? NaN : Number(text.trim())
  if (!Number.isInteger(pid) || pid <= 0) return {pid: null, process: 'stopped'}
  try {
    const info = await host.processInfo(pid)
    const ours = info.alive && (info.commandLine === undefined || info.commandLine.includes(spec.marker))
    return ours ? {pid, process: 'running', commandLine: info.commandLine} : {pid: null, process: 'stopped'}
  } catch (e) {
    return {pid, process: 'unknown', hostError: hostError(e, `cannot tell whether ${spec.name} (pid ${pid}) runs on ${host.label}`)}
  }
}

/** A host's error as met: repctl's own (it names the host and what to do), or a plain one under `what`. */
function hostError(e: unknown, what: string): RepctlError {
  return e instanceof RepctlError ? e : new RepctlError('HOST_ERROR', `${what}: ${(e as Error).message}`)
}

/** The error to stop an operation with, for a daemon whose host could not be asked. */
export function unobservable(proc: DaemonProcess, host: Host, spec: Pick<DaemonSpec, 'name'>): RepctlError {
  return proc.hostError ?? new RepctlError('HOST_ERROR', `cannot tell whether ${spec.name} runs on ${host.label}`)
}

async function lastLogLine(host: Host, logFile: string): Promise<string | undefined> {
  const text = await host.tail(logFile, 3).catch(() => '')
  return text.trim().split('\n').filter((l) => l !== '').pop()
}

/** Start the daemon; resolves with its pid once its pid file names its running process. */
export async function startDaemon(host: Host, spec: DaemonStart): Promise<number> {
  const code = spec.errors?.start ?? 'DAEMON_START_FAILED'
  const failed = async (why: string): Promise<RepctlError> => {
    const log = await lastLogLine(host, spec.logFile)
    return new RepctlError(code, `${spec.name} on ${host.label} ${why}${log === undefined ? '' : `: ${log}`}`)
  }
  if (spec.asRoot === true) requireRoot(host, spec.name)
  const r = await host.runDaemon(spec.file, spec.args, {cwd: spec.cwd, logFile: spec.logFile, timeoutMs: spec.startTimeoutMs, asRoot: spec.asRoot})
  if (r.exitCode !== 0) throw await failed(r.exitCode === 124 ? `did not come up within ${seconds(spec.startTimeoutMs)}` : `exited with code ${r.exitCode}`)
  const bound = spec.pidFileTimeoutMs ?? PID_FILE_TIMEOUT_MS
  const end = Date.now() + bound
  for (;;) {
    const proc = await daemonProcess(host, spec)
    if (proc.pid !== null && proc.process === 'running') return proc.pid
    if (proc.process === 'unknown') throw unobservable(proc, host, spec)
    if (Date.now() >= end) {
      const written = await host.readFile(spec.pidFile).catch(() => undefined)
      throw await failed(written === undefined || written.trim() === ''
        ? `started but wrote no pid file at ${spec.pidFile} within ${seconds(bound)}`
        : `started but its process (pid file ${spec.pidFile}: ${written.trim()}) is not running`)
    }
    await new Promise((res) => setTimeout(res, 50))
  }
}

/** SIGTERM, wait stopTimeoutMs, SIGKILL as a last resort. Nothing running is fine. */
export async function stopDaemon(host: Host, spec: DaemonSpec): Promise<StopOutcome> {
  const proc = await daemonProcess(host, spec)
  if (proc.process === 'unknown') throw unobservable(proc, host, spec)
  const pid = proc.pid
  if (pid === null) return 'not_running'
  const asRoot = {asRoot: spec.asRoot}
  await host.signal(pid, 'SIGTERM', asRoot)
  if (await waitGone(host, pid, spec.stopTimeoutMs)) return 'stopped'
  await host.signal(pid, 'SIGKILL', asRoot)
  if (await waitGone(host, pid, KILL_TIMEOUT_MS)) return 'killed'
  throw new RepctlError(spec.errors?.stop ?? 'DAEMON_STOP_FAILED', `${spec.name} (pid ${pid}) on ${host.label} survived SIGKILL`)
}

/** Whether process `pid` is gone within `timeoutMs`. */
export async function waitGone(host: Host, pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (!(await host.processInfo(pid)).alive) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return !(await host.processInfo(pid)).alive
}

/** A file a daemon needs on its host: a local file to copy, or content (a rendered config). */
export type SyncedFile = ({localPath: string} | {content: string | Buffer}) & {remotePath: string; mode: number}

/**
 * Put the file on the host unless an identical copy is there (sha256 of both).
 * The directory must exist (ensureDir). A changed mode alone is not repaired.
 */
export async function syncFile(host: Host, file: SyncedFile): Promise<'installed' | 'unchanged'> {
  const data = 'content' in file ? file.content : await readFile(file.localPath)
  if (createHash('sha256').update(data).digest('hex') === await host.sha256(file.remotePath)) return 'unchanged'
  if ('content' in file) await host.writeFile(file.remotePath, file.content, file.mode)
  else await host.upload(file.localPath, file.remotePath, file.mode)
  return 'installed'
}

/** Create a private directory (0700) on the host; `what` names it in the error ("the state directory D of node N"). */
export async function ensureDir(host: Host, path: string, what: string): Promise<void> {
  try {
    await host.makePrivateDir(path)
  } catch (e) {
    throw new RepctlError('HOST_ERROR', `cannot create ${what} on ${host.label}: ${(e as Error).message}`)
  }
}

/** Where a daemon's program is looked for beyond the login's PATH (a non-root login's PATH often lacks the sbin directories). */
const PROGRAM_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin']

/** A program on the host (absolute path), or undefined when it is not installed. `name`: a plain file name. */
export async function findProgram(host: Host, name: string): Promise<string | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`findProgram: not a program name: ${name}`)
  const candidates = ['"$(command -v "$1" 2>/dev/null)"', ...PROGRAM_DIRS.map((d) => `"${d}/$1"`)].join(' ')
  const r = await host.run('sh', ['-c', `for c in ${candidates}; do case $c in /*) if [ -x "$c" ]; then echo "$c"; exit 0; fi;; esac; done; exit 1`, 'sh', name], {timeoutMs: 10_000})
  const path = r.stdout.trim()
  return r.exitCode === 0 && isAbsolute(path) ? path : undefined
}
