import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {tick} from '../../src/server/store/clock.js'
import {ItemStore, parseStoredNumber, type Mutation} from '../../src/server/store/item-store.js'
import {itemTotalSize, SlabClasses} from '../../src/server/store/slab-classes.js'

function makeStore(over: Partial<{maxBytes: number; itemSizeMax: number; evict: boolean; useCas: boolean}> = {}): ItemStore {
  const itemSizeMax = over.itemSizeMax ?? 1024 * 1024
  return new ItemStore({maxBytes: over.maxBytes ?? 64 * 1024 * 1024, itemSizeMax, evict: over.evict ?? true, useCas: over.useCas ?? true, slabs: new SlabClasses(48, 1.25, itemSizeMax)})
}

describe('ItemStore storage commands', () => {
  it('set/add/replace/append/prepend follow memcached outcomes', () => {
    const s = makeStore()
    assert.equal(s.store('replace', 'k', 0, 0, 'x', 0), 'not_stored')
    assert.equal(s.store('append', 'k', 0, 0, 'x', 0), 'not_stored')
    assert.equal(s.store('add', 'k', 3, 0, 'v', 0), 'stored')
    assert.equal(s.store('add', 'k', 3, 0, 'w', 0), 'not_stored')
    assert.equal(s.store('append', 'k', 9, 0, '>', 0), 'stored')
    assert.equal(s.store('prepend', 'k', 9, 0, '<', 0), 'stored')
    const it = s.get('k')!
    assert.equal(it.value, '<v>')
    assert.equal(it.flags, 3, 'append/prepend keep the original flags')
    assert.equal(s.store('replace', 'k', 7, 0, 'new', 0), 'stored')
    assert.equal(s.get('k')!.flags, 7)
  })

  it('cas: match stores, mismatch is exists, missing is not_found, 0 never matches', () => {
    const s = makeStore()
    assert.equal(s.store('cas', 'k', 0, 0, 'a', 5), 'not_found')
    s.store('set', 'k', 0, 0, 'a', 0)
    const cas = s.get('k')!.cas
    assert.equal(s.store('cas', 'k', 0, 0, 'b', cas + 1), 'exists')
    assert.equal(s.store('cas', 'k', 0, 0, 'b', 0), 'exists')
    assert.equal(s.store('cas', 'k', 0, 0, 'b', cas), 'stored')
    assert.notEqual(s.get('k')!.cas, cas, 'every new version gets a new cas')
  })

  it('gives every version a distinct cas, and 0 everywhere with -C', () => {
    const s = makeStore()
    const seen = new Set<number>()
    for (let i = 0; i < 100; i++) { s.store('set', `k${i % 7}`, 0, 0, String(i), 0); seen.add(s.get(`k${i % 7}`)!.cas) }
    assert.equal(seen.size, 100)
    const noCas = makeStore({useCas: false})
    noCas.store('set', 'k', 0, 0, 'v', 0)
    assert.equal(noCas.get('k')!.cas, 0)
  })

  it('refuses values over the item size limit and drops the old value on set', () => {
    const s = makeStore({itemSizeMax: 1024})
    s.store('set', 'k', 0, 0, 'small', 0)
    const max = 1024 - itemTotalSize(1, 0, 0, true)
    assert.equal(s.store('set', 'k', 0, 0, 'x'.repeat(max + 1), 0), 'too_large')
    assert.equal(s.get('k'), undefined, 'old value removed')
    assert.equal(s.store('set', 'k', 0, 0, 'x'.repeat(max), 0), 'stored')
    assert.equal(s.store('append', 'k', 0, 0, 'y', 0), 'not_stored', 'append past the limit fails')
  })
})

