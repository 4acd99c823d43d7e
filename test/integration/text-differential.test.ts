// The text protocol, byte for byte against the real memcached 1.6.18.
//
// Every step is sent unchanged to memcached and to our bundled server, and
// the replies are compared after normalising only what must differ between
// two servers: cas numbers (mapped to c1, c2... in order of appearance, per
// server) and, for `stats` listings, the values (only the STAT names and
// their order are compared, less the replication lines our `stats` adds on
// purpose). Our server runs with replication off (-X 0, the helper's
// default), as a plain memcached. A step's reply is delimited by a `version`
// sentinel sent in the same write, so no step sleeps; steps that leave the
// server mid-value or make it close are read until quiet or until close.
//
// Left out on purpose, because memcached's answer depends on timing or on
// its threads, not on the bytes sent:
// - a request line longer than 2048 bytes whose newline arrives in a later
//   read (memcached decides per read() whether it has seen a newline yet);
// - pipelines bigger than one read (16 KiB for memcached, up to 64 KiB for
//   Node): which replies a forced close or a too long get key discards
//   depends on where the reads split them;
// - the exact second an item expires or a delayed flush takes effect
//   (memcached's clock ticks once a second from its start; every wait here
//   keeps clear of that second), flush_all with an absolute time between
//   memcached's start and now, and items stored in the second a delayed
//   flush takes effect;
// - `stats cachedump` listings (memcached dumps only its COLD LRU, which its
//   LRU maintainer thread fills in the background).
// Not compared because we do not implement it: `stats sizes_enable`. The
// operator commands (lru_crawler, watch, stats detail, stats conns, slabs,
// lru, extstore) have their own file, operator-tools.test.ts. The meta
// commands (mg, ms, md, ma, mn, me) have their own table in
// meta-differential.test.ts.

import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {encodeRequest, Opcode} from '../../src/server/protocol/binary-frame.js'
import {toolMissing} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {differences, DiffClient, runBoth, sameReplies, startServerPair, stopServerPair, type ServerPair, type StepInput} from '../helpers/text-differential.js'

const skip = toolMissing('memcached')

/** `n` copies of `ch`. */
const rep = (ch: string, n: number): string => ch.repeat(n)
const K250 = rep('k', 250)
const K251 = rep('k', 251)

type Pair = ServerPair
const startPair = startServerPair
const stopPair = stopServerPair

/** The replication lines our `stats` adds to memcached's (shared/protocol/replication.md, section 4). */
const REPLICATION_STATS = /^(replication|repcached_version|repcached_qi_free|repcached_release|repcached_bundle_sha256|repl_.*|limits_.*)$/

/** Clients for both servers of a pair, on fresh connections. */
function clients(p: Pair): {theirs: DiffClient; ours: DiffClient} {
  return {theirs: new DiffClient(p.theirs.port), ours: new DiffClient(p.ours.port, REPLICATION_STATS)}
}

