// The meta protocol (mg, ms, md, ma, mn, me), byte for byte against the real
// memcached 1.6.18, the way text-differential.test.ts compares the classic
// commands: every step goes unchanged to both servers and the replies must
// be equal after normalising what two servers cannot share: cas numbers
// (named c1, c2 … per server, in order of appearance) and the times each
// reads off its own clock (t, l, exp=, la= are rounded to tens, see
// normaliseMeta in the helper; TTLs here are multiples of ten).
//
// Left out on purpose: the exact last-access seconds (memcached refreshes an
// item's access time when its LRU maintainer thread has moved it, in the
// background; we refresh it on every hit after the first), and `me` on an
// item whose slab class differs (none here: all items are small).

import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {toolMissing} from '../helpers/processes.js'
import {sameReplies, startServerPair, stopServerPair, type ServerPair, type StepInput} from '../helpers/text-differential.js'

const skip = toolMissing('memcached')

type Pair = ServerPair
const startPair = startServerPair
const stopPair = stopServerPair
const same = (p: Pair, steps: StepInput[]): Promise<void> => sameReplies(p, steps)

/** Counters both servers must agree on after the same meta requests. */
const COUNTERS = /^(cmd_get|cmd_touch|cmd_meta|get_hits|get_misses|delete_hits|delete_misses|incr_hits|incr_misses|decr_hits|decr_misses|cas_hits|cas_misses|cas_badval|touch_hits|touch_misses|store_too_large)$/
const O33 = 'O' + '1'.repeat(32)
const O32 = 'O' + '1'.repeat(31)
/** The most flag tokens memcached takes: 17 after the key (20 tokens with command, key and the terminal one). */
const FLAGS_17 = 's v f t c k h l O1 q u'.split(' ').concat(['P', 'L', 'T0', 'N0', 'R0', 'I'])
const FLAGS_18 = FLAGS_17.concat(['b'])