describe('ItemStore expiry', () => {
  it('negative exptime stores nothing visible; past absolute time too', () => {
    const s = makeStore()
    s.store('set', 'a', 0, 0, 'old', 0)
    assert.equal(s.store('set', 'a', 0, -1, 'v', 0), 'stored')
    assert.equal(s.get('a'), undefined)
    assert.equal(s.store('set', 'b', 0, 60 * 60 * 24 * 30 + 1, 'v', 0), 'stored')
    assert.equal(s.get('b'), undefined)
  })

  it('relative and absolute exptimes give the same expiry', () => {
    const s = makeStore()
    const now = tick()
    s.store('set', 'r', 0, 100, 'v', 0)
    s.store('set', 'a', 0, now + 100, 'v', 0)
    assert.equal(s.get('r')!.exptime, now + 100)
    assert.equal(s.get('a')!.exptime, now + 100)
  })

  it('the crawler reclaims expired items without a read', async () => {
    const s = makeStore()
    for (let i = 0; i < 50; i++) s.store('set', `k${i}`, 0, 1, 'v', 0)
    s.store('set', 'keep', 0, 0, 'v', 0)
    await new Promise((r) => setTimeout(r, 2100))
    tick()
    s.crawl(1000)
    assert.equal(s.itemCount, 1)
    assert.equal(s.counters.crawlerReclaimed, 50)
  })
})

describe('ItemStore memory limit', () => {
  it('evicts least recently used items and counts them', () => {
    const s = makeStore({maxBytes: 200_000})
    for (let i = 0; i < 5000; i++) {
      s.store('set', `key${i}`, 0, 0, 'x'.repeat(100), 0)
      if (i === 10) s.get('key0') // keep key0 warm
      if (i % 100 === 0) s.get('key0')
    }
    assert.ok(s.counters.evictions > 0)
    assert.ok(s.get('key0') !== undefined, 'recently read item survives')
    assert.equal(s.get('key1'), undefined, 'old unread item evicted')
    assert.ok(s.bytes <= 200_000)
  })

  it('with evictions disabled (-M) refuses with no_memory and keeps old data', () => {
    const s = makeStore({maxBytes: 20_000, evict: false})
    let refused = 0
    for (let i = 0; i < 500; i++) if (s.store('set', `key${i}`, 0, 0, 'x'.repeat(100), 0) === 'no_memory') refused++
    assert.ok(refused > 0)
    assert.equal(s.counters.evictions, 0)
    assert.ok(s.get('key0') !== undefined)
  })
})

describe('ItemStore incr/decr', () => {
  it('wraps at 2^64 on incr and floors at 0 on decr', () => {
    const s = makeStore()
    s.store('set', 'n', 0, 0, '18446744073709551615', 0)
    const r = s.delta('n', true, 2n)
    assert.equal(r.status === 'ok' && r.value, '1')
    s.store('set', 'm', 0, 0, '5', 0)
    const d = s.delta('m', false, 10n)
    assert.equal(d.status === 'ok' && d.value, '0')
  })

  it('rewrites a shorter number in place, padded with spaces, like memcached', () => {
    const s = makeStore()
    s.store('set', 'n', 0, 0, '100', 0)
    s.delta('n', false, 1n)
    assert.equal(s.get('n')!.value, '99 ')
    s.delta('n', true, 901n)
    assert.equal(s.get('n')!.value, '1000')
  })

  it('refuses non-numeric values and reports missing keys', () => {
    const s = makeStore()
    s.store('set', 'x', 0, 0, 'abc', 0)
    assert.equal(s.delta('x', true, 1n).status, 'non_numeric')
    assert.equal(s.delta('nope', true, 1n).status, 'not_found')
  })

  it('parses stored numbers like strtoull', () => {
    assert.equal(parseStoredNumber(' 12'), 12n)
    assert.equal(parseStoredNumber('12 x'), 12n)
    assert.equal(parseStoredNumber('12x'), undefined)
    assert.equal(parseStoredNumber('-1'), undefined)
    assert.equal(parseStoredNumber('-0'), 0n)
    assert.equal(parseStoredNumber('18446744073709551616'), undefined)
    assert.equal(parseStoredNumber('7\0junk'), 7n)
  })
})

describe('ItemStore mutation hook', () => {
  it('reports each successful change once and failures not at all', () => {
    const s = makeStore()
    const seen: Mutation[] = []
    s.onMutation = (m) => seen.push(m)
    s.store('set', 'a', 0, 0, '1', 0)
    s.store('add', 'a', 0, 0, '1', 0) // fails
    s.delta('a', true, 1n)
    s.touch('a', 100)
    s.delete('a')
    s.delete('a') // miss
    s.flush(0)
    assert.deepEqual(seen.map((m) => `${m.kind}:${'key' in m ? m.key : m.delay}`), ['store:a', 'store:a', 'store:a', 'delete:a', 'flush:0'])
  })
})

