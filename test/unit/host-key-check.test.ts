// The host key decision (src/hosts/host-key-check.ts) as a table: pinned or
// known_hosts, match, unknown (refused, or recorded with acceptNew), changed
// (refused even with acceptNew), revoked; and the algorithms offered first.

import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {decideHostKey, hostKeyAlgorithms, type PresentedKey} from '../../src/hosts/host-key-check.js'
import {fingerprint, knownHostsLine, parseKnownHosts} from '../../src/hosts/known-hosts.js'
import {toolMissing} from '../helpers/processes.js'

describe('decideHostKey', {skip: toolMissing('ssh-keygen')}, () => {
  let dir: string
  const keys: Record<'ed' | 'ed2' | 'rsa', Buffer> = {} as Record<'ed' | 'ed2' | 'rsa', Buffer>

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'repctl-hostkey-'))
    for (const [name, type] of [['ed', 'ed25519'], ['ed2', 'ed25519'], ['rsa', 'rsa']] as const) {
      const file = join(dir, name)
      execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-f', file])
      keys[name] = Buffer.from(readFileSync(`${file}.pub`, 'utf8').split(' ')[1]!, 'base64')
    }
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  const presented = (key: Buffer, known: string, over: Partial<PresentedKey> = {}): PresentedKey => ({
    key, address: '10.0.0.5', port: 2222, where: 'bob@10.0.0.5:2222', known: parseKnownHosts(known),
    knownHostsFile: '/home/bob/.ssh/known_hosts', acceptNew: false, ...over,
  })

  it('decides by the table', () => {
    const line = (k: Buffer, port = 2222): string => knownHostsLine('10.0.0.5', port, k)
    const rows: [string, PresentedKey, string, RegExp?][] = [
      ['known key', presented(keys.ed, `${line(keys.ed)}\n`), 'accept'],
      ['unknown host', presented(keys.ed, ''), 'refuse HOST_KEY_UNKNOWN', /not known: it presented ssh-ed25519 SHA256:.* \[10\.0\.0\.5\]:2222 is not in \/home\/bob\/\.ssh\/known_hosts/],
      ['unknown host, acceptNew', presented(keys.ed, '', {acceptNew: true}), 'record'],
      ['known for port 22 only', presented(keys.ed, `${line(keys.ed, 22)}\n`), 'refuse HOST_KEY_UNKNOWN'],
      ['another key known', presented(keys.ed2, `${line(keys.ed)}\n`), 'refuse HOST_KEY_CHANGED', /has CHANGED: .* \(line 1\)/],
      ['another key known, acceptNew', presented(keys.ed2, `# c\n${line(keys.ed)}\n`, {acceptNew: true, globalKnownHostsFile: '/etc/ssh/ssh_known_hosts'}), 'refuse HOST_KEY_CHANGED', /known_hosts or \/etc\/ssh\/ssh_known_hosts \(line 2\)/],
      ['revoked key', presented(keys.ed, `@revoked ${line(keys.ed)}\n${line(keys.ed)}\n`), 'refuse HOST_KEY_CHANGED'],
      ['pinned fingerprint', presented(keys.rsa, '', {pin: fingerprint(keys.rsa)}), 'accept'],
      ['pin beats known_hosts', presented(keys.ed, `${line(keys.ed)}\n`, {pin: fingerprint(keys.rsa)}), 'refuse HOST_KEY_CHANGED', /does not match the pinned ssh\.hostKey/],
    ]
    for (const [what, input, want, message] of rows) {
      const d = decideHostKey(input)
      const got = d.action === 'refuse' ? `refuse ${d.error.code}` : d.action
      assert.equal(got, want, what)
      if (d.action === 'record') assert.deepEqual(d, {action: 'record', fingerprint: fingerprint(input.key), keyType: 'ssh-ed25519'})
      if (message !== undefined && d.action === 'refuse') assert.match(d.error.message, message, what)
    }
  })

  it('offers first the algorithms of a key type known for the host (or pinned)', () => {
    const known = parseKnownHosts(`${knownHostsLine('10.0.0.5', 2222, keys.rsa)}\n`)
    assert.deepEqual(hostKeyAlgorithms(known, '10.0.0.5', 2222, undefined).slice(0, 4), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519'])
    assert.equal(hostKeyAlgorithms(known, '10.0.0.6', 22, undefined)[0], 'ssh-ed25519', 'nothing known: ssh2\'s order')
    assert.equal(hostKeyAlgorithms([], '10.0.0.5', 2222, `ssh-rsa ${keys.rsa.toString('base64')}`)[0], 'rsa-sha2-512')
    assert.equal(new Set(hostKeyAlgorithms(known, '10.0.0.5', 2222, undefined)).size, 7, 'each once')
  })
})
