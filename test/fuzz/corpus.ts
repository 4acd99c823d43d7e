// Hostile inputs found by the fuzz suite or known from memcached's and
// repcached's history, replayed on every run: each must leave the parsers
// and a live server standing. Add a case here (name, bytes) whenever a run of
// `npm run fuzz` finds one; the failing seed and path are in its report.

export interface CorpusCase { name: string; protocol: 'text' | 'binary' | 'replication'; chunks: string[] }

const bin = (...bytes: number[]): string => Buffer.from(bytes).toString('latin1')
const header = (op: number, keyLen: number, extLen: number, bodyLen: number): string => {
  const h = Buffer.alloc(24)
  h[0] = 0x80; h[1] = op; h.writeUInt16BE(keyLen, 2); h[4] = extLen; h.writeUInt32BE(bodyLen >>> 0, 8)
  return h.toString('latin1')
}

export const CORPUS: CorpusCase[] = [
  {name: 'line of 3000 bytes without a newline', protocol: 'text', chunks: ['x'.repeat(3000)]},
  {name: 'get line of 100 KiB split in two', protocol: 'text', chunks: ['get ' + 'k '.repeat(25_000), 'k\r\n']},
  {name: 'set announcing 4 GiB', protocol: 'text', chunks: ['set k 0 0 4294967295\r\nabc']},
  {name: 'set with a negative length', protocol: 'text', chunks: ['set k 0 0 -1\r\nversion\r\n']},
  {name: 'NUL bytes in a command', protocol: 'text', chunks: ['get \0k\0\r\nset \0 0 0 1\r\n\0\r\n']},
  {name: 'more than 24 tokens', protocol: 'text', chunks: ['get ' + Array.from({length: 40}, (_, i) => `k${i}`).join(' ') + '\r\n']},
  {name: 'CRLF split between reads', protocol: 'text', chunks: ['set k 0 0 1\r', '\nv\r', '\nget k\r', '\n']},
  {name: 'incr past 2^64 and on a non-number', protocol: 'text', chunks: ['set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\nincr n 18446744073709551616\r\nset s 0 0 1\r\nx\r\nincr s 1\r\n']},
  {name: 'HTTP request on the memcached port', protocol: 'text', chunks: ['GET / HTTP/1.1\r\nHost: x\r\n\r\n']},
  {name: 'binary body length 2^31 (a negative int in memcached)', protocol: 'binary', chunks: [header(0x01, 1, 8, 2 ** 31) + bin(0, 0, 0, 0, 0, 0, 0, 0) + 'k']},
  {name: 'binary body length 2^32-1 on an unknown opcode', protocol: 'binary', chunks: [header(0x99, 0, 0, 2 ** 32 - 1) + 'abc']},
  {name: 'binary key longer than the body', protocol: 'binary', chunks: [header(0x00, 200, 0, 10) + 'x'.repeat(10)]},
  {name: 'binary header cut after 23 bytes, then a text command', protocol: 'binary', chunks: [header(0x0b, 0, 0, 0).slice(0, 23), 'get k\r\n']},
  {name: 'binary SASL auth with a 1 MiB body', protocol: 'binary', chunks: [header(0x21, 5, 0, 5 + 1024 * 1024) + 'PLAIN' + 'x'.repeat(1024 * 1024)]},
  {name: 'quiet meta pipeline split mid-flag and mid-value', protocol: 'text', chunks: ['ms k 3 q T', '0 F5\r\nab', 'c\r\nmg k q v k O', '1\r\nmg none q v\r\nmd k q\r\nmn\r', '\n']},
  {name: 'ms with a bad flag swallows its value', protocol: 'text', chunks: ['ms k 5 zz\r\nmn\r\nmn\r\n']},
  {name: 'meta keys that are not base64', protocol: 'text', chunks: ['mg %%% b\r\nms === 1 b\r\nx\r\nme ==== b\r\nma A b\r\n']},
  {name: 'meta lines of 24 and more tokens', protocol: 'text', chunks: ['mg k ' + 'v '.repeat(30) + '\r\nms k 1 ' + 'q '.repeat(30) + '\r\nx\r\n']},
  {name: 'get on the replication link (repcached segfaults)', protocol: 'replication', chunks: ['get k\r\n']},
  {name: 'rep with a value longer than -I', protocol: 'replication', chunks: ['rep k 0 0 2000000 1\r\n' + 'v'.repeat(1000)]},
  {name: 'replication line of 2 KiB', protocol: 'replication', chunks: ['rep ' + 'k'.repeat(2048)]},
  {name: 'rep with bad numbers', protocol: 'replication', chunks: ['rep k x y 1 z\r\nv\r\n']},
]

export function corpusBytes(c: CorpusCase): Buffer[] {
  return c.chunks.map((s) => Buffer.from(s, 'latin1'))
}