/** A store of a native pair: versions kept, cas with the node's parity. */
function nativeStore(parity: 0 | 1, over: Parameters<typeof makeStore>[0] = {}): ItemStore {
  const s = makeStore(over)
  s.versioned = true
  s.casParity = parity
  return s
}

/** Let the microsecond clock move on, so that the next version is newer on any node (as real time between two commands). */
function later(): void {
  const end = performance.now() + 2
  while (performance.now() < end) { /* spin */ }
}

/** What a native link's full copy hands the peer: the flush state first, then every live item, then every remembered removal. */
function copyInto(from: ItemStore, to: ItemStore): void {
  const f = from.flushState()
  to.applyPeerFlushState(f.floor, f.issued, f.pending)
  const walk = from.startWalk()
  while (!walk.done) {
    for (const it of from.walkItems(walk, 100)) to.applyPeerItem(it.key, it.flags, it.exptime, it.version, it.value, true)
  }
  for (const [key, cas] of from.tombstoneEntries()) if (from.peek(key) === undefined) to.applyPeerDelete(key, cas)
}

/** The pair re-forms after a split: both copies cross. */
function heal(a: ItemStore, b: ItemStore): void {
  const fromA = new ItemStore(a.options) // a's state before b's copy changes it
  fromA.versioned = true
  copyInto(a, fromA)
  copyInto(b, a)
  copyInto(fromA, b)
}

// -C hides the cas from clients only: a native pair keeps versions and converges exactly as with cas on.
for (const useCas of [true, false]) {
  const label = useCas ? '' : ' with -C'
  const native = (parity: 0 | 1, over: Parameters<typeof makeStore>[0] = {}): ItemStore => nativeStore(parity, {useCas, ...over})

  describe(`ItemStore removals between native peers (one removal path, versioned)${label}`, () => {
    const kinds: [string, (s: ItemStore, key: string) => void][] = [
      ['delete', (s, k) => assert.equal(s.delete(k), true)],
      ['set with a negative exptime', (s, k) => assert.equal(s.store('set', k, 0, -1, 'N', 0), 'stored')],
      ['set with a past absolute exptime', (s, k) => assert.equal(s.store('set', k, 0, Math.floor(Date.now() / 1000) - 60, 'P', 0), 'stored')],
      ['set over the item size limit', (s, k) => assert.equal(s.store('set', k, 0, 0, 'x'.repeat(2048), 0), 'too_large')],
      ['a set refused before its value was read (dropAfterFailedSet)', (s, k) => s.dropAfterFailedSet(k)],
      ['touch with a negative exptime', (s, k) => assert.ok(s.touch(k, -1) !== undefined)],
    ]
    for (const [kind, remove] of kinds) {
      it(`${kind}: one change reported, a version above the old item's remembered, and an older copy of the key from the peer refused`, () => {
        const s = native(0, {itemSizeMax: 1024})
        s.store('set', 'k', 0, 0, 'mine', 0)
        const peerOld = s.get('k')!.version + 1 // the peer's older version (its parity)
        later()
        const seen: Mutation[] = []
        s.onMutation = (m) => seen.push(m)
        remove(s, 'k')
        // A touch reports a change of the item (which the link sends as a delete, the item being gone); the rest a delete.
        assert.deepEqual(seen, [{kind: kind.startsWith('touch') ? 'store' : 'delete', key: 'k', origin: 'local'}])
        assert.equal(s.peek('k'), undefined)
        const version = s.tombstone('k')
        assert.ok(version !== undefined && version > peerOld, `the removal is remembered at a version (${version}) above the old item's`)
        assert.equal(s.applyPeerItem('k', 0, 0, peerOld, 'old', true), false, 'the peer\'s older copy does not come back')
        assert.equal(s.peek('k'), undefined)
        assert.equal(s.applyPeerItem('k', 0, 0, version! + 1, 'newer', true), true, 'a newer write from the peer still wins')
      })
    }

    it('a set that expires at once is a removal even where the key was absent: the peer\'s older write loses to it after a split', () => {
      const a = native(0)
      const b = native(1)
      b.store('set', 'k', 0, 0, 'old', 0)
      later()
      assert.equal(a.store('set', 'k', 0, -1, 'N', 0), 'stored')
      assert.equal(a.tombstone('k'), a.lastStoredVersion, 'removed at the version of the set')
      heal(a, b)
      assert.equal(a.peek('k'), undefined)
      assert.equal(b.peek('k'), undefined)
    })

    it('each removal kind across a split (the other side wrote the key earlier): absent on both after the copies cross', () => {
      for (const [kind, remove] of kinds) {
        const a = native(0, {itemSizeMax: 1024})
        const b = native(1, {itemSizeMax: 1024})
        a.store('set', 'k', 0, 0, 'pre', 0)
        heal(a, b)
        assert.equal(b.peek('k')?.value, 'pre')
        later()
        b.store('set', 'k', 0, 0, 'old', 0)
        later()
        remove(a, 'k')
        heal(a, b)
        assert.deepEqual([a.peek('k'), b.peek('k')], [undefined, undefined], kind)
      }
    })

    it('a failed oversized set and a set with no memory (-M) drop the old value without counting a delete hit; a delete counts one', () => {
      const s = makeStore({itemSizeMax: 1024})
      s.store('set', 'a', 0, 0, 'x', 0)
      s.store('set', 'b', 0, 0, 'x', 0)
      s.store('set', 'c', 0, 0, 'x', 0)
      const cls = s.options.slabs.classOf(itemTotalSize(1, 0, 1, true))
      s.dropAfterFailedSet('a')
      assert.equal(s.store('set', 'b', 0, 0, 'x'.repeat(2048), 0), 'too_large')
      assert.equal(s.peek('a'), undefined)
      assert.equal(s.peek('b'), undefined)
      assert.equal(s.perClass[cls]!.deleteHits, 0, 'no delete hit for a dropped value (memcached counts none)')
      assert.equal(s.delete('c'), true)
      assert.equal(s.perClass[cls]!.deleteHits, 1)

      // -M: a set that finds no memory drops the old value too, as memcached does, and counts no delete hit either.
      const m = native(0, {maxBytes: 20_000, evict: false})
      m.store('set', 'k', 0, 0, 'x', 0)
      let i = 0
      while (m.store('set', `fill${i++}`, 0, 0, 'x'.repeat(100), 0) === 'stored') { /* fill */ }
      const seen: Mutation[] = []
      m.onMutation = (x) => seen.push(x)
      assert.equal(m.store('set', 'k', 0, 0, 'y'.repeat(4000), 0), 'no_memory')
      assert.equal(m.peek('k'), undefined)
      assert.deepEqual(seen, [{kind: 'delete', key: 'k', origin: 'local'}])
      assert.ok(m.tombstone('k') !== undefined, 'remembered as a removal')
      assert.equal(m.perClass.reduce((n, c) => n + c.deleteHits, 0), 0)
    })
  })
}

