// Everything repctl does to a machine goes through a Host: LocalHost for
// this machine, SshHost (later) for others. No other module runs processes.

export interface RunResult { exitCode: number; stdout: string; stderr: string }

/**
 * How a host runs a command asked to run as root when its login is not root:
 * 'sudo' (`sudo -n`, a password-less rule), or 'none' (such a command is
 * refused with PRIVILEGE_NEEDED). See privilege.ts.
 */
export type Escalation = 'none' | 'sudo'

export interface RunOptions {
  timeoutMs?: number
  /** Run as root: as is when the login is root, else through the host's escalation. */
  asRoot?: boolean
}

export interface DaemonOptions {
  cwd: string
  logFile: string
  timeoutMs: number
  /** Start it as root (as RunOptions.asRoot); the log file is still opened as the login user. */
  asRoot?: boolean
}

export interface ProcessInfo {
  alive: boolean
  /** The command line, NUL-separated arguments joined by spaces, when readable. */
  commandLine?: string
}

export interface Host {
  /** For messages: "127.0.0.1 (local)". */
  readonly label: string
  readonly transport: 'local' | 'ssh'
  /** The Node.js runtime to start servers with on this host. */
  readonly nodePath: string
  /** Whether the login is root (uid 0 here; the user named root over SSH). */
  readonly privileged: boolean
  /** How a command given `asRoot` runs when the login is not root. */
  readonly escalation: Escalation

  run(file: string, args: string[], opts?: RunOptions): Promise<RunResult>
  /**
   * Run a command that daemonizes, with its output, and its daemon's,
   * appended to `logFile`. Resolves when the command exits: once its daemon
   * is ready (repcached -d), or at once for one that forks and lets its daemon
   * get ready afterwards (keepalived).
   */
  runDaemon(file: string, args: string[], opts: DaemonOptions): Promise<RunResult>
  readFile(path: string): Promise<string | undefined>
  writeFile(path: string, data: string | Buffer, mode: number): Promise<void>
  /** Create a directory (and parents) readable only by its owner. */
  makePrivateDir(path: string): Promise<void>
  sha256(path: string): Promise<string | undefined>
  /** Copy a file from this machine onto the host. */
  upload(localPath: string, remotePath: string, mode: number): Promise<void>
  processInfo(pid: number): Promise<ProcessInfo>
  /** Whether the signal was delivered; `asRoot` for a process of another user (a daemon started asRoot). */
  signal(pid: number, signal: NodeJS.Signals, opts?: {asRoot?: boolean}): Promise<boolean>
  /** Whether nothing listens on address:port of the host. */
  portFree(address: string, port: number): Promise<boolean>
  /** The login user's home directory on the host (what ~ means in an SSH node's state dir). */
  homeDir(): Promise<string>
  /** Node.js version of `nodePath` (e.g. "20.20.2"), or undefined if missing. */
  nodeVersion(): Promise<string | undefined>
  /** The last `lines` lines of a file ('' if missing). */
  tail(path: string, lines: number): Promise<string>
  /** Call `onData` with what is appended to the file until `signal` aborts. */
  follow(path: string, onData: (text: string) => void, signal: AbortSignal): Promise<void>
  close(): Promise<void>
}
