// Meta-protocol mutations replicate like their classic counterparts
// (docs/replication-protocol.md, "Meta protocol"): on a native pair every
// ms/md/ma/mg change reaches the peer, and so do an item's stale mark (md … I)
// and a win token handed out (W), so that after a failover the survivor
// neither serves a stale item as fresh nor hands the same recache out again.
// A scripted native peer checks the wire: revision 3 carries the marks as a
// last word of `rep`, a revision-2 peer gets the `rep` it knows.

import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'
import {eventually, startNode, stat, type ReplNode} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {RawClient} from '../helpers/raw-client.js'

const started: ReplNode[] = []
const clients: RawClient[] = []

after(async () => {
  for (const c of clients) c.close()
  await Promise.all(started.map((n) => n.stop('SIGKILL')))
})

async function open(n: ReplNode): Promise<RawClient> {
  const c = await RawClient.open(n.port, n.host)
  clients.push(c)
  return c
}

/** One meta request line (or ms with its value) and its reply, up to `terminator`. */
async function ask(c: RawClient, line: string, terminator = '\r\n'): Promise<string> {
  return c.request(line, terminator, 5000)
}

/** A meta reply line's code and flags, t rounded to tens (the two nodes' clocks read the same second ± 1). */
function shape(reply: string): string {
  return reply.replace(/ t(\d+)/g, (_m, n: string) => ` t~${Math.round(Number(n) / 10) * 10}`)
}

async function nativePair(): Promise<{a: ReplNode; b: ReplNode}> {
  const [ra, rb] = [await freePort(), await freePort()]
  const a = await startNode({repListen: ra, repConnect: rb, peer: '127.0.0.1', extra: ['-v']})
  started.push(a)
  const b = await startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1', extra: ['-v']})
  started.push(b)
  const paired = await eventually(async () => (await stat(a.port, 'repl_state')) === 'paired' && (await stat(b.port, 'repl_state')) === 'paired', 10_000)
  assert.ok(paired, 'the pair forms')
  assert.equal(await stat(a.port, 'repl_mode'), 'native')
  return {a, b}
}

/** Poll `line` on a node until its reply (shaped) is `want`; fails with the last reply. */
async function until(c: RawClient, line: string, want: string, what: string, terminator = '\r\n'): Promise<void> {
  let last = ''
  const ok = await eventually(async () => (last = shape(await ask(c, line, terminator))) === want, 5000, 25)
  assert.ok(ok, `${what}: "${line.trim()}" answered ${JSON.stringify(last)}, want ${JSON.stringify(want)}`)
}

