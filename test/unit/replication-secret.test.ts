// The replication secret a start uses, as a pure function of the config, what
// the node hosts hold, and what a running peer demands; and what `status`
// says about the link.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {decideSecret, linkAuth, newSecret, secretMode, type SecretHolding} from '../../src/cluster/replication-secret.js'
import {secretSeen} from '../../src/cluster/observe.js'
import {validateConfig} from '../../src/config/schema.js'

const hold = (node: string, secret: string | undefined): SecretHolding =>
  ({node, host: `${node}.example (ssh)`, path: `/var/lib/repctl/${node}/secrets/replication-generated.secret`, secret})

describe('secretMode: what the config asks for', () => {
  it('no key: generated; a file: configured; none: off', () => {
    const nodes = {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}}
    assert.equal(secretMode(validateConfig({nodes}, 'c.yaml', '/tmp').nodes[0]!), 'generated')
    assert.equal(secretMode(validateConfig({nodes, security: {replicationSecretFile: 'none'}}, 'c.yaml', '/tmp').nodes[0]!), 'off')
    assert.equal(secretMode(validateConfig({nodes, security: {replicationSecretFile: '/etc/hostname'}}, 'c.yaml', '/tmp').nodes[1]!), 'configured')
  })
})

describe('decideSecret: both nodes starting', () => {
  it('a configured file wins over any generated secret on the hosts', () => {
    assert.equal(decideSecret('configured', ['a', 'b'], [hold('a', 'x'), hold('b', 'y')]).use, 'configured')
  })

  it('none turns it off, whatever the hosts hold', () => {
    const d = decideSecret('off', ['a', 'b'], [hold('a', 'x'), hold('b', undefined)])
    assert.deepEqual(d, {use: 'none', note: 'no secret (replicationSecretFile: none)'})
  })

  it('first start: nothing anywhere, a new secret for both', () => {
    const d = decideSecret('generated', ['a', 'b'], [hold('a', undefined), hold('b', undefined)])
    assert.equal(d.use, 'generated')
    assert.deepEqual(d.use === 'generated' && [d.from, d.installOn], [null, ['a', 'b']])
  })

  it('found on one host: used, and copied to the other', () => {
    const d = decideSecret('generated', ['a', 'b'], [hold('a', undefined), hold('b', 's3cret')])
    assert.deepEqual(d.use === 'generated' && [d.from, d.installOn], ['b', ['a']])
  })

  it('the same on both: used as it is, nothing written', () => {
    const d = decideSecret('generated', ['a', 'b'], [hold('a', 's3cret'), hold('b', 's3cret')])
    assert.deepEqual(d.use === 'generated' && [d.from, d.installOn], ['a', []])
  })

  it('different secrets on the two hosts: refused, naming both hosts and files and the fix, and no secret', () => {
    const d = decideSecret('generated', ['a', 'b'], [hold('a', 'one-secret'), hold('b', 'other-secret')])
    assert.equal(d.use, 'refuse')
    if (d.use !== 'refuse') return
    for (const s of ['a.example (ssh)', 'b.example (ssh)', '/var/lib/repctl/a/secrets/replication-generated.secret', '/var/lib/repctl/b/secrets/replication-generated.secret']) {
      assert.ok(d.message.includes(s), `the message names ${s}: ${d.message}`)
    }
    assert.match(d.suggestion, /rm \/var\/lib\/repctl\/a\/.* on a\.example \(ssh\), or rm \/var\/lib\/repctl\/b\/.* on b\.example \(ssh\)/)
    assert.ok(!`${d.message}${d.suggestion}`.includes('one-secret') && !`${d.message}${d.suggestion}`.includes('other-secret'), 'the secrets are never printed')
  })

  it('an empty generated file: refused with the file to delete', () => {
    const d = decideSecret('generated', ['a', 'b'], [hold('a', ''), hold('b', 'x')])
    assert.equal(d.use, 'refuse')
    assert.match(d.use === 'refuse' ? d.suggestion : '', /rm \/var\/lib\/repctl\/a\/secrets\/replication-generated\.secret on a\.example/)
  })
})

