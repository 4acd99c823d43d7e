// Managed daemons (src/cluster/daemon.ts) on this machine, with real
// processes: a program that forks and returns at once while its daemon writes
// the pid file a moment later (as keepalived does), pid reuse, SIGTERM then
// SIGKILL, failed starts named with their log line; and syncFile.

import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, afterEach, before, describe, it} from 'node:test'
import {daemonProcess, ensureDir, startDaemon, stopDaemon, syncFile, type DaemonStart} from '../../src/cluster/daemon.js'
import {RepctlError, type ErrorCode} from '../../src/errors.js'
import {LocalHost} from '../../src/hosts/local-host.js'

const host = new LocalHost()
let tmp: string
/** Pids of every daemon a test started (each writes `<pid file>.seen` at once), killed afterwards. */
const seenFiles = new Set<string>()
const children = new Set<ChildProcess>()

/**
 * The daemon: writes its pid to `<pidFile>.seen` at once and to `pidFile` after `delay` ms
 * ('never': not at all), prints a line, and on SIGTERM exits ('exit') or carries on ('ignore').
 * With 'die' it writes the pid file and exits at once.
 */
const DAEMON = `const fs=require('fs');const [pidFile,delay,onTerm]=process.argv.slice(1);
fs.writeFileSync(pidFile+'.seen',process.pid+'\\n');
process.on('SIGTERM',()=>{if(onTerm==='exit')process.exit(0)});
console.log('daemon '+process.pid+' up, pid file in '+delay+' ms');
if(onTerm==='die'){fs.writeFileSync(pidFile,process.pid+'\\n');process.exit(3)}
if(delay!=='never')setTimeout(()=>fs.writeFileSync(pidFile,process.pid+'\\n'),Number(delay));
setInterval(()=>{},1e6)`
/** The program: starts the daemon detached (its output to ours, the log) and returns at once. */
const STARTER = `const c=require('child_process').spawn(process.execPath,['-e',process.argv[1],'--',...process.argv.slice(2)],{detached:true,stdio:['ignore','inherit','inherit']});
c.unref();console.log('forked '+c.pid)`

function daemon(name: string, delay: string, onTerm: 'exit' | 'ignore' | 'die', over: Partial<DaemonStart> = {}): DaemonStart {
  const pidFile = join(tmp, `${name}.pid`)
  const marker = `marker-${randomBytes(6).toString('hex')}`
  seenFiles.add(`${pidFile}.seen`)
  return {
    name: `test daemon ${name}`, file: process.execPath, args: ['-e', STARTER, '--', DAEMON, pidFile, delay, onTerm, marker],
    cwd: tmp, logFile: join(tmp, `${name}.log`), pidFile, marker, startTimeoutMs: 5000, stopTimeoutMs: 2000, ...over,
  }
}

/** Signalable and not a zombie (a daemon whose starter exited is reaped by PID 1, sometimes late). */
function alive(pid: number): boolean {
  try { process.kill(pid, 0) } catch { return false }
  try { return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z') } catch { return false }
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, ...parts: string[]): Promise<RepctlError> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof RepctlError, `expected ${code}, got ${(e as Error).stack}`)
    assert.equal(e.code, code, e.message)
    for (const part of parts) assert.ok(e.message.includes(part), `message lacks ${JSON.stringify(part)}: ${e.message}`)
    return e
  }
  assert.fail(`expected ${code}, but it succeeded`)
}

before(() => { tmp = mkdtempSync(join(tmpdir(), 'repctl-daemon-')) })
afterEach(() => {
  for (const f of seenFiles) {
    if (!existsSync(f)) continue
    const pid = Number(readFileSync(f, 'utf8').trim())
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL')
  }
  seenFiles.clear()
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  children.clear()
})
after(() => rmSync(tmp, {recursive: true, force: true}))

