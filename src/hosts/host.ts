// Everything repctl does to a machine goes through a Host: LocalHost for
// this machine, SshHost (later) for others. No other module runs processes.

export interface RunResult { exitCode: number; stdout: string; stderr: string }

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

  run(file: string, args: string[], opts?: {timeoutMs?: number}): Promise<RunResult>
  /**
   * Run a command that daemonizes (returns once its daemon is ready), with
   * its output, and its daemon's, appended to `logFile`.
   */
  runDaemon(file: string, args: string[], opts: {cwd: string; logFile: string; timeoutMs: number}): Promise<RunResult>
  readFile(path: string): Promise<string | undefined>
  writeFile(path: string, data: string | Buffer, mode: number): Promise<void>
  /** Create a directory (and parents) readable only by its owner. */
  makePrivateDir(path: string): Promise<void>
  sha256(path: string): Promise<string | undefined>
  /** Copy a file from this machine onto the host. */
  upload(localPath: string, remotePath: string, mode: number): Promise<void>
  processInfo(pid: number): Promise<ProcessInfo>
  signal(pid: number, signal: NodeJS.Signals): Promise<boolean>
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
