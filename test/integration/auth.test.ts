// Client authentication against the real memcached: -Y (ASCII auth) and -S
// (SASL PLAIN on the binary protocol) answer byte for byte as memcached
// 1.6.18 does, right, wrong and missing credentials; memjs logs in with its
// username/password options; a bad credentials file stops the server with
// its name.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import memjs from 'memjs'
import {differential, frame, keyFrame, Opcode as O, setFrame, type BinaryTranscript} from '../helpers/binary-differential.js'
import {launch, SERVER_BUNDLE, startMemcached, startOurServer, toolMissing, which, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {differences, DiffClient, runBoth, type StepInput} from '../helpers/text-differential.js'

const skip = toolMissing('memcached') || toolMissing('saslpasswd2')
const dir = mkdtempSync(join(tmpdir(), 'repctl-auth-'))
after(() => rmSync(dir, {recursive: true, force: true}))
const USERS = 'alice:secret1\nbob:pw2\n'

/** memcached drops to `nobody` when the tests run as root: what it reads must be readable by nobody. */
function forMemcached(path: string): void {
  if (process.getuid?.() !== 0) return
  chmodSync(dir, 0o755)
  chownSync(path, 65534, 65534)
}

function usersFile(name: string): string {
  const file = join(dir, name)
  writeFileSync(file, USERS, {mode: 0o600})
  return file
}

describe('ASCII authentication (-Y) like memcached', {skip}, () => {
  let mc: RunningServer | undefined
  let ours: RunningServer | undefined
  before(async () => {
    const theirsFile = usersFile('authfile-memcached')
    forMemcached(theirsFile)
    ;[mc, ours] = await Promise.all([startMemcached(['-Y', theirsFile]), startOurServer(['-Y', usersFile('authfile-ours')])])
  })
  after(async () => { await Promise.all([mc?.stop(), ours?.stop()]) })

  // Each case is a connection of its own. A failure leaves the connection open and unauthenticated;
  // memcached keeps one reply buffer then, so of the errors from one read only the last arrives.
  const q = (send: string | string[]): StepInput => ({send, until: 'quiet'})
  const cases: [string, StepInput[]][] = [
    ['commands before authenticating, in one read and in two', [q('get foo\r\nget bar\r\n'), q('version\r\n')]],
    ['a wrong password, then a command, then the right password', [q('set x 0 0 10\r\nalice wron\r\n'), q('version\r\n'), q('set x 0 0 13\r\nalice secret1\r\n'), 'get x\r\n']],
    ['an error and then the right password in one read', [q('get foo\r\nset x 0 0 13\r\nalice secret1\r\nversion\r\n')]],
    ['a wrong and a right password in one read', [q('set x 0 0 10\r\nalice wron\r\nset x 0 0 13\r\nalice secret1\r\nversion\r\n')]],
    ['an unknown user', [q('set x 0 0 9\r\nmallory x\r\n')]],
    ['user:password instead of "user password"', [q('set x 0 0 13\r\nalice:secret1\r\n')]],
    ['only a user', [q('set x 0 0 6\r\nalice \r\n'), q('set x 0 0 5\r\nalice\r\n')]],
    ['data not ending in CRLF', [q('set x 0 0 13\r\nalice secret1XX'), q('version\r\n')]],
    ['a bad length, an empty line', [q('set x 0 0 abc\r\n'), q('\r\n')]],
    ['add, and SET in capitals, are not the auth command', [q('add x 0 0 13\r\nalice secret1\r\n'), q('SET x 0 0 13\r\nalice secret1\r\n')]],
    ['the right password, then commands as usual', ['set x 0 0 13\r\nalice secret1\r\n', 'set k 0 0 1\r\nv\r\nget k x\r\n']],
    ['extra words, spaces, noreply and a bare LF are accepted', ['set x 9 99 19 noreply\nalice secret1 extra\r\n', 'get x\r\n']],
    ['leading and trailing spaces in the data', ['set x 0 0 15\r\n alice secret1 \r\n']],
    ['the auth set arriving in pieces', [q(['se', 't x 0 0 7\r\nbob', ' pw2\r', '\nversion\r\n'])]],
    ['a long line without a newline closes the connection', [{send: 'x'.repeat(3000), until: 'close'}]],
  ]
  for (const [name, steps] of cases) {
    it(name, async () => {
      const theirs = new DiffClient(mc!.port)
      const o = new DiffClient(ours!.port)
      try {
        const r = await runBoth(theirs, o, steps)
        assert.equal(differences(r.theirs, r.ours), '')
      } finally {
        theirs.close()
        o.close()
      }
    })
  }
})

describe('SASL PLAIN on the binary protocol (-S) like memcached', {skip}, () => {
  let mc: RunningServer | undefined
  let ours: RunningServer | undefined
  before(async () => {
    // memcached takes its users from Cyrus SASL: a sasldb made with saslpasswd2, named by a config file.
    const conf = join(dir, 'sasl')
    mkdirSync(conf, {recursive: true})
    const db = join(dir, 'sasldb2')
    for (const [user, password] of [['alice', 'secret1'], ['bob', 'pw2']] as const) {
      const r = spawnSync(which('saslpasswd2')!, ['-p', '-c', '-a', 'memcached', '-f', db, user], {input: password})
      assert.equal(r.status, 0, `saslpasswd2: ${String(r.stderr)}`)
    }
    writeFileSync(join(conf, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`)
    forMemcached(db)
    forMemcached(join(conf, 'memcached.conf'))
    ;[mc, ours] = await Promise.all([
      launch(which('memcached')!, (port) => ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-S', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : [])], 'memcached', {env: {SASL_CONF_PATH: conf}}),
      launch(process.execPath, (port) => [SERVER_BUNDLE, '-p', String(port), '-l', '127.0.0.1', '-X', '0', '-S'], 'repcached', {env: {MEMCACHED_SASL_PWDB: usersFile('pwdb')}}),
    ])
  })
  after(async () => { await Promise.all([mc?.stop(), ours?.stop()]) })

  const plain = (data: string, opaque = 0): Buffer => frame(O.SaslAuth, {key: 'PLAIN', value: data, opaque})
  const scenarios: [string, (t: BinaryTranscript) => Promise<void>][] = [
    ['a command before authenticating fails and closes', async (t) => { await t.step('get', keyFrame(O.Get, 'k'), {until: 'close'}) }],
    ['version needs no authentication; noop does', async (t) => { await t.step('version, noop', [frame(O.Version), frame(O.Noop)], {until: 'close'}) }],
    ['quit and stat before authenticating', async (t) => {
      await t.step('quit', frame(O.Quit), {until: 'close'})
      await t.reconnect()
      await t.step('stat', frame(O.Stat), {until: 'close'})
    }],
    ['the mechanisms offered', async (t) => { await t.step('list', [frame(O.SaslListMechs, {opaque: 7}), frame(O.Version)], {until: 'quiet'}) }],
    ['the right password, then commands', async (t) => {
      await t.step('auth', plain('\0alice\0secret1', 3))
      await t.step('set, get', [setFrame(O.Set, 'k', 'v'), keyFrame(O.Get, 'k')])
    }],
    ['an authzid naming the same user', async (t) => { await t.step('auth', plain('alice\0alice\0secret1')) }],
    ['a wrong password keeps the connection open, unauthenticated', async (t) => {
      await t.step('auth', [plain('\0alice\0nope'), frame(O.Version)], {until: 'quiet'})
      await t.step('get', keyFrame(O.Get, 'k'), {until: 'close'})
    }],
    ['malformed PLAIN data, an unknown mechanism, a step without a start', async (t) => {
      await t.step('no NULs', [plain('alicesecret1'), frame(O.Version)], {until: 'quiet'})
      await t.step('FOO', [frame(O.SaslAuth, {key: 'FOO', value: '\0alice\0secret1'}), frame(O.Version)], {until: 'quiet'})
      await t.step('step', [frame(O.SaslStep, {key: 'PLAIN', value: '\0alice\0secret1'}), frame(O.Version)], {until: 'quiet'})
    }],
    ['a failed second attempt takes the authentication away', async (t) => {
      await t.step('auth ok', plain('\0bob\0pw2'))
      await t.step('auth bad, get', [plain('\0bob\0bad'), keyFrame(O.Get, 'k')], {until: 'close'})
    }],
  ]
  for (const [name, scenario] of scenarios) {
    it(name, async () => { await differential({memcached: mc!.port, ours: ours!.port}, scenario) })
  }

  it('-S alone serves the binary protocol only: a text command is a bad binary header', async () => {
    const theirs = new DiffClient(mc!.port)
    const o = new DiffClient(ours!.port)
    try {
      const r = await runBoth(theirs, o, [{send: 'get some keys to fill a binary header\r\n', until: 'close'}])
      assert.equal(differences(r.theirs, r.ours), '')
    } finally {
      theirs.close()
      o.close()
    }
  })

  it('memjs logs in with username/password; a wrong or missing password gets no data', async () => {
    const attempt = async (username?: string, password?: string): Promise<string> => {
      const c = memjs.Client.create(`127.0.0.1:${ours!.port}`, {username, password, retries: 0, timeout: 2, logger: {log: () => {}}})
      try {
        await c.set('memjs-key', 'memjs-value', {})
        const r = await c.get('memjs-key')
        return String(r.value)
      } catch (e) {
        return `error: ${(e as Error).message ?? e}`
      } finally {
        c.close()
      }
    }
    assert.equal(await attempt('alice', 'secret1'), 'memjs-value')
    assert.match(await attempt('alice', 'wrong'), /^error/)
    assert.match(await attempt(), /^error/)
  })

  it('counts attempts and failures in stats', async () => {
    const c = memjs.Client.create(`127.0.0.1:${ours!.port}`, {username: 'bob', password: 'pw2', retries: 0, timeout: 2, logger: {log: () => {}}})
    try {
      const stats = await new Promise<Record<string, string>>((resolve, reject) => {
        c.stats((err, _server, s) => { if (err !== null && err !== undefined) reject(err); else resolve(s as Record<string, string>) })
      })
      assert.ok(Number(stats.auth_cmds) > Number(stats.auth_errors), JSON.stringify(stats))
      assert.ok(Number(stats.auth_errors) >= 5, `auth_errors ${stats.auth_errors}`)
    } finally {
      c.close()
    }
  })
})

describe('credentials files', () => {
  const run = (args: string[], env: Record<string, string> = {}): {status: number | null; stderr: string} => {
    const r = spawnSync(process.execPath, [SERVER_BUNDLE, '-p', '0', '-X', '0', ...args], {encoding: 'utf8', env: {...process.env, ...env}, timeout: 10_000})
    return {status: r.status, stderr: r.stderr}
  }

  it('with -S and -Y both, users of either file log in over SASL, and -Y users over ASCII', async () => {
    const pwdb = join(dir, 'pwdb-both')
    writeFileSync(pwdb, 'saslonly:one\n', {mode: 0o600})
    const authfile = join(dir, 'authfile-both')
    writeFileSync(authfile, 'asciiuser:two\n', {mode: 0o600})
    const s = await launch(process.execPath, (port) => [SERVER_BUNDLE, '-p', String(port), '-l', '127.0.0.1', '-X', '0', '-S', '-Y', authfile], 'repcached', {env: {MEMCACHED_SASL_PWDB: pwdb}})
    try {
      for (const [username, password] of [['saslonly', 'one'], ['asciiuser', 'two']]) {
        const c = memjs.Client.create(`127.0.0.1:${s.port}`, {username, password, retries: 0, timeout: 2, logger: {log: () => {}}})
        try { assert.equal(await c.set('both', 'x', {}), true, username) } finally { c.close() }
      }
      const t = await RawClient.open(s.port)
      try { assert.equal(await t.request('set a 0 0 13\r\nasciiuser two\r\n'), 'STORED\r\n') } finally { t.close() }
    } finally {
      await s.stop()
    }
  })

  it('-S without MEMCACHED_SASL_PWDB says what to set', () => {
    const r = run(['-S'], {MEMCACHED_SASL_PWDB: ''})
    assert.equal(r.status, 64)
    assert.match(r.stderr, /-S: set MEMCACHED_SASL_PWDB to a file of user:password lines/)
  })

  it('a missing -Y file, and a line without a colon, are named', () => {
    const missing = run(['-Y', join(dir, 'nope')])
    assert.equal(missing.status, 64)
    assert.match(missing.stderr, /-Y .*nope: no such file/)
    const bad = join(dir, 'bad-authfile')
    writeFileSync(bad, 'alice:ok\njustaname\n')
    const r = run(['-Y', bad])
    assert.equal(r.status, 64)
    assert.match(r.stderr, /bad-authfile line 2: expected user:password/)
  })
})
