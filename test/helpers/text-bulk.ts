// Many keys at once over memcached's text protocol (what nutcracker speaks):
// pipelined sets and multi-key gets, in batches, on one connection.

import assert from 'node:assert/strict'
import {RawClient} from './raw-client.js'

const BATCH = 100

/** `set` every entry (flags 0, no expiry) on host:port; each must be STORED. */
export async function setMany(port: number, entries: ReadonlyMap<string, string>, host = '127.0.0.1'): Promise<void> {
  const c = await RawClient.open(port, host)
  try {
    const all = [...entries]
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH)
      c.send(batch.map(([k, v]) => `set ${k} 0 0 ${Buffer.byteLength(v)}\r\n${v}\r\n`).join(''))
      const want = batch.length * 'STORED\r\n'.length
      const reply = (await c.readUntil((b) => b.length >= want || b.includes('ERROR'), 5000)).toString('latin1')
      assert.equal(reply, 'STORED\r\n'.repeat(batch.length), `set of ${batch[0]![0]} … on port ${port}`)
    }
  } finally { c.close() }
}

/** Parse `VALUE k f n\r\n<data>\r\n … END\r\n`; undefined while incomplete. */
function parseValues(b: Buffer): Map<string, string> | undefined {
  const found = new Map<string, string>()
  let at = 0
  for (;;) {
    const eol = b.indexOf('\r\n', at)
    if (eol < 0) return undefined
    const line = b.subarray(at, eol).toString('latin1')
    if (line === 'END') return found
    const m = /^VALUE (\S+) \d+ (\d+)$/.exec(line)
    assert.ok(m !== null, `unexpected reply line ${JSON.stringify(line)}`)
    const size = Number(m[2])
    if (b.length < eol + 2 + size + 2) return undefined
    found.set(m[1]!, b.subarray(eol + 2, eol + 2 + size).toString('utf8'))
    at = eol + 2 + size + 2
  }
}

/** The values host:port returns for `keys` (multi-key gets); a key it lacks is absent from the map. */
export async function getMany(port: number, keys: readonly string[], host = '127.0.0.1'): Promise<Map<string, string>> {
  const c = await RawClient.open(port, host)
  const found = new Map<string, string>()
  try {
    for (let i = 0; i < keys.length; i += BATCH) {
      c.send(`get ${keys.slice(i, i + BATCH).join(' ')}\r\n`)
      let received: Buffer = Buffer.alloc(0)
      let parsed: Map<string, string> | undefined
      await c.readUntil((b) => { received = b; parsed = parseValues(b); return parsed !== undefined }, 5000)
      assert.ok(parsed !== undefined, `no complete reply to a get of ${keys[i]} … on port ${port}: ${JSON.stringify(received.toString('latin1').slice(0, 200))}`)
      for (const [k, v] of parsed) found.set(k, v)
    }
  } finally { c.close() }
  return found
}