describe('meta protocol mutations on a native pair', () => {
  it('ms, ma, md and mg N/T replicate both ways; classic get on the peer reads them', {timeout: 45_000}, async () => {
    const {a, b} = await nativePair()
    const ca = await open(a)
    const cb = await open(b)
    assert.equal(await ask(ca, 'ms m1 5 T100 F7\r\nhello\r\n'), 'HD\r\n')
    await until(cb, 'mg m1 v f t\r\n', 'VA 5 f7 t~100\r\nhello\r\n', 'ms reaches the peer with flags and TTL', 'hello\r\n')
    assert.equal(await ask(cb, 'get m1\r\n', 'END\r\n'), 'VALUE m1 7 5\r\nhello\r\nEND\r\n')
    assert.equal(await ask(cb, 'ms m1 1 MA\r\n!\r\n'), 'HD\r\n')
    await until(ca, 'mg m1 v\r\n', 'VA 6\r\nhello!\r\n', 'ms MA (append) on the peer comes back', 'hello!\r\n')

    assert.equal(await ask(ca, 'ma n1 N0 J10 v\r\n', '10\r\n'), 'VA 2\r\n10\r\n')
    await until(cb, 'mg n1 v\r\n', 'VA 2\r\n10\r\n', 'ma N (vivify with J) reaches the peer', '10\r\n')
    assert.equal(await ask(cb, 'ma n1 D5 v\r\n', '15\r\n'), 'VA 2\r\n15\r\n')
    await until(ca, 'mg n1 v\r\n', 'VA 2\r\n15\r\n', 'ma D5 on the peer comes back', '15\r\n')
    assert.equal(await ask(ca, 'ma n1 MD D20 T50\r\n'), 'HD\r\n')
    // Rewritten in place, padded to the old length, as memcached does.
    await until(cb, 'mg n1 v t\r\n', 'VA 2 t~50\r\n0 \r\n', 'ma MD with T: the value and the new TTL', '0 \r\n')

    assert.equal(await ask(ca, 'mg t1 N30 v\r\n', '\r\n\r\n'), 'VA 0 W\r\n\r\n')
    await until(cb, 'mg t1 t\r\n', 'HD t~30 Z\r\n', 'the vivified item reaches the peer with its TTL, its token out (Z)')
    assert.equal(await ask(ca, 'mg m1 T80\r\n'), 'HD\r\n')
    await until(cb, 'mg m1 t\r\n', 'HD t~80\r\n', 'mg T (touch) reaches the peer')

    assert.equal(await ask(cb, 'md m1 q\r\nmn\r\n', 'MN\r\n'), 'MN\r\n')
    await until(ca, 'mg m1 v\r\n', 'EN\r\n', 'md removes on the peer')
  })

  it('stale items and win tokens: md … I, a W handed out on one node is a Z on the other, and a failover (SIGKILL) neither revives the stale value as fresh nor hands the token twice', {timeout: 45_000}, async () => {
    const {a, b} = await nativePair()
    const ca = await open(a)
    const cb = await open(b)
    // Reading a stale item hands out its token, so the peer is never polled on it: a later write
    // (a marker) from the same node arriving means the earlier changes have arrived too (one ordered stream).
    let n = 0
    const synced = async (from: RawClient, to: RawClient): Promise<void> => {
      const key = `marker${n++}`
      assert.equal(await ask(from, `ms ${key} 1\r\nx\r\n`), 'HD\r\n')
      await until(to, `mg ${key}\r\n`, 'HD\r\n', 'the marker arrives')
    }

    assert.equal(await ask(ca, 'ms s1 3 T100\r\nold\r\n'), 'HD\r\n')
    assert.equal(await ask(ca, 'md s1 I T30\r\n'), 'HD\r\n')
    await synced(ca, cb)
    assert.equal(shape(await ask(cb, 'mg s1 v t\r\n', 'old\r\n')), 'VA 3 t~30 X W\r\nold\r\n', 'b serves the stale item (X) with its new TTL and hands the recache to its first reader (W)')
    assert.equal(await ask(cb, 'mg s1 v\r\n', 'old\r\n'), 'VA 3 Z X\r\nold\r\n', 'then Z: the token is out')
    await synced(cb, ca)
    assert.equal(await ask(ca, 'mg s1 v\r\n', 'old\r\n'), 'VA 3 Z X\r\nold\r\n', 'a knows the token went out on b: no second winner')
    // The winner's recache (ms with the cas it read) clears the marks on both.
    const cas = /c(\d+)/.exec(await ask(cb, 'mg s1 c\r\n'))![1]
    assert.equal(await ask(cb, `ms s1 3 C${cas} T100\r\nnew\r\n`), 'HD\r\n')
    await until(ca, 'mg s1 v\r\n', 'VA 3\r\nnew\r\n', 'the recached value, fresh, on a', 'new\r\n')

    // ms … I with an older cas stores the value but keeps it stale, on both.
    assert.equal(await ask(ca, 'mg s3 c\r\n'), 'EN\r\n')
    assert.equal(await ask(ca, 'ms s3 2 T100 c\r\nv1\r\n').then((r) => r.startsWith('HD c')), true)
    const old = /c(\d+)/.exec(await ask(ca, 'mg s3 c\r\n'))![1]
    assert.equal(await ask(ca, 'md s3 I\r\n'), 'HD\r\n')
    assert.equal(await ask(ca, `ms s3 2 C${old} I\r\nv2\r\n`), 'HD\r\n')
    await synced(ca, cb)
    assert.equal(await ask(cb, 'mg s3 v\r\n', 'v2\r\n'), 'VA 2 X W\r\nv2\r\n', 'the stale store arrives stale')

    // R: the recache window; the node that hands the token tells the other.
    assert.equal(await ask(ca, 'ms r1 1 T10\r\nr\r\n'), 'HD\r\n')
    await synced(ca, cb)
    assert.equal(await ask(cb, 'mg r1 R30 v\r\n', 'r\r\n'), 'VA 1 W\r\nr\r\n')
    await synced(cb, ca)
    assert.equal(await ask(ca, 'mg r1 R30 v\r\n', 'r\r\n'), 'VA 1 Z\r\nr\r\n', 'no second win on the peer')

    // Failover: a hands out the token for a stale item, then dies; b, the survivor, has both marks.
    assert.equal(await ask(ca, 'ms f1 3 T100\r\nold\r\n'), 'HD\r\n')
    assert.equal(await ask(ca, 'md f1 I\r\n'), 'HD\r\n')
    assert.equal(await ask(ca, 'mg f1 v\r\n', 'old\r\n'), 'VA 3 X W\r\nold\r\n')
    await synced(ca, cb)
    await a.stop('SIGKILL')
    assert.ok(await eventually(async () => (await stat(b.port, 'repl_state')) !== 'paired', 5000), 'b notices its peer is gone')
    assert.equal(await ask(cb, 'mg f1 v\r\n', 'old\r\n'), 'VA 3 Z X\r\nold\r\n', 'the survivor serves it as stale and hands no second token')
    assert.equal(await ask(cb, 'get f1\r\n', 'END\r\n'), 'VALUE f1 0 3\r\nold\r\nEND\r\n', 'classic get still reads a stale item, as in memcached')
  })

  it('on the wire: a revision-3 peer gets rep with the item\'s marks as a last word (1 stale, 2 token out, 4 base64 key); a revision-2 peer gets the rep it knows, without them', {timeout: 30_000}, async () => {
    for (const rev of [3, 2]) {
      const repPort = await freePort()
      const node = await startNode({repListen: repPort, extra: ['-v', '--rep-timeout=5']})
      started.push(node)
      const peer = await RawClient.open(repPort, node.host)
      clients.push(peer)
      peer.send(`repctl-hello 1 127.0.0.1:${await freePort()} ${randomBytes(16).toString('hex')} - rev=${rev}\r\n`)
      const hello = (await peer.readUntil((x) => x.includes('\r\n'), 3000)).toString('latin1')
      assert.match(hello, new RegExp(`^repctl-hello 1 \\S+ [0-9a-f]{32} [01] - rev=${rev}\\r\\n$`), `the link speaks revision ${rev}`)
      peer.send('repctl-auth -\r\nmarugoto_end\r\n')
      const keepAlive = setInterval(() => peer.send('hb\r\n'), 250)
      try {
        let text = ''
        const readTo = async (done: (t: string) => boolean, what: string): Promise<void> => {
          const ok = await eventually(async () => {
            text += (await peer.readQuiet(20, 200)).toString('latin1')
            return done(text)
          }, 3000, 0)
          assert.ok(ok, `rev ${rev}: ${what}; got ${JSON.stringify(text.slice(-400))}`)
        }
        await readTo((t) => t.includes('marugoto_end\r\n'), 'the copy ends')
        text = ''
        const c = await open(node)
        // One change at a time: the link reads an item when it writes it, so changes in one burst go out as the last.
        const steps: [string, string][] = [['ms w1 1 T100\r\nx\r\n', 'HD\r\n'], ['md w1 I\r\n', 'HD\r\n'], ['mg w1\r\n', 'HD X W\r\n']]
        for (const [i, [line, reply]] of steps.entries()) {
          assert.equal(await ask(c, line), reply)
          await readTo((t) => (t.match(/rep w1 /g) ?? []).length > i, `change ${i + 1} of w1 arrives`)
        }
        assert.equal(await ask(c, 'ms Ymlu 1 b\r\ny\r\n'), 'HD\r\n')
        await readTo((t) => /rep bin /.test(t), 'the base64 key arrives')
        const reps = text.split('\r\n').filter((l) => l.startsWith('rep ')).map((l) => l.split(' '))
        const marks = (key: string): string[] => reps.filter((r) => r[1] === key).map((r) => r[6] ?? '-')
        if (rev === 3) {
          assert.deepEqual(marks('w1'), ['-', '1', '3'], 'stored (no marks), invalidated (stale), token handed out (stale + token)')
          assert.deepEqual(marks('bin'), ['4'], 'a base64 key is marked so')
        } else {
          assert.deepEqual(marks('w1'), ['-', '-', '-'], 'revision 2: every rep has its six words')
          assert.deepEqual(marks('bin'), ['-'])
        }
      } finally {
        clearInterval(keepAlive)
      }
    }
  })

  it('legacy link (a scripted repcached slave): meta changes go out as repcached\'s rep and delete, absolute exptime, no marks (an invalidated item arrives as a plain one)', {timeout: 30_000}, async () => {
    const repPort = await freePort()
    const node = await startNode({repListen: repPort, extra: ['-v']})
    started.push(node)
    const peer = await RawClient.open(repPort, node.host)
    clients.push(peer)
    // A repcached slave sends nothing first: after the node's wait for a hello, the link is legacy.
    let text = ''
    const readTo = async (done: (t: string) => boolean, what: string): Promise<void> => {
      const ok = await eventually(async () => {
        text += (await peer.readQuiet(20, 200)).toString('latin1')
        return done(text)
      }, 4000, 0)
      assert.ok(ok, `${what}; got ${JSON.stringify(text.slice(-400))}`)
    }
    await readTo((t) => t.includes('marugoto_end\r\n'), 'the copy ends')
    assert.equal(await stat(node.port, 'repl_mode'), 'legacy')
    text = ''
    const c = await open(node)
    const t0 = Math.floor(Date.now() / 1000)
    assert.equal(await ask(c, 'ms l1 2 T100 F3\r\nhi\r\n'), 'HD\r\n')
    await readTo((t) => t.includes('rep l1 '), 'ms goes out as rep')
    assert.equal(await ask(c, 'md l1 I\r\n'), 'HD\r\n')
    await readTo((t) => (t.match(/rep l1 /g) ?? []).length >= 2, 'md … I goes out as rep')
    assert.equal(await ask(c, 'ma l2 N0 J7\r\n'), 'HD\r\n')
    await readTo((t) => t.includes('rep l2 '), 'ma N goes out as rep')
    assert.equal(await ask(c, 'md l2\r\n'), 'HD\r\n')
    await readTo((t) => t.includes('delete l2\r\n'), 'md goes out as delete')
    const reps = text.split('\r\n').filter((l) => l.startsWith('rep ')).map((l) => l.split(' '))
    for (const r of reps) assert.equal(r.length, 6, `repcached's six words: ${r.join(' ')}`)
    const l1 = reps.filter((r) => r[1] === 'l1')
    assert.equal(l1[0]![2], '3', 'flags')
    const at = Number(l1[0]![3])
    assert.ok(at >= t0 + 99 && at <= t0 + 102, `absolute exptime (${at}, now ${t0})`)
    assert.match(text, /rep l2 0 0 1 \d+\r\n7\r\n/, 'the vivified counter with its initial value')
  })
})

