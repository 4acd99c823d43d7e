// memjs, the binary-protocol client repctl uses, against our server and
// against the real memcached: the same calls must give the same results.
// memjs 1.3.2 has no getMulti() and no version(), so the quiet multi-get
// (GetKQ... then Noop) and Version go through memjs's own Server object.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import memjs from 'memjs'
import {serversSideBySide, toolMissing} from '../helpers/processes.js'

const skip = toolMissing('memcached')

const logger = {log: (...args: unknown[]): void => { process.stderr.write(args.map(String).join(' ') + '\n') }}

function connect(port: number): memjs.Client {
  return memjs.Client.create(`127.0.0.1:${port}`, {retries: 0, timeout: 2, logger})
}

/** What a call gave: its value (Buffers as text) or its error message. */
async function outcome(p: Promise<unknown> | undefined): Promise<unknown> {
  try {
    return plain(await p)
  } catch (e) {
    return {error: (e as Error).message}
  }
}

function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `<${v.toString('hex')}>`
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

function server(c: memjs.Client): memjs.Server {
  const s = c.servers[0]
  if (s === undefined) throw new Error('memjs client has no server')
  return s
}

/** Sequence numbers well away from the ones memjs uses for its own requests. */
let rawSeq = 0x40000000

/** Quiet multi-get: one GetKQ per key, then a Noop; only hits answer before the Noop. */
function getMulti(c: memjs.Client, keys: string[]): Promise<Record<string, {value: string; flags: string}>> {
  const seq = rawSeq++
  return new Promise((resolve, reject) => {
    const found: Record<string, {value: string; flags: string}> = {}
    const handle = Object.assign((r: memjs.Response) => {
      if (r.header.opcode === 0x0a) resolve(found)
      else if (r.header.status === 0) found[r.key.toString('latin1')] = {value: r.val.toString('latin1'), flags: r.extras.toString('hex')}
      else reject(new Error(`GetKQ status ${r.header.status}`))
    }, {quiet: true})
    const s = server(c)
    s.onResponse(seq, handle)
    s.onError(seq, reject)
    s.write(Buffer.concat([...keys.map((k) => memjs.Utils.makeRequestBuffer(0x0d, k, '', '', seq)), memjs.Utils.makeRequestBuffer(0x0a, '', '', '', seq)]))
  })
}

function version(c: memjs.Client): Promise<string> {
  const seq = rawSeq++
  return new Promise((resolve, reject) => {
    const s = server(c)
    s.onResponse(seq, (r) => resolve(r.val.toString('latin1')))
    s.onError(seq, reject)
    s.write(memjs.Utils.makeRequestBuffer(0x0b, '', '', '', seq))
  })
}

function stats(c: memjs.Client, group: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    c.statsWithKey(group, (err, _server, s) => {
      if (err !== null && err !== undefined) reject(err)
      else resolve(s ?? {})
    })
  })
}

function resetStats(c: memjs.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    c.resetStats((err) => {
      if (err !== null && err !== undefined) reject(err)
      else resolve('reset')
    })
  })
}

/** Counters both servers must agree on after the same calls. */
const COUNTERS = [
  'cmd_get', 'get_hits', 'get_misses', 'cmd_set', 'cmd_flush', 'cmd_touch', 'touch_hits', 'touch_misses', 'delete_hits',
  'delete_misses', 'incr_hits', 'incr_misses', 'decr_hits', 'decr_misses', 'curr_items',
]
const SETTINGS = ['item_size_max', 'cas_enabled', 'evictions', 'binding_protocol', 'maxconns', 'tcpport']

/** Every call of the script, in order; results keyed by a label. */
async function script(c: memjs.Client): Promise<[string, unknown][]> {
  const out: [string, unknown][] = []
  const record = async (label: string, p: Promise<unknown> | undefined): Promise<void> => {
    out.push([label, await outcome(p)])
  }
  await record('flush', c.flush().then((r) => Object.values(r)))
  await record('get missing', c.get('a'))
  await record('set', c.set('a', 'hello'))
  await record('get', c.get('a'))
  await record('set with expiry', c.set('b', 'bee', {expires: 100}))
  await record('set binary value', c.set('bin', Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a])))
  await record('get binary value', c.get('bin'))
  await record('add existing', c.add('a', 'x'))
  await record('add new', c.add('c', 'sea'))
  await record('replace missing', c.replace('nope', 'x'))
  await record('replace existing', c.replace('c', 'see'))
  await record('get replaced', c.get('c'))
  await record('delete existing', c.delete('c'))
  await record('delete missing', c.delete('c'))
  await record('increment missing creates with initial', c.increment('n', 3, {initial: 5}))
  await record('increment', c.increment('n', 3))
  await record('decrement below zero', c.decrement('n', 100, {}))
  await record('decrement missing with initial', c.decrement('m', 1, {initial: 7}))
  await record('get counter', c.get('m'))
  await record('increment non-numeric', c.increment('a', 1))
  await record('append', c.append('a', ' world'))
  await record('append missing', c.append('nope', 'x'))
  await record('prepend (memjs 1.3.2 sends Append)', c.prepend('a', '!'))
  await record('get appended', c.get('a'))
  await record('touch existing', c.touch('a', 100))
  await record('touch missing', c.touch('nope', 100))
  await record('quiet multi-get', getMulti(c, ['a', 'nope', 'b', 'bin', 'n', 'missing', 'm']))
  await record('version', version(c))
  const general = await stats(c, '')
  out.push(['stats counters', Object.fromEntries(COUNTERS.map((k) => [k, general[k]]))])
  out.push(['stats version', general.version])
  const settings = await stats(c, 'settings')
  out.push(['stats settings', Object.fromEntries(SETTINGS.map((k) => [k, k === 'tcpport' ? typeof settings[k] : settings[k]]))])
  await record('reset stats', resetStats(c))
  const afterReset = await stats(c, '')
  out.push(['counters after reset', Object.fromEntries(COUNTERS.map((k) => [k, afterReset[k]]))])
  await record('flush again', c.flush().then((r) => Object.values(r)))
  await record('get after flush', c.get('a'))
  return out
}

describe('memjs gets the same results from our server as from memcached', {skip}, () => {
  const servers = serversSideBySide()

  it('set/get/add/replace/delete/incr/decr/append/prepend/touch/flush/stats/version/multi-get', async () => {
    const a = connect(servers.theirs().port)
    const b = connect(servers.ours().port)
    try {
      const [expected, actual] = await Promise.all([script(a), script(b)])
      assert.deepEqual(actual, expected)
      // Sanity: the script exercised what it claims on memcached itself.
      const byLabel = new Map(expected)
      assert.deepEqual(byLabel.get('get'), {value: '<68656c6c6f>', flags: '<00000000>'})
      assert.deepEqual(byLabel.get('quiet multi-get'), {
        a: {value: 'hello world!', flags: '00000000'}, b: {value: 'bee', flags: '00000000'},
        bin: {value: '\x00\x01\x02\xff\r\n', flags: '00000000'}, n: {value: '0', flags: '00000000'}, m: {value: '7', flags: '00000000'},
      })
      assert.equal(byLabel.get('version'), '1.6.18')
    } finally {
      a.close()
      b.close()
    }
  })
})
