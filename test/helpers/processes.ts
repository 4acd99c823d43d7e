// Start and stop real server processes for tests: our bundled server and the
// real memcached. Every process is stopped by its own pid, never by name.

import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {connect} from 'node:net'
import {dirname, join} from 'node:path'
import {after, before} from 'node:test'
import {fileURLToPath} from 'node:url'
import {freePort} from './ports.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const SERVER_BUNDLE = join(ROOT, 'dist', 'repcached.mjs')

/** In CI (REPCTL_REQUIRE_TOOLS=1) a missing tool fails the test instead of skipping it. */
export const REQUIRE_TOOLS = process.env.REPCTL_REQUIRE_TOOLS === '1'

export interface RunningServer {
  readonly port: number
  readonly pid: number
  readonly process: ChildProcess
  /** stderr so far (logs). */
  readonly stderr: () => string
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export function which(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], {encoding: 'utf8'})
  const path = r.stdout.trim()
  return r.status === 0 && path !== '' ? path : undefined
}

/** Skip reason when a tool is missing (or throws in strict CI mode). */
export function toolMissing(tool: string): string | false {
  if (which(tool) !== undefined) return false
  if (REQUIRE_TOOLS) throw new Error(`${tool} is required (REPCTL_REQUIRE_TOOLS=1) but not installed; .ci/run installs it with apt-get`)
  return `${tool} not installed`
}

/** Poll until something accepts on host:port; `gaveUp()` returning a reason stops early (e.g. the process exited). */
export function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 5000, gaveUp: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const why = gaveUp()
      if (why !== undefined) { reject(new Error(why)); return }
      const sock = connect({port, host})
      sock.once('connect', () => { sock.destroy(); resolve() })
      sock.once('error', () => {
        sock.destroy()
        if (Date.now() > deadline) reject(new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`))
        else setTimeout(attempt, 20)
      })
    }
    attempt()
  })
}

function track(child: ChildProcess, port: number, stopGraceMs = 5000): RunningServer {
  let err = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (d: string) => { err += d })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig === null ? null : 128))))
  return {
    port,
    pid: child.pid!,
    process: child,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), stopGraceMs)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

export interface LaunchOptions {
  port?: number
  host?: string
  readyTimeoutMs?: number
  stopGraceMs?: number
  /** Extra environment variables for the child (on top of this process's environment). */
  env?: Record<string, string>
}

/** Spawn a server on a (free) loopback port and wait until it accepts connections. */
export async function launch(file: string, args: (port: number) => string[], label: string, opts: LaunchOptions = {}): Promise<RunningServer> {
  const port = opts.port ?? await freePort()
  const env = opts.env === undefined ? process.env : {...process.env, ...opts.env}
  const child = spawn(file, args(port), {stdio: ['ignore', 'ignore', 'pipe'], env})
  const server = track(child, port, opts.stopGraceMs)
  try {
    // A process that exits before it accepts (a bad flag, a port in use) fails at once, not after the timeout.
    const exited = (): string | undefined => child.exitCode !== null || child.signalCode !== null
      ? `${label} exited (${child.exitCode ?? child.signalCode}) before accepting connections on port ${port}`
      : undefined
    await waitForPort(port, opts.host, opts.readyTimeoutMs, exited)
  } catch (e) {
    await server.stop('SIGKILL')
    // Let the last of stderr arrive (it may trail the exit) so the message shows why.
    const err = child.stderr
    if (err !== null && !err.closed) await new Promise<void>((r) => { const t = setTimeout(r, 500); err.once('close', () => { clearTimeout(t); r() }) })
    throw new Error(`${(e as Error).message}\n${label} stderr:\n${server.stderr()}`)
  }
  return server
}

/** Our server from the bundle, on a free loopback port. */
export async function startOurServer(args: string[] = []): Promise<RunningServer> {
  if (!existsSync(SERVER_BUNDLE)) throw new Error(`${SERVER_BUNDLE} is missing; run npm run bundle`)
  // Without replication flags, -X 0: a plain cache that does not claim the default replication port.
  const replication = args.some((a) => a.startsWith('-x') || a.startsWith('-X')) ? [] : ['-X', '0']
  return launch(process.execPath, (port) => [SERVER_BUNDLE, '-p', String(port), '-l', '127.0.0.1', ...replication, ...args], 'repcached')
}

/**
 * The real memcached and our server side by side for the tests of one
 * suite: started before, stopped after. Call inside describe().
 */
export function serversSideBySide(oursArgs: string[] = [], theirsArgs: string[] = []): {theirs: () => RunningServer; ours: () => RunningServer} {
  let theirs: RunningServer | undefined
  let ours: RunningServer | undefined
  before(async () => { [theirs, ours] = await Promise.all([startMemcached(theirsArgs), startOurServer(oursArgs)]) })
  after(async () => { await Promise.all([theirs?.stop(), ours?.stop()]) })
  return {theirs: () => theirs!, ours: () => ours!}
}

/** The real memcached, on a free loopback port (TCP only). */
export async function startMemcached(args: string[] = []): Promise<RunningServer> {
  const bin = which('memcached')
  if (bin === undefined) throw new Error('memcached is not installed')
  const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : []
  return launch(bin, (port) => ['-p', String(port), '-l', '127.0.0.1', '-U', '0', ...asRoot, ...args], 'memcached')
}

/** The pid a daemon's pid file names, or undefined (no file, or not a pid). */
export function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch { return undefined }
}
