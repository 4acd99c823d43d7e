import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {after, afterEach, before, describe, it} from 'node:test'
import {RepctlError} from '../../src/errors.js'
import {LocalHost} from '../../src/hosts/local-host.js'
import {requireRoot, rootArgv, sudoRefusal} from '../../src/hosts/privilege.js'
import {freePort} from '../helpers/ports.js'
import {which} from '../helpers/processes.js'
import {sudoMissing} from '../helpers/sudo.js'

const host = new LocalHost()
let tmp: string
/** Every process a test started, stopped by its own pid afterwards. */
const started = new Set<ChildProcess>()
const strays = new Set<number>()

const mode = (path: string): number => statSync(path).mode & 0o777
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

function startSleep(seconds = 30): ChildProcess {
  const child = spawn('sleep', [String(seconds)], {stdio: 'ignore'})
  started.add(child)
  return child
}

function exited(child: ChildProcess): Promise<{code: number | null; signal: NodeJS.Signals | null}> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({code: child.exitCode, signal: child.signalCode})
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({code, signal})))
}

before(() => { tmp = mkdtempSync(join(tmpdir(), 'repctl-localhost-')) })
afterEach(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited(child)
  }
  started.clear()
  for (const pid of strays) { try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ } }
  strays.clear()
})
after(() => rmSync(tmp, {recursive: true, force: true}))

