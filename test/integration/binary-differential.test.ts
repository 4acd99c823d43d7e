// The binary protocol against the real memcached: every scenario runs on
// both servers and the replies must match byte for byte (normalising only
// cas values, the version text and stat values; see the helper).

import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {
  deltaFrame, differential, frame, HEADER_LENGTH, keyFrame, Opcode as O, setFrame, touchFrame, u32,
  BinaryTranscript, type Scenario, type Until,
} from '../helpers/binary-differential.js'
import {startMemcached, startOurServer, toolMissing, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'
import {itemTotalSize} from '../../src/server/store/slab-classes.js'

const skip = toolMissing('memcached')

const MB = 1024 * 1024
const NO_CREATE = 0xffffffff
/** An absolute unix time long past (2004): items stored with it are expired at once. */
const LONG_AGO = 0x40000000
const ALL_BYTES = Buffer.from(Array.from({length: 256}, (_, i) => i))
const noop = (opaque = 0): Buffer => frame(O.Noop, {opaque})

async function fresh(t: BinaryTranscript): Promise<void> {
  await t.step('flush before the scenario', frame(O.Flush))
}

/** Start both servers with the same flags; stop them after the enclosing suite. */
function serverPair(args: string[] = []): {run: (s: Scenario) => Promise<void>} {
  let mc: RunningServer | undefined
  let ours: RunningServer | undefined
  before(async () => {
    [mc, ours] = await Promise.all([startMemcached(args), startOurServer(args)])
  })
  after(async () => {
    await Promise.all([mc?.stop(), ours?.stop()])
  })
  return {run: async (s) => { await differential({memcached: mc!.port, ours: ours!.port}, s) }}
}

describe('binary protocol: same replies as memcached', {skip}, () => {
  const {run} = serverPair()

  it('noop, version, and the opaque echoed', () => run(async (t) => {
    await t.step('noop', noop())
    await t.step('noop, largest opaque', noop(0xffffffff))
    await t.step('version', frame(O.Version, {opaque: 7}))
    await t.step('cas, datatype and vbucket in a request are ignored', frame(O.Noop, {cas: 99n, dataType: 1, vbucket: 5, opaque: 3}))
  }))

  it('set and the get family (Get, GetQ, GetK, GetKQ), hits and misses', () => run(async (t) => {
    await fresh(t)
    await t.step('set with flags', setFrame(O.Set, 'k', 'hello', {flags: 0xdeadbeef, opaque: 1}))
    await t.step('get hit', keyFrame(O.Get, 'k', {opaque: 2}))
    await t.step('getk hit', keyFrame(O.GetK, 'k', {opaque: 3}))
    await t.step('getq hit', keyFrame(O.GetQ, 'k', {opaque: 4}))
    await t.step('getkq hit', keyFrame(O.GetKQ, 'k', {opaque: 5}))
    await t.step('get miss', keyFrame(O.Get, 'nope', {opaque: 6}))
    await t.step('getk miss names the key', keyFrame(O.GetK, 'nope', {opaque: 7}))
    await t.step('getq miss is silent', keyFrame(O.GetQ, 'nope', {opaque: 8}))
    await t.step('getkq miss is silent', keyFrame(O.GetKQ, 'nope', {opaque: 9}))
    await t.step('overwrite changes the cas', setFrame(O.Set, 'k', 'again'))
    await t.step('get shows the new cas', keyFrame(O.Get, 'k'))
    await t.step('empty value', setFrame(O.Set, 'empty', ''))
    await t.step('get empty value', keyFrame(O.GetK, 'empty'))
    await t.step('every byte value, key with space and control bytes', setFrame(O.Set, 'a key\x01\xff', ALL_BYTES, {flags: 1}))
    await t.step('get it back', keyFrame(O.GetK, 'a key\x01\xff'))
    await t.step('key of 250 bytes', setFrame(O.Set, 'x'.repeat(250), 'v'))
    await t.step('get key of 250 bytes', keyFrame(O.GetK, 'x'.repeat(250)))
    await t.step('setq success is silent', setFrame(O.SetQ, 'q', 'quiet'))
    await t.step('get after setq', keyFrame(O.Get, 'q'))
    await t.step('expiration 0xffffffff is an absolute time far ahead', setFrame(O.Set, 'far', 'v', {exptime: 0xffffffff}))
    await t.step('get far', keyFrame(O.Get, 'far'))
    await t.step('absolute time in the past: stored, with a cas', setFrame(O.Set, 'past', 'v', {exptime: LONG_AGO}))
    await t.step('but gone at once', keyFrame(O.Get, 'past'))
  }))

  it('add and replace, plain and quiet', () => run(async (t) => {
    await fresh(t)
    await t.step('add new', setFrame(O.Add, 'a', '1', {opaque: 1}))
    await t.step('add existing', setFrame(O.Add, 'a', '2', {opaque: 2}))
    await t.step('addq existing still answers', setFrame(O.AddQ, 'a', '3', {opaque: 3}))
    await t.step('addq new is silent', setFrame(O.AddQ, 'b', '1'))
    await t.step('replace missing', setFrame(O.Replace, 'c', '1', {opaque: 4}))
    await t.step('replaceq missing still answers', setFrame(O.ReplaceQ, 'c', '1', {opaque: 5}))
    await t.step('replace existing', setFrame(O.Replace, 'a', 'new', {flags: 9}))
    await t.step('replaceq existing is silent', setFrame(O.ReplaceQ, 'b', 'new'))
    await t.step('get both', [keyFrame(O.GetK, 'a'), keyFrame(O.GetK, 'b')])
  }))

  it('cas on set, add and replace', () => run(async (t) => {
    await fresh(t)
    await t.step('set', setFrame(O.Set, 'k', 'v1'))
    const cas = t.lastCas
    await t.step('set with a wrong cas', setFrame(O.Set, 'k', 'v2', {cas: cas + 1000n}))
    await t.step('setq with a wrong cas still answers', setFrame(O.SetQ, 'k', 'v2', {cas: cas + 1000n}))
    await t.step('set with the right cas', setFrame(O.Set, 'k', 'v3', {cas}))
    const cas2 = t.lastCas
    await t.step('the old cas is now stale', setFrame(O.Set, 'k', 'v4', {cas}))
    await t.step('set with a cas on a missing key', setFrame(O.Set, 'missing', 'v', {cas: 1n}))
    await t.step('cas 2^64-1', setFrame(O.Set, 'k', 'v', {cas: 0xffffffffffffffffn}))
    await t.step('add with the right cas acts as a cas', setFrame(O.Add, 'k', 'via add', {cas: cas2}))
    const cas3 = t.lastCas
    await t.step('add with a cas on a missing key', setFrame(O.Add, 'missing', 'v', {cas: cas3}))
    await t.step('replace with a wrong cas', setFrame(O.Replace, 'k', 'v', {cas: cas3 + 1000n}))
    await t.step('replaceq with the right cas is silent', setFrame(O.ReplaceQ, 'k', 'via replace', {cas: cas3}))
    await t.step('get', keyFrame(O.Get, 'k'))
  }))

  it('append and prepend, plain, quiet and with cas', () => run(async (t) => {
    await fresh(t)
    await t.step('append to a missing key', frame(O.Append, {key: 'k', value: 'x', opaque: 1}))
    await t.step('prependq to a missing key still answers', frame(O.PrependQ, {key: 'k', value: 'x', opaque: 2}))
    await t.step('set with flags', setFrame(O.Set, 'k', 'mid', {flags: 7}))
    await t.step('append', frame(O.Append, {key: 'k', value: 'tail'}))
    await t.step('prepend', frame(O.Prepend, {key: 'k', value: 'head'}))
    await t.step('appendq is silent', frame(O.AppendQ, {key: 'k', value: '!'}))
    await t.step('flags and expiry are kept', keyFrame(O.GetK, 'k'))
    const cas = t.lastCas
    await t.step('append with a wrong cas', frame(O.Append, {key: 'k', value: 'x', cas: cas + 1000n}))
    await t.step('append with the right cas', frame(O.Append, {key: 'k', value: 'y', cas}))
    await t.step('get', keyFrame(O.Get, 'k'))
    await t.step('set a value of 600 KB', setFrame(O.Set, 'big', Buffer.alloc(600 * 1024, 0x62)))
    await t.step('an append that would pass the item size limit', frame(O.Append, {key: 'big', value: Buffer.alloc(600 * 1024, 0x63)}))
    await t.step('the value is unchanged', keyFrame(O.GetK, 'big'))
  }))

  it('delete, plain, quiet and with cas', () => run(async (t) => {
    await fresh(t)
    await t.step('delete missing', keyFrame(O.Delete, 'k', {opaque: 1}))
    await t.step('deleteq missing still answers', keyFrame(O.DeleteQ, 'k', {opaque: 2}))
    await t.step('set', setFrame(O.Set, 'k', 'v'))
    const cas = t.lastCas
    await t.step('delete with a wrong cas', keyFrame(O.Delete, 'k', {cas: cas + 1000n}))
    await t.step('delete with the right cas', keyFrame(O.Delete, 'k', {cas, opaque: 3}))
    await t.step('gone', keyFrame(O.Get, 'k'))
    await t.step('set again', setFrame(O.Set, 'k', 'v'))
    await t.step('deleteq hit is silent', keyFrame(O.DeleteQ, 'k'))
    await t.step('gone again', keyFrame(O.Get, 'k'))
  }))

  it('increment and decrement: initial values, 0xffffffff, wrap, padding, cas, non-numeric', () => run(async (t) => {
    await fresh(t)
    await t.step('incr missing with expiration 0xffffffff', deltaFrame(O.Increment, 'n', 1n, 10n, NO_CREATE, {opaque: 1}))
    await t.step('decrq missing with expiration 0xffffffff still answers', deltaFrame(O.DecrementQ, 'n', 1n, 10n, NO_CREATE, {opaque: 2}))
    await t.step('incr missing creates it with the initial value', deltaFrame(O.Increment, 'n', 5n, 10n, 0, {opaque: 3}))
    await t.step('the created item has flags 0', keyFrame(O.GetK, 'n'))
    await t.step('incr', deltaFrame(O.Increment, 'n', 5n, 0n, 0))
    await t.step('decr below zero stops at 0', deltaFrame(O.Decrement, 'n', 100n, 0n, 0))
    await t.step('incrq is silent', deltaFrame(O.IncrementQ, 'n', 7n, 0n, 0))
    await t.step('decrq is silent', deltaFrame(O.DecrementQ, 'n', 2n, 0n, 0))
    await t.step('get after quiet deltas', keyFrame(O.Get, 'n'))
    await t.step('incrq missing creates silently', deltaFrame(O.IncrementQ, 'q', 1n, 42n, 0))
    await t.step('get created', keyFrame(O.Get, 'q'))
    await t.step('largest initial value', deltaFrame(O.Increment, 'max', 1n, 0xffffffffffffffffn, 0))
    await t.step('set 2^64-1', setFrame(O.Set, 'w', '18446744073709551615'))
    await t.step('incr wraps to 0', deltaFrame(O.Increment, 'w', 1n, 0n, 0))
    await t.step('rewritten in place, padded with spaces', keyFrame(O.Get, 'w'))
    await t.step('set 99', setFrame(O.Set, 'g', '99', {flags: 3}))
    await t.step('incr to 100 grows the value', deltaFrame(O.Increment, 'g', 1n, 0n, 0))
    await t.step('get grown', keyFrame(O.GetK, 'g'))
    await t.step('decr to 99 keeps the length', deltaFrame(O.Decrement, 'g', 1n, 0n, 0))
    await t.step('get padded', keyFrame(O.GetK, 'g'))
    await t.step('incr by 2^64-1', deltaFrame(O.Increment, 'g', 0xffffffffffffffffn, 0n, 0))
    await t.step('set non-numeric', setFrame(O.Set, 's', 'abc'))
    await t.step('incr non-numeric', deltaFrame(O.Increment, 's', 1n, 0n, 0))
    await t.step('incrq non-numeric still answers', deltaFrame(O.IncrementQ, 's', 1n, 0n, 0))
    await t.step('set empty', setFrame(O.Set, 'e', ''))
    await t.step('incr empty', deltaFrame(O.Increment, 'e', 1n, 0n, 0))
    await t.step('set " 5"', setFrame(O.Set, 'sp', ' 5'))
    await t.step('incr " 5"', deltaFrame(O.Increment, 'sp', 1n, 0n, 0))
    await t.step('set "-5"', setFrame(O.Set, 'neg', '-5'))
    await t.step('incr "-5"', deltaFrame(O.Increment, 'neg', 1n, 0n, 0))
    await t.step('set 10', setFrame(O.Set, 'c', '10'))
    const cas = t.lastCas
    await t.step('incr with a wrong cas', deltaFrame(O.Increment, 'c', 1n, 0n, 0, {cas: cas + 1000n}))
    await t.step('incr with the right cas', deltaFrame(O.Increment, 'c', 1n, 0n, 0, {cas}))
    await t.step('decr with the new cas', deltaFrame(O.Decrement, 'c', 3n, 0n, 0, {cas: t.lastCas}))
    await t.step('incr with a cas on a missing key still creates it', deltaFrame(O.Increment, 'nc', 1n, 5n, 0, {cas: 12345n}))
    await t.step('incr with a cas on an empty value', deltaFrame(O.Increment, 'e', 1n, 0n, 0, {cas: 12345n}))
    await t.step('incr missing with a past absolute expiration: created, with a cas', deltaFrame(O.Increment, 'old', 1n, 3n, LONG_AGO))
    await t.step('but gone at once', keyFrame(O.Get, 'old'))
  }))

  it('touch and the GAT family', () => run(async (t) => {
    await fresh(t)
    await t.step('set', setFrame(O.Set, 'k', 'value', {flags: 3}))
    await t.step('touch answers with the flags only', touchFrame(O.Touch, 'k', 100, 1))
    await t.step('gat', touchFrame(O.GAT, 'k', 100, 2))
    await t.step('gatq hit', touchFrame(O.GATQ, 'k', 100, 3))
    await t.step('gatk', touchFrame(O.GATK, 'k', 100, 4))
    await t.step('gatkq hit', touchFrame(O.GATKQ, 'k', 100, 5))
    await t.step('touch miss', touchFrame(O.Touch, 'nope', 100, 6))
    await t.step('gat miss', touchFrame(O.GAT, 'nope', 100, 7))
    await t.step('gatq miss is silent', touchFrame(O.GATQ, 'nope', 100, 8))
    await t.step('gatk miss names the key', touchFrame(O.GATK, 'nope', 100, 9))
    await t.step('gatkq miss is silent', touchFrame(O.GATKQ, 'nope', 100, 10))
    await t.step('gat to a past absolute time expires it', touchFrame(O.GAT, 'k', LONG_AGO))
    await t.step('gone', keyFrame(O.Get, 'k'))
  }))

  // memcached's clock ticks once a second, so an expiry of N seconds ends somewhere in (N-1, N]
  // and a flush delayed by N seconds takes effect in (N-2, N-1]; ours in (N-1, N] for both.
  // The checks sit where both servers must agree.
  it('expiry and touch over time', () => run(async (t) => {
    await fresh(t)
    await t.step('set with a 2 s expiry', setFrame(O.Set, 'a', 'v', {exptime: 2}))
    await t.step('set, then touch to 2 s', [setFrame(O.Set, 'b', 'v'), touchFrame(O.Touch, 'b', 2)])
    await t.step('set, then gatq to 2 s', [setFrame(O.Set, 'c', 'v'), touchFrame(O.GATQ, 'c', 2)])
    await t.step('incr creates with a 2 s expiry', deltaFrame(O.Increment, 'd', 1n, 1n, 2))
    await t.step('set with 2 s, then touch to never', [setFrame(O.Set, 'e', 'v', {exptime: 2}), touchFrame(O.Touch, 'e', 0)])
    await t.step('set with 100 s, then gatk to 2 s', [setFrame(O.Set, 'f', 'v', {exptime: 100}), touchFrame(O.GATK, 'f', 2)])
    await t.step('all there now', ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => keyFrame(O.GetK, k)))
    await sleep(2200)
    await t.step('only e is left', ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => keyFrame(O.GetK, k)))
    await t.step('an expired counter is created anew', deltaFrame(O.Increment, 'd', 1n, 7n, 0))
  }))

  it('delayed flush over time', () => run(async (t) => {
    await fresh(t)
    await t.step('set', setFrame(O.Set, 'a', 'v'))
    await t.step('flush in 3 s', frame(O.Flush, {extras: u32(3), opaque: 1}))
    await t.step('still there', keyFrame(O.GetK, 'a'))
    await sleep(3200)
    await t.step('flushed', keyFrame(O.GetK, 'a'))
    await t.step('items stored after the flush live', [setFrame(O.Set, 'b', 'v'), keyFrame(O.GetK, 'b')])
  }))

  it('flush and flushq', () => run(async (t) => {
    await fresh(t)
    await t.step('set', setFrame(O.Set, 'a', 'v'))
    await t.step('flush', frame(O.Flush, {opaque: 4}))
    await t.step('gone', keyFrame(O.Get, 'a'))
    await t.step('set again', setFrame(O.Set, 'a', 'v'))
    await t.step('flushq is silent', frame(O.FlushQ))
    await t.step('gone again', keyFrame(O.Get, 'a'))
    await t.step('set once more', setFrame(O.Set, 'a', 'v'))
    await t.step('flush at an absolute time far ahead', frame(O.Flush, {extras: u32(0xfffffffe)}))
    await t.step('still there', keyFrame(O.Get, 'a'))
    await t.step('an immediate flush replaces the pending one', frame(O.FlushQ, {extras: u32(0)}))
    await t.step('gone at last', keyFrame(O.Get, 'a'))
  }))

  it('pipelines of quiet commands ended by Noop', () => run(async (t) => {
    await fresh(t)
    const keys = Array.from({length: 8}, (_, i) => `k${i}`)
    await t.step('quiet sets, quiet gets with misses, an error in between, then noop', [Buffer.concat([
      ...keys.slice(0, 5).map((k, i) => setFrame(O.SetQ, k, `value${i}`, {flags: i, opaque: 100 + i})),
      ...keys.map((k, i) => keyFrame(O.GetKQ, k, {opaque: 200 + i})),
      keyFrame(O.GetQ, 'k2', {opaque: 300}),
      setFrame(O.AddQ, 'k1', 'dup', {opaque: 301}),
      keyFrame(O.GetKQ, 'k3', {opaque: 302}),
      keyFrame(O.Get, 'k4', {opaque: 303}),
      keyFrame(O.GetQ, 'missing', {opaque: 304}),
      noop(999),
    ])], {until: 'quiet'})
    const many = Array.from({length: 200}, (_, i) => keyFrame(O.GetKQ, `k${i % 10}`, {opaque: i}))
    await t.step('200 quiet gets and a noop in one write', [Buffer.concat([...many, noop(1000)])], {until: 'quiet'})
    await t.step('a quiet pipeline split mid-frame', [
      Buffer.concat([keyFrame(O.GetKQ, 'k0'), keyFrame(O.GetKQ, 'k1').subarray(0, 10)]),
      Buffer.concat([keyFrame(O.GetKQ, 'k1').subarray(10), noop(7)]),
    ], {until: 'quiet'})
  }))

  it('unknown opcodes and SASL without SASL', () => run(async (t) => {
    await t.step('verbosity is unknown to memcached 1.6 and skips its extras twice', [Buffer.concat([
      frame(O.Verbosity, {extras: u32(1), opaque: 1}), Buffer.alloc(4)])])
    await t.step('verbosity with no body', frame(O.Verbosity, {opaque: 2}))
    await t.step('unknown opcode with key and value', [Buffer.concat([frame(0x50, {key: 'a', value: 'bc', opaque: 3}), Buffer.alloc(3)])])
    await t.step('range opcode', frame(0x30, {opaque: 4}))
    await t.step('unknown opcode 0xff, body length 2^31: nothing skipped', frame(0xff, {bodyLength: 0x80000000, opaque: 5}))
    await t.step('sasl list mechs', frame(O.SaslListMechs, {opaque: 6}))
    await t.step('sasl auth skips its value', frame(O.SaslAuth, {key: 'PLAIN', value: '\0user\0pass', opaque: 7}))
    await t.step('sasl step skips its value', frame(O.SaslStep, {key: 'PLAIN', value: 'more', opaque: 8}))
    await t.step('the connection is still in step', keyFrame(O.Get, 'nothing'))
  }))

  it('values over the item size limit are refused and skipped', () => run(async (t) => {
    await fresh(t)
    const fits = (key: string, flags = 0): number => MB - itemTotalSize(key.length, flags, 0, true)
    await t.step('set old value', setFrame(O.Set, 'k', 'old'))
    await t.step('set too large', setFrame(O.Set, 'k', Buffer.alloc(fits('k') + 1, 0x61), {opaque: 1}))
    await t.step('a failed set removes the old value', keyFrame(O.Get, 'k'))
    await t.step('add existing', setFrame(O.Set, 'a', 'old'))
    await t.step('add too large', setFrame(O.Add, 'a', Buffer.alloc(fits('a') + 1, 0x61)))
    await t.step('a failed add keeps the old value', keyFrame(O.Get, 'a'))
    await t.step('setq too large still answers', setFrame(O.SetQ, 'q', Buffer.alloc(2 * MB, 0x61), {opaque: 2}))
    await t.step('append of a too-large piece', frame(O.Append, {key: 'a', value: Buffer.alloc(fits('a') + 1, 0x61)}))
    await t.step('largest value that fits', setFrame(O.Set, 'big', Buffer.alloc(fits('big'), 0x61)))
    await t.step('get it', keyFrame(O.Get, 'big'))
    await t.step('with flags it no longer fits', setFrame(O.Set, 'big', Buffer.alloc(fits('big'), 0x61), {flags: 1}))
    const huge = setFrame(O.Set, 'h', Buffer.alloc(3 * MB, 0x61), {opaque: 3})
    await t.step('the refusal is held back until the value is skipped; a Get miss before it is written at once, a GetK miss is not',
      [Buffer.concat([keyFrame(O.Get, 'absent'), keyFrame(O.GetK, 'absent'), huge.subarray(0, MB)])], {until: 'quiet'})
    await t.step('rest of the value', [huge.subarray(MB)])
    await t.step('a body of 2^31 bytes or more: refused, nothing skipped',
      frame(O.Set, {key: 'n', extras: Buffer.alloc(8), bodyLength: 0x80000010, opaque: 4}))
  }))

  it('requests split across writes', () => run(async (t) => {
    await fresh(t)
    const set = setFrame(O.Set, 'k', 'split value', {flags: 5, opaque: 1})
    await t.step('set in three writes', [set.subarray(0, 5), set.subarray(5, HEADER_LENGTH + 3), set.subarray(HEADER_LENGTH + 3)])
    const gets = Buffer.concat([keyFrame(O.Get, 'k', {opaque: 2}), keyFrame(O.GetK, 'k', {opaque: 3})])
    await t.step('gets split mid-header', [gets.subarray(0, 30), gets.subarray(30)])
    await t.step('a get hit and part of a set: nothing is written while the value is read',
      [Buffer.concat([keyFrame(O.Get, 'k', {opaque: 4}), set.subarray(0, set.length - 3)])], {until: 'quiet'})
    await t.step('the rest of the set releases both replies', set.subarray(set.length - 3))
  }))

  it('quit and quitq', () => run(async (t) => {
    await t.step('set', setFrame(O.Set, 'k', 'v'))
    await t.step('get and quit in one write', Buffer.concat([keyFrame(O.Get, 'k', {opaque: 1}), frame(O.Quit, {opaque: 2})]), {until: 'close'})
    await t.step('quitq closes silently', frame(O.QuitQ), {until: 'close'})
    await t.step('requests after quit are ignored', Buffer.concat([frame(O.Quit, {opaque: 3}), keyFrame(O.Get, 'k')]), {until: 'close'})
  }))
})

