// The supervisor's /metrics endpoint (node:http): one exposition per scrape,
// taken when asked; scrapes that arrive while one is being taken share it.

import {createServer, type Server} from 'node:http'
import {isIP} from 'node:net'
import {RepctlError} from '../../errors.js'

export interface ListenAddress { host: string; port: number }

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** `--metrics [ADDR:]PORT`: loopback unless an address is given; an IPv6 address in brackets. */
export function parseListenAddress(text: string, flag = '--metrics'): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d+)$/.exec(text.trim())
  const bad = (why: string): RepctlError => new RepctlError('USAGE', `${flag} ${JSON.stringify(text)}: ${why}`, [`give [ADDR:]PORT, e.g. ${flag} 9150 (loopback) or ${flag} 0.0.0.0:9150`])
  if (m === null) throw bad('not [ADDR:]PORT')
  const port = Number(m[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be from 1 to 65535')
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '')
  if (isIP(host) === 0 && host !== 'localhost') throw bad(`${host} is not an IP address`)
  return {host, port}
}

export interface MetricsEndpoint { url: string; close(): Promise<void> }

/** Serve `render()` on GET /metrics; resolves once listening (a taken port rejects with what to do). */
export function serveMetrics(at: ListenAddress, render: () => Promise<string>): Promise<MetricsEndpoint> {
  let inFlight: Promise<string> | undefined
  const take = (): Promise<string> => {
    inFlight ??= render().finally(() => { inFlight = undefined })
    return inFlight
  }
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') {
      res.writeHead(404, {'content-type': 'text/plain'}).end('repctl serves its metrics on /metrics\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'text/plain'}).end('GET /metrics\n')
      return
    }
    take().then(
      (body) => { res.writeHead(200, {'content-type': METRICS_CONTENT_TYPE}).end(req.method === 'HEAD' ? undefined : body) },
      (e: Error) => { res.writeHead(500, {'content-type': 'text/plain'}).end(`repctl could not observe the cluster: ${e.message}\n`) },
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new RepctlError(e.code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'USAGE', `--metrics: cannot listen on ${at.host}:${at.port}: ${e.code ?? e.message}`, ['choose another port for --metrics']))
    })
    server.listen(at.port, at.host, () => {
      const host = at.host.includes(':') ? `[${at.host}]` : at.host
      resolve({
        url: `http://${host}:${at.port}/metrics`,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }),
      })
    })
  })
}