describe('startDaemon / stopDaemon', () => {
  it('waits for the pid file of a daemon that forks and writes it after its program returned, then stops it with SIGTERM', async () => {
    const spec = daemon('forking', '300', 'exit')
    const t0 = Date.now()
    const pid = await startDaemon(host, spec)
    assert.ok(Date.now() - t0 >= 250, 'returned only once the pid file was there')
    assert.equal(Number(readFileSync(spec.pidFile, 'utf8')), pid)
    assert.ok(alive(pid))
    const seen = await daemonProcess(host, spec)
    assert.equal(seen.process, 'running')
    assert.equal(seen.pid, pid)
    assert.ok(seen.commandLine?.includes(spec.marker), seen.commandLine)
    assert.match(readFileSync(spec.logFile, 'utf8'), new RegExp(`forked ${pid}\\ndaemon ${pid} up`))

    assert.equal(await stopDaemon(host, spec), 'stopped')
    assert.equal(alive(pid), false)
    assert.deepEqual(await daemonProcess(host, spec), {pid: null, process: 'stopped'})
    assert.equal(await stopDaemon(host, spec), 'not_running')
  })

  it('gives up after pidFileTimeoutMs, naming the daemon, its host, the pid file and its last log line', async () => {
    const spec = daemon('silent', 'never', 'exit', {pidFileTimeoutMs: 400})
    const e = await rejectsWith(startDaemon(host, spec), 'DAEMON_START_FAILED', 'test daemon silent', host.label, `wrote no pid file at ${spec.pidFile} within 0.4 s`, 'up, pid file in never ms')
    assert.match(e.suggestions.join(' '), /log/)
  })

  it('reports a daemon that wrote its pid file and died as not running', async () => {
    const spec = daemon('dying', '0', 'die', {pidFileTimeoutMs: 300})
    await rejectsWith(startDaemon(host, spec), 'DAEMON_START_FAILED', 'test daemon dying', `pid file ${spec.pidFile}`, 'is not running')
  })

  it('reports a program that fails by its exit code and the last line it logged, with the code the spec names', async () => {
    const spec: DaemonStart = {...daemon('failing', '0', 'exit'), file: 'sh', args: ['-c', 'echo "starting"; echo "bad config: line 3" >&2; exit 2'], errors: {start: 'NODE_START_FAILED', stop: 'NODE_STOP_FAILED'}}
    await rejectsWith(startDaemon(host, spec), 'NODE_START_FAILED', `test daemon failing on ${host.label} exited with code 2: bad config: line 3`)
    await rejectsWith(startDaemon(host, {...spec, args: ['-c', 'sleep 5'], startTimeoutMs: 200}), 'NODE_START_FAILED', 'did not come up within 0.2 s')
  })

  it('kills a daemon that ignores SIGTERM after stopTimeoutMs', async () => {
    const spec = daemon('stubborn', '0', 'ignore', {stopTimeoutMs: 500})
    const pid = await startDaemon(host, spec)
    const t0 = Date.now()
    assert.equal(await stopDaemon(host, spec), 'killed')
    assert.ok(Date.now() - t0 >= 500, 'SIGTERM was given its time')
    assert.equal(alive(pid), false)
  })

  it('does not take another process that got the pid (no marker in its command line) for the daemon, nor stop it', async () => {
    const spec = daemon('reused', '0', 'exit')
    const other = spawn('sleep', ['30'], {stdio: 'ignore'})
    children.add(other)
    writeFileSync(spec.pidFile, `${other.pid}\n`)
    assert.deepEqual(await daemonProcess(host, spec), {pid: null, process: 'stopped'})
    assert.equal(await stopDaemon(host, spec), 'not_running')
    assert.ok(alive(other.pid!))
  })
})

describe('syncFile', () => {
  it('writes content or copies a local file only when the host holds something else', async () => {
    await ensureDir(host, join(tmp, 'conf'), 'the test directory')
    const target = join(tmp, 'conf', 'keepalived.conf')
    assert.equal(await syncFile(host, {content: 'vrrp_instance a {}\n', remotePath: target, mode: 0o640}), 'installed')
    assert.equal(statSync(target).mode & 0o777, 0o640)
    const mtime = statSync(target).mtimeMs
    assert.equal(await syncFile(host, {content: Buffer.from('vrrp_instance a {}\n'), remotePath: target, mode: 0o640}), 'unchanged')
    assert.equal(statSync(target).mtimeMs, mtime)
    assert.equal(await syncFile(host, {content: 'vrrp_instance b {}\n', remotePath: target, mode: 0o600}), 'installed')
    assert.equal(readFileSync(target, 'utf8'), 'vrrp_instance b {}\n')

    const local = join(tmp, 'local.bin')
    writeFileSync(local, randomBytes(4096))
    const copy = join(tmp, 'conf', 'copy.bin')
    assert.equal(await syncFile(host, {localPath: local, remotePath: copy, mode: 0o600}), 'installed')
    assert.deepEqual(readFileSync(copy), readFileSync(local))
    assert.equal(await syncFile(host, {localPath: local, remotePath: copy, mode: 0o600}), 'unchanged')
  })

  it('ensureDir names what it could not create', async () => {
    writeFileSync(join(tmp, 'a-file'), '')
    await rejectsWith(ensureDir(host, join(tmp, 'a-file', 'sub'), 'the state directory X of node n1'), 'HOST_ERROR', `cannot create the state directory X of node n1 on ${host.label}`)
  })
})
