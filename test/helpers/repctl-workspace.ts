// A repctl as a user runs it on one machine, for an e2e test file: a temp dir
// with work/ (the config, the cwd) and home/ (HOME), the nodes' state in
// state/. Every node pid the tests saw in a status, or that a node left in its
// pid file (started by something the test never saw, e.g. a repair before a
// failure), is killed after the file's tests, and the dir removed.

import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after} from 'node:test'
import {freePort} from './ports.js'
import type {StatusReport} from '../../src/cluster/status.js'
import {repctlIn, type Repctl} from './repctl.js'

export interface RepctlWorkspace extends Repctl {
  dir: string
  home: string
  work: string
  /** The stateDir the tests give their nodes; node pid files are read from <state>/<node>/repcached.pid. */
  state: string
  /** Pids to kill after the tests; add any the test starts itself. */
  pids: Set<number>
  /** `repctl status --json` expecting exit `code`, checked against its schema; remembers the node pids. */
  status(code: number): Promise<StatusReport>
  /** Write work/repctl.config.yaml: one pair, node1 and node2 on loopback, on free ports (returned). */
  loopbackPair(cluster: string): Promise<{p1: number; r1: number; p2: number; r2: number}>
}

/** Call at the top level of a test file: registers the clean-up with node:test's after(). */
export function repctlWorkspace(prefix: string, o: {timeoutMs?: number; nodes?: string[]} = {}): RepctlWorkspace {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const home = join(dir, 'home')
  const work = join(dir, 'work')
  const state = join(dir, 'state')
  mkdirSync(home)
  mkdirSync(work)
  const pids = new Set<number>()
  after(() => {
    for (const node of o.nodes ?? ['node1', 'node2']) {
      try { pids.add(Number(readFileSync(join(state, node, 'repcached.pid'), 'utf8').trim())) } catch { /* none */ }
    }
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
    rmSync(dir, {recursive: true, force: true})
  })
  const repctl = repctlIn(work, home, o.timeoutMs)
  return {
    ...repctl, dir, home, work, state, pids,
    async status(code) {
      const s = await repctl.json<StatusReport>(['status'], code, 'status')
      for (const n of s.nodes) if (n.pid !== null) pids.add(n.pid)
      return s
    },
    async loopbackPair(cluster) {
      const [p1, r1, p2, r2] = [await freePort(), await freePort(), await freePort(), await freePort()]
      writeFileSync(join(work, 'repctl.config.yaml'), `cluster: ${cluster}
defaults: { stateDir: ${JSON.stringify(state)} }
nodes:
  node1: { host: 127.0.0.1, port: ${p1}, replicationPort: ${r1} }
  node2: { host: 127.0.0.1, port: ${p2}, replicationPort: ${r2} }
pairs: [[node1, node2]]
`)
      return {p1, r1, p2, r2}
    },
  }
}