/** Run steps on fresh connections to both servers and require identical transcripts. */
const same = (p: Pair, steps: StepInput[]): Promise<void> => sameReplies(p, steps, REPLICATION_STATS)

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('text protocol matches memcached 1.6.18 byte for byte', {skip}, () => {
  /** Default settings. */
  let a: Pair | undefined
  /** -I 1k: item size limits, and the tests that flush everything. */
  let b: Pair | undefined
  /** -C: no cas. */
  let c: Pair | undefined
  /** -F -A: flush_all refused, shutdown allowed (this pair is shut down by its test). */
  let d: Pair | undefined

  before(async () => {
    ;[a, b, c, d] = await Promise.all([
      startPair([]),
      startPair(['-I', '1k', '-o', 'slab_chunk_max=512']),
      startPair(['-C']),
      startPair(['-F', '-A']),
    ])
  })

  after(async () => {
    await Promise.all([stopPair(a), stopPair(b), stopPair(c), stopPair(d)])
  })

  it('get, gets and bget: hits, misses, duplicates, many keys', async () => {
    const many = Array.from({length: 60}, (_, i) => `g${i}`)
    await same(a!, [
      'get\r\n',
      'gets\r\n',
      'bget\r\n',
      'get g-miss\r\n',
      'set g1 0 0 3\r\none\r\n',
      'set g2 7 0 3\r\ntwo\r\n',
      'set g-empty 0 0 0\r\n\r\n',
      'get g1\r\n',
      'gets g1 g2\r\n',
      'get g1 g-miss g2 g1 g1\r\n',
      'gets g-empty g2 g2\r\n',
      'bget g1 g2\r\n',
      'get  g1   g2  \r\n',
      '   get g1\r\n',
      'get g1 \r\n',
      // 23 tokens is where memcached's tokenizer stops and hands the rest to a second pass.
      `get ${many.slice(0, 21).join(' ')} g1\r\n`,
      `get ${many.slice(0, 22).join(' ')} g1\r\n`,
      `get ${many.slice(0, 23).join(' ')} g1 g2\r\n`,
      `gets ${many.join(' ')} g1 g2 g1\r\n`,
      `get ${many.slice(0, 22).join(' ')}  ${rep(' ', 5)} g1  \r\n`,
      'GET g1\r\n',
      'Get g1\r\n',
      'get\tg1\r\n',
      'get g1 noreply\r\n',
      'gets\t\r\n',
      'getx g1\r\n',
      'g\r\n',
    ])
  })

  it('key length 250 vs 251 in every command', async () => {
    await same(a!, [
      `set ${K250} 0 0 2\r\nok\r\n`,
      `get ${K250}\r\n`,
      `gets ${K250}\r\n`,
      `set ${K251} 0 0 2\r\nno\r\n`,
      `set ${K251} 0 0 2 noreply\r\nno\r\n`,
      `add ${K251} 0 0 2\r\nno\r\n`,
      `replace ${K251} 0 0 2\r\nno\r\n`,
      `append ${K251} 0 0 2\r\nno\r\n`,
      `prepend ${K251} 0 0 2\r\nno\r\n`,
      `cas ${K251} 0 0 2 1\r\nno\r\n`,
      `get ${K251}\r\n`,
      `gets ${K251}\r\n`,
      `get ${K250} ${K251}\r\n`,
      `get ${K251} ${K250}\r\n`,
      `gat 0 ${K251}\r\n`,
      `gats 0 ${K250}\r\n`,
      `incr ${K251} 1\r\n`,
      `decr ${K251} 1\r\n`,
      `incr ${K251} 1 noreply\r\n`,
      `incr ${K251} x\r\n`,
      `delete ${K251}\r\n`,
      `delete ${K251} noreply\r\n`,
      `delete ${K251} 0\r\n`,
      `touch ${K251} 10\r\n`,
      `touch ${K251} 10 noreply\r\n`,
      `touch ${K251} x\r\n`,
      `touch ${K250} 0\r\n`,
      `delete ${K250}\r\n`,
      `get ${K250}\r\n`,
    ])
  })

  it('a too long key in a get still touches the keys before it', async () => {
    await same(a!, [
      'set lk1 0 0 1\r\na\r\n',
      'set lk2 0 0 1\r\nb\r\n',
      `gat -1 lk1 ${K251} lk2\r\n`,
      'get lk1 lk2\r\n',
      // memcached also discards the replies it has not written yet: those after its last get.
      `set lk3 0 0 1\r\nc\r\nget lk2 ${K251}\r\n`,
      `get lk2\r\nset lk4 0 0 1\r\nd\r\ndelete lk0\r\nget lk4 ${K251}\r\nget lk4\r\n`,
    ])
  })

  it('set, add, replace, append, prepend with and without noreply', async () => {
    await same(a!, [
      'set s1 0 0 5\r\nhello\r\n',
      'set s1 0 0 5 noreply\r\nworld\r\n',
      'get s1\r\n',
      'add s1 0 0 1\r\nx\r\n',
      'add s1 0 0 1 noreply\r\nx\r\n',
      'add s2 3 0 1\r\nx\r\n',
      'add s3 3 0 1 noreply\r\ny\r\n',
      'replace s-miss 0 0 1\r\nx\r\n',
      'replace s-miss 0 0 1 noreply\r\nx\r\n',
      'replace s2 9 0 2\r\nzz\r\n',
      'replace s3 9 0 2 noreply\r\nzz\r\n',
      'gets s1 s2 s3\r\n',
      'append s-miss 0 0 1\r\nx\r\n',
      'prepend s-miss 0 0 1\r\nx\r\n',
      'append s-miss 0 0 1 noreply\r\nx\r\n',
      // append and prepend keep the old flags and expiry, whatever the command says.
      'append s2 5 100 3\r\n>>>\r\n',
      'prepend s2 6 -1 3\r\n<<<\r\n',
      'append s2 0 0 0\r\n\r\n',
      'prepend s3 0 0 1 noreply\r\n[\r\n',
      'append s3 0 0 1 noreply\r\n]\r\n',
      'gets s2 s3\r\n',
      'set s4 0 0 0\r\n\r\n',
      'append s4 0 0 2\r\nab\r\n',
      'get s4\r\n',
      // Values are bytes: CR, LF, NUL and high bytes pass through untouched.
      {send: Buffer.from('set s5 1 0 8\r\n\r\n\0\xff\x80 \t\n\r\n', 'latin1')},
      'get s5\r\n',
      'set s6 0 0 10\r\nEND\r\nEND\r\n\r\n',
      'get s6\r\n',
      // "noreply" must be the last token, spelled exactly.
      'set s7 0 0 1 norepl\r\nx\r\n',
      'set s7 0 0 1 NOREPLY\r\nx\r\n',
      'set s7 0 0 1 noreply extra\r\nx\r\n',
      'get s7\r\n',
    ])
  })

  it('cas: match, mismatch, missing, cas 0, noreply, unique tokens', async () => {
    await same(a!, [
      'cas c-miss 0 0 1 1\r\nx\r\n',
      'cas c-miss 0 0 1 1 noreply\r\nx\r\n',
      'set c1 0 0 1\r\na\r\n',
      'gets c1\r\n',
      'cas c1 0 0 1 {cas:c1}\r\nb\r\n',
      'cas c1 0 0 1 {cas:c1}\r\nc\r\n',
      'gets c1\r\n',
      'cas c1 0 0 1 0\r\nd\r\n',
      'cas c1 0 0 1 18446744073709551615\r\nd\r\n',
      'cas c1 0 0 1 18446744073709551616\r\nd\r\n',
      'cas c1 0 0 1 -1\r\nd\r\n',
      'cas c1 0 0 1 abc\r\nd\r\n',
      'cas c1 0 0 1 {cas:c1} noreply\r\ne\r\n',
      'gets c1\r\n',
      'cas c1 0 0 1\r\nf\r\n',
      'cas c1 0 0 1 {cas:c1} noreply extra\r\nf\r\n',
      // append and prepend honour a cas too (memcached's generic cas check).
      'set c2 0 0 1\r\na\r\n',
      'gets c2\r\n',
      'append c2 0 0 1\r\nb\r\n',
      'gets c2\r\n',
      'touch c2 100\r\n',
      'gets c2\r\n',
      'incr c2 1\r\n',
      'set c3 0 0 1\r\n5\r\n',
      'gets c3\r\n',
      'incr c3 1\r\n',
      'gets c3\r\n',
      'incr c3 100\r\n',
      'gets c3\r\n',
      'gats 0 c1 c2 c3\r\n',
    ])
  })

  it('storage command lines: flags, exptime and length edge cases', async () => {
    const now = Math.floor(Date.now() / 1000)
    await same(a!, [
      'set f1 4294967295 0 1\r\nx\r\n',
      'set f2 4294967296 0 1\r\nx\r\n',
      'set f3 4294967297 0 1\r\nx\r\n',
      'set f4 -1 0 1\r\nx\r\n',
      'set f5 +7 0 1\r\nx\r\n',
      'set f6 007 0 1\r\nx\r\n',
      'set f7 1x 0 1\r\nx\r\n',
      'set f8 18446744073709551615 0 1\r\nx\r\n',
      'set f9 18446744073709551616 0 1\r\nx\r\n',
      'set f10 -9223372036854775809 0 1\r\nx\r\n',
      'set f11 \t5 0 1\r\nx\r\n',
      'set f12 5\t 0 1\r\nx\r\n',
      'set f13 5\tz 0 1\r\nx\r\n',
      'set f14 0x10 0 1\r\nx\r\n',
      'set f15 \x0b5\f 0 1\r\nx\r\n',
      'set f16 5\r 0 1\r\nx\r\n',
      'set f17 - 0 1\r\nx\r\n',
      'set f18 + 0 1\r\nx\r\n',
      'set f19 -0 0 1\r\nx\r\n',
      'gets f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19\r\n',
      'set e1 0 -1 1\r\nx\r\n',
      'set e2 0 2592000 1\r\nx\r\n',
      'set e3 0 2592001 1\r\nx\r\n',
      `set e4 0 ${now + 100000} 1\r\nx\r\n`,
      'set e5 0 1000000000 1\r\nx\r\n',
      'set e6 0 4294967296 1\r\nx\r\n',
      'set e7 0 99999999999999999999 1\r\nx\r\n',
      'set e8 0 -99999999999 1\r\nx\r\n',
      'set e9 0 abc 1\r\nx\r\n',
      'set e10 0 -2147483648 1\r\nx\r\n',
      'set e11 0 2147483647 1\r\nx\r\n',
      'set e12 0 4294967295 1\r\nx\r\n',
      'get e1 e2 e3 e4 e5 e6 e7 e8 e9 e10 e11 e12\r\n',
      // A refused command line leaves its data to be read as a command.
      'set l1 0 0 -1\r\nx\r\n',
      'set l2 0 0 abc\r\nx\r\n',
      'set l3 0 0 1x\r\nx\r\n',
      'set l4 0 0 2147483647\r\nx\r\n',
      'set l5 0 0 2147483646\r\nx\r\n',
      'set l6 0 0 4294967297\r\nx\r\n',
      'set l7 0 0 -4294967295\r\nx\r\n',
      'set l8 0 0 99999999999999999999\r\nx\r\n',
      'set l9 0 0 +1\r\nx\r\n',
      'set l10 0 0  1\r\nx\r\n',
      'get l1 l2 l3 l4 l5 l6 l7 l8 l9 l10\r\n',
      'set l11 0 0 -1 noreply\r\nget l11\r\n',
      'set\r\n',
      'set k\r\n',
      'set k 0\r\n',
      'set k 0 0\r\n',
      'set k 0 0 1 2 3\r\n',
      'cas k 0 0 1\r\n',
      'cas k 0 0 1 2 3 4\r\n',
      'add k 0 0\r\n',
      'append\r\n',
      'prepend k 0 0 1 2 3\r\n',
      'replace k\r\n',
    ])
  })

  it('data blocks: bad terminators, short and long data', async () => {
    await same(a!, [
      'set d1 0 0 1\r\nxy\r\n',
      'set d2 0 0 1\r\nx\n\r\n',
      'set d3 0 0 1\r\nx\rget d3\r\n',
      'set d4 0 0 3\r\nabc\n\r\n',
      'set d5 0 0 2 noreply\r\nabc\r\n',
      'set d6 0 0 0\r\nx\r\n',
      'set d7 0 0 5\r\nab\r\n\r\n\r\n',
      'get d1 d2 d3 d4 d5 d6 d7\r\n',
      // A failed data block leaves an existing value alone.
      'set d8 0 0 1\r\nA\r\n',
      'set d8 0 0 1\r\nBC\r\n',
      'get d8\r\n',
    ])
  })

  it('incr and decr', async () => {
    await same(a!, [
      'incr i-miss 1\r\n',
      'decr i-miss 1\r\n',
      'incr i-miss 1 noreply\r\n',
      'set i1 0 0 2\r\n10\r\n',
      'decr i1 1\r\n',
      'get i1\r\n',
      'incr i1 1\r\n',
      'get i1\r\n',
      'incr i1 90\r\n',
      'get i1\r\n',
      'decr i1 1000\r\n',
      'get i1\r\n',
      'set i2 0 0 20\r\n18446744073709551615\r\n',
      'incr i2 1\r\n',
      'get i2\r\n',
      'incr i2 18446744073709551615\r\n',
      'decr i2 18446744073709551615\r\n',
      'set i3 0 0 20\r\n18446744073709551614\r\n',
      'incr i3 3\r\n',
      'set i4 0 0 20\r\n18446744073709551616\r\n',
      'incr i4 1\r\n',
      'set i5 0 0 3\r\nabc\r\n',
      'incr i5 1\r\n',
      'decr i5 1\r\n',
      'set i6 0 0 0\r\n\r\n',
      'incr i6 1\r\n',
      'set i7 0 0 4\r\n  42\r\n',
      'incr i7 1\r\n',
      'get i7\r\n',
      'set i8 0 0 4\r\n42  \r\n',
      'incr i8 1\r\n',
      'get i8\r\n',
      'set i9 0 0 5\r\n12abc\r\n',
      'incr i9 1\r\n',
      'set i10 0 0 6\r\n12 abc\r\n',
      'incr i10 1\r\n',
      'get i10\r\n',
      'set i11 0 0 2\r\n-5\r\n',
      'incr i11 1\r\n',
      'set i12 0 0 2\r\n+5\r\n',
      'incr i12 1\r\n',
      'get i12\r\n',
      'set i13 0 0 3\r\n007\r\n',
      'decr i13 1\r\n',
      'get i13\r\n',
      'set i14 0 0 3\r\n5\t1\r\n',
      'incr i14 1\r\n',
      'set i15 5 0 1\r\n9\r\n',
      'incr i15 1\r\n',
      'gets i15\r\n',
      'incr i15 1 noreply\r\n',
      'decr i15 3 noreply\r\n',
      'get i15\r\n',
      'set i16 0 0 2\r\n99\r\n',
      'incr i16 18446744073709551615\r\n',
      'get i16\r\n',
      // Bad deltas.
      'incr i1 -1\r\n',
      'incr i1 abc\r\n',
      'incr i1 1abc\r\n',
      'incr i1 18446744073709551616\r\n',
      'incr i1 +1\r\n',
      'incr i1 -0\r\n',
      'incr i1 -18446744073709551615\r\n',
      'decr i1 -9223372036854775808\r\n',
      'incr i1 -1 noreply\r\n',
      'incr i1 \t2\r\n',
      'incr i1 2\t\r\n',
      'incr i1\r\n',
      'incr\r\n',
      'incr i1 1 2 3\r\n',
      'decr i1 1 noreply extra\r\n',
      'get i1\r\n',
    ])
  })

  it('delete, including the old "delete key 0" form', async () => {
    await same(a!, [
      'delete x-miss\r\n',
      'delete x-miss noreply\r\n',
      'set x1 0 0 1\r\na\r\n',
      'delete x1\r\n',
      'delete x1\r\n',
      'set x2 0 0 1\r\na\r\n',
      'delete x2 0\r\n',
      'set x3 0 0 1\r\na\r\n',
      'delete x3 0 noreply\r\n',
      'set x4 0 0 1\r\na\r\n',
      'delete x4 noreply\r\n',
      'set x5 0 0 1\r\na\r\n',
      'delete x5 1\r\n',
      'delete x5 00\r\n',
      'delete x5 1 noreply\r\n',
      'delete x5 noreply 0\r\n',
      'delete x5 0 0\r\n',
      'delete x5 0 noreply extra\r\n',
      'delete\r\n',
      'get x1 x2 x3 x4 x5\r\n',
    ])
  })

  it('touch, gat and gats', async () => {
    await same(a!, [
      'touch t-miss 10\r\n',
      'touch t-miss 10 noreply\r\n',
      'set t1 0 0 1\r\na\r\n',
      'touch t1 100\r\n',
      'touch t1 100 noreply\r\n',
      'touch t1 abc\r\n',
      'touch t1 abc noreply\r\n',
      'touch t1\r\n',
      'touch t1 1 2 3\r\n',
      'gat 100 t1\r\n',
      'gats 100 t1 t-miss t1\r\n',
      'gat abc t1\r\n',
      'gat 100\r\n',
      'gat\r\n',
      'gats\r\n',
      'gat 1x t1\r\n',
      'gat 99999999999999999999 t1\r\n',
      'set t2 0 0 1\r\nb\r\n',
      'touch t2 -1\r\n',
      'get t2\r\n',
      'set t3 0 0 1\r\nc\r\n',
      'gat -1 t3\r\n',
      'get t3\r\n',
      'set t4 0 0 1\r\nd\r\n',
      'gats 1000000000 t4\r\n',
      'get t4\r\n',
    ])
  })

  it('version, verbosity, quit, shutdown, cache_memlimit, unknown commands', async () => {
    await same(a!, [
      'version\r\n',
      'version extra tokens\r\n',
      'verbosity\r\n',
      'verbosity 1\r\n',
      'verbosity 0 noreply\r\n',
      'verbosity abc\r\n',
      'verbosity abc noreply\r\n',
      'verbosity -1\r\n',
      'verbosity 99\r\n',
      'verbosity 0\r\n',
      'verbosity 1 2 3\r\n',
      'shutdown\r\n',
      'shutdown graceful\r\n',
      'shutdown now\r\n',
      'cache_memlimit 100\r\n',
      'cache_memlimit 7\r\n',
      'cache_memlimit abc\r\n',
      'cache_memlimit 2000000000\r\n',
      'cache_memlimit\r\n',
      'cache_memlimit 64 noreply\r\n',
      'cache_memlimit 64\r\n',
      'foo\r\n',
      'foo bar baz\r\n',
      'x\r\n',
      'mz\r\n',
      'quit extra\r\n',
      {send: 'get x\r\nquit\r\nget x\r\n', until: 'close'},
      {send: 'set qq 0 0 1\r\nx\r\nquit\r\nget qq\r\n', until: 'close'},
      'get qq\r\n',
      {send: 'quit\r\n', until: 'close'},
    ])
  })

  it('line endings, empty lines, garbage, NUL bytes and tabs', async () => {
    await same(a!, [
      '\r\n',
      '\n',
      '\r\r\n',
      ' \r\n',
      '\t\r\n',
      'set n1 0 0 1\nx\r\nget n1\n',
      'get n1\r\r\n',
      'get n1\rx\r\n',
      {send: Buffer.from('get n1\0n2\r\n', 'latin1')},
      {send: Buffer.from('\0get n1\r\n', 'latin1')},
      {send: Buffer.from('set n2 0 0 1\0 garbage\r\ny\r\n', 'latin1')},
      {send: Buffer.from('get n2\0\r\n', 'latin1')},
      'set n\t3 0 0 1\r\nz\r\n',
      'get n\t3\r\n',
      'get n 3\r\n',
      'set n4\t0 0 1\r\nz\r\n',
      'get\x01 n1\r\n',
      Buffer.from('get \xff\xfe\r\n', 'latin1').toString('latin1'),
      'set \xe9 0 0 1\r\n\xe9\r\n',
      'get \xe9\r\n',
    ])
  })

  it('lines with more than 24 tokens', async () => {
    const t = (n: number): string => Array.from({length: n}, (_, i) => `t${i}`).join(' ')
    await same(a!, [
      `set m1 0 0 1 ${t(30)}\r\nx\r\n`,
      `incr m1 1 ${t(30)}\r\n`,
      `delete m1 ${t(30)}\r\n`,
      `foo ${t(30)}\r\n`,
      `stats ${t(30)}\r\n`,
      `flush_all ${t(30)}\r\n`,
      `verbosity ${t(30)}\r\n`,
      `touch m1 ${t(30)}\r\n`,
      `version ${t(30)}\r\n`,
      // The 23rd token decides whether memcached treats an unknown command as HTTP.
      {send: `foo ${t(21)} HTTP/1.1 ${t(5)}\r\n`, until: 'close'},
    ])
  })

  it('HTTP-looking requests close the connection', async () => {
    await same(a!, [
      'get / HTTP/1.1\r\n',
      {send: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', until: 'close'},
      {send: 'POST /x HTTP/1.0\r\n', until: 'close'},
      {send: 'foo HTTP/\r\n', until: 'close'},
      'foo HTTP\r\n',
      'foo http/1.1\r\n',
      // Unknown commands that start like a memcached command are not taken for HTTP.
      'gfoo / HTTP/1.1\r\n',
      'sfoo HTTP/1.0\r\n',
      'afoo HTTP/1.0\r\n',
      'cfoo HTTP/1.0\r\n',
      'ifoo HTTP/1.0\r\n',
      'dfoo HTTP/1.0\r\n',
      'tfoo HTTP/1.0\r\n',
      'mx HTTP/1.0\r\n',
      {send: 'mxy HTTP/1.0\r\n', until: 'close'},
      {send: 'bfoo HTTP/1.0\r\n', until: 'close'},
      {send: 'HTTP/1.1\r\n', until: 'close'},
    ])
  })

  it('over-long lines: closed unless it is a get', async () => {
    const keys = Array.from({length: 3000}, (_, i) => `ol${i}`).join(' ')
    await same(a!, [
      'set ol7 0 0 1\r\nx\r\n',
      // A multiget line of any length is fine.
      `get ${keys}\r\n`,
      `gets ${keys} ol7\r\n`,
      // Long but complete lines in one write are parsed like any other line.
      `${rep('x', 3000)}\r\n`,
      `set ${rep('k', 3000)} 0 0 1\r\nx\r\n`,
      `get ${rep('k', 3000)}\r\n`,
      // A line longer than memcached's 16 KiB read buffer is never seen whole: closed, newline or not...
      {send: `${rep('x', 20000)}\r\n`, until: 'close'},
      {send: `set ${rep('k', 17000)} 0 0 1\r\nx\r\n`, until: 'close'},
      // ...except a get, which may be as long as it likes.
      `get ${rep('k', 20000)}\r\n`,
      `get ${keys} ${keys} ${keys} ol7\r\n`,
      // No newline after 2048 bytes: memcached gives up on the connection...
      {send: rep('x', 2048), until: 'quiet'},
      '\r\n',
      {send: rep('x', 2049), until: 'close'},
      {send: rep('x', 2100), until: 'close'},
      // ...and what it had not written yet is lost with it.
      {send: `get ol7\r\n${rep('x', 2100)}`, until: 'close'},
      {send: 'get ol7\r\nGET / HTTP/1.1\r\n', until: 'close'},
      {send: `set ol8 0 0 1\r\nx\r\n${rep('x', 2100)}`, until: 'close'},
      {send: 'set ol8 0 0 1\r\nx\r\nGET / HTTP/1.1\r\n', until: 'close'},
      // memcached writes after every 20 requests (21 in a read's first round), so only the rest is lost.
      {send: `${rep('set ol9 0 0 1\r\nx\r\n', 25)}GET / HTTP/1.1\r\n`, until: 'close'},
      {send: `${rep('delete ol9\r\n', 60)}GET / HTTP/1.1\r\n`, until: 'close'},
      {send: `${rep('delete ol9\r\n', 10)}get ol7\r\n${rep('delete ol9\r\n', 30)}GET / HTTP/1.1\r\n`, until: 'close'},
      {send: `set k 0 0 1 ${rep(' ', 2100)}`, until: 'close'},
      {send: `${rep(' ', 101)}get ${rep('k', 2100)}`, until: 'close'},
      // ...unless the line is a get or gets, which may be arbitrarily long.
      {send: [`get ${rep('k', 2100)}`, `${rep('k', 100)} ol7\r\n`]},
      {send: [`gets ${rep('k', 3000)}`, ' ol7\r\n']},
      {send: [`   get ${rep('k', 3000)}`, ' ol7\r\n']},
      {send: [`gat 0 ${rep('k', 2100)}`, ' ol7\r\n'], until: 'close'},
    ])
  })

  it('pipelining and commands split across writes', async () => {
    let pipe = ''
    for (let i = 0; i < 150; i++) pipe += `set p${i} ${i} 0 ${String(i).length}\r\n${i}\r\nincr p${i} 1\r\nget p${i}\r\n`
    pipe += 'delete p3\r\nget p1 p2 p3 p4\r\nfoo\r\n'
    await same(a!, [
      pipe,
      {send: ['se', 't q1 0 0 5\r', '\nhel', 'lo\r', '\nget q1\r\n']},
      {send: ['get', ' q1\r', '\n']},
      {send: ['set q2 0 0 3\r\n', 'a', 'b', 'c', '\r', '\n', 'get q2\r\n']},
      {send: ['set q3 0 0 3\r\nabc', 'X\r\nget q3\r\n']},
      {send: ['incr q2 ', '1\r\n']},
      {send: ['set q4 0 0 2\r\nab\r\ng', 'et q4\r\n']},
      // Nothing is written while a value is still arriving, not even earlier replies.
      {send: 'get q4\r\nset q5 0 0 10\r\nabc', until: 'quiet'},
      'defghij\r\nget q5\r\n',
      {send: 'get q4\r\nset q6 0 0 3 noreply\r\nab', until: 'quiet'},
      'c\r\nget q6\r\n',
      {send: `${rep('set q7 0 0 1\r\nx\r\n', 50)}set q8 0 0 2\r\na`, until: 'quiet'},
      'b\r\n',
      `set big 0 0 300000\r\n${rep('0123456789', 30000)}\r\n`,
      'get big big\r\n',
      'incr big 1\r\n',
    ])
  })

  it('counters: each outcome counted once (overall figures are the slab classes\' sums), and stats reset clears both', async () => {
    const OVERALL = {send: 'stats\r\n', statValues: /^(cmd_get|cmd_set|cmd_touch|get_hits|get_misses|delete_hits|delete_misses|incr_hits|incr_misses|decr_hits|decr_misses|cas_hits|cas_misses|cas_badval|touch_hits|touch_misses|total_items)$/}
    const CLASS1 = {send: 'stats slabs\r\n', statValues: /^1:(get_hits|cmd_set|delete_hits|incr_hits|decr_hits|cas_hits|cas_badval|touch_hits)$/}
    await same(a!, ['stats reset\r\n'])
    // A binary increment that creates its item (initial 5) stores it, but is no storage command for memcached.
    for (const port of [a!.theirs.port, a!.ours.port]) {
      const c = await RawClient.open(port)
      const extras = Buffer.alloc(20)
      extras.writeBigUInt64BE(1n, 0)
      extras.writeBigUInt64BE(5n, 8)
      c.send(encodeRequest({opcode: Opcode.Increment, key: 'cn-created', extras}))
      const r = await c.readUntil((b) => b.length >= 32)
      c.close()
      assert.equal(r.readUInt16BE(6), 0, `binary increment that creates on port ${port}`)
    }
    await same(a!, [
      'set cn1 0 0 1\r\n1\r\n',
      'get cn1 cn-miss\r\n',
      'gets cn1\r\n',
      'touch cn1 0\r\n',
      'touch cn-miss 0\r\n',
      'gat 0 cn1 cn-miss\r\n',
      'incr cn1 2\r\n',
      'decr cn1 1\r\n',
      'incr cn-miss 1\r\n',
      'decr cn-miss 1\r\n',
      'cas cn1 0 0 1 1\r\nx\r\n',
      'cas cn-miss 0 0 1 1\r\nx\r\n',
      'add cn1 0 0 1\r\nx\r\n',
      'delete cn1\r\n',
      'delete cn1\r\n',
      OVERALL,
      CLASS1,
      // memcached's reset clears its slab classes' counters with the overall ones.
      'stats reset\r\n',
      OVERALL,
      CLASS1,
    ])
  })

  it('stats listings (names only) and their error forms', async () => {
    await same(a!, [
      'set st1 0 0 1\r\na\r\n',
      'set st2 5 0 300\r\n' + rep('y', 300) + '\r\n',
      'get st1\r\n',
      {send: 'stats\r\n', statNames: true},
      {send: 'stats settings\r\n', statNames: true},
      {send: 'stats items\r\n', statNames: true},
      {send: 'stats slabs\r\n', statNames: true},
      {send: 'stats sizes\r\n', statNames: true},
      'stats detail\r\n',
      'stats detail x\r\n',
      'stats detail dump\r\n',
      'stats detail on\r\n',
      'stats detail off\r\n',
      'stats bogus\r\n',
      {send: 'stats items extra\r\n', statNames: true},
      'stats sizes_disable\r\n',
      'stats cachedump\r\n',
      'stats cachedump 1\r\n',
      'stats cachedump x 1\r\n',
      'stats cachedump 1 x\r\n',
      'stats cachedump 64 0\r\n',
      'stats cachedump 99 0\r\n',
      'stats cachedump 40 0\r\n',
      'stats cachedump +40 0\r\n',
      'stats cachedump 4294967336 0\r\n',
      'stats cachedump -1 0\r\n',
      'stats extstore\r\n',
      'stats reset\r\n',
      'stats reset extra\r\n',
      {send: 'stats\t\r\n', statNames: true},
      'stats\tsettings\r\n',
      'stats sizes_disable\r\nstats sizes\r\n',
    ])
  })

  it('item size limit (-I 1k): exactly at the limit and one byte over', async () => {
    // itemTotalSize: 48 header + key + 1 + (4 if flags) + value + 2 + 8 cas <= 1024.
    await same(b!, [
      `set z1 0 0 964\r\n${rep('a', 964)}\r\n`,
      `set z2 0 0 965\r\n${rep('a', 965)}\r\n`,
      `set z3 1 0 960\r\n${rep('a', 960)}\r\n`,
      `set z4 1 0 961\r\n${rep('a', 961)}\r\n`,
      `set ${K250} 0 0 715\r\n${rep('a', 715)}\r\n`,
      `set ${K250} 0 0 716\r\n${rep('a', 716)}\r\n`,
      'get z1 z2 z3 z4\r\n',
      `get ${K250}\r\n`,
      // A set too large drops the old value; add, replace, append, prepend and cas do not.
      'set z5 0 0 1\r\nx\r\n',
      `add z5 0 0 965\r\n${rep('b', 965)}\r\n`,
      `replace z5 0 0 965\r\n${rep('b', 965)}\r\n`,
      `append z5 0 0 965\r\n${rep('b', 965)}\r\n`,
      `prepend z5 0 0 965\r\n${rep('b', 965)}\r\n`,
      `cas z5 0 0 965 1\r\n${rep('b', 965)}\r\n`,
      'get z5\r\n',
      `set z5 0 0 965 noreply\r\n${rep('b', 965)}\r\n`,
      'get z5\r\n',
      // Dropping the old value is no delete: memcached counts no delete hit for it, overall or per slab class.
      'set z9 0 0 1\r\nx\r\n',
      `set z9 0 0 965\r\n${rep('b', 965)}\r\n`,
      {send: 'stats\r\n', statValues: /^(delete_hits|delete_misses|cmd_set)$/},
      // Class 1 holds z5 and z9 (memcached also lists the classes its chunked items used; their counters stay 0).
      {send: 'stats slabs\r\n', statValues: /^1:(delete_hits|cmd_set)$/},
      // Appending past the limit is refused with NOT_STORED.
      `set z6 0 0 900\r\n${rep('c', 900)}\r\n`,
      `append z6 0 0 64\r\n${rep('d', 64)}\r\n`,
      `append z6 0 0 65\r\n${rep('d', 65)}\r\n`,
      `prepend z6 0 0 1\r\ne\r\n`,
      'get z6\r\n',
      // The data of a refused value is skipped, whatever it contains.
      `set z7 0 0 2000\r\n${rep('get z1\r\n', 250)}\r\n`,
      'get z7\r\n',
      // The refusal is only written once the refused data has all arrived.
      {send: `get z1\r\nset z7 0 0 2000\r\n${rep('a', 1000)}`, until: 'quiet'},
      `${rep('a', 1000)}\r\nget z1\r\n`,
      // Big items are stored in chunks by memcached, and chunked items are not numbers.
      `set zn1 0 0 450\r\n${rep(' ', 449)}5\r\n`,
      'incr zn1 1\r\n',
      `set zn2 0 0 460\r\n${rep(' ', 459)}5\r\n`,
      'incr zn2 1\r\n',
      {send: 'set z8 0 0 2147483645\r\nget z1\r\n', until: 'quiet'},
    ])
  })

  it('flush_all forms', async () => {
    await same(b!, [
      'set fl1 0 0 1\r\na\r\n',
      'flush_all\r\n',
      'get fl1\r\n',
      'set fl1 0 0 1\r\na\r\n',
      'flush_all noreply\r\n',
      'get fl1\r\n',
      'set fl1 0 0 1\r\na\r\n',
      'flush_all 0\r\n',
      'get fl1\r\n',
      'set fl1 0 0 1\r\na\r\n',
      'flush_all -1\r\n',
      'get fl1\r\n',
      'set fl1 0 0 1\r\na\r\n',
      'flush_all 0 noreply\r\n',
      'get fl1\r\n',
      'set fl1 0 0 1\r\na\r\n',
      'flush_all abc\r\n',
      'flush_all abc noreply\r\n',
      'flush_all noreply extra\r\n',
      'flush_all 1 2 3\r\n',
      'flush_all 0 0\r\n',
      'get fl1\r\n',
      // An absolute time before memcached started disables any flush, and flushes nothing.
      'set fl2 0 0 1\r\nb\r\n',
      'flush_all 1000000000\r\n',
      'get fl2\r\n',
      // Stored after flush_all, an item survives it.
      'flush_all\r\nset fl3 0 0 1\r\nc\r\nget fl3\r\n',
    ])
  })

  it('waits out expiry and a delayed flush_all', async () => {
    const now = Math.floor(Date.now() / 1000)
    // Pair a: items that expire within the wait, and ones that must not.
    const expiry = (async () => {
      const {theirs, ours} = clients(a!)
      try {
        const first = await runBoth(theirs, ours, [
          'set w1 0 1 1\r\na\r\n',
          // Expiry happens on a clock tick, so exptime N ends somewhere in (N-1, N] seconds: keep clear of the wait.
          'set w2 0 10 1\r\nb\r\n',
          `set w3 0 ${now + 1} 1\r\nc\r\n`,
          `set w4 0 ${now + 1000} 1\r\nd\r\n`,
          'set w5 0 0 1\r\ne\r\n',
          'touch w5 1\r\n',
          'set w6 0 100 1\r\nf\r\n',
          'gat 1 w6\r\n',
          'get w2 w4\r\n',
        ])
        await sleep(2200)
        const second = await runBoth(theirs, ours, [
          'get w1 w2 w3 w4 w5 w6\r\n', 'incr w1 1\r\n', 'touch w1 0\r\n', 'cas w1 0 0 1 1\r\ny\r\n', 'add w1 0 0 1\r\nz\r\n', 'get w1\r\n',
        ])
        const diff = differences({steps: [...first.theirs.steps, ...second.theirs.steps]}, {steps: [...first.ours.steps, ...second.ours.steps]})
        if (diff !== '') assert.fail(`replies differ from memcached's:\n${diff}`)
      } finally {
        theirs.close()
        ours.close()
      }
    })()
    // Pair b: a delayed flush removes what was stored before it and until it takes effect.
    const flush = (async () => {
      const {theirs, ours} = clients(b!)
      try {
        const first = await runBoth(theirs, ours, [
          'set y1 0 0 1\r\na\r\n',
          'flush_all 3\r\n',
          'set y2 0 0 1\r\nb\r\n',
          'get y1 y2\r\n',
        ])
        await sleep(2200)
        const second = await runBoth(theirs, ours, ['get y1 y2\r\n'])
        const diff = differences({steps: [...first.theirs.steps, ...second.theirs.steps]}, {steps: [...first.ours.steps, ...second.ours.steps]})
        if (diff !== '') assert.fail(`replies differ from memcached's:\n${diff}`)
      } finally {
        theirs.close()
        ours.close()
      }
    })()
    // Pair c (-C): a pending flush is cancelled by a flush_all naming a time before the server started.
    const cancelled = (async () => {
      const {theirs, ours} = clients(c!)
      try {
        const first = await runBoth(theirs, ours, ['set u1 0 0 1\r\na\r\n', 'flush_all 2\r\n', 'flush_all 1000000000\r\n', 'set u2 0 0 1\r\nb\r\n'])
        await sleep(2200)
        const second = await runBoth(theirs, ours, ['get u1 u2\r\n'])
        const diff = differences({steps: [...first.theirs.steps, ...second.theirs.steps]}, {steps: [...first.ours.steps, ...second.ours.steps]})
        if (diff !== '') assert.fail(`replies differ from memcached's:\n${diff}`)
      } finally {
        theirs.close()
        ours.close()
      }
    })()
    await Promise.all([expiry, flush, cancelled])
  })

  it('without cas (-C)', async () => {
    await same(c!, [
      'set nc1 0 0 1\r\na\r\n',
      'gets nc1\r\n',
      'cas nc1 0 0 1 0\r\nb\r\n',
      'cas nc1 0 0 1 1\r\nb\r\n',
      'incr nc1 1\r\n',
      'set nc2 0 0 1\r\n1\r\n',
      'incr nc2 1\r\n',
      'gets nc2\r\n',
      // Every item shows cas 0 however often it is written, and no cas a client can name matches
      // (our store keeps a version per write inside, for replication: none of it shows).
      'set nc4 0 0 1\r\na\r\n',
      'append nc4 0 0 1\r\nb\r\n',
      'set nc4 0 0 1\r\nc\r\n',
      'gets nc4 nc1 nc2\r\n',
      Array.from({length: 64}, (_, i) => `cas nc4 0 0 1 ${i + 1}\r\nx\r\n`).join(''),
      'cas nc4 0 0 1 {cas:nc4}\r\nx\r\n',
      'cas nc4 0 0 1 9007199254740993\r\nx\r\n',
      'gets nc4\r\n',
      // Without cas, memcached's flush boundary also covers the rest of the current second.
      'flush_all\r\nset nc3 0 0 1\r\nc\r\nget nc1 nc3\r\n',
    ])
  })

  it('flush_all refused (-F), and shutdown (-A)', async () => {
    await same(d!, [
      'set sd1 0 0 1\r\na\r\n',
      'flush_all\r\n',
      'flush_all noreply\r\n',
      'flush_all 10\r\n',
      'flush_all abc\r\n',
      'get sd1\r\n',
      'shutdown now\r\n',
      'shutdown graceful extra\r\n',
      {send: 'shutdown\r\n', until: 'close'},
    ])
  })
})
