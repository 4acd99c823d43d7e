// A request through a router, as a client makes it: `get` of keys nobody
// sets, over the router's client port. nutcracker answers END when the pair
// a key hashes to answered, and SERVER_ERROR (its reason) when it could not
// reach it, so one key per pair tells whether every pair is reachable
// through the router.

import {connect} from 'node:net'

export interface ProbeReply { key: string; reply: string }

/** Each key's reply line (END, VALUE…, SERVER_ERROR …), or an error naming what failed. */
export function probeRouter(host: string, port: number, keys: readonly string[], timeoutMs = 3000): Promise<ProbeReply[]> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const replies: ProbeReply[] = []
    const socket = connect({host, port})
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no reply within ${timeoutMs} ms (${replies.length} of ${keys.length} keys answered)`)) }, timeoutMs)
    socket.on('connect', () => socket.write(keys.map((k) => `get ${k}\r\n`).join('')))
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1')
      // A reply ends with END (a hit: VALUE line, data, END) or is one error line.
      for (;;) {
        const m = /^(?:VALUE [^\r\n]*\r\n[\s\S]*?\r\n)?END\r\n|^(?:SERVER_ERROR|CLIENT_ERROR|ERROR)[^\r\n]*\r\n/.exec(buffered)
        if (m === null) break
        buffered = buffered.slice(m[0].length)
        replies.push({key: keys[replies.length]!, reply: m[0].split('\r\n')[0]!})
        if (replies.length === keys.length) { clearTimeout(timer); socket.destroy(); resolve(replies); return }
      }
    })
    socket.on('error', (e) => { clearTimeout(timer); reject(e) })
    socket.on('close', () => { clearTimeout(timer); if (replies.length < keys.length) reject(new Error(`the router closed the connection after ${replies.length} of ${keys.length} replies`)) })
  })
}
