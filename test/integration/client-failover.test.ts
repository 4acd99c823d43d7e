// Clients without a virtual IP: memjs given both nodes of a pair with failover
// on (the options of docs/examples/memjs-failover.mjs). What an application
// sees: keys split over both nodes and readable from either; a dead node's
// keys moving to the survivor (kill -9: at once; a hung node: after the
// client's timeout, again every failoverTime); the restarted node taking its
// keys back only once it holds the full copy. The figures of
// docs/client-failover.md are this file's diagnostics.

import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {after, describe, it} from 'node:test'
import memjs from 'memjs'
import {createCacheClient, FAILOVER_OPTIONS} from '../../docs/examples/memjs-failover.mjs'
import {dump, eventually, startPair, stat, type ReplNode} from '../helpers/pair.js'
import {SERVER_BUNDLE, waitForPort} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {Traffic, type Outcome} from '../helpers/memjs-traffic.js'

const pids: number[] = []
after(() => {
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
  }
})

async function pair(extra: string[] = []): Promise<{a: ReplNode; b: ReplNode}> {
  const {master, slave} = await startPair(extra)
  pids.push(master.pid, slave.pid)
  return {a: master, b: slave}
}

interface LogLine { at: number; text: string }

/** memjs logs each failed server ("failed after (1) retries with error - ..."); keep them with the time. */
function recordingLogger(lines: LogLine[]): memjs.Logger {
  return {log: (...args: unknown[]) => { lines.push({at: Date.now(), text: args.map(String).join(' ')}) }}
}

function bothNodes(a: ReplNode, b: ReplNode): string {
  return `127.0.0.1:${a.port},127.0.0.1:${b.port}`
}

function valueOf(dumped: string | undefined): string | undefined {
  // dump() gives "flags bytes cas value".
  return dumped?.split(' ').slice(3).join(' ')
}

/** Keys whose value on the node at `port` is not one the traffic may have left there (waits for replication). */
async function wrongKeys(port: number, traffic: Traffic): Promise<string[]> {
  const keys = traffic.keys().filter((k) => traffic.allowed(k).size > 0)
  let wrong: string[] = []
  await eventually(async () => {
    const held = await dump(port, keys)
    wrong = keys.filter((k) => !traffic.allowed(k).has(valueOf(held.get(k)) ?? ''))
    return wrong.length === 0
  }, 5000, 100)
  return wrong
}

async function run(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms))
}

function bulkValue(i: number): string {
  return `${i}:`.padEnd(1000, 'x')
}

/** Write `count` 1 kB items bulk:0.. to one node, pipelined, every one acknowledged. */
async function bulkLoad(port: number, count: number): Promise<string[]> {
  const c = await RawClient.open(port)
  try {
    for (let i = 0; i < count; i += 1000) {
      const n = Math.min(1000, count - i)
      let batch = ''
      for (let j = i; j < i + n; j++) batch += `set bulk:${j} 0 0 1000\r\n${bulkValue(j)}\r\n`
      c.send(batch)
      const replies = (await c.readUntil((b) => b.toString('latin1').split('STORED\r\n').length - 1 >= n, 20_000)).toString('latin1')
      assert.equal(replies, 'STORED\r\n'.repeat(n), 'every bulk write acknowledged')
    }
  } finally { c.close() }
  return Array.from({length: count}, (_, i) => `bulk:${i}`)
}

/** Start `dead` again with the flags it had (so it dials the survivor and takes a full copy), timing its log lines. */
async function restart(dead: ReplNode): Promise<{child: ChildProcess; copyStartAt: () => number | undefined; copiedAt: () => number | undefined; servingAt: () => number | undefined}> {
  const child = spawn(process.execPath, [SERVER_BUNDLE, ...dead.args], {stdio: ['ignore', 'ignore', 'pipe']})
  pids.push(child.pid!)
  let log = ''
  const marks = new Map<string, number>()
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (d: string) => {
    log += d
    for (const mark of ['marugoto start', 'items received)', 'repcached serving on']) if (!marks.has(mark) && log.includes(mark)) marks.set(mark, Date.now())
  })
  await waitForPort(dead.port, '127.0.0.1', 60_000, () => child.exitCode === null ? undefined : `restarted node exited (${child.exitCode}):\n${log}`)
  return {
    child,
    copyStartAt: () => marks.get('marugoto start'),
    copiedAt: () => marks.get('items received)'),
    servingAt: () => marks.get('repcached serving on'),
  }
}