describe('ItemStore versioned flush (native pairs)', () => {
  it('a local flush_all: everything goes, the flush has a version that older items from the peer lose to; newer ones are kept', () => {
    const s = nativeStore(0)
    s.store('set', 'a', 0, 0, '1', 0)
    const older = s.get('a')!.version + 1
    later()
    s.flush(0)
    const f = s.flushState()
    assert.ok(f.floor > older && f.issued === f.floor && f.pending === 0, JSON.stringify(f))
    assert.equal(s.itemCount, 0)
    assert.equal(s.applyPeerItem('b', 0, 0, older, 'stale', true), false, 'written before the flush: refused')
    assert.equal(s.applyPeerItem('c', 0, 0, f.floor + 1, 'fresh', true), true, 'written after it: kept')
    s.store('set', 'd', 0, 0, 'mine', 0)
    assert.ok(s.get('d')!.version > f.floor, 'later local writes are newer than the flush')
  })

  it('the peer\'s flush state removes only what is older than its floor, and the floor stays for what arrives later', () => {
    const s = nativeStore(1)
    s.store('set', 'old', 0, 0, '1', 0)
    later()
    const floor = Math.floor((performance.timeOrigin + performance.now()) * 1000) * 2
    later()
    s.store('set', 'new', 0, 0, '2', 0)
    const seen: Mutation[] = []
    s.onMutation = (m) => seen.push(m)
    s.applyPeerFlushState(floor, floor, 0)
    assert.equal(s.peek('old'), undefined)
    assert.equal(s.peek('new')?.value, '2', 'written here after the peer\'s flush: stays')
    assert.deepEqual(seen, [{kind: 'flush', delay: 0, origin: 'peer'}])
    assert.equal(s.flushState().floor, floor)
    assert.equal(s.applyPeerItem('late', 0, 0, floor - 2, 'x', true), false)
    s.store('set', 'next', 0, 0, '3', 0)
    assert.ok(s.get('next')!.version > floor)
  })

  it('a split: b\'s items from before a\'s flush are gone on both after heal, items written after it on either side stay', () => {
    const a = nativeStore(0)
    const b = nativeStore(1)
    a.store('set', 'pre', 0, 0, 'p', 0)
    heal(a, b)
    later()
    b.store('set', 'k', 0, 0, 'old', 0)
    b.store('set', 'b-before', 0, 0, 'x', 0)
    later()
    a.flush(0)
    later()
    a.store('set', 'a-after', 0, 0, 'A', 0)
    b.store('set', 'b-after', 0, 0, 'B', 0)
    heal(a, b)
    for (const s of [a, b]) {
      assert.deepEqual(['pre', 'k', 'b-before', 'a-after', 'b-after'].map((k) => s.peek(k)?.value), [undefined, undefined, undefined, 'A', 'B'])
    }
  })

  it('flush_all with a delay: pending until its second, carried to the peer (which applies it at the same time); an older flush_all does not replace a newer one', () => {
    const a = nativeStore(0)
    const b = nativeStore(1)
    a.flush(100)
    const f = a.flushState()
    assert.ok(f.pending >= 98 && f.pending <= 99, `pending ${f.pending} s`)
    assert.equal(f.floor, 0, 'nothing is flushed yet')
    b.store('set', 'k', 0, 0, 'v', 0)
    b.applyPeerFlushState(f.floor, f.issued, f.pending)
    assert.equal(b.peek('k')?.value, 'v', 'a pending flush removes nothing yet')
    assert.equal(b.flushState().pending, f.pending)
    assert.equal(b.flushState().issued, f.issued)
    // b's own later flush_all 0 replaces the pending one (as in memcached); a's older state does not undo it.
    later()
    b.flush(0)
    const fb = b.flushState()
    assert.equal(fb.pending, 0)
    b.applyPeerFlushState(f.floor, f.issued, f.pending)
    assert.equal(b.flushState().pending, 0, 'an older flush_all does not bring back a pending flush')
    a.applyPeerFlushState(fb.floor, fb.issued, fb.pending)
    assert.deepEqual(a.flushState(), fb, 'both end with the same flush state')
  })

})