describe('meta protocol matches memcached 1.6.18 byte for byte', {skip}, () => {
  /** Default settings. */
  let a: Pair | undefined
  /** -C: no cas. */
  let c: Pair | undefined
  /** -I 1k: the item size limit. */
  let b: Pair | undefined

  before(async () => {
    ;[a, c, b] = await Promise.all([startPair([]), startPair(['-C']), startPair(['-I', '1k', '-o', 'slab_chunk_max=512'])])
  })

  after(async () => {
    await Promise.all([stopPair(a), stopPair(c), stopPair(b)])
  })

  it('mn, malformed lines and unknown m-commands', async () => {
    await same(a!, [
      'mn\r\n', 'mn foo bar\r\n', 'mg\r\n', 'ms\r\n', 'md\r\n', 'ma\r\n', 'me\r\n', 'mx foo\r\n', 'mgg foo\r\n', 'm\r\n',
      'ms foo\r\n', 'ms foo x\r\n', 'ms foo -1\r\n', 'ms foo 2147483646\r\n',
      `mg ${'k'.repeat(251)} v\r\n`, `ms ${'k'.repeat(251)} 1\r\n`, `md ${'k'.repeat(251)}\r\n`, `ma ${'k'.repeat(251)}\r\n`, `me ${'k'.repeat(251)}\r\n`,
      `mg ${'k'.repeat(250)} v\r\n`,
      // 17 flags are taken, 18 are too many (mg words it differently from the others).
      `mg m-fl ${FLAGS_17.join(' ')}\r\n`, `mg m-fl ${FLAGS_18.join(' ')}\r\n`, `md m-fl ${FLAGS_18.join(' ')}\r\n`, `ma m-fl ${FLAGS_18.join(' ')}\r\n`,
      {send: `ms m-fl 1 ${FLAGS_18.join(' ')}\r\nx\r\n`},
    ])
  })

  it('mg: every return flag, in request order, on hits and misses', async () => {
    await same(a!, [
      'ms g1 2 F7 T0\r\nhi\r\n',
      'mg g1\r\n', 'mg g1 v\r\n', 'mg g1 s v f t c k O123 h l\r\n', 'mg g1 O9 k c f t s h l v\r\n', 'mg g1 q\r\n', 'mg g1 q v k\r\n',
      'mg g1 P L\r\n', 'mg g1 vxyz kk\r\n', 'mg g1 u h\r\n',
      'mg g-miss v\r\n', 'mg g-miss k O9 s t c\r\n', 'mg g-miss q v\r\n', 'mg g-miss q k O9\r\nmn\r\n',
      `mg g1 ${O32}\r\n`, `mg g1 ${O33}\r\n`, `mg g-miss ${O33}\r\n`, `mg g-miss q ${O33}\r\n`,
      'mg g1 v v\r\n', 'mg g1 x\r\n', 'mg g1 \x80\r\n', 'mg g1 T\r\n', 'mg g1 Tx\r\n', 'mg g1 N\r\n', 'mg g1 R1x\r\n',
      // T sets the TTL where it stands: a t before it shows the old one.
      'mg g1 t T100 t\r\n', 'mg g1 t v\r\n', 'mg g1 T0 t\r\n', 'mg g-miss T100 t\r\n',
      'me g1\r\n', 'me g-miss\r\n', 'me g1 b\r\n', 'me g1 x\r\n',
      // Both protocols share the store.
      'get g1\r\n', 'gets g1\r\n', 'set g2 3 0 2\r\nab\r\n', 'mg g2 f v s\r\n', 'ms g2 3 F9\r\nxyz\r\n', 'get g2\r\n',
    ])
  })

  it('base64 keys (b) on every command', async () => {
    await same(a!, [
      'ms Zm9v 1 b k c\r\nQ\r\n', 'mg Zm9v b k v\r\n', 'mg foo k v\r\n', 'get foo\r\n', 'me Zm9v b\r\n', 'me foo\r\n',
      'mg Zm9v== b k v\r\n', 'mg Zm9 b\r\n', 'mg %%% b\r\n', 'mg ==== b\r\n', 'mg Zg== b k\r\n', 'mg Zm8= b k\r\n', 'mg Zm9v b k\r\n',
      'ms Zm9vYg 1 b\r\nQ\r\n', 'ms %%% 1 b\r\nQ\r\n', 'me ### b\r\n', 'me Zm9v\r\n',
      'mg YmluYXJ5AQI= b k v\r\n', 'ms YmluYXJ5AQI= 2 b k\r\nhi\r\n', 'mg YmluYXJ5AQI= b k v\r\n', 'me YmluYXJ5AQI= b\r\n',
      'ma Y250 b N0 J5 k v\r\n', 'ma Y250 b k v\r\n', 'md Y250 b k\r\n', 'md Y250 b k\r\n', 'md %% b\r\n', 'ma %% b\r\n',
    ])
  })

  it('ms: modes, cas, flags, TTL, invalidation and errors', async () => {
    await same(a!, [
      'ms s1 3 T0 F5 c k O1\r\nabc\r\n', 'mg s1 f v\r\n',
      'ms s1 3 MS F7\r\nxyz\r\n', 'ms s1 3 ME\r\nxyz\r\n', 'ms s-new 3 ME c\r\nxyz\r\n',
      'ms s1 1 MA\r\n1\r\n', 'ms s1 1 MP\r\n0\r\n', 'mg s1 v f\r\n',
      'ms s-no 1 MA\r\nx\r\n', 'ms s-no 1 MP\r\nx\r\n', 'ms s-no 1 MR\r\nx\r\n', 'ms s1 1 MR q\r\nR\r\n', 'mg s1 v\r\n',
      'ms s1 1 MX\r\nR\r\n', 'ms s1 1 Ms\r\nR\r\n', 'ms s1 1 MSS\r\nR\r\n', 'ms s1 1 M\r\nR\r\n',
      'ms s1 1 C1\r\nR\r\n', 'ms s1 1 C0\r\nR\r\n', 'ms s-no 1 C1\r\nR\r\n', 'ms s-no 1 C1 MR\r\nR\r\n', 'ms s-no 1 C1 ME\r\nR\r\n', 'ms s1 1 C1 MA\r\nR\r\n',
      'mg s1 c k\r\n', 'ms s1 1 C{cas:s1} c k\r\nS\r\n', 'ms s1 1 C{cas:s1} MA c k\r\nT\r\n', 'ms s1 1 C{cas:s1} MR c k\r\nU\r\n', 'ms s1 1 C{cas:s1} ME\r\nU\r\n', 'mg s1 v\r\n',
      'ms s1 1 Fx\r\nR\r\n', 'ms s1 1 Tx\r\nR\r\n', 'ms s1 1 Cx\r\nR\r\n', 'ms s1 1 zz\r\nR\r\n', 'ms s1 1 F1 F2\r\nR\r\n',
      `ms s1 1 ${O33}\r\nR\r\n`, `ms s1 1 ${O32} k\r\nR\r\n`,
      'ms s1 1 T-1\r\nR\r\n', 'mg s1 v\r\n', 'ms s1 1 I\r\nR\r\n', 'mg s1 v\r\n',
      'ms s1 1\r\nRRR\r\n', 'ms s1 1 q\r\nRRR\r\nmn\r\n', 'mg s1 v\r\n',
      'ms s1 0\r\n\r\n', 'mg s1 v s\r\n', 'ms s1 2 MA\r\nab\r\n', 'mg s1 v\r\n',
    ])
  })

  it('md: delete, cas, invalidate, quiet', async () => {
    await same(a!, [
      'md d-none\r\n', 'md d-none q\r\n', 'md d-none k O1\r\n',
      'ms d1 1\r\n1\r\n', 'md d1 q\r\nmn\r\n', 'mg d1 v\r\n',
      'ms d1 1\r\n1\r\n', 'md d1 C1\r\n', 'md d1 C1 q\r\n', 'mg d1 c k\r\n', 'md d1 C{cas:d1} k O2\r\n', 'mg d1 v\r\n',
      'md d1 x\r\n', 'md d1 Tx\r\n', 'md d1 v v\r\n', `md d1 ${O33}\r\n`, `md d-none ${O32} k\r\n`,
      'ms d2 1 T100\r\n1\r\n', 'md d2 I\r\n', 'mg d2 c k t v\r\n', 'mg d2 c k t v\r\n', 'md d2 I T30 q\r\nmn\r\n', 'mg d2 t v\r\n', 'mg d2 t v\r\n',
      'get d2\r\n', 'md d2\r\n', 'mg d2 v\r\n',
    ])
  })

  it('stale-while-revalidate: N vivify, R recache, I invalidate, win tokens (W, Z, X)', async () => {
    await same(a!, [
      // A miss with N creates an empty item and hands the first caller the win; the others see Z.
      'mg w1 v N30 t c\r\n', 'mg w1 v N30 t c\r\n', 'mg w1 v N30 t\r\n', 'mg w1 s h\r\n',
      'ms w1 3 T100\r\nnew\r\n', 'mg w1 v t\r\n',
      // R: the first reader to find less TTL than asked wins once.
      'mg w1 v t R30\r\n', 'mg w1 v t R200\r\n', 'mg w1 v t R200\r\n', 'mg w1 v R0\r\n',
      // md I: stale, new cas, the next reader wins; ms I with the older cas keeps it stale.
      'md w1 I\r\n', 'mg w1 v c k\r\n', 'mg w1 v c k\r\n', 'ms w1 4 C1 I\r\nnewv\r\n', 'mg w1 t v\r\n',
      'mg w1 c k\r\n', 'ms w1 4 C{cas:w1} I\r\nnewv\r\n', 'mg w1 t v\r\n',
      'md w1 I T30\r\n', 'mg w1 k c\r\n', 'ms w1 4 C1 I\r\nolder\r\n', 'ms w1 5 C1 I\r\nolder\r\n', 'mg w1 v t c\r\n',
      'ms w1 3 T90\r\nnew\r\n', 'mg w1 t v c\r\n',
      'ms w2 1\r\n1\r\n', 'mg w2 R30 v\r\n', 'mg w3 N0 v\r\n', 'mg w3 N0 v\r\n', 'mg w3 v t\r\n',
      'mg w4 t N-1 v\r\n', 'mg w4 v\r\n', 'mg w5 N30 q\r\nmg w5 N30 q\r\nmn\r\n', 'mg w6 N30 T60 t\r\n', 'mg w7 t T60 N30 t\r\n',
      'ms w8 1 I\r\na\r\n', 'mg w8 v\r\n', 'ms w8 1 I C1 MA\r\na\r\n',
    ])
  })

  it('ma: modes, delta, initial value, vivify, TTL, cas, errors', async () => {
    await same(a!, [
      'ma a-none\r\n', 'ma a-none q\r\n', 'ma a-none k O1 v\r\n', 'ma a-none N0 J13 v\r\n', 'ma a-none v\r\n', 'ma a-new N0 J13 q\r\n', 'ma a-new q\r\nmn\r\n',
      'ms a1 2\r\n10\r\n', 'ma a1\r\n', 'ma a1 v\r\n', 'ma a1 v D5\r\n', 'ma a1 v MD D3\r\n', 'ma a1 v M- D100\r\n', 'ma a1 v M+\r\n', 'ma a1 v MI\r\n', 'ma a1 q v\r\n', 'mg a1 v\r\n',
      'ma a1 MX\r\n', 'ma a1 MII\r\n', 'ma a1 Dx\r\n', 'ma a1 Jx\r\n', 'ma a1 x\r\n', 'ma a1 D18446744073709551616\r\n', 'ma a1 D1 D2\r\n', `ma a1 ${O33}\r\n`, `ma a-none ${O33}\r\n`,
      'ma a1 v D18446744073709551615\r\n', 'ma a1 v c t k O7\r\n', 'ma a1 C1\r\n', 'ma a1 C1 v k\r\n', 'mg a1 c k\r\n', 'ma a1 C{cas:a1} v\r\n',
      'ms a-s 3\r\nabc\r\n', 'ma a-s\r\n', 'ma a-s v\r\n', 'ms a-e 0\r\n\r\n', 'ma a-e\r\n', 'ma a-e C1\r\n',
      'ma a1 T100 t v\r\n', 'ma a1 t v\r\n', 'ma a1 t T70 t\r\n', 'ma a2 N100 J5 t v c\r\n', 'ma a3 T50 N0 J1 v t\r\n', 'ma a4 t N30 J99 t\r\n',
      'incr a1 1\r\n', 'ma a1 v\r\n', 'decr a1 5\r\n', 'ma a1 v MD\r\n',
    ])
  })

  it('quiet pipelines, whole and split at every byte', async () => {
    const pipeline = 'ms q1 1 q\r\na\r\nms q2 1 q\r\nb\r\nmg q1 q v k\r\nmg qx q v k\r\nmg q2 q k O5\r\nmd qx q\r\nmd q1 q\r\nma qx q\r\nma q2 q\r\nms q3 1 q MR\r\nc\r\nmn\r\n'
    await same(a!, [
      pipeline,
      {send: pipeline.replace(/q(\d)/g, 'p$1').split('')},
      'ms bad 1 q\r\nabc\r\nmn\r\n',
      'mg q1 q v\r\nmg q1 q v\r\nmg q1 q v\r\nmn\r\nmg qx q\r\nmn\r\n',
      // Every test on this pair so far, counted alike.
      {send: 'stats\r\n', statValues: COUNTERS},
    ])
  })

  it('with -C: cas is 0 everywhere, and C never matches', async () => {
    await same(c!, [
      'ms c1 1 c\r\n1\r\n', 'mg c1 c\r\n', 'ms c1 1 C0 c\r\n2\r\n', 'ms c1 1 C5\r\n2\r\n', 'md c1 C0\r\n', 'md c1 I\r\n', 'mg c1 c v\r\n', 'ma c1 c\r\n',
      // me before ma: our incr/decr mark an item fetched, memcached's do not (README, "Where we differ").
      'ms c2 1\r\n5\r\n', 'me c2\r\n', 'ma c2 c v\r\n', 'ma c2 C0\r\n',
      // The counters memcached keeps for meta commands (me is its only cmd_meta).
      {send: 'stats\r\n', statValues: COUNTERS},
    ])
  })

  it('ms over the item size limit: SERVER_ERROR, the value is skipped and the old one dropped', async () => {
    const big = 'x'.repeat(2000)
    await same(b!, [
      'ms big 1\r\nx\r\n', {send: `ms big 2000 T0\r\n${big}\r\n`}, 'mg big v\r\n',
      'ms big 1\r\nx\r\n', {send: `ms big 2000 ME q\r\n${big}\r\n`}, 'mg big v\r\n',
      {send: `ms big 2000 zz\r\n${big}\r\n`},
      'mg big T10\r\n', 'mg big2 T10\r\n', 'ma big2\r\n', 'md big2\r\n', 'me big2\r\n',
      {send: 'stats\r\n', statValues: COUNTERS},
    ])
  })
})
