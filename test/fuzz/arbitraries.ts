// Inputs for the fuzz suite: well-formed requests of each protocol (with
// numbers and lengths drawn from the edges), the same mutated byte by byte,
// plain random bytes, and random points to split a stream into reads.

import fc from 'fast-check'

/** FUZZ_RUNS / FUZZ_SEED: `npm test` runs a fixed, CI-sized sample; `npm run fuzz` a long random one. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 200)
export const SEED = process.env.FUZZ_SEED === 'random' || process.env.FUZZ_SEED === undefined && process.env.FUZZ_RUNS !== undefined
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(process.env.FUZZ_SEED ?? 424242)
export const params = (runs = RUNS): fc.Parameters<unknown> => ({seed: SEED, numRuns: runs, endOnFailure: true, includeErrorInReport: true})

const key = fc.oneof(
  fc.constantFrom('k', 'key:1', 'a', 'x'.repeat(250), 'x'.repeat(251), ''),
  fc.string({minLength: 1, maxLength: 12, unit: fc.constantFrom(...'abcxyz019:-_'.split(''))}),
)
const num = fc.oneof(
  fc.constantFrom('0', '1', '-1', '4294967295', '4294967296', '18446744073709551615', '18446744073709551616', '2147483648', 'abc', '+5', '00', ''),
  fc.nat({max: 100_000}).map(String),
)
const data = fc.oneof(fc.constantFrom('', 'v', '1', '99', 'x\r\ny', '\0'), fc.string({maxLength: 40}))

/** Meta flags: letters memcached knows and some it does not, with or without numbers, base64 keys and quiet mode. */
const metaFlag = fc.oneof(
  fc.constantFrom(...'bcfhklOqstuvINTRFCMDJPLZxW'.split('')),
  fc.tuple(fc.constantFrom('N', 'T', 'R', 'F', 'C', 'D', 'J', 'O', 'M'), num).map(([f, n]) => f + n),
  fc.constantFrom('ME', 'MA', 'MP', 'MR', 'MS', 'MI', 'M+', 'MD', 'M-', 'MX', 'MSS', 'O' + 'x'.repeat(40)),
)
const metaFlags = fc.array(metaFlag, {maxLength: 22}).map((fs) => fs.map((f) => ' ' + f).join(''))

/** One text request line (and its data block for storage commands). */
export const textRequest: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constantFrom('get', 'gets'), fc.array(key, {minLength: 1, maxLength: 6})).map(([c, ks]) => `${c} ${ks.join(' ')}\r\n`),
  fc.tuple(fc.constantFrom('gat', 'gats'), num, fc.array(key, {minLength: 1, maxLength: 3})).map(([c, e, ks]) => `${c} ${e} ${ks.join(' ')}\r\n`),
  fc.tuple(fc.constantFrom('set', 'add', 'replace', 'append', 'prepend'), key, num, num, data, fc.boolean(), fc.integer({min: -2, max: 2}))
    .map(([c, k, f, e, d, nr, skew]) => `${c} ${k} ${f} ${e} ${Math.max(0, d.length + skew)}${nr ? ' noreply' : ''}\r\n${d}\r\n`),
  fc.tuple(key, num, data).map(([k, c, d]) => `cas ${k} 0 0 ${d.length} ${c}\r\n${d}\r\n`),
  fc.tuple(fc.constantFrom('incr', 'decr'), key, num, fc.boolean()).map(([c, k, n, nr]) => `${c} ${k} ${n}${nr ? ' noreply' : ''}\r\n`),
  fc.tuple(key, num).map(([k, e]) => `touch ${k} ${e}\r\n`),
  key.map((k) => `delete ${k}\r\n`),
  fc.constantFrom('version\r\n', 'stats\r\n', 'stats items\r\n', 'stats slabs\r\n', 'stats settings\r\n', 'stats sizes\r\n', 'flush_all\r\n', 'flush_all 0\r\n',
    'verbosity 1\r\n', 'stats cachedump 1 5\r\n', 'bogus\r\n', '\r\n', ' \r\n', 'get\r\n', 'set k\r\n', 'GET k\r\n', 'get k\n', 'get k\r\r\n'),
  // The meta protocol: every flag letter (valid or not, repeated or not) with numbers from the edges.
  fc.tuple(fc.constantFrom('mg', 'md', 'ma', 'me', 'mn', 'mx'), key, metaFlags).map(([c, k, f]) => `${c} ${k}${f}\r\n`),
  fc.tuple(key, data, fc.integer({min: -2, max: 2}), metaFlags).map(([k, d, skew, f]) => `ms ${k} ${Math.max(0, d.length + skew)}${f}\r\n${d}\r\n`),
)

