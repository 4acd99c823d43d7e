// The three parsers against random, mutated and split input: they never
// throw (the replication decoder only with its PeerProtocolError), and a
// stream means the same requests however it is cut into reads (for lines
// short enough that memcached's own read-size rules do not come into play).

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import fc from 'fast-check'
import {BinaryFrameParser, type ParsedFrame} from '../../src/server/protocol/binary-parser.js'
import {TextParser, type TextRequest} from '../../src/server/protocol/text-parser.js'
import {PeerDecoder, PeerProtocolError, type PeerMessage} from '../../src/server/replication/wire.js'
import {itemTotalSize} from '../../src/server/store/slab-classes.js'
import {binaryRequest, cuts, params, replicationMessage, SEED, split, stream, textRequest} from './arbitraries.js'
import {CORPUS, corpusBytes} from './corpus.js'

const ITEM_MAX = 1024 * 1024
const tooLarge = (k: number, f: number, v: number): boolean => itemTotalSize(k, f, v, true) > ITEM_MAX

/**
 * The server lends each read's bytes (one read buffer for every connection)
 * until settle(). With `lend`, every chunk is copied into one reused buffer,
 * which is overwritten after settle(): a parser that kept a view of lent
 * bytes instead of copying them would then parse garbage.
 */
class Lender {
  private buf = Buffer.alloc(0)
  lend(chunk: Buffer): Buffer {
    if (this.buf.length < chunk.length) this.buf = Buffer.alloc(chunk.length)
    chunk.copy(this.buf)
    return this.buf
  }
  scribble(): void {
    this.buf.fill(0xaa)
  }
}

/** A deep copy, Buffers included: what a request held when it was handled. */
function frozen<T>(x: T): T {
  return structuredClone(x, {transfer: []})
}

function parseText(chunks: Buffer[], lend = false): TextRequest[] {
  const p = new TextParser({isTooLarge: tooLarge})
  const lender = new Lender()
  const out: TextRequest[] = []
  for (const c of chunks) {
    if (lend) p.push(lender.lend(c), c.length)
    else p.push(c)
    for (let r = p.next(); r !== undefined; r = p.next()) {
      out.push(frozen(r))
      if (r.type === 'close' || r.type === 'quit') return out
    }
    if (lend) { p.settle(); lender.scribble() }
  }
  return out
}

function parseBinary(chunks: Buffer[], sasl: boolean, lend = false): ParsedFrame[] {
  const p = new BinaryFrameParser({isTooLarge: tooLarge, sasl})
  const lender = new Lender()
  const out: ParsedFrame[] = []
  for (const c of chunks) {
    p.push(lend ? lender.lend(c).subarray(0, c.length) : c, lend)
    for (let r = p.next(); r !== undefined; r = p.next()) {
      out.push(frozen(r))
      if (r.type === 'close') return out
    }
    if (lend) { p.settle(); lender.scribble() }
  }
  return out
}

function decodeReplication(chunks: Buffer[], native: boolean): {messages: PeerMessage[]; error?: string} {
  const d = new PeerDecoder(ITEM_MAX, native)
  const messages: PeerMessage[] = []
  try {
    for (const c of chunks) {
      d.push(c)
      for (let m = d.next(); m !== undefined; m = d.next()) messages.push(m)
    }
  } catch (e) {
    if (!(e instanceof PeerProtocolError)) throw e
    return {messages, error: e.message}
  }
  return {messages}
}

const longestLine = (b: Buffer): number => Math.max(...b.toString('latin1').split('\n').map((l) => l.length))

describe(`parsers under fuzzing (seed ${SEED})`, () => {
  it('text: never throws; the same requests however the stream is split', () => {
    fc.assert(fc.property(stream(textRequest), cuts, (b, at) => {
      const whole = parseText([b])
      const pieces = parseText(split(b, at))
      if (longestLine(b) < 1024) assert.deepEqual(pieces, whole)
    }), params())
  })

  it('text: the same requests when every read is lent and overwritten once settled', () => {
    fc.assert(fc.property(stream(textRequest), cuts, (b, at) => {
      const chunks = split(b, at)
      assert.deepEqual(parseText(chunks, true), parseText(chunks))
    }), params())
  })

  it('text: get and gets of one key, parsed from the bytes, are the request parseLine makes of the line', () => {
    const keyByte = fc.integer({min: 0, max: 255}).filter((b) => b !== 32 && b !== 10 && b !== 13)
    const line = fc.tuple(fc.constantFrom('get', 'gets', 'gat', 'ge', 'getx'), fc.integer({min: 0, max: 3}), fc.array(keyByte, {minLength: 0, maxLength: 260}), fc.integer({min: 0, max: 3}), fc.array(keyByte, {maxLength: 3}), fc.boolean())
    fc.assert(fc.property(line, ([cmd, before, key, after, second, crlf]) => {
      const text = `${cmd}${' '.repeat(before)}${Buffer.from(key).toString('latin1')}${' '.repeat(after)}${second.length > 0 ? ' ' + Buffer.from(second).toString('latin1') : ''}`
      const p = new TextParser({isTooLarge: tooLarge})
      p.push(Buffer.from(text + (crlf ? '\r\n' : '\n'), 'latin1'))
      const got = p.next()
      // (a NUL ends the command, as in C)
      const upToNul = text.includes('\0') ? text.slice(0, text.indexOf('\0')) : text
      const viaLine = (new TextParser({isTooLarge: tooLarge}) as unknown as {parseLine(l: string): TextRequest | undefined}).parseLine(upToNul)
      assert.deepEqual(got, viaLine)
      assert.equal(p.lastLine, upToNul)
    }), params())
  })

  it('binary: never throws; the same frames however the stream is split', () => {
    fc.assert(fc.property(stream(binaryRequest, 5), cuts, fc.boolean(), (b, at, sasl) => {
      assert.deepEqual(parseBinary(split(b, at), sasl), parseBinary([b], sasl))
    }), params())
  })

  it('binary: the same frames when every read is lent and overwritten once settled', () => {
    fc.assert(fc.property(stream(binaryRequest, 5), cuts, fc.boolean(), (b, at, sasl) => {
      const chunks = split(b, at)
      assert.deepEqual(parseBinary(chunks, sasl, true), parseBinary(chunks, sasl))
    }), params())
  })

  it('replication: only PeerProtocolError; the same messages however the stream is split', () => {
    fc.assert(fc.property(stream(replicationMessage), cuts, fc.boolean(), (b, at, native) => {
      const whole = decodeReplication([b], native)
      const pieces = decodeReplication(split(b, at), native)
      if (whole.error === undefined && pieces.error === undefined) assert.deepEqual(pieces.messages, whole.messages)
    }), params())
  })

  it('the corpus of hostile inputs', () => {
    for (const c of CORPUS) {
      const chunks = corpusBytes(c)
      if (c.protocol === 'text') parseText(chunks)
      else if (c.protocol === 'binary') { parseBinary(chunks, false); parseBinary(chunks, true) }
      else { decodeReplication(chunks, false); decodeReplication(chunks, true) }
    }
  })
})
