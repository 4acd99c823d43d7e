// The snapshot file: what is written is read back exactly, and a file damaged
// in any way is refused as a whole — never partly loaded.

import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {FORMAT_VERSION, HEADER_LEN} from '../../src/server/snapshot/format.js'
import {checkSnapshot, loadSnapshot} from '../../src/server/snapshot/loader.js'
import {writeSnapshot} from '../../src/server/snapshot/writer.js'
import {now} from '../../src/server/store/clock.js'
import type {Item, RawItem} from '../../src/server/store/item.js'
import {ItemStore} from '../../src/server/store/item-store.js'
import {SlabClasses} from '../../src/server/store/slab-classes.js'
import type {WalkCursor} from '../../src/server/store/item-table.js'

const dir = mkdtempSync(join(tmpdir(), 'repctl-snapfmt-'))
after(() => rmSync(dir, {recursive: true, force: true}))

type Saved = Pick<Item, 'key' | 'flags' | 'exptime' | 'cas' | 'value'>

/** A store as the writer and loader see it. */
class FakeStore {
  readonly items = new Map<string, Saved>()
  resets = 0
  get itemCount(): number { return this.items.size }
  startWalk(): WalkCursor { return {base: this.items.size, position: 0, done: this.items.size === 0} }
  walkRaw(c: WalkCursor, atLeast: number, visit: (r: RawItem) => void): void {
    const all = [...this.items.values()]
    const end = Math.min(all.length, c.position + atLeast)
    for (; c.position < end; c.position++) {
      const it = all[c.position]!
      visit({buf: Buffer.from(it.key + it.value, 'latin1'), at: 0, keyLength: it.key.length, valueLength: it.value.length, flags: it.flags, exptime: it.exptime, cas: it.cas, version: it.cas})
    }
    c.done = c.position >= all.length
  }
  restoreItem(key: string, flags: number, exptime: number, cas: number, value: string): boolean {
    this.items.set(key, {key, flags, exptime, cas, value})
    return true
  }
  reset(): void { this.items.clear(); this.resets++ }
}

function sample(): FakeStore {
  const s = new FakeStore()
  const binary = Array.from({length: 256}, (_, i) => String.fromCharCode(i)).join('')
  const items: Saved[] = [
    {key: 'plain', flags: 0, exptime: 0, cas: 1, value: 'hello'},
    {key: 'flags-max', flags: 0xffffffff, exptime: 0, cas: 2 ** 53 - 1, value: ''},
    {key: 'binary', flags: 7, exptime: now() + 3600, cas: 3, value: binary + '\r\nEND\r\n'},
    {key: 'k'.repeat(250), flags: 1, exptime: 0, cas: 4, value: 'x'.repeat(100_000)},
  ]
  for (const it of items) s.items.set(it.key, it)
  return s
}