describe('LocalHost files', () => {
  it('labels itself with its address', () => {
    assert.equal(host.label, '127.0.0.1 (local)')
    assert.equal(new LocalHost('127.0.0.2').label, '127.0.0.2 (local)')
    assert.equal(host.transport, 'local')
    assert.equal(host.nodePath, process.execPath)
  })

  it('readFile: the text, undefined when missing, an error for anything else', async () => {
    const file = join(tmp, 'read.txt')
    writeFileSync(file, 'pid 42\n')
    assert.equal(await host.readFile(file), 'pid 42\n')
    assert.equal(await host.readFile(join(tmp, 'missing.txt')), undefined)
    assert.equal(await host.readFile(join(tmp, 'no-dir', 'missing.txt')), undefined)
    // A directory where a pid file should be: not "missing", so a node's state is not guessed.
    await assert.rejects(host.readFile(tmp), {code: 'EISDIR'})
  })

  const writeModes: [string, number][] = [['private', 0o600], ['owner-only executable', 0o700], ['read-only', 0o400]]
  for (const [what, m] of writeModes) {
    it(`writeFile: ${what} (${m.toString(8)}), replacing the file whole and leaving no temp file`, async () => {
      const dir = join(tmp, `write-${m.toString(8)}`)
      mkdirSync(dir)
      const file = join(dir, 'out.txt')
      writeFileSync(file, 'old and longer content')
      chmodSync(file, 0o644)
      await host.writeFile(file, 'new', m)
      assert.equal(readFileSync(file, 'utf8'), 'new')
      assert.equal(mode(file), m)
      await host.writeFile(join(dir, 'bytes.bin'), Buffer.from([0, 1, 2, 255]), m)
      assert.deepEqual([...readFileSync(join(dir, 'bytes.bin'))], [0, 1, 2, 255])
      assert.deepEqual(readdirSync(dir).sort(), ['bytes.bin', 'out.txt'])
    })
  }

  it('makePrivateDir: creates parents, 0700, and tightens an existing directory', async () => {
    const dir = join(tmp, 'state', 'node1')
    await host.makePrivateDir(dir)
    assert.equal(mode(dir), 0o700)
    const loose = join(tmp, 'loose')
    mkdirSync(loose)
    chmodSync(loose, 0o755)
    await host.makePrivateDir(loose)
    assert.equal(mode(loose), 0o700)
    await host.makePrivateDir(loose) // again: fine
    assert.equal(mode(loose), 0o700)
  })

  it('sha256: the hex digest, undefined when missing', async () => {
    const file = join(tmp, 'abc.txt')
    writeFileSync(file, 'abc')
    assert.equal(await host.sha256(file), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    writeFileSync(join(tmp, 'empty.txt'), '')
    assert.equal(await host.sha256(join(tmp, 'empty.txt')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    assert.equal(await host.sha256(join(tmp, 'missing.txt')), undefined)
  })

  it('upload: copies the bytes with exactly the mode given, into new directories, replacing what was there', async () => {
    const src = join(tmp, 'bundle.mjs')
    writeFileSync(src, 'console.log("v1")\n')
    const dest = join(tmp, 'remote', 'node1', 'repcached.mjs')
    await host.upload(src, dest, 0o600)
    assert.equal(readFileSync(dest, 'utf8'), 'console.log("v1")\n')
    assert.equal(mode(dest), 0o600)
    writeFileSync(src, 'console.log("v2")\n')
    await host.upload(src, dest, 0o755)
    assert.equal(readFileSync(dest, 'utf8'), 'console.log("v2")\n')
    assert.equal(mode(dest), 0o755)
    assert.equal(await host.sha256(dest), await host.sha256(src))
    assert.deepEqual(readdirSync(join(tmp, 'remote', 'node1')), ['repcached.mjs'])
  })

  describe('tail', () => {
    const file = (): string => join(tmp, 'tail.log')
    const cases: [string, string, number, string][] = [
      ['last 2 of 4 lines', 'a\nb\nc\nd\n', 2, 'c\nd\n'],
      ['more lines asked than there are', 'a\nb\n', 10, 'a\nb\n'],
      ['exactly all lines', 'a\nb\n', 2, 'a\nb\n'],
      ['a last line without its newline', 'a\nb\nc', 2, 'b\nc\n'],
      ['blank lines count', 'a\n\n\nb\n', 3, '\n\nb\n'],
      ['one line', 'only\n', 1, 'only\n'],
      ['an empty file', '', 5, ''],
      ['zero lines', 'a\nb\n', 0, ''],
    ]
    for (const [what, text, n, expected] of cases) {
      it(`${what}`, async () => {
        writeFileSync(file(), text)
        assert.equal(await host.tail(file(), n), expected)
      })
    }
    it("a missing file is ''", async () => {
      assert.equal(await host.tail(join(tmp, 'no-such.log'), 50), '')
    })
  })

  describe('follow', () => {
    it('delivers what is appended (not what was there), and stops on abort', async () => {
      const log = join(tmp, 'follow.log')
      writeFileSync(log, 'before\n')
      const got: string[] = []
      const abort = new AbortController()
      const following = host.follow(log, (t) => got.push(t), abort.signal)
      await sleep(50)
      appendFileSync(log, 'one\n')
      await eventually(() => got.join('').includes('one\n'), 'the first append')
      appendFileSync(log, 'two\nthree\n')
      await eventually(() => got.join('').includes('three\n'), 'the second append')
      assert.equal(got.join(''), 'one\ntwo\nthree\n')
      abort.abort()
      await following
      appendFileSync(log, 'after abort\n')
      await sleep(400)
      assert.equal(got.join(''), 'one\ntwo\nthree\n')
    })

    it('waits for a file that does not exist yet, and starts over when it is truncated', async () => {
      const log = join(tmp, 'later.log')
      const got: string[] = []
      const abort = new AbortController()
      const following = host.follow(log, (t) => got.push(t), abort.signal)
      try {
        await sleep(250)
        writeFileSync(log, 'first line of a long enough log\n')
        await eventually(() => got.join('').includes('first line'), 'the new file')
        writeFileSync(log, 'rotated\n')
        await eventually(() => got.join('').includes('rotated\n'), 'the truncated file')
      } finally {
        abort.abort()
        await following
      }
    })
  })
})

describe('LocalHost processes', () => {
  it('processInfo: a live process and its command line', async () => {
    const child = startSleep(30)
    assert.deepEqual(await host.processInfo(child.pid!), {alive: true, commandLine: 'sleep 30'})
    const self = await host.processInfo(process.pid)
    assert.equal(self.alive, true)
    assert.ok(self.commandLine?.includes('local-host.test.ts'), self.commandLine)
  })

  it('processInfo: a process that has exited is not alive', async () => {
    const child = startSleep(30)
    const pid = child.pid!
    child.kill('SIGKILL')
    await exited(child)
    assert.deepEqual(await host.processInfo(pid), {alive: false})
  })

  it('processInfo: a zombie (exited, not yet reaped) is not alive', async () => {
    // sh starts a short sleep in the background, then becomes a long sleep that never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], {stdio: ['ignore', 'pipe', 'ignore']})
    started.add(parent)
    let out = ''
    parent.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
    await eventually(() => out.includes('\n'), 'the background pid')
    const pid = Number(out.trim())
    strays.add(pid)
    await eventually(() => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z') } catch { return false } }, 'the zombie')
    assert.deepEqual(await host.processInfo(pid), {alive: false})
  })

  it('signal: true and delivered for a live process, false for a gone one', async () => {
    const child = startSleep(30)
    const pid = child.pid!
    assert.equal(await host.signal(pid, 'SIGTERM'), true)
    assert.deepEqual(await exited(child), {code: null, signal: 'SIGTERM'})
    assert.equal(await host.signal(pid, 'SIGTERM'), false)
  })

  it('run: exit code, stdout and stderr', async () => {
    assert.deepEqual(await host.run('sh', ['-c', 'echo out; echo err >&2; exit 3']), {exitCode: 3, stdout: 'out', stderr: 'err'})
    assert.deepEqual(await host.run('sh', ['-c', 'printf "%s" "$0|$1"', 'a b', 'c;d']), {exitCode: 0, stdout: 'a b|c;d', stderr: ''})
    assert.equal((await host.run('sleep', ['5'], {timeoutMs: 100})).exitCode, 124)
  })

  it('nodeVersion is this runtime', async () => {
    assert.equal(await host.nodeVersion(), process.versions.node)
  })
})

describe('LocalHost ports', () => {
  const servers: Server[] = []
  after(async () => { await Promise.all(servers.map((s) => new Promise((r) => s.close(r)))) })
  const listen = (port: number, address: string): Promise<Server> => new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(port, address, () => { servers.push(s); resolve(s) })
  })

  it('portFree: true for a free port, false while something listens, true again after', async () => {
    const port = await freePort()
    assert.equal(await host.portFree('127.0.0.1', port), true)
    const server = await listen(port, '127.0.0.1')
    assert.equal(await host.portFree('127.0.0.1', port), false)
    await new Promise((r) => server.close(r))
    assert.equal(await host.portFree('127.0.0.1', port), true)
  })

  it('portFree asks about one address: another loopback address with that port is free', async () => {
    const port = await freePort()
    await listen(port, '127.0.0.1')
    assert.equal(await host.portFree('127.0.0.1', port), false)
    assert.equal(await host.portFree('127.0.0.2', port), true)
  })

  it('portFree: false while another process listens', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('ready'))`], {stdio: ['ignore', 'pipe', 'ignore']})
    started.add(child)
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
    await eventually(() => out.includes('ready'), 'the listener')
    assert.equal(await host.portFree('127.0.0.1', port), false)
    child.kill('SIGTERM')
    await exited(child)
    assert.equal(await host.portFree('127.0.0.1', port), true)
  })
})

describe('LocalHost runDaemon', () => {
  it('appends the output of the command to the log file, creating it private', async () => {
    const dir = join(tmp, 'daemon1')
    mkdirSync(dir)
    const log = join(dir, 'repcached.log')
    const r = await host.runDaemon('sh', ['-c', 'echo "started in $(pwd)"; echo "a warning" >&2'], {cwd: dir, logFile: log, timeoutMs: 5000})
    assert.deepEqual(r, {exitCode: 0, stdout: '', stderr: ''})
    assert.equal(readFileSync(log, 'utf8'), `started in ${dir}\na warning\n`)
    assert.equal(mode(log), 0o600)
    await host.runDaemon('sh', ['-c', 'echo second run'], {cwd: dir, logFile: log, timeoutMs: 5000})
    assert.equal(readFileSync(log, 'utf8'), `started in ${dir}\na warning\nsecond run\n`)
  })

  it("returns when the command exits, while its daemon's later output still reaches the log", async () => {
    const dir = join(tmp, 'daemon2')
    mkdirSync(dir)
    const log = join(dir, 'repcached.log')
    const pidFile = join(dir, 'daemon.pid')
    // The "daemon" outlives the command and writes only once the test lets it (file "go"),
    // so runDaemon would time out (124) if it waited for the daemon rather than the command.
    const daemon = `(while [ ! -e go ]; do sleep 0.05; done; echo "daemon ready") & echo $! > daemon.pid; echo "forked"`
    const r = await host.runDaemon('sh', ['-c', daemon], {cwd: dir, logFile: log, timeoutMs: 5000})
    assert.equal(r.exitCode, 0)
    const pid = Number(readFileSync(pidFile, 'utf8').trim())
    strays.add(pid)
    assert.equal(readFileSync(log, 'utf8'), 'forked\n')
    writeFileSync(join(dir, 'go'), '')
    await eventually(() => readFileSync(log, 'utf8') === 'forked\ndaemon ready\n', "the daemon's line")
  })

  it('reports a failing start by its exit code and a hung one as 124', async () => {
    const dir = join(tmp, 'daemon3')
    mkdirSync(dir)
    const log = join(dir, 'repcached.log')
    assert.equal((await host.runDaemon('sh', ['-c', 'echo "failed to listen" >&2; exit 1'], {cwd: dir, logFile: log, timeoutMs: 5000})).exitCode, 1)
    assert.equal((await host.runDaemon('sleep', ['5'], {cwd: dir, logFile: log, timeoutMs: 200})).exitCode, 124)
    assert.equal(readFileSync(log, 'utf8'), 'failed to listen\n')
    assert.equal(await host.tail(log, 1), 'failed to listen\n')
    assert.ok(existsSync(log))
  })
})

describe('running as root (privilege.ts)', () => {
  const at = (privileged: boolean, escalation: 'none' | 'sudo'): {label: string; privileged: boolean; escalation: 'none' | 'sudo'} => ({label: 'bob@db1:22', privileged, escalation})

  it('builds the argv: as is for a root login, behind sudo -n with escalation', () => {
    assert.deepEqual(rootArgv(at(true, 'none'), ['keepalived', '-D', '-f', '/s/k.conf']), ['keepalived', '-D', '-f', '/s/k.conf'])
    assert.deepEqual(rootArgv(at(true, 'sudo'), ['ip', 'addr']), ['ip', 'addr'])
    assert.deepEqual(rootArgv(at(false, 'sudo'), ['keepalived', '-D', '-f', '/s/k.conf']), ['sudo', '-n', '--', 'keepalived', '-D', '-f', '/s/k.conf'])
  })

  it('refuses with PRIVILEGE_NEEDED naming the host, the command and both fixes when neither is available', () => {
    assert.throws(() => rootArgv(at(false, 'none'), ['keepalived', '-D']), (e: unknown) => {
      assert.ok(e instanceof RepctlError)
      assert.equal(e.code, 'PRIVILEGE_NEEDED')
      assert.match(e.message, /^running keepalived needs root on bob@db1:22, .*no privilege escalation is configured/)
      assert.match(e.suggestions[0]!, /log in to the host as root/)
      assert.match(e.suggestions[1]!, /sudo/)
      return true
    })
    assert.throws(() => requireRoot(at(false, 'none'), 'keepalived of node1'), /^RepctlError: keepalived of node1 needs root on bob@db1:22/)
    assert.doesNotThrow(() => requireRoot(at(false, 'sudo'), 'keepalived of node1'))
  })

  it("tells sudo's refusals from a command's own errors", () => {
    assert.equal(sudoRefusal('sudo: a password is required\n'), 'sudo: a password is required')
    assert.equal(sudoRefusal('bob is not in the sudoers file.\nsudo: a terminal is required to read the password'), 'sudo: a terminal is required to read the password')
    assert.equal(sudoRefusal('Sorry, user bob is not allowed to execute \'/usr/sbin/keepalived\' as root.\n'), undefined, 'no sudo: prefix, as sudo prints it without -n')
    assert.equal(sudoRefusal('keepalived: sudo: a password is required'), undefined)
    assert.equal(sudoRefusal('Cannot find interface eth9\n'), undefined)
  })

  it('LocalHost: privileged is whether repctl runs as root; asRoot then runs the command as is', async () => {
    const root = process.getuid?.() === 0
    assert.equal(host.privileged, root)
    assert.equal(host.escalation, 'none')
    if (!root) {
      await assert.rejects(host.run('id', ['-u'], {asRoot: true}), (e: unknown) => e instanceof RepctlError && e.code === 'PRIVILEGE_NEEDED' && e.message.includes(host.label))
      return
    }
    assert.deepEqual(await host.run('id', ['-u'], {asRoot: true}), {exitCode: 0, stdout: '0', stderr: ''})
    const child = startSleep(30)
    assert.equal(await host.signal(child.pid!, 'SIGTERM', {asRoot: true}), true)
    assert.deepEqual(await exited(child), {code: null, signal: 'SIGTERM'})
  })
})

describe('LocalHost run by a non-root user (nobody, through setpriv)', () => {
  const why = process.getuid?.() !== 0 ? 'needs root to switch to nobody' : which('setpriv') === undefined ? 'setpriv missing' : sudoMissing()
  it('refuses asRoot without escalation, and reports sudo\'s refusal as PRIVILEGE_NEEDED with escalation', {skip: why}, () => {
    // The same LocalHost code, in a process whose real uid is nobody's.
    const script = `const {LocalHost} = await import(process.argv[1]); const out = {privileged: new LocalHost().privileged}
      for (const escalation of ['none', 'sudo']) {
        try { out[escalation] = await new LocalHost('127.0.0.1', {escalation}).run('id', ['-u'], {asRoot: true}) } catch (e) { out[escalation] = {code: e.code, message: e.message} }
      }
      console.log(JSON.stringify(out))`
    const repo = fileURLToPath(new URL('../..', import.meta.url))
    const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script, join(repo, 'src/hosts/local-host.ts')], {cwd: repo, encoding: 'utf8', timeout: 30_000})
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout) as {privileged: boolean; none: {code: string; message: string}; sudo: {code: string; message: string}}
    assert.equal(out.privileged, false)
    assert.equal(out.none.code, 'PRIVILEGE_NEEDED')
    assert.match(out.none.message, /^running id needs root on 127\.0\.0\.1 \(local\), .*no privilege escalation is configured/)
    assert.equal(out.sudo.code, 'PRIVILEGE_NEEDED')
    assert.match(out.sudo.message, /^sudo on 127\.0\.0\.1 \(local\) refused to run id as root without a password: sudo: a password is required$/)
  })
})
