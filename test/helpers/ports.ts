import {createServer} from 'node:net'

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const addr = srv.address()
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'))
      srv.close(() => resolve(addr.port))
    })
  })
}

function freeOn(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, host, () => srv.close(() => resolve(true)))
  })
}

/** A port free on every one of `hosts` a moment ago: the one port of a VIP pair's two nodes. */
export async function freePortOnAll(hosts: readonly string[]): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await freePort(hosts[0])
    if ((await Promise.all(hosts.slice(1).map((h) => freeOn(h, port)))).every(Boolean)) return port
  }
  throw new Error(`no port free on all of ${hosts.join(', ')} after 50 tries`)
}
