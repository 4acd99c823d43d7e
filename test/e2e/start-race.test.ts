// The steps that (re)start a node as slave — used by promote, rejoin and a lone
// start — may find that someone else started it since they observed it
// stopped: a supervisor repairing the pair while an operator promotes. They
// must take that node as started (it rejoins the same master) instead of
// failing on its ports; the pair is verified afterwards anyway.

import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {observeNode} from '../../src/cluster/observe.js'
import {startSteps, verifyPairedStep} from '../../src/cluster/start.js'
import type {StatusReport} from '../../src/cluster/status.js'
import {findNode} from '../../src/cluster/topology.js'
import {loadConfig} from '../../src/config/load.js'
import {HostPool} from '../../src/hosts/pool.js'
import {freePort} from '../helpers/ports.js'
import {repctlIn, type Repctl} from '../helpers/repctl.js'

describe('start steps when another actor already started the node', () => {
  let dir: string
  let configFile: string
  let repctl: Repctl

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'repctl-start-race-'))
    const [p1, r1, p2, r2] = [await freePort(), await freePort(), await freePort(), await freePort()]
    configFile = join(dir, 'repctl.config.yaml')
    await writeFile(configFile, [
      'cluster: race',
      'defaults: {snapshots: false}',
      'nodes:',
      `  node1: {host: 127.0.0.1, port: ${p1}, replicationPort: ${r1}, stateDir: ${join(dir, 'state')}}`,
      `  node2: {host: 127.0.0.1, port: ${p2}, replicationPort: ${r2}, stateDir: ${join(dir, 'state')}}`,
      'pairs: [[node1, node2]]',
      '',
    ].join('\n'))
    repctl = repctlIn(dir, join(dir, 'home'))
    const r = await repctl.run(['start'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
  })

  after(async () => {
    if (repctl !== undefined) await repctl.run(['stop']).catch(() => undefined)
    if (dir !== undefined) await rm(dir, {recursive: true, force: true})
  })

  it('take the running node as started (no PORT_IN_USE), leave it alone, and the pair verifies', async () => {
    const config = await loadConfig(configFile)
    const [n1, n2] = [findNode(config, 'node1'), findNode(config, 'node2')]
    const pool = new HostPool()
    try {
      const master = await observeNode(pool.for(n1), n1)
      const before = await observeNode(pool.for(n2), n2)
      assert.equal(before.process, 'running')
      // As promote's plan would have it had node2 been seen stopped: node2 started again as node1's slave.
      const said: string[] = []
      for (const step of [...startSteps(pool, n2, n1, master), verifyPairedStep(pool, n1, n2)]) said.push(String(await step.run() ?? ''))
      assert.match(said[0]!, new RegExp(`already running \\(pid ${before.pid}\\)`))
      assert.match(said[3]!, new RegExp(`already running \\(pid ${before.pid}\\)`))
      assert.equal(said[4], 'paired')
      assert.equal((await observeNode(pool.for(n2), n2)).pid, before.pid, 'the running node was not touched')
    } finally {
      await pool.close()
    }
    const status = await repctl.json<StatusReport>(['status'], 0, 'status')
    assert.equal(status.pairs[0]!.verdict, 'ok')
  })
})