describe('binary protocol: stat groups, on servers that have stored nothing yet', {skip}, () => {
  const {run} = serverPair()

  it('stat groups', () => run(async (t) => {
    await t.step('general stats', frame(O.Stat, {opaque: 1}), {stats: 'names'})
    await t.step('settings', frame(O.Stat, {key: 'settings', opaque: 2}), {stats: 'names'})
    await t.step('items, empty', frame(O.Stat, {key: 'items'}))
    await t.step('slabs, empty', frame(O.Stat, {key: 'slabs'}))
    await t.step('store one item', setFrame(O.Set, 'k', 'v'))
    await t.step('items', frame(O.Stat, {key: 'items', opaque: 3}), {stats: 'names'})
    await t.step('slabs', frame(O.Stat, {key: 'slabs', opaque: 4}), {stats: 'names'})
    await t.step('sizes', frame(O.Stat, {key: 'sizes'}))
    await t.step('sizes_disable sends no terminator', frame(O.Stat, {key: 'sizes_disable'}))
    await t.step('detail dump', frame(O.Stat, {key: 'detail dump'}))
    await t.step('detail on', frame(O.Stat, {key: 'detail on'}))
    await t.step('detail off', frame(O.Stat, {key: 'detail off'}))
    await t.step('detail with another word', frame(O.Stat, {key: 'detail foo'}))
    await t.step('conns is text-only', frame(O.Stat, {key: 'conns'}))
    await t.step('cachedump is text-only', frame(O.Stat, {key: 'cachedump 1 1'}))
    await t.step('a single stat name is not a group', frame(O.Stat, {key: 'pid'}))
    await t.step('reset', frame(O.Stat, {key: 'reset', opaque: 6}))
    await t.step('reset matches as a prefix', frame(O.Stat, {key: 'resetting'}))
    await t.step('settings matches as a prefix', frame(O.Stat, {key: 'settingsXY', opaque: 7}), {stats: 'names'})
    await t.step('body past the key is read as the next request', frame(O.Stat, {key: 'reset', value: noop(8)}))
  }))
})

