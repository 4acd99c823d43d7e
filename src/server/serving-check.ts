// `repcached --check-serving ADDRESS:PORT`: whether the server there answers
// clients, for keepalived's check of a pair with a VIP (it runs this every
// second on each node's host; exit 0 keeps the VIP there, 1 sends it away).
//
// What counts as serving: the server's own process replied within the bound.
// A port that refuses is a dead node, or a slave still receiving its full
// copy (it opens its client port only with the copy in hand), so neither may
// hold the VIP. A port that accepts but stays silent is a frozen process: the
// kernel completes TCP handshakes for it, which is why a connect is not
// enough. Any reply line counts, an error too: with -Y an unauthenticated
// `version` gets a CLIENT_ERROR, which proves the process answers as well as a
// version does, and the check needs no credentials. Through TLS the
// handshake itself is the process's reply (the kernel does not do TLS); the
// server's certificate is not verified, since nothing secret is sent and the
// address is the node's own, and a server that requires a client
// certificate answers our lack of one with a TLS alert, which is a reply too.

import {connect, type Socket} from 'node:net'
import {connect as tlsConnect} from 'node:tls'

export interface ServingCheck { host: string; port: number; tls: boolean; timeoutMs: number }
export interface CheckOutcome { serving: boolean; why: string }

/** A TLS alert the peer sent (OpenSSL's "...ALERT..." error codes): the server's process answered. */
const TLS_ALERT = /ALERT/

export function checkServing(c: ServingCheck): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const where = `${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`
    let socket: Socket
    let settled = false
    const done = (serving: boolean, why: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({serving, why: `${where}: ${why}`})
    }
    const timer = setTimeout(() => done(false, `no answer within ${c.timeoutMs} ms`), c.timeoutMs)
    const ask = (): void => { socket.write('version\r\n') }
    socket = c.tls
      ? tlsConnect({host: c.host, port: c.port, rejectUnauthorized: false}, () => done(true, 'TLS handshake completed'))
      : connect({host: c.host, port: c.port}, ask)
    let got = ''
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => {
      got += d
      const line = got.indexOf('\r\n')
      if (line !== -1) done(true, `answered ${JSON.stringify(got.slice(0, line))}`)
    })
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (c.tls && TLS_ALERT.test(e.code ?? '')) done(true, `answered with a TLS alert (${e.code})`)
      else done(false, e.code === 'ECONNREFUSED' ? 'refused (not running, or a slave still receiving its full copy)' : e.message)
    })
    socket.on('close', () => done(false, 'closed without an answer'))
  })
}
