// A router restarted while clients use it (src/cluster/router/nutcracker.ts
// startRouter, as `repctl start` and the supervisor call it when a pair's
// endpoint changes): the stopped nutcracker's client connections linger a few
// ms in FIN-WAIT-1 and keep its port from being bound; the restart must wait
// for them instead of failing with PORT_IN_USE and leaving the router down.
// Real nutcracker, real memcached, clients on loopback.

import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {startRouter, stopRouter} from '../../src/cluster/router/nutcracker.js'
import type {RouterConfig} from '../../src/config/schema.js'
import {LocalHost} from '../../src/hosts/local-host.js'
import {freePort} from '../helpers/ports.js'
import {startMemcached, toolMissing, type RunningServer} from '../helpers/processes.js'
import {sleep} from '../helpers/wait.js'

const CLIENTS = 16
const RESTARTS = 20

/** A client that sends a get as soon as the last one was answered, and reconnects when the router goes away. */
async function hammer(port: number, running: () => boolean, answered: {n: number}): Promise<void> {
  while (running()) {
    await new Promise<void>((resolve) => {
      const s = connect({port, host: '127.0.0.1'})
      const next = (): void => { if (running()) s.write('get k\r\n'); else s.destroy() }
      s.on('connect', next)
      s.on('data', () => { answered.n++; next() })
      s.on('error', () => undefined)
      s.on('close', () => resolve())
    })
    await sleep(5)
  }
}

describe('a router restarted under client load', () => {
  const missing = toolMissing('nutcracker') || toolMissing('memcached')
  const dir = mkdtempSync(join(tmpdir(), 'repctl-router-restart-'))
  const host = new LocalHost()
  let servers: RunningServer[] = []
  let router: RouterConfig | undefined

  after(async () => {
    if (router !== undefined) await stopRouter(host, router).catch(() => undefined)
    await Promise.all(servers.map((s) => s.stop()))
    rmSync(dir, {recursive: true, force: true})
  })

  it(`restarts ${RESTARTS} times in a row while ${CLIENTS} clients keep sending requests`, {skip: missing, timeout: 60_000}, async () => {
    servers = await Promise.all([startMemcached(), startMemcached()])
    const r: RouterConfig = {name: 'r1', host: '127.0.0.1', ssh: undefined, port: await freePort(), statsPort: await freePort(), stateDir: dir, privilege: 'root', timeoutMs: 1000}
    router = r
    const at = (i: number) => ({cluster: 'restart', router: r, pairs: [{name: 'pair1', endpoint: {host: '127.0.0.1', port: servers[i % 2]!.port}}]})
    assert.equal((await startRouter(host, r, at(0))).action, 'started')
    let running = true
    const answered = {n: 0}
    const clients = Array.from({length: CLIENTS}, () => hammer(r.port, () => running, answered))
    try {
      for (let i = 1; i <= RESTARTS; i++) {
        const before = answered.n
        while (answered.n < before + 200) await sleep(5)
        // Each time the pair's endpoint changes: a restart, as the supervisor does after a failover.
        const started = await startRouter(host, r, at(i))
        assert.equal(started.action, 'restarted', `restart ${i}`)
      }
    } finally {
      running = false
      await Promise.all(clients)
    }
  })
})