describe('binary Stat serves the same lists as the text protocol', () => {
  let ours: RunningServer | undefined
  before(async () => {
    ours = await startOurServer()
  })
  after(async () => {
    await ours?.stop()
  })

  for (const group of ['', 'settings', 'items', 'slabs']) {
    it(`stats ${group || '(general)'}`, async () => {
      const t = new BinaryTranscript(ours!.port)
      const text = await RawClient.open(ours!.port)
      try {
        await t.step('store one item', setFrame(O.Set, 'k', 'v'))
        const packets = await t.step(`stat ${group}`, frame(O.Stat, {key: group}))
        const binaryNames = packets.slice(0, -1).map((p) => p.key.toString('latin1'))
        const reply = await text.request(`stats ${group}\r\n`, 'END\r\n')
        const textNames = [...reply.matchAll(/^STAT (\S+) /gm)].map((m) => m[1])
        assert.ok(textNames.length > 0)
        assert.deepEqual(binaryNames, textNames)
      } finally {
        t.close()
        text.close()
      }
    })
  }
})

describe('binary protocol: malformed frames, same status and close as memcached', {skip}, () => {
  const {run} = serverPair()
  const longKey = (n: number): Buffer => Buffer.alloc(n, 0x6b)
  const cases: [string, Buffer, Until?][] = [
    ['a first byte other than 0x80 picks the text protocol', frame(O.Noop, {magic: 0x81}), 'quiet'],
    ['bad magic (a response magic) after a version', Buffer.concat([frame(O.Version), frame(O.Noop, {magic: 0x81})])],
    ['bad magic 0x00 after a set', Buffer.concat([setFrame(O.Set, 'k', 'v'), frame(O.Noop, {magic: 0x00})])],
    ['bad magic after a quiet set and a noop', Buffer.concat([setFrame(O.SetQ, 'k', 'v'), noop(2), frame(O.Noop, {magic: 0x00})])],
    ['a get hit then bad magic: the unwritten hit reply is lost', Buffer.concat([keyFrame(O.Get, 'present'), frame(O.Noop, {magic: 0x00})])],
    ['a getk miss then bad magic: lost as well', Buffer.concat([keyFrame(O.GetK, 'absent'), frame(O.Noop, {magic: 0x00})])],
    ['a get miss then bad magic: errors are written at once', Buffer.concat([keyFrame(O.Get, 'absent'), frame(O.Noop, {magic: 0x00})])],
    ['noop then bad magic: noop flushes', Buffer.concat([noop(1), frame(O.Noop, {magic: 0x00})])],
    ['key longer than the body', frame(O.Get, {key: 'abc', bodyLength: 2, opaque: 1})],
    ['key and extras longer than the body', frame(O.Set, {key: 'abc', extras: Buffer.alloc(8), bodyLength: 10, opaque: 2})],
    ['getq with a key of 251 bytes', frame(O.GetQ, {key: longKey(251), opaque: 3})],
    ['set with a key of 251 bytes', setFrame(O.Set, 'k'.repeat(251), 'v', {opaque: 4})],
    ['get with extras', frame(O.Get, {key: 'k', extras: u32(0)})],
    ['get without a key', frame(O.Get)],
    ['get with a value', frame(O.Get, {key: 'k', value: 'v'})],
    ['set with 4 bytes of extras', frame(O.Set, {key: 'k', extras: u32(0), value: 'v'})],
    ['set without a key', frame(O.Set, {extras: Buffer.alloc(8), value: 'v'})],
    ['incr with 8 bytes of extras', frame(O.Increment, {key: 'k', extras: Buffer.alloc(8)})],
    ['incr with a value', frame(O.Increment, {key: 'k', extras: Buffer.alloc(20), value: 'v'})],
    ['delete with the old 4-byte expiration', frame(O.Delete, {key: 'k', extras: u32(0)})],
    ['deleteq without a key', frame(O.DeleteQ)],
    ['append with extras', frame(O.Append, {key: 'k', extras: u32(0), value: 'v'})],
    ['prepend without a key', frame(O.Prepend, {value: 'v'})],
    ['flush with a key', frame(O.Flush, {key: 'k'})],
    ['flush with 8 bytes of extras', frame(O.Flush, {extras: Buffer.alloc(8)})],
    ['flushq with a value', frame(O.FlushQ, {extras: u32(0), value: 'v'})],
    ['noop with a body', frame(O.Noop, {value: 'v'})],
    ['version with a key', frame(O.Version, {key: 'k'})],
    ['quit with extras', frame(O.Quit, {extras: u32(0)})],
    ['touch without extras', frame(O.Touch, {key: 'k'})],
    ['gat without a key', frame(O.GAT, {extras: u32(0)})],
    ['gatkq with 8 bytes of extras', frame(O.GATKQ, {key: 'k', extras: Buffer.alloc(8)})],
    ['stat with extras', frame(O.Stat, {extras: u32(0)})],
    ['sasl list mechs with a body', frame(O.SaslListMechs, {value: 'v'})],
    ['sasl auth without a key', frame(O.SaslAuth, {value: 'v'})],
    ['request head exactly fills the read buffer', frame(O.Get, {key: longKey(16384 - HEADER_LENGTH)})],
    ['request head one byte over the read buffer: dropped silently', frame(O.Get, {key: longKey(16384 - HEADER_LENGTH + 1)})],
    ['noop, then an oversized head', Buffer.concat([noop(5), frame(O.GetK, {key: longKey(20000)})])],
  ]

  it('each on its own connection', () => run(async (t) => {
    await t.step('set present', setFrame(O.Set, 'present', 'v'))
    for (const [name, bytes, until] of cases) {
      await t.reconnect()
      await t.step(name, bytes, {until: until ?? 'close'})
    }
  }))
})

