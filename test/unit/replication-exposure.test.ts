import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {isLoopback, openReplicationWarning} from '../../src/server/replication/exposure.js'

describe('openReplicationWarning: a replication port open beyond loopback with no secret', () => {
  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a)
    for (const a of ['0.0.0.0', '::', '10.0.0.5', '128.0.0.1', 'cache-a.example', '::ffff:10.0.0.1']) assert.equal(isLoopback(a), false, a)
  })

  it('warns for every interface, a network address or a host name, naming the address and --rep-secret-file', () => {
    assert.match(openReplicationWarning(undefined, 11212, false, false) ?? '', /replication port \*:11212 \(every interface\) .*--rep-secret-file/)
    assert.match(openReplicationWarning('0.0.0.0', 11212, false, false) ?? '', /replication port 0\.0\.0\.0:11212 /)
    assert.match(openReplicationWarning('::', 11212, false, false) ?? '', /replication port \[::\]:11212 /)
    assert.match(openReplicationWarning('cache-a.example', 7, false, false) ?? '', /cache-a\.example:7/)
  })

  it('says nothing on loopback, with a secret, with replication TLS, or with replication off', () => {
    assert.equal(openReplicationWarning('127.0.0.1', 11212, false, false), undefined)
    assert.equal(openReplicationWarning('0.0.0.0', 11212, true, false), undefined)
    assert.equal(openReplicationWarning('0.0.0.0', 11212, false, true), undefined)
    assert.equal(openReplicationWarning('0.0.0.0', 0, false, false), undefined)
  })
})
