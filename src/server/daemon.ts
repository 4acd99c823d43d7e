// -d, -P and -u. Node cannot fork, so -d re-runs this program detached and
// waits until the child reports that it listens (or why it could not), then
// exits with the child's verdict: a failed start is never reported as success.

import {spawn} from 'node:child_process'
import {readFileSync, unlinkSync, writeFileSync} from 'node:fs'

const CHILD_ENV = 'REPCACHED_DAEMON_CHILD'

export function isDaemonChild(): boolean {
  return process.env[CHILD_ENV] === '1'
}

/** In the parent: start the detached child and exit with its start-up result. */
export function daemonize(verbose: boolean): Promise<never> {
  const script = process.argv[1]
  if (script === undefined) throw new Error('cannot daemonize: unknown script path')
  const out = verbose ? 'inherit' : 'ignore'
  const child = spawn(process.execPath, [...process.execArgv, script, ...process.argv.slice(2)], {
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    env: {...process.env, [CHILD_ENV]: '1'},
  })
  return new Promise<never>(() => {
    child.on('message', (m: unknown) => {
      if (m === 'ready') {
        child.disconnect()
        child.unref()
        process.exit(0)
      }
    })
    child.on('exit', (code) => process.exit(code ?? 1))
    child.on('error', (e) => {
      process.stderr.write(`repcached: cannot start the daemon: ${e.message}\n`)
      process.exit(1)
    })
  })
}

/** In the daemon child: tell the waiting parent we are serving, and let it go. */
export function reportReady(): void {
  if (process.send !== undefined) {
    process.send('ready')
    process.disconnect()
  }
}

export function writePidFile(path: string): void {
  try {
    writeFileSync(path, `${process.pid}\n`)
  } catch (e) {
    throw new Error(`cannot write pid file ${path}: ${(e as Error).message}; check the directory exists and is writable`)
  }
}

/** After a failed start: the pid file as it was before (another instance's), or none. */
export function restorePidFile(path: string, previous: string | undefined): void {
  if (previous === undefined || previous.trim() === String(process.pid)) { removePidFile(path); return }
  try { writeFileSync(path, previous) } catch { /* leave it */ }
}

/** Remove the pid file if it still names this process. */
export function removePidFile(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
  } catch {
    // Already gone or unreadable: nothing of ours to clean up.
  }
}

interface PasswdEntry { uid: number; gid: number }

function lookupUser(name: string): PasswdEntry | undefined {
  let passwd: string
  try { passwd = readFileSync('/etc/passwd', 'utf8') } catch { return undefined }
  for (const line of passwd.split('\n')) {
    const f = line.split(':')
    if (f[0] === name && f.length >= 4) return {uid: Number(f[2]), gid: Number(f[3])}
  }
  return undefined
}

/** -u as root: switch to the user once the ports are bound, as memcached does. */
export function dropPrivileges(user: string): void {
  const entry = lookupUser(user)
  if (entry === undefined) throw new Error(`-u: can't find the user ${user} to switch to`)
  const withGroups = process as NodeJS.Process & {initgroups?: (user: string, group: number) => void}
  withGroups.initgroups?.(user, entry.gid)
  process.setgid?.(entry.gid)
  process.setuid?.(entry.uid)
}
