// The supervisor's lock and traces: one supervisor per cluster on a machine,
// a stale pid file does not block, and status reads the newest action.

import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {claimSupervisor, readEvents, rotateEvents, supervisorInfo, supervisorPaths} from '../../src/cluster/supervise/presence.js'
import {RepctlError} from '../../src/errors.js'
import {assertValid} from '../helpers/schemas.js'

const home = mkdtempSync(join(tmpdir(), 'repctl-presence-'))
after(() => rmSync(home, {recursive: true, force: true}))

describe('supervisor presence', () => {
  it('claims the lock, refuses a second live supervisor, and releases it', async () => {
    const paths = supervisorPaths('c1', home)
    const release = await claimSupervisor('c1', home)
    assert.ok(existsSync(paths.pidFile))
    // A live process whose command line says "supervise" holds the lock.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'supervise'], {stdio: 'ignore'})
    try {
      release()
      assert.equal(existsSync(paths.pidFile), false, 'released')
      writeFileSync(paths.pidFile, `${other.pid}\n`)
      await assert.rejects(claimSupervisor('c1', home), (e: unknown) => e instanceof RepctlError && e.code === 'SUPERVISOR_RUNNING' && e.message.includes(String(other.pid)))
      assert.deepEqual(await supervisorInfo('c1', home), {running: true, pid: other.pid, lastAction: null})
    } finally {
      other.kill('SIGKILL')
      await new Promise((r) => other.once('exit', r))
    }
    // Its pid is now stale: the next supervisor takes over.
    const again = await claimSupervisor('c1', home)
    assert.equal((await supervisorInfo('c1', home)).running, false, 'a supervisor does not report itself as another one')
    again()
  })

  it('a pid file naming some other live process is stale', async () => {
    const paths = supervisorPaths('c2', home)
    await claimSupervisor('c2', home).then((r) => r())
    writeFileSync(paths.pidFile, '1\n') // init: alive, but not a supervisor
    const release = await claimSupervisor('c2', home)
    release()
  })

  it('status reads the newest repair or report, skipping a torn last line', async () => {
    const paths = supervisorPaths('c3', home)
    await claimSupervisor('c3', home).then((r) => r())
    const e = (event: string, reason: string) => JSON.stringify({time: '2026-11-24T02:00:00.000Z', pair: 'a,b', node: 'a', event, reason, action: 'rejoin', outcome: null, durationMs: null})
    appendFileSync(paths.eventsFile, `${e('repairing', 'first')}\n${e('repair', 'second')}\n${e('observed', 'third')}\n{"time": "2026-11-2`)
    assert.equal(readEvents(paths.eventsFile).length, 3)
    assert.equal((await supervisorInfo('c3', home)).lastAction?.reason, 'second')
  })

  it('status\'s last action may be a router\'s; events written before routers (and before codes) read with router (code, verdict, vipVerdict): null, valid for status --json', async () => {
    const paths = supervisorPaths('c5', home)
    await claimSupervisor('c5', home).then((r) => r())
    const old = {time: '2026-11-24T02:00:00.000Z', pair: 'a,b', node: 'a', event: 'repair', reason: 'a is down', action: 'rejoin', daemon: 'node', outcome: 'ok', durationMs: 700}
    writeFileSync(paths.eventsFile, `${JSON.stringify(old)}\n`)
    const before = await supervisorInfo('c5', home)
    assert.deepEqual(before.lastAction, {...old, router: null, code: null, verdict: null, vipVerdict: null})
    assertValid('status', {cluster: 'c5', health: 'healthy', pairs: [], nodes: [], routers: [], supervisor: before})
    const routerRepair = {time: '2026-11-24T02:00:05.000Z', pair: null, router: 'app1', node: null, event: 'repair', reason: 'router app1 is not running: router app1 started, pid 812', action: 'restart_router', daemon: 'nutcracker', outcome: 'ok', durationMs: 90}
    appendFileSync(paths.eventsFile, `${JSON.stringify(routerRepair)}\n${JSON.stringify({...routerRepair, pair: null, router: null})}\n`)
    assert.deepEqual(readEvents(paths.eventsFile).map((e) => e.router), [null, 'app1'], 'an event about neither a pair nor a router is not one of ours')
    const after = await supervisorInfo('c5', home)
    assert.deepEqual(after.lastAction, {...routerRepair, code: null, verdict: null, vipVerdict: null})
    assertValid('status', {cluster: 'c5', health: 'healthy', pairs: [], nodes: [], routers: [], supervisor: after})
  })

  it('the events file is rotated past its limit, one old generation kept', () => {
    const file = supervisorPaths('c4', home).eventsFile
    writeFileSync(file, 'x'.repeat(100))
    rotateEvents(file, 100)
    assert.equal(existsSync(`${file}.1`), false, 'at the limit: kept')
    appendFileSync(file, 'y')
    rotateEvents(file, 100)
    assert.deepEqual([existsSync(file), readFileSync(`${file}.1`, 'utf8').length], [false, 101])
    writeFileSync(file, 'z'.repeat(200))
    rotateEvents(file, 100)
    assert.equal(readFileSync(`${file}.1`, 'utf8')[0], 'z', 'the newer generation replaces the older')
    rotateEvents(file, 100) // no file: nothing to do
  })
})
