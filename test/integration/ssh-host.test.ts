// SshHost against real sshd processes on loopback (test/helpers/sshd.ts, as
// in shared/testing/real-hosts.md): as root and as the non-root `repuser`,
// every Host method; the daemon that outlives its SSH session; host key
// checking (unknown, accepted, changed, hashed, [host]:port, pinned); and the
// failures: refused, silent, wrong key, a session that stops answering.

import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {tmpdir, userInfo} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {daemonProcess, startDaemon, stopDaemon, syncFile, type DaemonStart} from '../../src/cluster/daemon.js'
import {RepctlError, type ErrorCode} from '../../src/errors.js'
import {fingerprint, knownHostsLine} from '../../src/hosts/known-hosts.js'
import {SshHost, type SshHostOptions} from '../../src/hosts/ssh-host.js'
import {freePort} from '../helpers/ports.js'
import {SERVER_BUNDLE} from '../helpers/processes.js'
import {createRepUser, keyPair, removeRepUser, repUserMissing, Sshd, sshdMissing, type KeyPair} from '../helpers/sshd.js'
import {allowSudo, disallowSudo, sudoMissing} from '../helpers/sudo.js'

const H1 = '127.0.0.11'
const H2 = '127.0.0.12'
const skip = sshdMissing()
if (skip !== false) process.stderr.write(`\n*** ssh-host.test.ts: ${skip} ***\n\n`)

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, ...patterns: (RegExp | string)[]): Promise<RepctlError> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof RepctlError, `expected a RepctlError ${code}, got ${(e as Error).stack}`)
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`)
    for (const pat of patterns) {
      if (typeof pat === 'string') assert.ok(e.message.includes(pat), `message lacks ${JSON.stringify(pat)}: ${e.message}`)
      else assert.match(e.message, pat)
    }
    return e
  }
  assert.fail(`expected ${code}, but it succeeded`)
}

/** `version` over the text protocol, straight from this process (not through SSH). */
function askVersion(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({host, port})
    let got = ''
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no answer from ${host}:${port}`)) }, 3000)
    s.on('connect', () => s.write('version\r\n'))
    s.on('data', (d: Buffer) => { got += d.toString(); if (got.includes('\r\n')) { clearTimeout(t); s.destroy(); resolve(got.trim()) } })
    s.on('error', (e) => { clearTimeout(t); reject(e) })
  })
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`)
}

function pgrep(pattern: string): number[] {
  // Read only: which processes match (nothing is killed by name).
  const r = spawnSync('pgrep', ['-f', pattern], {encoding: 'utf8'})
  return r.stdout.split('\n').filter((l) => l.trim() !== '').map(Number)
}

function processAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

function accepted(sshd: Sshd, user: string): number {
  return sshd.log().split('\n').filter((l) => l.includes(`Accepted publickey for ${user} `)).length
}

describe('SshHost against a real sshd', {skip}, () => {
  let dir: string
  let client: KeyPair
  let wrong: KeyPair
  let main: Sshd
  let knownHosts: string
  const opened: SshHost[] = []
  const daemonPidFiles: string[] = []

  function sshHost(o: Partial<SshHostOptions> & {sshd?: Sshd} = {}): SshHost {
    const sshd = o.sshd ?? main
    const h = new SshHost({
      host: sshd.address,
      port: sshd.port,
      user: userInfo().username,
      identityFile: client.privateKey,
      agent: false,
      knownHostsFile: knownHosts,
      globalKnownHostsFile: false,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 10_000,
      ...o,
    })
    opened.push(h)
    return h
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'repctl-ssh-'))
    client = keyPair(dir, 'client')
    wrong = keyPair(dir, 'wrong')
    main = await Sshd.start({address: H1, dir: join(dir, 'h1'), authorizedKeys: [client.publicLine]})
    knownHosts = join(dir, 'known_hosts')
    writeFileSync(knownHosts, `${knownHostsLine(H1, main.port, main.hostKey.blob)}\n`)
  })

  after(async () => {
    await Promise.all(opened.map((h) => h.close()))
    // Servers started over SSH are not sshd's children: stop them by their pid files.
    for (const f of daemonPidFiles) {
      if (!existsSync(f)) continue
      const pid = Number(readFileSync(f, 'utf8').trim())
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    }
    await main?.stop()
    if (dir !== undefined) rmSync(dir, {recursive: true, force: true})
  })

  interface Who { user: string; stateDir: string; uid: number }

  function userSuite(title: string, skipReason: () => string | false, setup: () => Promise<Who>, teardown: () => Promise<void>): void {
    describe(title, {skip: skipReason()}, () => {
      let who: Who
      let host: SshHost
      before(async () => {
        who = await setup()
        host = sshHost({user: who.user})
      })
      after(async () => {
        await host?.close()
        await teardown()
      })

      it('finds the home directory and Node.js, and resolves nodePath to an absolute path', async () => {
        const home = await host.homeDir()
        assert.equal(home, who.user === 'root' ? '/root' : `/home/${who.user}`)
        assert.equal(host.nodePath, 'node')
        assert.equal(await host.nodeVersion(), process.versions.node)
        assert.match(host.nodePath, /^\/.*node$/)
      })

      it('runs commands: exit codes, stdout, stderr', async () => {
        const r = await host.run('printf', ['%s|', 'a b', "it's", ''])
        assert.deepEqual(r, {exitCode: 0, stdout: "a b|it's||", stderr: ''})
        const e = await host.run('sh', ['-c', 'echo out; echo err >&2; exit 7'])
        assert.deepEqual(e, {exitCode: 7, stdout: 'out\n', stderr: 'err\n'})
        assert.equal((await host.run('/nonexistent/program', [])).exitCode, 127)
        const id = await host.run('id', ['-u'])
        assert.equal(id.stdout.trim(), String(who.uid))
        const n = await host.run('node', ['-e', 'process.stdout.write(process.version)'])
        assert.equal(n.stdout, process.version)
      })

      it('passes hostile values through run() as literal arguments', async () => {
        const marker = join(tmpdir(), `repctl-pwned-${process.pid}-${who.user}`)
        const hostile = [
          '; rm -rf /', `; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `" ; touch ${marker} ; "`,
          `' ; touch ${marker} ; '`, `a\ntouch ${marker}`, `| touch ${marker}`, `> ${marker}`, 'two  spaces', '*', '/*',
          '-n', '--', '-rf', '$HOME', '~', '!!', '\\', '', 'é 日本',
        ]
        const r = await host.run('printf', ['%s\\0', ...hostile])
        assert.equal(r.exitCode, 0, r.stderr)
        assert.deepEqual(r.stdout.split('\0').slice(0, -1), hostile)
        const echoed = await host.run(`/bin/echo`, ['-e'].concat([`$(touch ${marker})`]))
        assert.equal(echoed.stdout, `$(touch ${marker})\n`)
        assert.equal(existsSync(marker), false, 'no value was run as a command')
        await assert.rejects(host.run('printf', ['a\0b']), /NUL/)
      })

      it('stops a command at its timeout (124) and kills it on the host', async () => {
        const tag = `${7 + Math.random()}`.slice(0, 9)
        const t0 = Date.now()
        const r = await host.run('sleep', [tag], {timeoutMs: 400})
        assert.equal(r.exitCode, 124)
        assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`)
        await waitFor(() => pgrep(`^sleep ${tag.replace('.', '\\.')}$`).length === 0, 3000, 'the remote sleep to be killed')
        // The connection is still good afterwards.
        assert.equal((await host.run('true', [])).exitCode, 0)
      })

      it('creates a private directory and writes and reads files atomically', async () => {
        const d = join(who.stateDir, 'a', 'b')
        await host.makePrivateDir(d)
        const st = statSync(d)
        assert.equal(st.mode & 0o777, 0o700)
        assert.equal(st.uid, who.uid)
        await host.makePrivateDir(d) // again: fine
        const f = join(d, "it's a file; $(x)")
        await host.writeFile(f, 'hello\n', 0o640)
        assert.equal(readFileSync(f, 'utf8'), 'hello\n')
        assert.equal(statSync(f).mode & 0o777, 0o640)
        assert.equal(await host.readFile(f), 'hello\n')
        const bin = Buffer.from([0, 1, 2, 255, 10, 0])
        await host.writeFile(f, bin, 0o600)
        assert.deepEqual(readFileSync(f), bin)
        assert.equal(statSync(f).mode & 0o777, 0o600)
        assert.equal(await host.readFile(join(d, 'missing')), undefined)
        assert.deepEqual(readdirSync(d), ["it's a file; $(x)"], 'no temporary file left behind')
      })

      it('tails a file', async () => {
        const f = join(who.stateDir, 'a', 'tail.log')
        await host.writeFile(f, 'one\ntwo\nthree\n', 0o600)
        assert.equal(await host.tail(f, 2), 'two\nthree\n')
        assert.equal(await host.tail(f, 10), 'one\ntwo\nthree\n')
        assert.equal(await host.tail(f, 0), '')
        assert.equal(await host.tail(join(who.stateDir, 'missing.log'), 5), '')
      })

      it('uploads over SFTP (temp + rename) and hashes; a second hash matches so an upload can be skipped', async () => {
        const remote = join(who.stateDir, 'repcached.mjs')
        const local = createHash('sha256').update(readFileSync(SERVER_BUNDLE)).digest('hex')
        assert.equal(await host.sha256(remote), undefined)
        await host.upload(SERVER_BUNDLE, remote, 0o600)
        assert.deepEqual(readFileSync(remote), readFileSync(SERVER_BUNDLE))
        assert.equal(statSync(remote).mode & 0o777, 0o600)
        assert.equal(statSync(remote).uid, who.uid)
        assert.equal(await host.sha256(remote), local)
        assert.equal(await host.sha256(remote), local, 'the same hash again: nothing to upload')
        await host.upload(SERVER_BUNDLE, remote, 0o600) // over an existing file
        assert.equal(await host.sha256(remote), local)
        assert.deepEqual(readdirSync(who.stateDir).filter((n) => n.includes('.tmp-')), [])
      })

      it('tells a free port from a used one', async () => {
        const port = await freePort(H1)
        assert.equal(await host.portFree(H1, port), true)
        const srv: Server = createServer()
        await new Promise<void>((r) => srv.listen(port, H1, r))
        try {
          assert.equal(await host.portFree(H1, port), false)
          assert.equal(await host.portFree('0.0.0.0', port), false)
        } finally {
          await new Promise((r) => srv.close(r))
        }
        assert.equal(await host.portFree(H1, port), true)
      })

      it('starts the server as a daemon that outlives the SSH session, then stops it by signal', async () => {
        const bundle = join(who.stateDir, 'repcached.mjs')
        const pidFile = join(who.stateDir, 'pid')
        const logFile = join(who.stateDir, 'repcached.log')
        daemonPidFiles.push(pidFile)
        const port = await freePort(H1)
        const h = sshHost({user: who.user})
        await h.makePrivateDir(who.stateDir)
        if (await h.sha256(bundle) !== createHash('sha256').update(readFileSync(SERVER_BUNDLE)).digest('hex')) await h.upload(SERVER_BUNDLE, bundle, 0o600)
        await h.nodeVersion()
        const t0 = Date.now()
        const r = await h.runDaemon(h.nodePath, [bundle, '-d', '-P', pidFile, '-p', String(port), '-l', H1, '-X', '0'], {cwd: who.stateDir, logFile, timeoutMs: 15_000})
        assert.equal(r.exitCode, 0, `runDaemon: ${r.stderr}\nlog: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`)
        assert.ok(Date.now() - t0 < 10_000, 'returned once the daemon was ready, not at the timeout')
        assert.equal(statSync(logFile).mode & 0o777, 0o600)
        const pid = Number((await h.readFile(pidFile))?.trim())
        assert.ok(Number.isInteger(pid) && pid > 0)
        const info = await h.processInfo(pid)
        assert.equal(info.alive, true)
        assert.ok(info.commandLine?.includes(bundle), info.commandLine)
        assert.equal(await h.portFree(H1, port), false)

        // Nothing of the daemon's standard descriptors leads back to the SSH channel: /dev/null or the log.
        // (Its other pipes are Node's own, both ends inside the daemon.)
        for (const fd of [0, 1, 2]) {
          const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
          assert.ok(target === '/dev/null' || target === logFile, `fd ${fd} of the daemon is ${target}`)
        }
        const sessionPipes = new Set(main.sessionPids().flatMap((p) => {
          try { return readdirSync(`/proc/${p}/fd`).map((fd) => readlinkSync(`/proc/${p}/fd/${fd}`)).filter((l) => l.startsWith('pipe:')) } catch { return [] }
        }))
        const daemonFds = readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`) } catch { return '' } })
        assert.deepEqual(daemonFds.filter((l) => sessionPipes.has(l)), [], 'the daemon shares no pipe with an sshd session')

        await h.close()
        assert.equal(processAlive(pid), true, 'the daemon outlived the SSH session')
        assert.match(await askVersion(H1, port), /^VERSION /)

        // A new session (the same SshHost reconnects) stops it.
        assert.equal(await h.signal(pid, 'SIGTERM'), true)
        await waitFor(async () => !(await h.processInfo(pid)).alive, 10_000, 'the daemon to exit')
        assert.equal(await h.portFree(H1, port), true)
        assert.equal(await h.signal(2 ** 22 + 12345, 'SIGTERM'), false, 'no such process: false')
      })

      it('reports processes: alive with command line, gone, and someone else\'s', async () => {
        assert.deepEqual(await host.processInfo(2 ** 22 + 12345), {alive: false})
        const init = await host.processInfo(1)
        assert.equal(init.alive, true, 'pid 1 is alive even when we may not signal it')
        const me = await host.processInfo(process.pid)
        assert.equal(me.alive, true)
        assert.ok(me.commandLine?.includes(process.execPath), me.commandLine)
        await assert.rejects(host.processInfo(-1), /process id/)
      })

      it('follows a file until aborted, and leaves no remote tail behind', async () => {
        const f = join(who.stateDir, `follow-${process.pid}.log`)
        await host.writeFile(f, 'old line\n', 0o666)
        const got: string[] = []
        const ac = new AbortController()
        const following = host.follow(f, (t) => got.push(t), ac.signal)
        await waitFor(() => pgrep(`tail -n 0 -F -- ${f}`).length > 0, 5000, 'the remote tail to start')
        await new Promise((r) => setTimeout(r, 300))
        appendFileSync(f, 'new 1\n')
        appendFileSync(f, 'new 2 é\n')
        await waitFor(() => got.join('').includes('new 2 é\n'), 5000, 'the appended lines')
        ac.abort()
        await following
        assert.equal(got.join(''), 'new 1\nnew 2 é\n', 'only what was appended')
        await waitFor(() => pgrep(`tail -n 0 -F -- ${f}`).length === 0, 3000, 'the remote tail to be stopped')
      })

      it('runs many commands at once over the one connection', async () => {
        const h = sshHost({user: who.user})
        const before = accepted(main, who.user)
        const results = await Promise.all(Array.from({length: 25}, (_, i) => h.run('echo', [String(i)])))
        assert.deepEqual(results.map((r) => r.stdout), Array.from({length: 25}, (_, i) => `${i}\n`))
        await h.readFile(join(who.stateDir, 'repcached.mjs'))
        await h.sha256(join(who.stateDir, 'repcached.mjs'))
        await h.nodeVersion()
        assert.equal(accepted(main, who.user) - before, 1, 'one login for everything')
        await h.close()
      })

      if (title === 'as root') {
        it('runs commands as root as they are: the login is root', async () => {
          assert.equal(host.privileged, true)
          const r = await host.run('id', ['-u'], {asRoot: true})
          assert.deepEqual([r.exitCode, r.stdout.trim()], [0, '0'])
        })
      }

      if (title.includes('repuser')) {
        it('runs commands as root only through a configured escalation: refused without one, sudo -n with a password-less rule', {skip: sudoMissing()}, async () => {
          assert.equal(host.privileged, false)
          const e = await rejectsWith(host.run('id', ['-u'], {asRoot: true}), 'PRIVILEGE_NEEDED', 'running id needs root', `${H1}:${main.port}`, 'no privilege escalation is configured')
          assert.match(e.suggestions.join(' '), /as root.*sudo/s)
          assert.equal((await host.run('id', ['-u'])).stdout.trim(), String(who.uid), 'without asRoot: the login user')
          await rejectsWith(host.signal(process.pid, 'SIGCONT', {asRoot: true}), 'PRIVILEGE_NEEDED', 'running kill needs root')
          const bundle = join(who.stateDir, 'repcached.mjs')
          await host.makePrivateDir(who.stateDir)
          await syncFile(host, {localPath: SERVER_BUNDLE, remotePath: bundle, mode: 0o600})
          await host.nodeVersion()
          const pidFile = join(who.stateDir, 'root-daemon.pid')
          daemonPidFiles.push(pidFile)
          const rootDaemon: DaemonStart = {
            name: 'the root test daemon', file: host.nodePath, args: [bundle, '-d', '-P', pidFile, '-p', String(await freePort(H1)), '-l', H1, '-X', '0'],
            cwd: who.stateDir, logFile: join(who.stateDir, 'root-daemon.log'), pidFile, marker: bundle, startTimeoutMs: 15_000, stopTimeoutMs: 10_000, asRoot: true,
          }
          await rejectsWith(startDaemon(host, rootDaemon), 'PRIVILEGE_NEEDED', 'the root test daemon needs root on')
          assert.equal(existsSync(pidFile), false, 'nothing was started')

          const escalating = sshHost({user: who.user, escalation: 'sudo'})
          // sudo is there but has no rule for the user: sudo's refusal, not a failed command.
          await rejectsWith(escalating.run('id', ['-u'], {asRoot: true}), 'PRIVILEGE_NEEDED', 'sudo on', 'refused to run id', 'a password is required')

          allowSudo(who.user)
          try {
            const r = await escalating.run('id', ['-u'], {asRoot: true})
            assert.deepEqual([r.exitCode, r.stdout.trim()], [0, '0'])
            // A managed daemon started as root (daemon.ts), which the login user may not signal but asRoot may.
            const pid = await startDaemon(escalating, rootDaemon)
            assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+0\s/m, 'the daemon runs as root')
            assert.equal((await daemonProcess(escalating, rootDaemon)).process, 'running')
            assert.equal(await escalating.signal(pid, 'SIGTERM'), false, 'the login user may not signal it')
            assert.equal(await stopDaemon(escalating, rootDaemon), 'stopped')
            assert.equal((await escalating.processInfo(pid)).alive, false)
          } finally {
            disallowSudo(who.user)
            await escalating.close()
          }
        })
      }

      if (title.includes('repuser')) {
        it('reports permission denied as HOST_ERROR naming the host and the path', async () => {
          await rejectsWith(host.makePrivateDir('/root/repctl-x'), 'HOST_ERROR', '/root/repctl-x', `${H1}:${main.port}`, /Permission denied/i)
          await rejectsWith(host.writeFile('/etc/repctl-x', 'x', 0o600), 'HOST_ERROR', '/etc/repctl-x', /Permission denied/i)
          const e = await rejectsWith(host.upload(SERVER_BUNDLE, '/etc/repctl-dir/repcached.mjs', 0o600), 'HOST_ERROR', '/etc/repctl-dir')
          assert.match(e.suggestions.join(' '), /write access|state directory/)
          await rejectsWith(host.readFile('/root/.bashrc'), 'HOST_ERROR', '/root/.bashrc', /denied/i)
        })
      }
    })
  }

  userSuite('as root', () => process.getuid?.() === 0 ? false : 'not running as root (the current-user suite covers it)', async () => {
    const stateDir = join(dir, 'root-state')
    return {user: userInfo().username, stateDir, uid: process.getuid?.() ?? 0}
  }, async () => undefined)

  userSuite('as the current (non-root) user', () => process.getuid?.() === 0 ? 'running as root (the root suite covers it)' : false, async () => {
    return {user: userInfo().username, stateDir: join(dir, 'user-state'), uid: process.getuid?.() ?? 0}
  }, async () => undefined)

  userSuite('as repuser (non-root)', () => repUserMissing(), async () => {
    const u = await createRepUser(client.publicLine)
    return {user: u.user, stateDir: join(u.home, 'repctl-state'), uid: u.uid}
  }, () => removeRepUser())

  describe('host keys', () => {
    let keysd: Sshd
    before(async () => {
      // Two host keys: ssh2 asks for Ed25519 first, the server also has RSA.
      keysd = await Sshd.start({address: H1, dir: join(dir, 'keys'), authorizedKeys: [client.publicLine], hostKeyTypes: ['ed25519', 'rsa']})
    })
    after(async () => { await keysd?.stop() })

    const kh = (name: string): string => join(dir, 'kh', name, 'known_hosts')
    const ed = (): Buffer => keysd.hostKeys[0]!.blob
    const rsa = (): Buffer => keysd.hostKeys[1]!.blob

    it('refuses an unknown host key with its fingerprint and how to accept it', async () => {
      const file = kh('unknown')
      const h = sshHost({sshd: keysd, knownHostsFile: file})
      const e = await rejectsWith(h.run('true', []), 'HOST_KEY_UNKNOWN', fingerprint(ed()), '--accept-new-host-key', `${H1}:${keysd.port}`)
      assert.ok(e.suggestions.some((s) => s.includes(`ssh.hostKey: "${fingerprint(ed())}"`)), e.suggestions.join('\n'))
      assert.equal(existsSync(file), false, 'nothing recorded')
    })

    it('with acceptNewHostKey records the key (dir 700, file 600) and then knows it', async () => {
      const file = kh('accept')
      let seen: string | undefined
      const h = sshHost({sshd: keysd, knownHostsFile: file, acceptNewHostKey: true, onNewHostKey: (i) => { seen = i.fingerprint }})
      assert.equal((await h.run('true', [])).exitCode, 0)
      assert.equal(seen, fingerprint(ed()))
      assert.equal(readFileSync(file, 'utf8'), `${knownHostsLine(H1, keysd.port, ed())}\n`)
      assert.match(readFileSync(file, 'utf8'), new RegExp(`^\\[${H1.replaceAll('.', '\\.')}\\]:${keysd.port} ssh-ed25519 `))
      assert.equal(statSync(join(dir, 'kh', 'accept')).mode & 0o777, 0o700)
      assert.equal(statSync(file).mode & 0o777, 0o600)
      const again = sshHost({sshd: keysd, knownHostsFile: file})
      assert.equal((await again.run('true', [])).exitCode, 0)
      // OpenSSH's own lookup finds what we wrote.
      assert.equal(spawnSync('ssh-keygen', ['-F', `[${H1}]:${keysd.port}`, '-f', file]).status, 0)
    })

    it('matches hashed entries (ssh-keygen -H)', async () => {
      const file = kh('hashed')
      mkdirSync(join(dir, 'kh', 'hashed'), {recursive: true})
      writeFileSync(file, `${knownHostsLine(H1, keysd.port, ed())}\n`)
      assert.equal(spawnSync('ssh-keygen', ['-q', '-H', '-f', file]).status, 0)
      assert.ok(!readFileSync(file, 'utf8').includes(H1), 'the name is hashed')
      assert.equal((await sshHost({sshd: keysd, knownHostsFile: file}).run('true', [])).exitCode, 0)
    })

    it('keeps [host]:port apart: a port-22 entry or another port\'s key does not count', async () => {
      const file = kh('ports')
      mkdirSync(join(dir, 'kh', 'ports'), {recursive: true})
      writeFileSync(file, `${H1} ssh-ed25519 ${wrong.blob.toString('base64')}\n[${H1}]:${keysd.port + 1} ssh-ed25519 ${wrong.blob.toString('base64')}\n`)
      await rejectsWith(sshHost({sshd: keysd, knownHostsFile: file}).run('true', []), 'HOST_KEY_UNKNOWN')
      appendFileSync(file, `# the right one, with a comment\n[${H1}]:${keysd.port},other ssh-ed25519 ${ed().toString('base64')} keysd\n`)
      assert.equal((await sshHost({sshd: keysd, knownHostsFile: file}).run('true', [])).exitCode, 0)
    })

    it('asks for the key type known_hosts has (RSA here), as ssh does, instead of calling it changed', async () => {
      const file = kh('rsa')
      mkdirSync(join(dir, 'kh', 'rsa'), {recursive: true})
      writeFileSync(file, `${knownHostsLine(H1, keysd.port, rsa())}\n`)
      assert.equal((await sshHost({sshd: keysd, knownHostsFile: file}).run('true', [])).exitCode, 0)
    })

    it('accepts the pinned fingerprint (known_hosts not needed) and refuses a wrong pin', async () => {
      const none = kh('pinned')
      assert.equal((await sshHost({sshd: keysd, knownHostsFile: none, hostKey: fingerprint(ed())}).run('true', [])).exitCode, 0)
      assert.equal((await sshHost({sshd: keysd, knownHostsFile: none, hostKey: keysd.hostKeys[0]!.publicLine}).run('true', [])).exitCode, 0)
      await rejectsWith(sshHost({sshd: keysd, knownHostsFile: none, hostKey: fingerprint(wrong.blob), acceptNewHostKey: true}).run('true', []),
        'HOST_KEY_CHANGED', fingerprint(ed()), 'pinned')
      assert.equal(existsSync(none), false)
    })

    it('refuses a changed host key, even with acceptNewHostKey, and leaves known_hosts alone', async () => {
      const file = kh('accept') // recorded above
      const beforeText = readFileSync(file, 'utf8')
      const oldFp = fingerprint(ed())
      await keysd.restart({newHostKeys: true})
      assert.notEqual(fingerprint(ed()), oldFp)
      const e = await rejectsWith(sshHost({sshd: keysd, knownHostsFile: file, acceptNewHostKey: true}).run('true', []),
        'HOST_KEY_CHANGED', fingerprint(ed()), `${H1}:${keysd.port}`, file)
      assert.match(e.suggestions.join(' '), /never accepts a changed key/)
      assert.equal(readFileSync(file, 'utf8'), beforeText)
      // A @revoked line for the new key is a change as well.
      const revoked = kh('revoked')
      mkdirSync(join(dir, 'kh', 'revoked'), {recursive: true})
      writeFileSync(revoked, `@revoked [${H1}]:${keysd.port} ssh-ed25519 ${ed().toString('base64')}\n${knownHostsLine(H1, keysd.port, ed())}\n`)
      await rejectsWith(sshHost({sshd: keysd, knownHostsFile: revoked}).run('true', []), 'HOST_KEY_CHANGED')
    })
  })

  describe('identities', () => {
    let home: string
    let savedHome: string | undefined
    before(() => {
      home = join(dir, 'fake-home')
      mkdirSync(join(home, '.ssh'), {recursive: true, mode: 0o700})
      savedHome = process.env.HOME
    })
    after(() => { if (savedHome === undefined) delete process.env.HOME; else process.env.HOME = savedHome })

    const withHome = async <T>(f: () => Promise<T>): Promise<T> => {
      process.env.HOME = home // os.homedir() follows HOME: ~/.ssh/id_* are looked up at connect time
      try { return await f() } finally { if (savedHome === undefined) delete process.env.HOME; else process.env.HOME = savedHome }
    }

    it('with no key at all, says which defaults were looked for', async () => {
      await withHome(() => rejectsWith(sshHost({identityFile: undefined}).run('true', []), 'SSH_AUTH_FAILED', 'id_ed25519', 'SSH_AUTH_SOCK'))
    })

    it('tells that a default key needs its passphrase (ssh-agent), and uses the first usable default key', async () => {
      const enc = join(home, '.ssh', 'id_ed25519')
      assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret pass', '-f', enc]).status, 0)
      await withHome(() => rejectsWith(sshHost({identityFile: undefined}).run('true', []), 'SSH_AUTH_FAILED', enc, 'ssh-add'))
      // id_rsa is the client's key (copied): the encrypted id_ed25519 is skipped, id_rsa logs in.
      writeFileSync(join(home, '.ssh', 'id_rsa'), readFileSync(client.privateKey), {mode: 0o600})
      const h = sshHost({identityFile: undefined})
      assert.equal((await withHome(() => h.run('true', []))).exitCode, 0)
      rmSync(join(home, '.ssh', 'id_rsa'))
    })

    it('logs in with a key held by ssh-agent', async (t) => {
      if (existsSync('/usr/bin/ssh-agent') === false) { t.skip('ssh-agent not installed'); return }
      const sock = join(dir, 'agent.sock')
      const agent = spawn('/usr/bin/ssh-agent', ['-D', '-a', sock], {stdio: 'ignore'})
      try {
        await waitFor(() => existsSync(sock), 3000, 'the agent socket')
        const add = spawnSync('ssh-add', ['-q', client.privateKey], {env: {...process.env, SSH_AUTH_SOCK: sock}, encoding: 'utf8'})
        assert.equal(add.status, 0, add.stderr)
        const h = sshHost({identityFile: undefined, agent: sock})
        assert.equal((await withHome(() => h.run('true', []))).exitCode, 0)
        await h.close()
      } finally {
        agent.kill('SIGTERM')
      }
    })

    it('connects again after the connection is lost', async () => {
      const h = sshHost()
      assert.equal((await h.run('true', [])).exitCode, 0)
      const before = new Set(main.sessionPids())
      // End every per-connection sshd of this test's server (all of them are this test's).
      for (const pid of before) process.kill(pid, 'SIGTERM')
      await waitFor(() => main.sessionPids().every((p) => !before.has(p)), 3000, 'the sessions to end')
      await new Promise((r) => setTimeout(r, 100))
      assert.equal((await h.run('echo', ['back'])).stdout, 'back\n')
    })
  })

  describe('failures', () => {
    let silent: Server | undefined
    const sockets: Socket[] = []
    after(async () => {
      for (const s of sockets) s.destroy()
      if (silent !== undefined) await new Promise((r) => silent!.close(r))
    })

    it('a closed port is HOST_UNREACHABLE, at once', async () => {
      const port = await freePort(H2)
      const t0 = Date.now()
      await rejectsWith(sshHost({host: H2, port}).run('true', []), 'HOST_UNREACHABLE', `${H2}:${port}`, 'refused')
      assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`)
    })

    it('a host that accepts and never speaks is SSH_TIMEOUT within the connect timeout', async () => {
      silent = createServer((s) => { sockets.push(s) })
      const port = await freePort(H2)
      await new Promise<void>((r) => silent!.listen(port, H2, r))
      const h = sshHost({host: H2, port, connectTimeoutMs: 800})
      const t0 = Date.now()
      await rejectsWith(h.run('true', []), 'SSH_TIMEOUT', `${H2}:${port}`)
      const took = Date.now() - t0
      assert.ok(took >= 700 && took < 2500, `took ${took} ms`)
      // Every call tries again (the host may be back), each one bounded the same way.
      await rejectsWith(h.readFile('/etc/hostname'), 'SSH_TIMEOUT')
    })

    it('a key the host does not accept is SSH_AUTH_FAILED naming the key', async () => {
      await rejectsWith(sshHost({identityFile: wrong.privateKey}).run('true', []), 'SSH_AUTH_FAILED', wrong.privateKey, `${H1}:${main.port}`)
      await rejectsWith(sshHost({identityFile: join(dir, 'no-such-key')}).run('true', []), 'SSH_AUTH_FAILED', 'no-such-key')
    })

    it('a session that stops answering: run() times out (124), file operations fail with SSH_TIMEOUT, close() returns', async () => {
      const h = sshHost({commandTimeoutMs: 800})
      assert.equal((await h.run('true', [])).exitCode, 0)
      const before = new Set(main.sessionTree())
      assert.ok(before.size > 0, 'found the session processes')
      // SIGSTOP the per-connection sshd processes and what they started (ours and those of other
      // open hosts: all are this test's) — the connection stays up but nothing answers.
      for (const pid of before) process.kill(pid, 'SIGSTOP')
      try {
        let t0 = Date.now()
        assert.equal((await h.run('true', [], {timeoutMs: 500})).exitCode, 124)
        assert.ok(Date.now() - t0 < 2000, `run took ${Date.now() - t0} ms`)
        t0 = Date.now()
        await rejectsWith(h.readFile('/etc/hostname'), 'SSH_TIMEOUT', 'reading /etc/hostname')
        await rejectsWith(h.processInfo(1), 'SSH_TIMEOUT')
        assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0} ms`)
        t0 = Date.now()
        await h.close()
        assert.ok(Date.now() - t0 < 8000, `close took ${Date.now() - t0} ms`)
      } finally {
        for (const pid of before) try { process.kill(pid, 'SIGCONT') } catch { /* gone */ }
      }
    })
  })

  describe('a full disk', () => {
    let mnt: string | undefined
    let why: string | false = false
    before(() => {
      if (process.getuid?.() !== 0) { why = 'mounting a tiny tmpfs needs root'; return }
      mnt = join(dir, 'full')
      mkdirSync(mnt)
      // Mounted where the SSH host's sessions see it: the test sshd has its own mount namespace.
      const r = main.inMountNamespace('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt])
      if (r.status !== 0) { why = `cannot mount a tmpfs here: ${r.stderr.trim()}`; mnt = undefined }
    })
    after(() => { if (mnt !== undefined) main.inMountNamespace('umount', [mnt]) })

    it('reports an upload or write that does not fit as HOST_ERROR naming the host, the path and the full disk', async (t) => {
      if (why !== false || mnt === undefined) { t.skip(String(why)); return }
      const h = sshHost()
      const e = await rejectsWith(h.upload(SERVER_BUNDLE, join(mnt, 'repcached.mjs'), 0o600), 'HOST_ERROR', join(mnt, 'repcached.mjs'), `${H1}:${main.port}`, /disk is full/)
      assert.match(e.suggestions.join(' '), /free space/)
      const w = await rejectsWith(h.writeFile(join(mnt, 'big'), Buffer.alloc(200_000), 0o600), 'HOST_ERROR', join(mnt, 'big'), /No space left/i)
      assert.match(w.suggestions.join(' '), /free space/)
      assert.equal(main.inMountNamespace('ls', ['-A', mnt]).stdout, '', 'no temporary file left behind')
    })
  })
})