describe('decideSecret: one node starting beside its running peer', () => {
  it('a peer running without a secret (started before this default): the node starts without one too, and the note says how to lock the pair', () => {
    for (const mode of ['generated', 'configured'] as const) {
      const d = decideSecret(mode, ['b'], [hold('a', undefined), hold('b', undefined)], {name: 'a', usesSecret: false})
      assert.equal(d.use, 'none', mode)
      assert.match(d.use === 'none' ? d.note : '', /a runs without one.*repctl stop && repctl start/)
    }
  })

  it('a peer running with the secret: the generated one found on its host, copied to the node\'s host', () => {
    const d = decideSecret('generated', ['b'], [hold('a', 's3cret'), hold('b', undefined)], {name: 'a', usesSecret: true})
    assert.deepEqual(d.use === 'generated' && [d.from, d.installOn], ['a', ['b']])
  })

  it('a peer running with a secret no host holds: refused (a new one would not pair), with what to run', () => {
    const d = decideSecret('generated', ['b'], [hold('a', undefined), hold('b', undefined)], {name: 'a', usesSecret: true})
    assert.equal(d.use, 'refuse')
    assert.match(d.use === 'refuse' ? d.suggestion : '', /repctl stop && repctl start/)
  })

  it('a peer that cannot be asked: the cluster\'s secret as usual', () => {
    const d = decideSecret('generated', ['b'], [hold('a', 's3cret'), hold('b', undefined)], {name: 'a', usesSecret: null})
    assert.deepEqual(d.use === 'generated' && [d.from, d.installOn], ['a', ['b']])
  })

  it('none in the config while the peer runs with a secret: refused, since the two would refuse each other', () => {
    const d = decideSecret('off', ['b'], [], {name: 'a', usesSecret: true})
    assert.equal(d.use, 'refuse')
    assert.match(d.use === 'refuse' ? d.message : '', /a runs with a replication secret but the config turns it off/)
  })

  it('different copies: the fix names the copy that is not the running node\'s', () => {
    const d = decideSecret('generated', ['b'], [hold('a', 'x'), hold('b', 'y')], {name: 'a', usesSecret: true})
    assert.match(d.use === 'refuse' ? d.suggestion : '', /^a runs with its own copy: delete the other \(rm \/var\/lib\/repctl\/b\//)
  })
})

describe('newSecret', () => {
  it('32 random bytes as hex, different every time', () => {
    const [a, b] = [newSecret(), newSecret()]
    assert.match(a, /^[0-9a-f]{64}$/)
    assert.notEqual(a, b)
  })
})

describe('linkAuth: what status says about the link', () => {
  const n = (name: string, replicationSecret: boolean | null) => ({name, replicationSecret})
  it('both demand the secret: authenticated, naming where it comes from', () => {
    assert.deepEqual(linkAuth('generated', n('a', true), n('b', true)), {authenticated: true, secret: 'generated', summary: 'yes (secret generated by repctl, kept on the node hosts)'})
    assert.equal(linkAuth('configured', n('a', true), n('b', null)).summary, 'yes (secret from security.replicationSecretFile)')
  })

  it('none in the config: off, said so', () => {
    assert.deepEqual(linkAuth('off', n('a', false), n('b', false)), {authenticated: false, secret: 'off', summary: 'off (replicationSecretFile: none)'})
    assert.deepEqual(linkAuth('off', n('a', null), n('b', null)), {authenticated: null, secret: 'off', summary: 'off (replicationSecretFile: none)'})
  })

  it('a pair from before the default secret: not authenticated, with the command that locks it', () => {
    const r = linkAuth('generated', n('a', false), n('b', false))
    assert.equal(r.authenticated, false)
    assert.match(r.summary, /^no: a and b run without a replication secret .*repctl stop && repctl start/)
  })

  it('one with, one without: not authenticated, and which node to restart', () => {
    const r = linkAuth('generated', n('a', true), n('b', false))
    assert.equal(r.authenticated, false)
    assert.match(r.summary, /b runs without the secret and a with it.*repctl rejoin b/)
  })

  it('nothing running: unknown', () => {
    assert.equal(linkAuth('generated', n('a', null), n('b', null)).authenticated, null)
  })
})

describe('secretSeen: whether a running node demands the secret', () => {
  it('its repl_secret stat first; for a server from before that stat, its command line; else unknown', () => {
    assert.equal(secretSeen({repl_secret: '1'}, undefined), true)
    assert.equal(secretSeen({repl_secret: '0'}, 'node repcached.mjs --rep-secret-file /s'), false)
    assert.equal(secretSeen({repl_role: 'master'}, 'node /x/repcached.mjs -d -v --rep-secret-file /x/secrets/replication.secret'), true)
    assert.equal(secretSeen({repl_role: 'master'}, 'node /x/repcached.mjs -d -v --rep-secret-file=/x/s'), true)
    assert.equal(secretSeen(undefined, 'node /x/repcached.mjs -d -v -x 127.0.0.1'), false)
    assert.equal(secretSeen(undefined, undefined), null)
  })
})