describe('ItemStore with -C (cas disabled)', () => {
  it('clients see cas 0 and no client cas ever matches, yet every write draws its own version', () => {
    const s = makeStore({useCas: false})
    const versions = new Set<number>()
    for (let i = 0; i < 20; i++) {
      assert.equal(s.store('set', 'k', 0, 0, String(i), 0), 'stored')
      assert.equal(s.lastStoredCas, 0, 'a binary reply carries cas 0')
      const it = s.get('k')!
      assert.equal(it.cas, 0, 'gets shows cas 0')
      assert.equal(it.version, s.lastStoredVersion)
      versions.add(it.version)
    }
    assert.equal(versions.size, 20, 'each write has its own version')
    assert.ok(![...versions].includes(0))
    const version = s.get('k')!.version
    // memcached -C: a cas command meets cas 0 in the item and never matches; incr with a cas likewise.
    for (const c of [0, 1, version]) assert.equal(s.store('cas', 'k', 0, 0, 'x', c), 'exists', `cas ${c}`)
    assert.equal(s.store('cas', 'nope', 0, 0, 'x', version), 'not_found')
    s.store('set', 'n', 0, 0, '1', 0)
    assert.deepEqual(s.deltaOrCreate('n', true, 1n, s.get('n')!.version, undefined), {status: 'exists'})
    const created = s.deltaOrCreate('m', true, 1n, 0, {initial: 5n, exptime: 0})
    assert.deepEqual(created, {status: 'created', value: '5', cas: 0})
  })

  it('a native pair: the peer\'s newer version of a key both hold replaces the local one, an older one is refused, and crossing writes end equal', () => {
    const a = nativeStore(0, {useCas: false})
    const b = nativeStore(1, {useCas: false})
    a.store('set', 'k', 1, 0, 'v1', 0)
    const v1 = a.get('k')!
    assert.equal(b.applyPeerItem('k', v1.flags, v1.exptime, v1.version, v1.value, true), true)
    later()
    a.store('set', 'k', 2, 0, 'v2', 0)
    const v2 = a.get('k')!
    assert.ok(v2.version > v1.version)
    assert.equal(b.applyPeerItem('k', v2.flags, v2.exptime, v2.version, v2.value, true), true, 'an update of a key the peer holds is applied')
    assert.equal(b.get('k')?.value, 'v2')
    assert.equal(b.applyPeerItem('k', v1.flags, v1.exptime, v1.version, v1.value, true), false, 'the older version is refused')
    assert.equal(b.get('k')?.cas, 0, 'still cas 0 to clients')
    // Both write during a split; the later write wins on both.
    later()
    b.store('set', 'k', 3, 0, 'b', 0)
    later()
    a.store('set', 'k', 4, 0, 'a', 0)
    heal(a, b)
    assert.deepEqual([a.peek('k')?.value, b.peek('k')?.value], ['a', 'a'])
  })

  it('a native pair: flush_all takes the rest of its second on both nodes (memcached -C\'s rule) by version; a write the peer makes once it has the flush stays on both', async () => {
    // Start early in a second, so that every step below falls within the flush's second.
    await new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000)))
    tick()
    const second = Math.floor(Date.now() / 1000)
    const a = nativeStore(0, {useCas: false})
    const b = nativeStore(1, {useCas: false})
    const c = nativeStore(1, {useCas: false}) // b's twin that is cut off from a
    a.store('set', 'pre', 0, 0, 'p', 0)
    heal(a, b)
    heal(a, c)
    later()
    a.flush(0)
    later()
    a.store('set', 'a-same-second', 0, 0, 'A', 0)
    assert.equal(a.peek('a-same-second'), undefined, 'memcached -C: a write in the rest of the flush\'s second is flushed too')
    c.store('set', 'c-same-second', 0, 0, 'C', 0)
    const f = a.flushState()
    b.applyPeerFlushState(f.floor, f.issued, f.pending)
    b.store('set', 'b-after', 0, 0, 'B', 0)
    const it = b.peek('b-after')!
    assert.ok(it !== undefined && it.version > f.floor, 'b\'s write after it had the flush is newer than the flush')
    assert.equal(a.applyPeerItem('b-after', it.flags, it.exptime, it.version, it.value, true), true)
    assert.equal(a.peek('b-after')?.value, 'B', 'a shows b\'s write although a linked it within the flush\'s second')
    heal(a, b)
    heal(a, c)
    assert.equal(Math.floor(Date.now() / 1000), second, 'the steps ran within one second (else this test proves nothing)')
    for (const [who, s] of [['a', a], ['b', b], ['c', c]] as const) {
      assert.deepEqual(['pre', 'a-same-second', 'c-same-second', 'b-after'].map((k) => s.peek(k)?.value), [undefined, undefined, undefined, 'B'], who)
    }
    // From the next second on, writes on either side (the cut-off one too) stay on both.
    await new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000)))
    tick()
    a.store('set', 'a-next', 0, 0, 'A2', 0)
    c.store('set', 'c-next', 0, 0, 'C2', 0)
    heal(a, c)
    for (const s of [a, c]) assert.deepEqual(['a-next', 'c-next'].map((k) => s.peek(k)?.value), ['A2', 'C2'])
  })

  it('a native pair: a delayed flush_all is pending on both, with memcached -C\'s boundary (one second later than with cas)', () => {
    tick()
    const a = nativeStore(0, {useCas: false})
    const b = nativeStore(1, {useCas: false})
    a.flush(100)
    const f = a.flushState()
    assert.ok(f.pending >= 99 && f.pending <= 100, `pending ${f.pending} s`)
    assert.equal(f.floor, 0, 'nothing is flushed yet')
    b.applyPeerFlushState(f.floor, f.issued, f.pending)
    assert.deepEqual(b.flushState(), f)
  })
})

describe('ItemStore without a native peer', () => {
  it('a flush keeps memcached\'s rules only and has no version, with or without -C', () => {
    for (const s of [makeStore(), makeStore({useCas: false})]) {
      s.store('set', 'a', 0, 0, '1', 0)
      s.flush(0)
      assert.deepEqual(s.flushState(), {floor: 0, issued: 0, pending: 0})
      assert.equal(s.tombstoneEntries().length, 0)
    }
  })
})
