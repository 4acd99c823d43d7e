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

function parseText(chunks: Buffer[]): TextRequest[] {
  const p = new TextParser({isTooLarge: tooLarge})
  const out: TextRequest[] = []
  for (const c of chunks) {
    p.push(c)
    for (let r = p.next(); r !== undefined; r = p.next()) {
      out.push(r)
      if (r.type === 'close' || r.type === 'quit') return out
    }
  }
  return out
}

function parseBinary(chunks: Buffer[], sasl: boolean): ParsedFrame[] {
  const p = new BinaryFrameParser({isTooLarge: tooLarge, sasl})
  const out: ParsedFrame[] = []
  for (const c of chunks) {
    p.push(c)
    for (let r = p.next(); r !== undefined; r = p.next()) {
      out.push(r)
      if (r.type === 'close') return out
    }
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

  it('binary: never throws; the same frames however the stream is split', () => {
    fc.assert(fc.property(stream(binaryRequest, 5), cuts, fc.boolean(), (b, at, sasl) => {
      assert.deepEqual(parseBinary(split(b, at), sasl), parseBinary([b], sasl))
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
