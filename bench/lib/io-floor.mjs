// The floor under any Node memcached server, for the bench: a server with
// our read and write path (the accepted socket moved to one with `onread`
// into one reused buffer, one socket.write per read) that does as little
// else as it can: it answers each get with canned values and each set with
// STORED, without parsing further or storing anything. Its CPU per request
// is what Node's own I/O costs; ours minus it is what our protocol and store
// cost. Not a server: bench only.
//
// node io-floor.mjs PORT

import net from 'node:net'

const port = Number(process.argv[2])
const readBuffer = Buffer.allocUnsafe(64 * 1024)
const VALUE = Buffer.from(`VALUE key:000000 0 100\r\n${'a'.repeat(100)}\r\n`, 'latin1')
const END = Buffer.from('END\r\n', 'latin1')
const STORED = Buffer.from('STORED\r\n', 'latin1')
let out = Buffer.allocUnsafe(256 * 1024)

function serve(socket) {
  let carry = Buffer.alloc(0)
  /** Value bytes (with CRLF) still to skip. */
  let skip = 0
  return (length, bytes) => {
    let buf = bytes
    let end = length
    if (carry.length > 0) {
      buf = Buffer.concat([carry, bytes.subarray(0, length)])
      end = buf.length
      carry = Buffer.alloc(0)
    }
    let at = Math.min(skip, end)
    skip -= at
    let o = 0
    while (at < end) {
      const nl = buf.indexOf(10, at)
      if (nl === -1 || nl >= end) { carry = Buffer.from(buf.subarray(at, end)); break }
      if (buf[at] === 103) {
        // get k1 k2 …: one canned value per key
        for (let i = at + 3; i < nl; i++) if (buf[i] === 32) { VALUE.copy(out, o); o += VALUE.length }
        END.copy(out, o); o += END.length
        at = nl + 1
      } else {
        // set <key> <flags> <exptime> <bytes> [noreply]
        const words = buf.latin1Slice(at, nl).trim().split(' ')
        if (words.at(-1) !== 'noreply') { STORED.copy(out, o); o += STORED.length }
        const next = nl + 1 + Number(words[4]) + 2
        if (next > end) { skip = next - end; at = end } else at = next
      }
      if (o > out.length - 64 * 1024) { socket.write(out.subarray(0, o)); out = Buffer.allocUnsafe(out.length); o = 0 }
    }
    if (o > 0) {
      socket.write(out.subarray(0, o))
      if (socket.writableLength > 0) out = Buffer.allocUnsafe(out.length)
    }
  }
}

net.createServer({noDelay: true, pauseOnConnect: true}, (accepted) => {
  const handle = accepted._handle
  accepted._handle = null
  accepted.destroy()
  let onRead
  const socket = new net.Socket({handle, allowHalfOpen: false, readable: true, writable: true, onread: {buffer: readBuffer, callback: (n, b) => onRead(n, b)}})
  onRead = serve(socket)
  socket.on('error', () => {})
}).listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`))
