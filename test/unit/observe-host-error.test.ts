// An observation that could not ask the node's host carries the error it met:
// the operation that stops on it says that error, without asking the host
// again (a second ask may fail differently, or not at all, and costs a round
// trip over SSH).

import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {observeForAction, observeNode} from '../../src/cluster/observe.js'
import {nodePaths} from '../../src/cluster/topology.js'
import type {NodeConfig} from '../../src/config/schema.js'
import {RepctlError} from '../../src/errors.js'
import {LocalHost} from '../../src/hosts/local-host.js'
import {freePort} from '../helpers/ports.js'

/** A local host that counts how often it is asked for a file. */
class CountingHost extends LocalHost {
  reads = 0
  override async readFile(path: string): Promise<string | undefined> {
    this.reads++
    return super.readFile(path)
  }
}

let tmp: string
before(() => { tmp = mkdtempSync(join(tmpdir(), 'repctl-observe-')) })
after(() => rmSync(tmp, {recursive: true, force: true}))

async function nodeWithUnreadablePidFile(name: string): Promise<NodeConfig> {
  const node: NodeConfig = {
    name, host: '127.0.0.1', port: await freePort(), replicationPort: await freePort(), memory: 64, maxConnections: 1024, queueMax: 8192,
    stateDir: tmp, snapshots: false, snapshotIntervalMs: 60_000, privilege: 'root', ssh: undefined,
  }
  // A directory where the pid file should be: reading it fails (EISDIR), as a host's read may.
  mkdirSync(nodePaths(node).pidFile, {recursive: true})
  return node
}

describe('observing a node whose host cannot be asked', () => {
  it('the observation carries the host error it met', async () => {
    const node = await nodeWithUnreadablePidFile('n1')
    const o = await observeNode(new LocalHost(), node)
    assert.equal(o.process, 'unknown')
    assert.equal(o.reachable, false)
    assert.equal(o.hostError?.code, 'HOST_ERROR')
    assert.match(o.hostError?.message ?? '', /^cannot read the state of node n1 on .*EISDIR/)
  })

  it('an operation stops with that error, asking the host once', async () => {
    const node = await nodeWithUnreadablePidFile('n2')
    const host = new CountingHost()
    await assert.rejects(observeForAction({for: () => host}, [node]), (e: unknown) => {
      assert.ok(e instanceof RepctlError)
      assert.equal(e.code, 'HOST_ERROR')
      assert.match(e.message, /cannot read the state of node n2 on .*EISDIR/)
      return true
    })
    assert.equal(host.reads, 1, 'the pid file was read once: the error came with the observation')
  })
})
