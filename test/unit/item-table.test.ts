// The compact item storage: chunks are reused, walks meet every lasting key
// exactly once while the index grows and items change, and memory stays near
// -m when the sizes stored shift.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {ChunkArena, PAGE_SIZE} from '../../src/server/store/arena.js'
import {ItemTable, NIL} from '../../src/server/store/item-table.js'
import {ItemStore} from '../../src/server/store/item-store.js'
import {SlabClasses} from '../../src/server/store/slab-classes.js'

function makeStore(maxBytes: number): ItemStore {
  const itemSizeMax = 1024 * 1024
  return new ItemStore({maxBytes, itemSizeMax, evict: true, useCas: true, slabs: new SlabClasses(48, 1.25, itemSizeMax)})
}

describe('ChunkArena', () => {
  it('hands a freed chunk of a size class back before taking new room', () => {
    const a = new ChunkArena()
    const x = a.alloc(100)
    const y = a.alloc(100)
    assert.notEqual(x, y)
    assert.equal(a.reserved, PAGE_SIZE, 'one page serves both')
    a.free(x, 100)
    assert.equal(a.alloc(97), x, 'same class: the freed chunk comes back')
    assert.ok(a.chunkSize(100) >= 100 && a.chunkSize(100) <= 100 * 1.125 + 8)
  })

  it('a page whose chunks are all freed goes to whichever size needs one next', () => {
    const a = new ChunkArena()
    const small = Array.from({length: 5000}, () => a.alloc(100))
    const pages = a.reserved
    for (const h of small) a.free(h, 100)
    for (let i = 0; i < 1000; i++) a.alloc(400)
    assert.equal(a.reserved, pages, 'no new page taken')
  })

  it('gives chunks over 64 KiB a Buffer of their own and releases it on free', () => {
    const a = new ChunkArena()
    const h = a.alloc(500_000)
    assert.ok(h < 0)
    assert.equal(a.bufferOf(h).length, 500_000)
    assert.equal(a.offsetOf(h), 0)
    assert.equal(a.reserved, 500_000)
    a.free(h, 500_000)
    assert.equal(a.reserved, 0)
  })

  it('chunks of one class never overlap, across pages', () => {
    const a = new ChunkArena()
    const size = a.chunkSize(3000)
    const seen = new Set<number>()
    for (let i = 0; i < 2 * Math.ceil(PAGE_SIZE / size); i++) {
      const h = a.alloc(3000)
      const buf = a.bufferOf(h)
      assert.ok(a.offsetOf(h) + size <= buf.length, 'chunk inside its page')
      assert.ok(!seen.has(h))
      seen.add(h)
    }
    assert.equal(a.reserved, 3 * PAGE_SIZE)
  })
})

describe('ItemTable', () => {
  it('finds, overwrites in place and removes by key, keeping bytes exact', () => {
    const t = new ItemTable()
    const binary = Array.from({length: 256}, (_, i) => String.fromCharCode(i)).join('')
    const s = t.add('k\u00ff', binary, 7, 0, 1, 0, 1)
    assert.equal(t.find('k\u00ff'), s)
    assert.equal(t.find('k\u00fe'), NIL)
    assert.equal(t.value(s), binary)
    assert.equal(t.key(s), 'k\u00ff')
    t.rewriteValue(s, 'x'.repeat(256))
    assert.equal(t.value(s), 'x'.repeat(256))
    t.remove(s)
    assert.equal(t.find('k\u00ff'), NIL)
    assert.equal(t.count, 0)
  })

  it('finds and removes keys while the index is half-way through doubling', () => {
    const t = new ItemTable()
    const present = new Set<number>()
    for (let i = 0; i < 60_000; i++) {
      t.add(`key:${i}`, `v${i}`, 0, 0, i, 0, 1)
      present.add(i)
      if (i % 3 === 2) { t.remove(t.find(`key:${i - 1}`)); present.delete(i - 1) }
      if (i % 101 === 0) for (const j of [i, i - 1, i - 50, Math.floor(i / 2)]) assert.equal(t.find(`key:${j}`) !== NIL, present.has(j), `key:${j} after ${i} adds`)
    }
    assert.equal(t.count, present.size)
    for (const j of present) assert.equal(t.value(t.find(`key:${j}`)), `v${j}`)
  })

  it('keeps every key findable while the index doubles many times', () => {
    const t = new ItemTable()
    for (let i = 0; i < 50_000; i++) t.add(`key:${i}`, `v${i}`, 0, 0, i, 0, 1)
    for (let i = 0; i < 50_000; i += 997) assert.equal(t.value(t.find(`key:${i}`)), `v${i}`)
    for (let i = 0; i < 50_000; i += 2) t.remove(t.find(`key:${i}`))
    assert.equal(t.count, 25_000)
    assert.equal(t.find('key:10'), NIL)
    assert.equal(t.value(t.find('key:11')), 'v11')
  })
})

describe('ItemStore walks', () => {
  it('meet every key that lasts the walk exactly once, in its current version, while keys change and the index grows', () => {
    const s = makeStore(512 * 1024 * 1024)
    for (let i = 0; i < 5000; i++) s.store('set', `stay:${i}`, 0, 0, 'old', 0)
    const c = s.startWalk()
    const met = new Map<string, number>()
    let round = 0
    while (!c.done) {
      for (const it of s.walkItems(c, 50)) {
        met.set(it.key, (met.get(it.key) ?? 0) + 1)
        assert.equal(it.value, s.peek(it.key)!.value, 'the version current at the step')
      }
      // Between batches: re-store lasting keys (new chunks, maybe new sizes), add many new keys (the index doubles), delete some.
      for (let i = round; i < 5000; i += 7) s.store('set', `stay:${i}`, 0, 0, 'new'.repeat(1 + (round % 5)), 0)
      for (let i = 0; i < 400; i++) s.store('set', `new:${round}:${i}`, 0, 0, 'n', 0)
      s.delete(`new:${round - 1}:0`)
      round++
    }
    for (let i = 0; i < 5000; i++) assert.equal(met.get(`stay:${i}`), 1, `stay:${i} met once`)
    assert.ok(round > 20, 'the walk spanned many changes')
    for (const [key, n] of met) assert.equal(n, 1, `${key} met once`)
  })

  it('skip expired items and read values as stored at the time of the step', () => {
    const s = makeStore(64 * 1024 * 1024)
    s.store('set', 'gone', 0, -1, 'x', 0)
    s.store('set', 'here', 0, 0, 'v1', 0)
    const c = s.startWalk()
    s.store('set', 'here', 0, 0, 'v2', 0)
    const items = s.walkItems(c, 10)
    assert.deepEqual(items.map((it) => [it.key, it.value]), [['here', 'v2']])
    assert.ok(c.done)
  })
})

describe('ItemStore memory', () => {
  it('stays near -m when the sizes stored shift: pages emptied by eviction go to the new size', () => {
    const limit = 16 * 1024 * 1024
    const s = makeStore(limit)
    // Fill with small items, then switch entirely to items four times larger, then to another size.
    for (const size of [100, 400, 1500, 100]) {
      for (let i = 0; i < 200_000; i++) s.store('set', `k${size}:${i}`, 0, 0, 'x'.repeat(size), 0)
    }
    assert.ok(s.counters.evictions > 0)
    assert.ok(s.arenaBytes <= limit * 1.5, `arena ${s.arenaBytes} bytes for -m ${limit}`)
    assert.ok(s.get(`k100:199999`) !== undefined, 'the newest items are kept')
  })
})
