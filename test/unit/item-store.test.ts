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