/** A binary request: header fields from the edges, then key, extras and value as declared or not. */
export const binaryRequest: fc.Arbitrary<Uint8Array> = fc.tuple(
  fc.oneof({weight: 9, arbitrary: fc.constant(0x80)}, {weight: 1, arbitrary: fc.nat({max: 255})}),
  fc.oneof(fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x10, 0x11, 0x12, 0x19, 0x1a, 0x1c, 0x1d, 0x20, 0x21, 0x22), fc.nat({max: 255})),
  fc.string({maxLength: 12}), fc.constantFrom(0, 4, 8, 20, 3), fc.string({maxLength: 30}),
  fc.oneof(fc.constant(undefined), fc.constantFrom(0, 1, 24, 2 ** 31, 2 ** 32 - 1), fc.nat({max: 300})),
).map(([magic, op, k, extLen, value, bodyOverride]) => {
  const kb = Buffer.from(k, 'latin1')
  const ext = Buffer.alloc(extLen, 0x01)
  const vb = Buffer.from(value, 'latin1')
  const h = Buffer.alloc(24)
  h[0] = magic
  h[1] = op
  h.writeUInt16BE(kb.length, 2)
  h[4] = extLen
  h.writeUInt32BE(bodyOverride ?? kb.length + extLen + vb.length, 8)
  return new Uint8Array(Buffer.concat([h, ext, kb, vb]))
})

/** A replication stream fragment as a peer might send it. */
export const replicationMessage: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(key, num, num, data, num, fc.integer({min: -1, max: 1})).map(([k, f, e, d, c, skew]) => `rep ${k} ${f} ${e} ${Math.max(0, d.length + skew)} ${c}\r\n${d}\r\n`),
  fc.tuple(key, fc.option(num)).map(([k, c]) => `delete ${k}${c === null ? '' : ' ' + c}\r\n`),
  num.map((n) => `flush_all ${n}\r\n`),
  fc.constantFrom('flush_all\r\n', 'marugoto_end\r\n', 'hb\r\n', 'ack 5\r\n', 'get k\r\n', '\r\n', 'rep\r\n', 'rep k 0 0 5\r\n'),
)

/** A stream built from requests, then maybe mutated: bytes flipped, inserted or dropped. */
export function stream(requests: fc.Arbitrary<Uint8Array | string>, max = 8): fc.Arbitrary<Buffer> {
  const base = fc.array(requests, {minLength: 1, maxLength: max}).map((rs) => Buffer.concat(rs.map((r) => (typeof r === 'string' ? Buffer.from(r, 'latin1') : Buffer.from(r)))))
  const mutation = fc.array(fc.tuple(fc.nat(), fc.constantFrom('flip', 'insert', 'drop'), fc.nat({max: 255})), {maxLength: 4})
  return fc.oneof(
    {weight: 3, arbitrary: base},
    {weight: 2, arbitrary: fc.tuple(base, mutation).map(([b, ms]) => mutate(b, ms))},
    {weight: 1, arbitrary: fc.uint8Array({maxLength: 300}).map((u) => Buffer.from(u))},
  )
}

function mutate(b: Buffer, ms: [number, 'flip' | 'insert' | 'drop', number][]): Buffer {
  let out = b
  for (const [at, kind, byte] of ms) {
    if (out.length === 0) break
    const i = at % out.length
    if (kind === 'flip') { out = Buffer.from(out); out[i] = byte }
    else if (kind === 'insert') out = Buffer.concat([out.subarray(0, i), Buffer.from([byte]), out.subarray(i)])
    else out = Buffer.concat([out.subarray(0, i), out.subarray(i + 1)])
  }
  return out
}

/** Cut points for a stream of `n` bytes. */
export const cuts = fc.array(fc.nat(), {maxLength: 6})

export function split(b: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((a) => (b.length === 0 ? 0 : a % b.length)))].filter((p) => p > 0).sort((x, y) => x - y)
  const parts: Buffer[] = []
  let prev = 0
  for (const p of points) { parts.push(b.subarray(prev, p)); prev = p }
  parts.push(b.subarray(prev))
  return parts
}