describe('snapshot file format', () => {
  it('reads back exactly what was written: keys, flags, exptime, cas, binary values', async () => {
    const file = join(dir, 'roundtrip.rcs')
    const src = sample()
    const r = await writeSnapshot(file, src)
    assert.equal(r.items, 4)
    assert.equal(existsSync(`${file}.tmp`), false, 'the temporary file is renamed away')
    const check = checkSnapshot(file)
    assert.ok(check.ok)
    assert.deepEqual([check.header.version, check.header.items, check.bytes], [FORMAT_VERSION, 4, readFileSync(file).length])
    const dst = new FakeStore()
    const loaded = loadSnapshot(file, dst)
    assert.ok(loaded.loaded)
    assert.deepEqual([...dst.items.values()], [...src.items.values()])
  })

  it('drops items that expired while the server was down', async () => {
    const file = join(dir, 'expired.rcs')
    const src = new FakeStore()
    src.items.set('gone', {key: 'gone', flags: 0, exptime: now() - 1, cas: 1, value: 'a'})
    src.items.set('kept', {key: 'kept', flags: 0, exptime: now() + 100, cas: 2, value: 'b'})
    await writeSnapshot(file, src)
    const dst = new FakeStore()
    const r = loadSnapshot(file, dst)
    assert.ok(r.loaded)
    assert.deepEqual([r.items, r.expired, [...dst.items.keys()]], [2, 1, ['kept']])
  })

  it('refuses the file cut at any length, with a flipped bit anywhere, padded, or of another version; nothing is loaded', async () => {
    const file = join(dir, 'good.rcs')
    const src = new FakeStore()
    for (let i = 0; i < 20; i++) src.items.set(`k${i}`, {key: `k${i}`, flags: i, exptime: 0, cas: i + 1, value: `v${i}`})
    await writeSnapshot(file, src)
    const good = readFileSync(file)
    const bad = join(dir, 'bad.rcs')
    const variants: [string, Buffer][] = []
    for (let len = 0; len < good.length; len++) variants.push([`cut at ${len}`, good.subarray(0, len)])
    for (let at = 0; at < good.length; at++) {
      const b = Buffer.from(good)
      b[at]! ^= 0x10
      variants.push([`bit flipped at ${at}`, b])
    }
    variants.push(['padded', Buffer.concat([good, Buffer.from([0])])])
    const v2 = Buffer.from(good)
    v2.writeUInt32LE(FORMAT_VERSION + 1, 8)
    variants.push(['a newer version', v2])
    for (const [what, bytes] of variants) {
      writeFileSync(bad, bytes)
      const dst = new FakeStore()
      const r = loadSnapshot(bad, dst)
      assert.equal(r.loaded, false, what)
      assert.equal(dst.items.size, 0, `${what}: nothing loaded`)
      if (!r.loaded) {
        assert.equal(r.movedTo, `${bad}.refused`, `${what}: moved aside for a person to look at`)
        assert.ok(existsSync(`${bad}.refused`))
      }
    }
    writeFileSync(bad, v2)
    const r = checkSnapshot(bad)
    assert.ok(!r.ok && /format version 2, this server reads version 1/.test(r.reason), JSON.stringify(r))
    writeFileSync(bad, good.subarray(0, HEADER_LEN + 10))
    const cut = checkSnapshot(bad)
    assert.ok(!cut.ok && /truncated/.test(cut.reason), JSON.stringify(cut))
  })

  it('a missing file is no error: the server starts empty', () => {
    const r = loadSnapshot(join(dir, 'none.rcs'), new FakeStore())
    assert.deepEqual(r, {loaded: false, missing: true, reason: 'no such file', movedTo: undefined})
  })

  it('a failed write leaves the previous snapshot in place', async () => {
    const file = join(dir, 'keep.rcs')
    await writeSnapshot(file, sample())
    const before = readFileSync(file)
    const broken = sample()
    broken.walkRaw = () => { throw new Error('store exploded') }
    await assert.rejects(writeSnapshot(file, broken), /store exploded/)
    assert.deepEqual(readFileSync(file), before)
    assert.equal(existsSync(`${file}.tmp`), false)
  })

  it('round-trips a real store: small items, values in their own buffers, records bigger than a slice', async () => {
    const make = (): ItemStore => new ItemStore({maxBytes: 256 * 1024 * 1024, itemSizeMax: 4 * 1024 * 1024, evict: true, useCas: true, slabs: new SlabClasses(48, 1.25, 4 * 1024 * 1024)})
    const src = make()
    const expect = new Map<string, string>()
    for (let i = 0; i < 3000; i++) {
      const v = i % 500 === 0 ? String.fromCharCode(i % 256).repeat(70_000 + i) : `v${i}-${'x'.repeat(i % 300)}`
      src.store('set', `key:${i}`, i, 0, v, 0)
      expect.set(`key:${i}`, v)
    }
    src.store('set', 'huge', 7, 0, 'h'.repeat(3 * 1024 * 1024), 0)
    expect.set('huge', 'h'.repeat(3 * 1024 * 1024))
    const file = join(dir, 'real.rcs')
    const r = await writeSnapshot(file, src)
    assert.equal(r.items, expect.size)
    const dst = make()
    assert.ok(loadSnapshot(file, dst).loaded)
    assert.equal(dst.itemCount, expect.size)
    for (const [k, v] of expect) {
      const got = dst.peek(k)!
      assert.equal(got.value, v, k)
      assert.equal(got.cas, src.peek(k)!.cas)
    }
  })
})