describe('binary protocol with -F: flush refused like memcached', {skip}, () => {
  const {run} = serverPair(['-F'])

  it('flush and flushq answer Auth failure', () => run(async (t) => {
    await t.step('set', setFrame(O.Set, 'k', 'v'))
    await t.step('flush', frame(O.Flush, {opaque: 1}))
    await t.step('flushq still answers', frame(O.FlushQ, {opaque: 2}))
    await t.step('nothing was flushed', keyFrame(O.Get, 'k'))
  }))
})

describe('binary protocol with -C: no cas, like memcached', {skip}, () => {
  const {run} = serverPair(['-C'])

  it('storage commands ignore a cas; delete and incr compare it with 0', () => run(async (t) => {
    await t.step('set shows cas 0', setFrame(O.Set, 'k', 'v'))
    await t.step('set with a cas is a plain set', setFrame(O.Set, 'k', 'w', {cas: 5n}))
    await t.step('add with a cas is a plain add', setFrame(O.Add, 'k', 'x', {cas: 5n}))
    await t.step('replace with a cas on a missing key', setFrame(O.Replace, 'nope', 'x', {cas: 5n}))
    await t.step('append with a cas', frame(O.Append, {key: 'k', value: '+', cas: 7n}))
    await t.step('get shows cas 0', keyFrame(O.GetK, 'k'))
    await t.step('incr with a cas', deltaFrame(O.Increment, 'n', 1n, 1n, 0, {cas: 9n}))
    await t.step('incr without', deltaFrame(O.Increment, 'n', 1n, 1n, 0))
    await t.step('incr with a cas on an existing counter', deltaFrame(O.Increment, 'n', 1n, 1n, 0, {cas: 9n}))
    await t.step('delete with a cas', keyFrame(O.Delete, 'k', {cas: 3n}))
    await t.step('delete without', keyFrame(O.Delete, 'k'))
  }))

  it('every reply carries cas 0 however often a key is written, and no cas a client names matches', () => run(async (t) => {
    const small = Array.from({length: 40}, (_, i) => BigInt(i + 1))
    await t.step('set', setFrame(O.Set, 'w', 'a'))
    await t.step('set again', setFrame(O.Set, 'w', 'b'))
    await t.step('append', frame(O.Append, {key: 'w', value: '+'}))
    await t.step('replace', setFrame(O.Replace, 'w', 'c'))
    await t.step('get', keyFrame(O.GetK, 'w'))
    await t.step('counter', deltaFrame(O.Increment, 'm', 1n, 1n, 0))
    await t.step('counter again', deltaFrame(O.Decrement, 'm', 1n, 1n, 0))
    await t.step('incr naming small cas values', Buffer.concat(small.map((cas) => deltaFrame(O.Increment, 'm', 1n, 1n, 0, {cas}))))
    await t.step('delete naming small cas values', Buffer.concat(small.map((cas) => keyFrame(O.Delete, 'w', {cas}))))
    await t.step('still there', keyFrame(O.GetK, 'w'))
  }))
})

