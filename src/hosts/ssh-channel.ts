// Commands and SFTP over a host's SSH session: a command line runs in an exec
// channel (the remote login shell parses it), bounded by its timer; a command
// given up on is killed on the host by the pid it printed first. At most a few
// channels are open at once (sshd's MaxSessions), fewer if the server says so.

import {constants as osConstants} from 'node:os'
import type {ClientChannel, SFTPWrapper} from 'ssh2'
import {RepctlError} from '../errors.js'
import {shellQuote} from './shell-quote.js'
import {seconds, type Connection, type SshSession} from './ssh-session.js'

export interface ExecOptions {
  /** Omit for no bound (follow only). */
  timeoutMs?: number
  stdin?: string | Buffer
  /** The command prints the pid of the process it execs as its first stdout line: on timeout or abort it is killed. */
  pidLine?: boolean
  onStdout?: (chunk: Buffer) => void
  signal?: AbortSignal
}

export interface ExecResult {
  exitCode: number
  stdout: Buffer
  stderr: Buffer
  timedOut: boolean
  aborted: boolean
}

/** OpenSSH allows 10 sessions per connection (MaxSessions); leave room for SFTP and kills. */
const MAX_CHANNELS = 6
const KILL_TIMEOUT_MS = 5000

/** Waiters for a limited number of open channels. */
class Slots {
  private active = 0
  private readonly waiting: (() => void)[] = []
  constructor(private limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r))
    this.active++
    let released = false
    return () => {
      if (released) return
      released = true
      this.active--
      this.waiting.shift()?.()
    }
  }

  /** The server refused a channel while `active` were open: never ask for more than that again. */
  lower(): boolean {
    if (this.active <= 1) return false
    this.limit = Math.max(1, this.active - 1)
    return true
  }
}

/** The server would not open one more channel (MaxSessions). */
class ChannelRefused extends Error {}

export class SshChannels {
  private readonly slots = new Slots(MAX_CHANNELS)
  /** Remote kills under way (drain() lets them finish). */
  private readonly kills = new Set<Promise<void>>()

  constructor(private readonly session: SshSession, private readonly where: string, private readonly commandTimeoutMs: number) {}

  /** Wait for the remote kills under way (before the session closes). */
  async drain(): Promise<void> {
    await Promise.all([...this.kills])
  }

  /** Run a command line in the remote login shell, bounded by opts.timeoutMs. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const conn = await this.session.connection()
    for (;;) {
      const release = await this.slots.acquire()
      try {
        return await this.execOnce(conn, command, opts)
      } catch (e) {
        // MaxSessions on the server is lower than our limit: wait for a channel and try again.
        if (e instanceof ChannelRefused && this.slots.lower()) continue
        if (e instanceof ChannelRefused) throw new RepctlError('HOST_ERROR', `${this.where} refused to open an SSH channel: ${e.message}`)
        throw e
      } finally {
        release()
      }
    }
  }

  /** exec for repctl's own scripts: a timeout is an error naming the operation. */
  async script(command: string, what: string, opts: Omit<ExecOptions, 'timeoutMs'> = {}): Promise<ExecResult> {
    const r = await this.exec(command, {...opts, timeoutMs: this.commandTimeoutMs})
    if (r.timedOut) throw new RepctlError('SSH_TIMEOUT', `${what} on ${this.where} did not finish within ${seconds(this.commandTimeoutMs)}`)
    return r
  }

  /** The connection's SFTP session, opened on first use; waiting for it is bounded per caller. */
  async sftp(purpose: string): Promise<SFTPWrapper> {
    const conn = await this.session.connection()
    let p = conn.sftp
    if (p === undefined) {
      const opening = new Promise<SFTPWrapper>((resolve, reject) => {
        conn.client.sftp((e: Error | undefined, sftp: SFTPWrapper) => {
          if (e !== undefined) { reject(new RepctlError('HOST_ERROR', `${this.where} refused an SFTP session: ${e.message}`, ['enable the sftp subsystem in the host\'s sshd_config (Subsystem sftp internal-sftp)'])); return }
          sftp.on('close', () => { if (conn.sftp === opening) conn.sftp = undefined })
          resolve(sftp)
        })
      })
      conn.sftp = p = opening
      opening.catch(() => { if (conn.sftp === opening) conn.sftp = undefined })
    }
    try {
      return await this.bounded(`opening an SFTP session for ${purpose}`, p)
    } catch (e) {
      if (conn.sftp === p) conn.sftp = undefined // a hung open is not reused
      throw e
    }
  }

