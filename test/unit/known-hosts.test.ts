import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {
  appendKnownHost, checkHostKey, fingerprint, keyTypeOf, knownHostName, knownHostsLine, knownKeyTypes,
  matchesPin, parseKnownHosts, readKnownHosts, validPin,
} from '../../src/hosts/known-hosts.js'
import {toolMissing} from '../helpers/processes.js'

interface Key { type: string; b64: string; blob: Buffer; pubLine: string; pubFile: string }

const skip = toolMissing('ssh-keygen')

describe('known_hosts', {skip}, () => {
  let dir: string
  let ed: Key
  let ed2: Key
  let ecdsa: Key
  let rsa: Key

  function keygen(name: string, type: string, bits?: number): Key {
    const file = join(dir, name)
    execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits === undefined ? [] : ['-b', String(bits)]), '-N', '', '-C', `test ${name}`, '-f', file])
    const pubLine = readFileSync(`${file}.pub`, 'utf8').trim()
    const [t, b64] = pubLine.split(' ') as [string, string]
    return {type: t, b64, blob: Buffer.from(b64, 'base64'), pubLine, pubFile: `${file}.pub`}
  }

  /** `ssh-keygen -H` on these lines: OpenSSH's own hashing. */
  function hashed(lines: string): string {
    const file = join(dir, `kh-${Math.random().toString(36).slice(2)}`)
    writeFileSync(file, lines)
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], {stdio: 'ignore'})
    return readFileSync(file, 'utf8')
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'repctl-kh-'))
    ed = keygen('ed', 'ed25519')
    ed2 = keygen('ed2', 'ed25519')
    ecdsa = keygen('ecdsa', 'ecdsa', 256)
    rsa = keygen('rsa', 'rsa', 2048)
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('fingerprints keys exactly as ssh-keygen -l does', () => {
    for (const k of [ed, ed2, ecdsa, rsa]) {
      const theirs = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', k.pubFile], {encoding: 'utf8'}).split(' ')[1]
      assert.equal(fingerprint(k.blob), theirs)
      assert.match(fingerprint(k.blob), /^SHA256:[A-Za-z0-9+/]{43}$/)
    }
  })

  it('reads the key type from the blob', () => {
    assert.equal(keyTypeOf(ed.blob), 'ssh-ed25519')
    assert.equal(keyTypeOf(ecdsa.blob), 'ecdsa-sha2-nistp256')
    assert.equal(keyTypeOf(rsa.blob), 'ssh-rsa')
    assert.throws(() => keyTypeOf(Buffer.from('xx')))
  })

  it('writes [host]:port only for a port other than 22', () => {
    assert.equal(knownHostName('Example.COM', 22), 'example.com')
    assert.equal(knownHostName('10.0.0.1', 2222), '[10.0.0.1]:2222')
  })

  it('matches plain names and comma lists; another key for the host is a change', () => {
    const entries = parseKnownHosts(`web1,10.0.0.5 ${ed.type} ${ed.b64}\nweb2 ${rsa.type} ${rsa.b64}\n`)
    assert.equal(entries.length, 2)
    assert.equal(checkHostKey(entries, 'web1', 22, ed.blob), 'match')
    assert.equal(checkHostKey(entries, '10.0.0.5', 22, ed.blob), 'match')
    assert.equal(checkHostKey(entries, 'WEB1', 22, ed.blob), 'match', 'names are case-insensitive')
    assert.equal(checkHostKey(entries, 'web1', 22, ed2.blob), 'changed')
    assert.equal(checkHostKey(entries, 'web1', 22, rsa.blob), 'changed')
    assert.equal(checkHostKey(entries, 'web2', 22, rsa.blob), 'match')
    assert.equal(checkHostKey(entries, 'web3', 22, ed.blob), 'unknown')
    assert.equal(checkHostKey(entries, 'web', 22, ed.blob), 'unknown', 'no prefix matching')
  })

  it('keeps [host]:port entries apart from the same host on port 22', () => {
    const entries = parseKnownHosts(`[db]:2222 ${ed.type} ${ed.b64}\ndb ${ed2.type} ${ed2.b64}\n`)
    assert.equal(checkHostKey(entries, 'db', 2222, ed.blob), 'match')
    assert.equal(checkHostKey(entries, 'db', 2222, ed2.blob), 'changed')
    assert.equal(checkHostKey(entries, 'db', 22, ed2.blob), 'match')
    assert.equal(checkHostKey(entries, 'db', 22, ed.blob), 'changed')
    assert.equal(checkHostKey(entries, 'db', 2223, ed.blob), 'unknown')
  })

  it('matches entries hashed by ssh-keygen -H (HMAC-SHA1 with the salt)', () => {
    const text = hashed(`alpha ${ed.type} ${ed.b64}\n[beta]:2200 ${ecdsa.type} ${ecdsa.b64}\n10.1.2.3,gamma ${rsa.type} ${rsa.b64}\n`)
    assert.doesNotMatch(text, /alpha|beta|gamma|10\.1\.2\.3/, 'ssh-keygen hashed every name')
    const entries = parseKnownHosts(text)
    assert.ok(entries.every((e) => e.patterns.length === 1 && e.patterns[0]!.startsWith('|1|')))
    assert.equal(checkHostKey(entries, 'alpha', 22, ed.blob), 'match')
    assert.equal(checkHostKey(entries, 'alpha', 22, ed2.blob), 'changed')
    assert.equal(checkHostKey(entries, 'beta', 2200, ecdsa.blob), 'match')
    assert.equal(checkHostKey(entries, 'beta', 22, ecdsa.blob), 'unknown')
    assert.equal(checkHostKey(entries, 'gamma', 22, rsa.blob), 'match')
    assert.equal(checkHostKey(entries, '10.1.2.3', 22, rsa.blob), 'match')
    assert.equal(checkHostKey(entries, 'delta', 22, rsa.blob), 'unknown')
  })

  it('supports * and ? wildcards and !negations', () => {
    const entries = parseKnownHosts(`*.prod.example,!bad.prod.example ${ed.type} ${ed.b64}\nnode? ${rsa.type} ${rsa.b64}\n`)
    assert.equal(checkHostKey(entries, 'a.prod.example', 22, ed.blob), 'match')
    assert.equal(checkHostKey(entries, 'bad.prod.example', 22, ed.blob), 'unknown')
    assert.equal(checkHostKey(entries, 'node1', 22, rsa.blob), 'match')
    assert.equal(checkHostKey(entries, 'node10', 22, rsa.blob), 'unknown')
    assert.equal(checkHostKey(entries, 'aXprod.example', 22, ed.blob), 'unknown', 'a dot is literal')
  })

  it('skips comments, blank lines and malformed lines; keeps trailing comments out of the key', () => {
    const text = [
      '# a comment',
      '',
      `   host1 ${ed.type} ${ed.b64} root@somewhere with spaces`,
      'host2 ssh-ed25519',
      'host3 ssh-ed25519 !!!notbase64',
      `@unknown-marker host4 ${ed.type} ${ed.b64}`,
      `host5\t${rsa.type}\t${rsa.b64}\r`,
    ].join('\n')
    const entries = parseKnownHosts(text)
    assert.deepEqual(entries.map((e) => e.patterns[0]), ['host1', 'host5'])
    assert.deepEqual(entries.map((e) => e.line), [3, 7])
    assert.equal(checkHostKey(entries, 'host1', 22, ed.blob), 'match')
    assert.equal(checkHostKey(entries, 'host5', 22, rsa.blob), 'match')
    assert.equal(checkHostKey(entries, 'host4', 22, ed.blob), 'unknown')
  })

  it('treats a @revoked key as changed and ignores @cert-authority', () => {
    const entries = parseKnownHosts([
      `@revoked h1 ${ed.type} ${ed.b64}`,
      `h1 ${ed.type} ${ed.b64}`,
      `@cert-authority h2 ${ed.type} ${ed.b64}`,
      `@revoked h3 ${ed2.type} ${ed2.b64}`,
    ].join('\n'))
    assert.equal(entries[0]!.marker, 'revoked')
    assert.equal(entries[2]!.marker, 'cert-authority')
    assert.equal(checkHostKey(entries, 'h1', 22, ed.blob), 'changed', 'revoked wins over a plain line')
    assert.equal(checkHostKey(entries, 'h2', 22, ed.blob), 'unknown', 'a CA line does not make a host known')
    assert.equal(checkHostKey(entries, 'h3', 22, ed2.blob), 'changed')
    assert.equal(checkHostKey(entries, 'h3', 22, ed.blob), 'unknown')
  })

  it('lists the known key types of a host, for the algorithm preference', () => {
    const entries = parseKnownHosts(`h ${rsa.type} ${rsa.b64}\nh ${ecdsa.type} ${ecdsa.b64}\nh ${rsa.type} ${rsa.b64}\nother ${ed.type} ${ed.b64}\n`)
    assert.deepEqual(knownKeyTypes(entries, 'h', 22), ['ssh-rsa', 'ecdsa-sha2-nistp256'])
    assert.deepEqual(knownKeyTypes(entries, 'x', 22), [])
  })

  it('checks a pinned fingerprint or public key', () => {
    const fp = fingerprint(ed.blob)
    assert.ok(matchesPin(fp, ed.blob))
    assert.ok(matchesPin(fp.slice('SHA256:'.length), ed.blob), 'prefix optional')
    assert.ok(matchesPin(`${fp}=`, ed.blob), 'padding tolerated')
    assert.ok(matchesPin(ed.pubLine, ed.blob), 'a .pub line works too')
    assert.ok(!matchesPin(fingerprint(ed2.blob), ed.blob))
    assert.ok(!matchesPin(ed2.pubLine, ed.blob))
    assert.ok(validPin(fp) && validPin(ed.pubLine))
    assert.ok(!validPin('SHA256:short') && !validPin('md5:aa:bb'))
  })

  it('appends a new entry, creating the directory 700 and the file 600, and OpenSSH reads it back', async () => {
    const home = join(dir, 'home')
    const file = join(home, '.ssh', 'known_hosts')
    await appendKnownHost(file, '127.0.0.11', 2222, ed.blob)
    assert.equal(statSync(join(home, '.ssh')).mode & 0o777, 0o700)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(readFileSync(file, 'utf8'), `${knownHostsLine('127.0.0.11', 2222, ed.blob)}\n`)
    assert.equal(checkHostKey(await readKnownHosts(file), '127.0.0.11', 2222, ed.blob), 'match')
    const found = spawnSync('ssh-keygen', ['-F', '[127.0.0.11]:2222', '-f', file], {encoding: 'utf8'})
    assert.equal(found.status, 0, 'ssh-keygen -F finds the entry')
    assert.match(found.stdout, new RegExp(ed.b64.replaceAll('+', '\\+')))
  })

  it('appends after a last line that has no newline, and keeps an existing mode', async () => {
    const file = join(dir, 'kh-nonl')
    writeFileSync(file, `h1 ${rsa.type} ${rsa.b64}`, {mode: 0o644})
    await appendKnownHost(file, 'h2', 22, ed.blob)
    const entries = await readKnownHosts(file)
    assert.equal(checkHostKey(entries, 'h1', 22, rsa.blob), 'match')
    assert.equal(checkHostKey(entries, 'h2', 22, ed.blob), 'match')
    assert.equal(statSync(file).mode & 0o777, 0o644)
  })

  it('reads a missing file as empty', async () => {
    assert.deepEqual(await readKnownHosts(join(dir, 'nope', 'known_hosts')), [])
  })
})
