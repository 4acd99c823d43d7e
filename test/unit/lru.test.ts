import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {LruList, type LruNode} from '../../src/server/store/lru.js'

interface N extends LruNode<N> { id: number }
const node = (id: number): N => ({id, prev: null, next: null})

function order(l: LruList<N>): number[] {
  const out: number[] = []
  for (let n = l.head; n !== null; n = n.next) out.push(n.id)
  const back: number[] = []
  for (let n = l.tail; n !== null; n = n.prev) back.push(n.id)
  assert.deepEqual(back.reverse(), out, 'forward and backward links agree')
  assert.equal(l.length, out.length)
  return out
}

describe('LruList', () => {
  it('pushes to the front and keeps the oldest at the tail', () => {
    const l = new LruList<N>()
    const [a, b, c] = [node(1), node(2), node(3)]
    l.pushFront(a); l.pushFront(b); l.pushFront(c)
    assert.deepEqual(order(l), [3, 2, 1])
    assert.equal(l.tail, a)
  })

  it('moves a node to the front from the middle, the tail and the head', () => {
    const l = new LruList<N>()
    const ns = [1, 2, 3, 4].map(node)
    for (const n of ns) l.pushFront(n)
    l.moveToFront(ns[1]!)
    assert.deepEqual(order(l), [2, 4, 3, 1])
    l.moveToFront(ns[0]!)
    assert.deepEqual(order(l), [1, 2, 4, 3])
    l.moveToFront(ns[0]!)
    assert.deepEqual(order(l), [1, 2, 4, 3])
  })

  it('removes head, tail, middle and the last node', () => {
    const l = new LruList<N>()
    const ns = [1, 2, 3, 4].map(node)
    for (const n of ns) l.pushFront(n)
    l.remove(ns[3]!) // head
    l.remove(ns[0]!) // tail
    assert.deepEqual(order(l), [3, 2])
    l.remove(ns[2]!)
    l.remove(ns[1]!)
    assert.deepEqual(order(l), [])
    assert.equal(l.head, null)
    assert.equal(l.tail, null)
  })
})
