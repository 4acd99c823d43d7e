import {createHash} from 'node:crypto'
import {closeSync, openSync} from 'node:fs'
import {chmod, copyFile, mkdir, open, readFile, rename, stat, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {homedir} from 'node:os'
import {dirname} from 'node:path'
import {execa} from 'execa'
import type {DaemonOptions, Escalation, Host, ProcessInfo, RunOptions, RunResult} from './host.js'
import {checkSudo, rootArgv} from './privilege.js'

export interface LocalHostOptions {
  /** How to run a command as root when repctl does not run as root; default 'none'. */
  escalation?: Escalation
}

/** This machine: processes through execa, files through fs. */
export class LocalHost implements Host {
  readonly transport = 'local' as const
  readonly nodePath = process.execPath
  readonly privileged = process.getuid?.() === 0
  readonly escalation: Escalation

  constructor(readonly address = '127.0.0.1', opts: LocalHostOptions = {}) {
    this.escalation = opts.escalation ?? 'none'
  }

  get label(): string { return `${this.address} (local)` }

  /** [file, ...args], as root when asked (privilege.ts). */
  private argv(file: string, args: string[], asRoot: boolean | undefined): string[] {
    return asRoot === true ? rootArgv(this, [file, ...args]) : [file, ...args]
  }

  async run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const [cmd, ...rest] = this.argv(file, args, opts.asRoot)
    const r = await execa(cmd!, rest, {reject: false, timeout: opts.timeoutMs, stdin: 'ignore'})
    const result = {exitCode: r.exitCode ?? (r.timedOut ? 124 : 1), stdout: String(r.stdout), stderr: String(r.stderr)}
    checkSudo(this, [cmd!], file, result.stderr)
    return result
  }

  async runDaemon(file: string, args: string[], opts: DaemonOptions): Promise<RunResult> {
    const [cmd, ...rest] = this.argv(file, args, opts.asRoot)
    const fd = openSync(opts.logFile, 'a', 0o600)
    try {
      // The daemon inherits the log file as its stdout/stderr and outlives us.
      const r = await execa(cmd!, rest, {cwd: opts.cwd, reject: false, timeout: opts.timeoutMs, stdin: 'ignore', stdout: fd as 1, stderr: fd as 2, cleanup: false})
      return {exitCode: r.exitCode ?? (r.timedOut ? 124 : 1), stdout: '', stderr: ''}
    } finally {
      closeSync(fd)
    }
  }

  async readFile(path: string): Promise<string | undefined> {
    try { return await readFile(path, 'utf8') } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; throw e }
  }

  async writeFile(path: string, data: string | Buffer, mode: number): Promise<void> {
    const tmp = `${path}.tmp-${process.pid}`
    await writeFile(tmp, data, {mode})
    await rename(tmp, path)
  }

  async makePrivateDir(path: string): Promise<void> {
    await mkdir(path, {recursive: true, mode: 0o700})
    await chmod(path, 0o700)
  }

  async sha256(path: string): Promise<string | undefined> {
    try { return createHash('sha256').update(await readFile(path)).digest('hex') } catch { return undefined }
  }

  async upload(localPath: string, remotePath: string, mode: number): Promise<void> {
    await mkdir(dirname(remotePath), {recursive: true, mode: 0o700})
    const tmp = `${remotePath}.tmp-${process.pid}`
    await copyFile(localPath, tmp)
    await chmod(tmp, mode)
    await rename(tmp, remotePath)
  }

  async processInfo(pid: number): Promise<ProcessInfo> {
    try {
      process.kill(pid, 0)
    } catch (e) {
      // EPERM: alive but not ours to signal.
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') return {alive: false}
    }
    try {
      const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8')
      if (raw === '') return {alive: false} // a zombie
      return {alive: true, commandLine: raw.split('\0').filter((x) => x !== '').join(' ')}
    } catch {
      return {alive: true}
    }
  }

  async signal(pid: number, signal: NodeJS.Signals, opts: {asRoot?: boolean} = {}): Promise<boolean> {
    if (opts.asRoot === true && !this.privileged) {
      if (!/^SIG[A-Z0-9+-]+$/.test(signal)) throw new Error(`not a signal name: ${signal}`)
      return (await this.run('kill', ['-s', signal.slice(3), String(pid)], {asRoot: true})).exitCode === 0
    }
    try { process.kill(pid, signal); return true } catch { return false }
  }

  portFree(address: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const srv = createServer()
      srv.once('error', () => resolve(false))
      srv.listen({port, host: address, exclusive: true}, () => srv.close(() => resolve(true)))
    })
  }

  async homeDir(): Promise<string> {
    return homedir()
  }

  async nodeVersion(): Promise<string | undefined> {
    return process.versions.node
  }

  async tail(path: string, lines: number): Promise<string> {
    const text = await this.readFile(path)
    if (text === undefined || lines <= 0) return ''
    const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
    return all.slice(-lines).join('\n') + (all.length > 0 && text !== '' ? '\n' : '')
  }

  async follow(path: string, onData: (text: string) => void, signal: AbortSignal): Promise<void> {
    let offset = (await stat(path).catch(() => undefined))?.size ?? 0
    while (!signal.aborted) {
      const size = (await stat(path).catch(() => undefined))?.size ?? 0
      if (size < offset) offset = 0 // truncated or replaced
      if (size > offset) {
        const fh = await open(path, 'r')
        try {
          const buf = Buffer.alloc(size - offset)
          await fh.read(buf, 0, buf.length, offset)
          offset = size
          onData(buf.toString('utf8'))
        } finally { await fh.close() }
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  async close(): Promise<void> {}
}