describe('binary protocol with -B binary', {skip}, () => {
  const {run} = serverPair(['-B', 'binary'])

  it('a text command is read as a binary header with a bad magic', () => run(async (t) => {
    await t.step('binary works', frame(O.Version))
    await t.reconnect()
    await t.step('text is dropped', Buffer.from('version\r\nversion\r\nversion\r\n'), {until: 'close'})
  }))
})

describe('binary protocol with -M: out of memory like memcached', {skip}, () => {
  const {run} = serverPair(['-M', '-m', '2'])

  it('the first refused set gets the same reply', () => run(async (t) => {
    const value = Buffer.alloc(100_000, 0x61)
    let refused: Buffer | undefined
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const c = await rawStep(t, setFrame(O.Set, `k${i}`, value))
      if (c !== undefined) refused = c
    }
    assert.ok(refused !== undefined, 'never ran out of memory')
    await t.step('an out-of-memory set', setFrame(O.Set, 'one-more', value, {opaque: 1}))
    await t.step('quiet too', setFrame(O.SetQ, 'one-more', value, {opaque: 2}))
  }))
})

/** Send one request outside the transcript; returns the reply if its status is not success. */
async function rawStep(t: BinaryTranscript, bytes: Buffer): Promise<Buffer | undefined> {
  const before = t.entries.length
  const packets = await t.step('fill', bytes)
  t.entries.splice(before)
  const p = packets[0]
  return p !== undefined && p.header.status !== 0 ? p.value : undefined
}
