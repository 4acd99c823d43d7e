// Asks one node for its `stats`: over the binary protocol (memjs) for an
// open node; over the text protocol for a locked-down one, through TLS with
// the cluster's CA (and repctl's client certificate) and logged in as the
// first user of the users file, the way any memcached client would.

import {readFileSync} from 'node:fs'
import {connect, isIP, type Socket} from 'node:net'
import {connect as tlsConnect} from 'node:tls'
import memjs from 'memjs'
import type {SecurityConfig} from '../config/security.js'
import {userLines} from '../shared/users-file.js'

/** All stats lines of a node, or undefined if it does not answer within the timeout. */
export function fetchStats(host: string, port: number, timeoutMs = 1500, security?: SecurityConfig): Promise<Record<string, string> | undefined> {
  if (security?.tls !== undefined || security?.usersFile !== undefined) return lockedStats(host, port, timeoutMs, security)
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  const seconds = timeoutMs / 1000
  // memjs logs to stdout by default, which would corrupt --json output.
  const client = memjs.Client.create(address, {retries: 0, timeout: seconds, conntimeout: seconds, logger: {log: () => {}}})
  return new Promise((resolve) => {
    const done = settleOnce(resolve, timeoutMs + 500, () => client.close())
    client.stats((err, _server, stats) => done(err === null || err === undefined ? (stats ?? undefined) : undefined))
  })
}

type Stats = Record<string, string> | undefined

/** The first answer wins; no answer within `timeoutMs` is undefined. `cleanup` runs once, either way. */
function settleOnce(resolve: (v: Stats) => void, timeoutMs: number, cleanup: () => void): (v: Stats) => void {
  let settled = false
  const guard = setTimeout(() => done(undefined), timeoutMs)
  function done(v: Stats): void {
    if (settled) return
    settled = true
    clearTimeout(guard)
    cleanup()
    resolve(v)
  }
  return done
}

/** The first user of the users file: who repctl logs in as. */
function firstUser(usersFile: string): {user: string; password: string} | undefined {
  return userLines(readFileSync(usersFile, 'latin1'), usersFile)[0]
}

function lockedStats(host: string, port: number, timeoutMs: number, security: SecurityConfig): Promise<Record<string, string> | undefined> {
  return new Promise((resolve) => {
    let login = ''
    let socket: Socket
    try {
      const who = security.usersFile === undefined ? undefined : firstUser(security.usersFile)
      if (who !== undefined) {
        const data = `${who.user} ${who.password}`
        login = `set repctl 0 0 ${Buffer.byteLength(data, 'latin1')}\r\n${data}\r\n`
      }
      const tls = security.tls
      socket = tls === undefined
        ? connect({host, port})
        : tlsConnect({
          host, port, servername: isIP(host) === 0 ? host : undefined,
          ca: tls.ca === undefined ? undefined : readFileSync(tls.ca),
          cert: tls.clientCert === undefined ? undefined : readFileSync(tls.clientCert),
          key: tls.clientKey === undefined ? undefined : readFileSync(tls.clientKey),
        })
    } catch {
      resolve(undefined)
      return
    }
    const chunks: Buffer[] = []
    const done = settleOnce(resolve, timeoutMs, () => socket.destroy())
    socket.once(security.tls === undefined ? 'connect' : 'secureConnect', () => socket.write(`${login}stats\r\n`))
    socket.on('error', () => done(undefined))
    socket.on('close', () => done(undefined))
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      const text = Buffer.concat(chunks).toString('latin1')
      if (text.includes('CLIENT_ERROR') || text.startsWith('ERROR')) { done(undefined); return }
      if (!text.endsWith('END\r\n')) return
      const stats: Record<string, string> = {}
      for (const line of text.split('\r\n')) {
        const m = /^STAT (\S+) (.*)$/.exec(line)
        if (m !== null) stats[m[1]!] = m[2]!
      }
      done(stats)
    })
  })
}