/** Resolve with the time the kernel shows `pid` in one of `states` (stat field 3: T stopped, Z dead and unreaped) or gone. */
async function seenInState(pid: number, states: string): Promise<number> {
  for (;;) {
    let state: string | undefined
    try { state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] } catch { return Date.now() }
    if (state !== undefined && states.includes(state)) return Date.now()
    await new Promise((r) => setTimeout(r, 1))
  }
}

/** The first of each group of times less than `gapMs` apart: requests stalled or failed together count once. */
function bursts(times: number[], gapMs = 1000): number[] {
  const out: number[] = []
  let last = -Infinity
  for (const at of [...times].sort((x, y) => x - y)) {
    if (at - last > gapMs) out.push(at)
    last = at
  }
  return out
}

/** Smallest and largest of many numbers (spreading a long array into Math.min overflows the stack). */
function least(xs: number[]): number { return xs.reduce((m, x) => Math.min(m, x), Infinity) }
function most(xs: number[]): number { return xs.reduce((m, x) => Math.max(m, x), -Infinity) }

/** Requests for keys homed on node `home` that started at or after `since`. */
function homedAfter(outcomes: Outcome[], home: number, since: number): Outcome[] {
  return outcomes.filter((o) => o.home === home && o.start >= since)
}

describe('memjs with failover, given both nodes of a pair (no virtual IP)', () => {
  it('splits the keys over both nodes, and every key reads back from either node', {timeout: 30_000}, async () => {
    const {a, b} = await pair()
    const client = createCacheClient(bothNodes(a, b), {logger: recordingLogger([])})
    try {
      const keys = Array.from({length: 200}, (_, i) => `split:${i}`)
      for (const key of keys) assert.equal(await client.set(key, `v-${key}`), true)
      const onA = keys.filter((k) => Number(client.getServer(k)) === 0).length
      // Each node counts the writes its own clients sent (replicated ones are not commands).
      assert.equal(Number(await stat(a.port, 'cmd_set')), onA, 'the keys memjs hashes to A were written on A')
      assert.equal(Number(await stat(b.port, 'cmd_set')), keys.length - onA, 'the others on B')
      assert.ok(onA > 0 && onA < keys.length, `keys split over both nodes (${onA} of ${keys.length} on A)`)
      for (const port of [a.port, b.port]) {
        assert.ok(await eventually(async () => {
          const held = await dump(port, keys)
          return keys.every((k) => valueOf(held.get(k)) === `v-${k}`)
        }), `every key readable on the node at port ${port}`)
      }
      for (const key of keys) assert.equal((await client.get(key)).value?.toString(), `v-${key}`)
    } finally { client.close() }
  })

  it('kill -9 of a node: its keys go to the survivor at once, no acknowledged write is lost; restarted, it takes its keys back only with the full copy in hand', {timeout: 120_000}, async (t) => {
    const {a, b} = await pair(['-m', '128'])
    // Enough items that the restarted node's full copy takes a while (a few hundred ms here).
    const bulk = await bulkLoad(a.port, 60_000)
    assert.ok(await eventually(async () => Number(await stat(b.port, 'curr_items')) === bulk.length, 20_000, 100), 'B has the bulk items')

    const log: LogLine[] = []
    const client = createCacheClient(bothNodes(a, b), {logger: recordingLogger(log)})
    const traffic = new Traffic(client, 4, 50, 'kill')
    traffic.start()
    try {
      await run(1000)

      const killedAt = Date.now()
      process.kill(a.pid, 'SIGKILL')
      // Requests that start once the process is certainly gone (before that, it may still answer one).
      const goneAt = await seenInState(a.pid, 'Z')
      // Past failoverTime, so that memjs tries the dead node again once (and is refused again).
      await run(FAILOVER_OPTIONS.failoverTime * 1000 + 1000)

      const deadHomed = homedAfter(traffic.outcomes, 0, goneAt)
      const firstOk = least(deadHomed.filter((o) => o.ok).map((o) => o.end))
      const worst = most(deadHomed.map((o) => o.end - o.start))
      // memjs logs each request that found the node dead; requests of the same moment make one try.
      const retriesOfDead = bursts(log.filter((l) => l.at > killedAt + 1000 && l.text.includes(`127.0.0.1:${a.port}`)).map((l) => l.at))
      const failedAfterKill = traffic.outcomes.filter((o) => !o.ok)
      const staleAtKill = traffic.staleReads.length
      t.diagnostic(`kill -9: first success for a key of the dead node ${firstOk - killedAt} ms after the kill; slowest such request ${worst} ms; ` +
        `${failedAfterKill.length} requests failed; ${staleAtKill} reads missed a write just acknowledged by the dead node; ` +
        `memjs tried the dead node again ${retriesOfDead.length} time(s) after failoverTime: ${retriesOfDead.map((at) => `+${at - killedAt} ms`).join(', ')}`)
      assert.ok(deadHomed.length > 0 && Number.isFinite(firstOk), 'keys of the dead node were served after the kill')
      assert.ok(firstOk - killedAt < 3000, `served within 3 s of the kill (took ${firstOk - killedAt} ms)`)
      // At most the one request each worker had in flight at the kill can fail (memjs answers it only when the connection errors).
      assert.ok(failedAfterKill.length <= 4, `failed requests: ${JSON.stringify(failedAfterKill)}`)
      // Replication is asynchronous: a write the dead node acknowledged but had not yet handed to the kernel is gone; at most one per worker.
      assert.ok(staleAtKill <= 4, `stale reads: ${JSON.stringify(traffic.staleReads)}`)
      assert.ok(retriesOfDead.length >= 1, 'memjs tried the dead node again after failoverTime')
      assert.deepEqual(await wrongKeys(b.port, traffic), [], 'the survivor holds the last acknowledged value of every key')

      // The restart, watched by a client whose failoverTime runs out every 50 ms: it keeps knocking on the
      // restarted node during its full copy and must never read from it before the copy is complete.
      const probeLog: LogLine[] = []
      const probe = createCacheClient(bothNodes(a, b), {failoverTime: 0.05, logger: recordingLogger(probeLog)})
      const probeKeys = bulk.filter((k) => Number(probe.getServer(k)) === 0)
      const probeResult = {reads: 0, wrong: [] as string[], errors: [] as string[]}
      let probing = true
      const probeLoop = (async () => {
        for (let i = 0; probing; i++) {
          const key = probeKeys[i % probeKeys.length]!
          try {
            const got = (await probe.get(key)).value?.toString('latin1') ?? null
            probeResult.reads++
            if (got !== bulkValue(Number(key.slice(5)))) probeResult.wrong.push(`${key}: ${got === null ? 'miss' : got.slice(0, 12)}`)
          } catch (e) { probeResult.errors.push((e as Error).message) }
        }
      })()
      const restartAt = Date.now()
      let back: Awaited<ReturnType<typeof restart>>
      try {
        back = await restart(a)
        // Until the copy is complete, whatever the order of port and copy.
        await eventually(async () => back.copiedAt() !== undefined, 60_000)
      } finally {
        probing = false
        await probeLoop
        probe.close()
      }
      const portOpenAt = back.servingAt() ?? Date.now()
      const copyStart = back.copyStartAt()
      const copied = back.copiedAt()
      const refusedDuringCopy = probeLog.filter((l) => copyStart !== undefined && l.at >= copyStart && l.at <= portOpenAt &&
        l.text.includes(`127.0.0.1:${a.port}`) && l.text.includes('ECONNREFUSED'))
      t.diagnostic(`restart: client port opened ${portOpenAt - restartAt} ms after the spawn (full copy ${copyStart === undefined || copied === undefined ? '?' : copied - copyStart} ms); ` +
        `the probing client was refused by it ${refusedDuringCopy.length} times during the copy and read ${probeResult.reads} values meanwhile, ` +
        `${probeResult.wrong.length} wrong or missing`)
      assert.deepEqual(probeResult.wrong, [], 'no read came from a node without its full copy')
      assert.deepEqual(probeResult.errors, [])
      assert.ok(copyStart !== undefined, 'the restarted node took a full copy')
      assert.ok(refusedDuringCopy.length >= 1, 'the probing client tried the restarted node during its copy and was refused')

      // The first client goes back to the restarted node once its failoverTime runs out.
      const before = Number(await stat(a.port, 'cmd_get')) + Number(await stat(a.port, 'cmd_set'))
      let backAt = 0
      assert.ok(await eventually(async () => {
        const now = Number(await stat(a.port, 'cmd_get')) + Number(await stat(a.port, 'cmd_set'))
        if (now > before) backAt = Date.now()
        return now > before
      }, FAILOVER_OPTIONS.failoverTime * 1000 + 3000, 20), 'memjs sends requests to the restarted node again')
      await run(1000)
      await traffic.stop()
      const staleAtReturn = traffic.staleReads.length - staleAtKill
      t.diagnostic(`return: memjs used the restarted node again ${backAt - portOpenAt} ms after its port opened (failoverTime ${FAILOVER_OPTIONS.failoverTime} s); ` +
        `${staleAtReturn} reads missed a write acknowledged just before the switch; ${traffic.acknowledgedWrites} writes acknowledged in all, ` +
        `${traffic.outcomes.filter((o) => !o.ok).length} requests failed`)
      assert.ok(staleAtReturn <= 4, `stale reads at the return: ${JSON.stringify(traffic.staleReads.slice(staleAtKill))}`)
      assert.deepEqual(await wrongKeys(a.port, traffic), [], 'the restarted node holds the last acknowledged value of every key')
      assert.deepEqual(await wrongKeys(b.port, traffic), [], 'so does the survivor')
      const held = await dump(a.port, bulk)
      assert.equal(bulk.filter((k) => valueOf(held.get(k)) === bulkValue(Number(k.slice(5)))).length, bulk.length, 'the restarted node has every bulk item')
    } finally {
      await traffic.stop()
      client.close()
    }
  })

  it('a hung node (SIGSTOP): its keys wait for the client timeout, then go to the other node; again every failoverTime', {timeout: 60_000}, async (t) => {
    const {a, b} = await pair()
    const log: LogLine[] = []
    const client = createCacheClient(bothNodes(a, b), {logger: recordingLogger(log)})
    const traffic = new Traffic(client, 4, 50, 'hang')
    traffic.start()
    await run(1000)
    const frozenAt = Date.now()
    process.kill(b.pid, 'SIGSTOP')
    let stoppedAt = frozenAt
    try {
      stoppedAt = await seenInState(b.pid, 'T')
      await run(FAILOVER_OPTIONS.failoverTime * 1000 + 2000)
      await traffic.stop()
    } finally {
      process.kill(b.pid, 'SIGKILL')
      client.close()
    }
    const timeoutMs = FAILOVER_OPTIONS.timeout * 1000
    const hungHomed = homedAfter(traffic.outcomes, 1, stoppedAt)
    const firstOk = least(hungHomed.filter((o) => o.ok).map((o) => o.end))
    // A stall: a request that waited for the client timeout (any key: a worker blocked on the hung node delays its next key too).
    const stalls = traffic.outcomes.filter((o) => o.start >= frozenAt - timeoutMs && o.end - o.start >= timeoutMs * 0.8)
    const episodes = bursts(stalls.map((o) => o.end))
    const failed = traffic.outcomes.filter((o) => !o.ok)
    t.diagnostic(`SIGSTOP: first success for a key of the hung node ${firstOk - frozenAt} ms after the freeze; ${stalls.length} requests waited the ` +
      `${timeoutMs} ms timeout, in ${episodes.length} bursts at ${episodes.map((e) => `+${e - frozenAt} ms`).join(', ')}; ${failed.length} requests failed`)
    assert.ok(firstOk - frozenAt >= timeoutMs * 0.8 && firstOk - frozenAt < 3000, `first success after about the timeout (${firstOk - frozenAt} ms)`)
    assert.ok(episodes.length >= 2, 'memjs tries the hung node again after failoverTime and waits the timeout again')
    assert.ok(episodes[1]! - episodes[0]! >= FAILOVER_OPTIONS.failoverTime * 1000 - 500, 'not before failoverTime')
    assert.deepEqual(failed, [], 'every request succeeded in the end (on the other node)')
    assert.deepEqual(await wrongKeys(a.port, traffic), [], 'the other node holds the last acknowledged value of every key')
  })
})
