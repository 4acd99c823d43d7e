// The buffer replies are built in: every append is the bytes a string
// concatenation would have given, across growth, truncation and reuse.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {ReplyBuffer} from '../../src/server/protocol/reply-buffer.js'

describe('ReplyBuffer', () => {
  it('decimal writes what String(n) does, up to 2^53 - 1', () => {
    const out = new ReplyBuffer()
    const numbers = [0, 1, 9, 10, 11, 99, 100, 4294967295, 4294967296, 1e15 - 1, 1e15, 2 ** 53 - 1, 2 ** 53 - 2, 9_999_999_999_999_999 - 1]
    for (let i = 0; i < 2000; i++) numbers.push(Math.floor(Math.random() * 2 ** 53))
    let want = ''
    for (const n of numbers.filter((x) => x <= Number.MAX_SAFE_INTEGER)) { out.decimal(n); out.text(' '); want += `${n} ` }
    assert.equal(out.view().toString('latin1'), want)
  })

  it('text and bytes, short and long, in order across growth', () => {
    const out = new ReplyBuffer()
    let want = ''
    const src = Buffer.from(Array.from({length: 300_000}, (_, i) => i % 251))
    for (let i = 0; i < 400; i++) {
      const t = String.fromCharCode(...Array.from({length: i % 70}, (_, j) => (i * 7 + j) % 256))
      out.text(t)
      want += t
      const from = (i * 997) % 200_000
      const n = i % 3 === 0 ? i * 100 : i % 40
      out.bytes(src, from, from + n)
      want += src.toString('latin1', from, from + n)
    }
    assert.equal(out.length, want.length)
    assert.equal(out.view().toString('latin1'), want)
    assert.equal(out.view(10, 20).toString('latin1'), want.slice(10, 20))
  })

  it('truncate drops the tail; clear starts again; disown leaves the old bytes alone', () => {
    const out = new ReplyBuffer()
    out.text('VALUE a 0 1\r\nx\r\n')
    const mark = out.length
    out.text('CLIENT_ERROR')
    out.truncate(mark)
    out.text('END\r\n')
    assert.equal(out.view().toString('latin1'), 'VALUE a 0 1\r\nx\r\nEND\r\n')
    const given = out.view()
    out.disown()
    out.text('STORED\r\n')
    assert.equal(given.toString('latin1'), 'VALUE a 0 1\r\nx\r\nEND\r\n', 'bytes handed to a socket are not overwritten')
    out.clear()
    assert.equal(out.length, 0)
    out.text('OK\r\n')
    assert.equal(out.view().toString('latin1'), 'OK\r\n')
  })
})