  /** `p`, or SSH_TIMEOUT after commandTimeoutMs. */
  bounded<T>(what: string, p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new RepctlError('SSH_TIMEOUT', `${what} on ${this.where} did not finish within ${seconds(this.commandTimeoutMs)}`)), this.commandTimeoutMs)
      p.then((v) => { clearTimeout(t); resolve(v) }, (e: unknown) => { clearTimeout(t); reject(e) })
    })
  }

  private execOnce(conn: Connection, command: string, opts: ExecOptions): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = []
      const err: Buffer[] = []
      let pidText: string | undefined = opts.pidLine === true ? '' : undefined
      let pid: number | undefined
      let exit: {code: number | null; signal?: string} | undefined
      let channel: ClientChannel | undefined
      let done = false
      let timedOut = false
      let aborted = false

      const cleanup = (): void => {
        done = true
        if (timer !== undefined) clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
      }
      const stop = (): void => {
        if (pid !== undefined) void this.killRemote(pid)
        channel?.close()
        finish()
      }
      const finish = (): void => {
        if (done) return
        cleanup()
        let exitCode: number
        if (timedOut) exitCode = 124
        else if (aborted) exitCode = 130
        else if (exit === undefined) {
          reject(conn.closed
            ? new RepctlError('HOST_UNREACHABLE', `lost the SSH connection to ${this.where}`)
            : new RepctlError('HOST_ERROR', `${this.where} closed a command's channel without an exit status`))
          return
        } else if (exit.code !== null) exitCode = exit.code
        else {
          const n = exit.signal === undefined ? undefined : (osConstants.signals as Record<string, number>)[exit.signal]
          exitCode = n === undefined ? 1 : 128 + n
        }
        resolve({exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut, aborted})
      }
      const onAbort = (): void => { aborted = true; stop() }
      const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; stop() }, opts.timeoutMs)
      if (opts.signal?.aborted === true) { aborted = true; finish(); return }
      opts.signal?.addEventListener('abort', onAbort, {once: true})

      const onStdout = (d: Buffer): void => {
        if (pidText !== undefined) {
          // The first line is the pid of the process the command execs.
          const text = pidText + d.toString('latin1')
          const nl = text.indexOf('\n')
          if (nl === -1) { pidText = text; return }
          const n = Number(text.slice(0, nl).trim())
          if (Number.isInteger(n) && n > 0) {
            pid = n
            if (done && (timedOut || aborted)) void this.killRemote(n) // stopped before the pid was known
          }
          pidText = undefined
          d = Buffer.from(text.slice(nl + 1), 'latin1')
          if (d.length === 0) return
        }
        if (opts.onStdout !== undefined) opts.onStdout(d)
        else out.push(d)
      }

      try {
        conn.client.exec(command, (e: Error | undefined, ch: ClientChannel) => {
          if (e !== undefined) {
            if (done) return
            cleanup()
            reject(conn.closed ? new RepctlError('HOST_UNREACHABLE', `lost the SSH connection to ${this.where}`) : new ChannelRefused(e.message))
            return
          }
          channel = ch
          if (done) { ch.close(); return }
          ch.on('data', onStdout)
          ch.stderr.on('data', (d: Buffer) => err.push(d))
          ch.on('exit', (code: number | null, signal?: string) => { exit = {code, ...(signal === undefined ? {} : {signal})} })
          ch.on('close', finish)
          ch.on('error', () => undefined) // reported through close without an exit status
          if (opts.stdin === undefined) ch.end()
          else ch.end(opts.stdin)
        })
      } catch (e) {
        // ssh2 throws when the connection is not open (any more).
        cleanup()
        reject(new RepctlError('HOST_UNREACHABLE', `lost the SSH connection to ${this.where}: ${(e as Error).message}`))
      }
    })
  }

  /** Best effort: TERM a remote process whose command we gave up on (bounded; never throws; drain() waits for it). */
  private killRemote(pid: number): Promise<void> {
    const kill = (async () => {
      const conn = await this.session.existing()
      if (conn === undefined || conn.closed) return
      await this.execOnce(conn, `kill -s TERM ${shellQuote(String(pid))} 2>/dev/null`, {timeoutMs: KILL_TIMEOUT_MS}).catch(() => undefined)
    })()
    this.kills.add(kill)
    void kill.finally(() => this.kills.delete(kill))
    return kill
  }
}
