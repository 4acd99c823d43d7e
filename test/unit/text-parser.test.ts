// The text protocol parser on its own: request bytes in, typed requests out.
// Every case is also fed split in two at every byte offset, and byte by byte,
// and must parse the same: TCP may cut a request anywhere. (The one place
// where memcached itself answers differently depending on the cut, a line
// over 2048 bytes whose newline comes in a later read, has its own test.)

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {TextParser, tokenize, type TextParserLimits, type TextRequest} from '../../src/server/protocol/text-parser.js'
import {itemTotalSize} from '../../src/server/store/slab-classes.js'

/** -I 1k, so that "too large" is cheap to reach. */
const LIMITS: TextParserLimits = {isTooLarge: (k, f, v) => itemTotalSize(k, f, v, true) > 1024}

interface Parsed { requests: TextRequest[]; midValue: boolean }

function parse(chunks: Buffer[]): Parsed {
  const p = new TextParser(LIMITS)
  const requests: TextRequest[] = []
  for (const c of chunks) {
    p.push(c)
    for (let r = p.next(); r !== undefined; r = p.next()) {
      requests.push(r)
      if (r.type === 'close') return {requests, midValue: p.midValue}
    }
  }
  return {requests, midValue: p.midValue}
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1')
const rep = (s: string, n: number): string => s.repeat(n)

type Get = Extract<TextRequest, {type: 'get'}>
type Store = Extract<TextRequest, {type: 'store'}>
const get = (keys: string[], o: Partial<Get> = {}): TextRequest => ({type: 'get', keys, withCas: false, touchExptime: undefined, keyTooLong: false, ...o})
const store = (mode: Store['mode'], key: string, flags: number, exptime: number, value: string, o: Partial<Store> = {}): TextRequest =>
  ({type: 'store', mode, key, flags, exptime, value, cas: 0, noreply: false, ...o})
const error = (message: string, noreply = false): TextRequest => ({type: 'error', message, noreply})
const ERROR = error('ERROR')
const BAD_FORMAT = error('CLIENT_ERROR bad command line format')
const KEY_TOO_LONG = (noreply = false): TextRequest => ({type: 'error', message: 'CLIENT_ERROR bad command line format', noreply, keyTooLong: true})
const CLOSE = (reason: string): TextRequest => ({type: 'close', reason})
const TOO_LONG = (reason: string): TextRequest => ({type: 'close', reason, lineTooLong: true})

interface Case { name: string; input: string; expect: TextRequest[]; midValue?: boolean }

const K250 = rep('k', 250)
const K251 = rep('k', 251)
const MANY = Array.from({length: 40}, (_, i) => `key${i}`)

const CASES: Case[] = [
  // Retrieval.
  {name: 'get one key', input: 'get a\r\n', expect: [get(['a'])]},
  {name: 'get many keys, duplicates kept', input: 'get a b a\r\n', expect: [get(['a', 'b', 'a'])]},
  {name: 'gets', input: 'gets a\r\n', expect: [get(['a'], {withCas: true})]},
  {name: 'bget', input: 'bget a b\r\n', expect: [get(['a', 'b'])]},
  {name: 'runs of spaces', input: '  get   a  b  \r\n', expect: [get(['a', 'b'])]},
  {name: 'more keys than memcached tokenizes at once', input: `get ${MANY.join(' ')}\r\n`, expect: [get(MANY)]},
  {name: 'get without a key', input: 'get\r\n', expect: [ERROR]},
  {name: 'bare LF line ending', input: 'get a\nget b\n', expect: [get(['a']), get(['b'])]},
  {name: 'only the last CR is stripped', input: 'get a\r\r\n', expect: [get(['a\r'])]},
  {name: 'CR inside a key', input: 'get a\rb\r\n', expect: [get(['a\rb'])]},
  {name: 'NUL ends the command line', input: 'get a\0b c\r\nget d\r\n', expect: [get(['a']), get(['d'])]},
  {name: 'tab is not a separator', input: 'get\ta\r\n', expect: [ERROR]},
  {name: 'tab inside a key', input: 'get a\tb\r\n', expect: [get(['a\tb'])]},
  {name: 'bytes over 0x7f in a key', input: 'get \xe9\xff\r\n', expect: [get(['\xe9\xff'])]},
  {name: 'key of 250 bytes', input: `get ${K250}\r\n`, expect: [get([K250])]},
  {name: 'key of 251 bytes', input: `get ${K251}\r\n`, expect: [get([], {keyTooLong: true})]},
  {name: 'keys before a too long one are kept', input: `get a ${K251} b\r\n`, expect: [get(['a'], {keyTooLong: true})]},
  {name: 'gat', input: 'gat 10 a b\r\n', expect: [get(['a', 'b'], {touchExptime: 10})]},
  {name: 'gats with a negative exptime', input: 'gats -1 a\r\n', expect: [get(['a'], {withCas: true, touchExptime: -1})]},
  {name: 'gat without keys', input: 'gat 10\r\n', expect: [get([], {touchExptime: 10})]},
  {name: 'gat with a bad exptime', input: 'gat x a\r\n', expect: [error('CLIENT_ERROR invalid exptime argument')]},
  {name: 'gat without anything', input: 'gat\r\n', expect: [ERROR]},

  // Storage.
  {name: 'set', input: 'set k 5 100 3\r\nabc\r\n', expect: [store('set', 'k', 5, 100, 'abc')]},
  {name: 'add, replace, append, prepend', input: 'add k 0 0 1\r\na\r\nreplace k 0 0 1\r\nb\r\nappend k 0 0 1\r\nc\r\nprepend k 0 0 1\r\nd\r\n',
    expect: [store('add', 'k', 0, 0, 'a'), store('replace', 'k', 0, 0, 'b'), store('append', 'k', 0, 0, 'c'), store('prepend', 'k', 0, 0, 'd')]},
  {name: 'set noreply', input: 'set k 0 0 3 noreply\r\nabc\r\n', expect: [store('set', 'k', 0, 0, 'abc', {noreply: true})]},
  {name: 'noreply spelled otherwise', input: 'set k 0 0 1 NOREPLY\r\na\r\n', expect: [store('set', 'k', 0, 0, 'a')]},
  {name: 'empty value', input: 'set k 0 0 0\r\n\r\n', expect: [store('set', 'k', 0, 0, '')]},
  {name: 'value holding CR LF and NUL', input: 'set k 0 0 6\r\na\r\n\0\nb\r\n', expect: [store('set', 'k', 0, 0, 'a\r\n\0\nb')]},
  {name: 'value that looks like commands', input: 'set k 0 0 7\r\nget a\r\n\r\nget b\r\n', expect: [store('set', 'k', 0, 0, 'get a\r\n'), get(['b'])]},
  {name: 'bare LF after the command line', input: 'set k 0 0 1\nx\r\n', expect: [store('set', 'k', 0, 0, 'x')]},
  {name: 'NUL in a storage command line', input: 'set k 0 0 1\0 junk\r\nx\r\n', expect: [store('set', 'k', 0, 0, 'x')]},
  {name: 'flags wrap at 2^32', input: 'set k 4294967296 0 1\r\nx\r\n', expect: [store('set', 'k', 0, 0, 'x')]},
  {name: 'largest flags', input: 'set k 4294967295 0 1\r\nx\r\n', expect: [store('set', 'k', 4294967295, 0, 'x')]},
  {name: 'exptime narrowed to 32 bits', input: 'set k 0 4294967296 1\r\nx\r\n', expect: [store('set', 'k', 0, 0, 'x')]},
  {name: 'length narrowed to 32 bits', input: 'set k 0 0 4294967297\r\nx\r\n', expect: [store('set', 'k', 0, 0, 'x')]},
  {name: 'negative exptime', input: 'set k 0 -1 1\r\nx\r\n', expect: [store('set', 'k', 0, -1, 'x')]},
  {name: 'negative flags are refused, the data is then a command line', input: 'set k -1 0 1\r\nx\r\n', expect: [BAD_FORMAT, ERROR]},
  {name: 'negative length', input: 'set k 0 0 -1\r\nabc\r\n', expect: [BAD_FORMAT, ERROR]},
  {name: 'length over INT_MAX - 2', input: 'set k 0 0 2147483646\r\n', expect: [BAD_FORMAT]},
  {name: 'refused line with noreply', input: 'set k 0 0 x noreply\r\nget a\r\n', expect: [error('CLIENT_ERROR bad command line format', true), get(['a'])]},
  {name: 'key of 251 bytes in a set', input: `set ${K251} 0 0 1\r\nx\r\n`, expect: [KEY_TOO_LONG(), ERROR]},
  {name: 'too few tokens', input: 'set k 0 0\r\n', expect: [ERROR]},
  {name: 'too many tokens', input: 'set k 0 0 1 noreply x\r\n', expect: [ERROR]},
  {name: 'more than 24 tokens', input: `set k 0 0 1 ${rep('t ', 30)}\r\n`, expect: [ERROR]},
  {name: 'bad data chunk', input: 'set k 0 0 1\r\nab\r\n', expect: [error('CLIENT_ERROR bad data chunk'), ERROR]},
  {name: 'bad data chunk with noreply', input: 'set k 0 0 1 noreply\r\nabc\r\n', expect: [error('CLIENT_ERROR bad data chunk', true), ERROR]},
  {name: 'data ending in LF only', input: 'set k 0 0 1\r\nx\n\r\n', expect: [error('CLIENT_ERROR bad data chunk'), ERROR]},
  {name: 'value too large: refused and its data skipped',
    input: `set k 0 0 2000\r\n${rep('get x\r\n', 285)}get x\r\nget a\r\n`, expect: [{type: 'too_large', mode: 'set', key: 'k', noreply: false}, get(['a'])]},
  {name: 'value too large with noreply', input: `append k 0 0 2000 noreply\r\n${rep('y', 2000)}\r\n`, expect: [{type: 'too_large', mode: 'append', key: 'k', noreply: true}]},
  // 48 header + key + 1 + value + 2 + 8 cas <= 1024.
  {name: 'value of exactly the limit', input: `set k 0 0 964\r\n${rep('v', 964)}\r\n`, expect: [store('set', 'k', 0, 0, rep('v', 964))]},
  {name: 'one byte over the limit', input: `set k 0 0 965\r\n${rep('v', 965)}\r\n`, expect: [{type: 'too_large', mode: 'set', key: 'k', noreply: false}]},
  {name: 'incomplete value', input: 'set k 0 0 10\r\nabc', expect: [], midValue: true},
  {name: 'incomplete skipped value', input: 'set k 0 0 5000\r\nabc', expect: [{type: 'too_large', mode: 'set', key: 'k', noreply: false}], midValue: true},
  {name: 'cas', input: 'cas k 1 2 1 42\r\nx\r\n', expect: [store('cas', 'k', 1, 2, 'x', {cas: 42})]},
  {name: 'cas noreply', input: 'cas k 0 0 1 7 noreply\r\nx\r\n', expect: [store('cas', 'k', 0, 0, 'x', {cas: 7, noreply: true})]},
  {name: 'cas beyond any cas we hand out', input: 'cas k 0 0 1 18446744073709551615\r\nx\r\n', expect: [store('cas', 'k', 0, 0, 'x', {cas: -1})]},
  {name: 'cas unique not a number', input: 'cas k 0 0 1 x\r\ny\r\n', expect: [BAD_FORMAT, ERROR]},
  {name: 'cas without unique', input: 'cas k 0 0 1\r\n', expect: [ERROR]},

  // incr, decr, delete, touch.
  {name: 'incr', input: 'incr k 5\r\n', expect: [{type: 'delta', incr: true, key: 'k', delta: 5n, noreply: false}]},
  {name: 'decr noreply, largest delta', input: 'decr k 18446744073709551615 noreply\r\n', expect: [{type: 'delta', incr: false, key: 'k', delta: 18446744073709551615n, noreply: true}]},
  {name: 'negative delta', input: 'incr k -1\r\n', expect: [error('CLIENT_ERROR invalid numeric delta argument')]},
  {name: 'delta over 2^64', input: 'incr k 18446744073709551616\r\n', expect: [error('CLIENT_ERROR invalid numeric delta argument')]},
  {name: 'incr key of 251 bytes', input: `incr ${K251} 1 noreply\r\n`, expect: [KEY_TOO_LONG(true)]},
  {name: 'incr without delta', input: 'incr k\r\n', expect: [ERROR]},
  {name: 'delete', input: 'delete k\r\n', expect: [{type: 'delete', key: 'k', noreply: false}]},
  {name: 'delete noreply', input: 'delete k noreply\r\n', expect: [{type: 'delete', key: 'k', noreply: true}]},
  {name: 'the old delete k 0', input: 'delete k 0\r\ndelete k 0 noreply\r\n', expect: [{type: 'delete', key: 'k', noreply: false}, {type: 'delete', key: 'k', noreply: true}]},
  {name: 'delete with a hold time', input: 'delete k 1\r\n', expect: [error('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]')]},
  {name: 'delete with a hold time and noreply', input: 'delete k 1 noreply\r\n', expect: [error('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]', true)]},
  {name: 'delete with too many tokens', input: 'delete a b c d\r\n', expect: [ERROR]},
  {name: 'touch', input: 'touch k 10\r\ntouch k -1 noreply\r\n', expect: [{type: 'touch', key: 'k', exptime: 10, noreply: false}, {type: 'touch', key: 'k', exptime: -1, noreply: true}]},
  {name: 'touch with a bad exptime', input: 'touch k x noreply\r\n', expect: [error('CLIENT_ERROR invalid exptime argument', true)]},

  // The rest.
  {name: 'flush_all forms', input: 'flush_all\r\nflush_all noreply\r\nflush_all 10\r\nflush_all -1 noreply\r\nflush_all x\r\nflush_all 1 2 3\r\n', expect: [
    {type: 'flush_all', delay: 0, noreply: false}, {type: 'flush_all', delay: 0, noreply: true}, {type: 'flush_all', delay: 10, noreply: false},
    {type: 'flush_all', delay: -1, noreply: true}, {type: 'flush_all', delay: undefined, noreply: false}, ERROR]},
  {name: 'version and quit take any arguments', input: 'version x\r\nquit y\r\n', expect: [{type: 'version'}, {type: 'quit'}]},
  {name: 'verbosity', input: 'verbosity 1\r\nverbosity 5 noreply\r\nverbosity x\r\nverbosity\r\n',
    expect: [{type: 'verbosity', level: 1, noreply: false}, {type: 'verbosity', level: 5, noreply: true}, BAD_FORMAT, ERROR]},
  {name: 'shutdown forms', input: 'shutdown\r\nshutdown graceful\r\nshutdown now\r\n',
    expect: [{type: 'shutdown', graceful: false}, {type: 'shutdown', graceful: true}, {type: 'shutdown', graceful: undefined}]},
  {name: 'cache_memlimit', input: 'cache_memlimit 100\r\ncache_memlimit x noreply\r\n',
    expect: [{type: 'cache_memlimit', megabytes: 100, noreply: false}, {type: 'cache_memlimit', megabytes: undefined, noreply: true}]},
  {name: 'stats', input: 'stats\r\nstats items\r\nstats detail on\r\n',
    expect: [{type: 'stats', args: []}, {type: 'stats', args: ['items']}, {type: 'stats', args: ['detail', 'on']}]},
  {name: 'empty lines', input: '\r\n\n \r\n\r\r\n', expect: [ERROR, ERROR, ERROR, ERROR]},
  {name: 'one-letter command', input: 'g\r\n', expect: [ERROR]},
  {name: 'unknown command', input: 'foo bar\r\n', expect: [ERROR]},
  {name: 'HTTP request', input: 'GET / HTTP/1.1\r\nHost: x\r\n', expect: [CLOSE('HTTP request')]},
  {name: 'unknown command with a memcached command letter is never HTTP', input: 'gfoo / HTTP/1.1\r\nmx HTTP/1.0\r\n', expect: [ERROR, ERROR]},
  {name: 'HTTP in the 23rd token', input: `foo ${rep('t ', 21)}HTTP/1.1 more tokens\r\n`, expect: [CLOSE('HTTP request')]},
  {name: 'a pipeline', input: 'set a 0 0 1\r\nx\r\nget a\r\nincr a 1\r\ndelete a\r\n', expect: [
    store('set', 'a', 0, 0, 'x'), get(['a']), {type: 'delta', incr: true, key: 'a', delta: 1n, noreply: false}, {type: 'delete', key: 'a', noreply: false}]},

  // Long lines.
  {name: 'a multiget line far over 2048 bytes', input: `get ${rep('k ', 3000)}\r\n`, expect: [get(Array.from({length: 3000}, () => 'k'))]},
  {name: 'no newline after 2048 bytes', input: rep('x', 2048), expect: []},
  {name: 'no newline after 2049 bytes', input: rep('x', 2049), expect: [TOO_LONG('line too long')]},
  {name: 'a get with no newline after 2049 bytes', input: `get ${rep('k', 3000)}`, expect: []},
  {name: 'a get led by over 100 spaces', input: `${rep(' ', 101)}get ${rep('k', 3000)}`, expect: [TOO_LONG('line too long')]},
  {name: 'a line longer than memcached\'s read buffer', input: `${rep('x', 16384)}\r\nget a\r\n`, expect: [TOO_LONG('line too long')]},
  {name: 'a get longer than memcached\'s read buffer', input: `get ${rep('k', 20000)}\r\n`, expect: [get([], {keyTooLong: true})]},
]

/** Every offset for short inputs; for long ones, every offset near either end and a stride in between. */
function splitPoints(n: number): number[] {
  const out: number[] = []
  for (let i = 1; i < n; i++) if (n <= 4096 || i < 300 || i > n - 300 || i % 97 === 0) out.push(i)
  return out
}

describe('TextParser', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const input = bytes(c.input)
      const whole = parse([input])
      assert.deepEqual(whole.requests, c.expect)
      assert.equal(whole.midValue, c.midValue ?? false, 'midValue')
      for (const i of splitPoints(input.length)) {
        const split = parse([input.subarray(0, i), input.subarray(i)])
        assert.deepEqual(split, whole, `split at byte ${i}`)
      }
      if (input.length <= 4096) {
        const single = parse(Array.from(input, (b) => Buffer.from([b])))
        assert.deepEqual(single, whole, 'byte by byte')
      }
    })
  }

  it('a line over 2048 bytes: memcached closes unless the newline is in the same read', () => {
    const line = bytes(`${rep('x', 3000)}\r\n`)
    assert.deepEqual(parse([line]).requests, [ERROR])
    assert.deepEqual(parse([line.subarray(0, 2500), line.subarray(2500)]).requests, [TOO_LONG('line too long')])
    assert.deepEqual(parse([line.subarray(0, 2000), line.subarray(2000)]).requests, [ERROR])
  })

  it('keeps values byte-exact across many small writes', () => {
    const value = Buffer.from(Array.from({length: 256}, (_, i) => i))
    const input = Buffer.concat([bytes('set k 0 0 256\r\n'), value, bytes('\r\n')])
    const r = parse(Array.from({length: Math.ceil(input.length / 7)}, (_, i) => input.subarray(i * 7, i * 7 + 7)))
    assert.deepEqual(r.requests, [store('set', 'k', 0, 0, value.toString('latin1'))])
  })

  it('reports what is buffered', () => {
    const p = new TextParser(LIMITS)
    p.push(bytes('get a\r\nget b'))
    assert.deepEqual(p.next(), get(['a']))
    assert.equal(p.next(), undefined)
    assert.equal(p.buffered, 5)
    assert.equal(p.lastLine, 'get a')
  })
})

describe('tokenize', () => {
  const rows: [string, string[]][] = [
    ['', []], [' ', []], ['a', ['a']], [' a  b ', ['a', 'b']], ['a\tb c', ['a\tb', 'c']], ['a\r b', ['a\r', 'b']],
  ]
  for (const [line, tokens] of rows) it(JSON.stringify(line), () => assert.deepEqual(tokenize(line), tokens))
})
