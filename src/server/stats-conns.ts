// `stats conns`: one block per listener and client connection, numbered in
// one sequence as memcached numbers them by file descriptor.

/** What `stats conns` shows of one listener or client. */
export interface ConnectionInfo {
  /** Its number (memcached's fd; ours count up from 16, listeners first). */
  id: number
  /** memcached's `proto:address:port` of the client, or of the listener. */
  addr: string
  /** The address the client connected to; undefined for a listener. */
  listenAddr: string | undefined
  /** memcached's state name (conn_listening, conn_read, conn_nread, conn_parse_cmd, conn_mwrite, conn_watch). */
  state: string
  secsSinceLastCmd: number
}

/** memcached's text for a socket address: tcp:1.2.3.4:5, tcp6:[::1]:5, unix:/path. */
export function addressText(family: string | undefined, address: string | undefined, port: number | undefined, unixPath?: string): string {
  if (unixPath !== undefined) return `unix:${unixPath}`
  if (address === undefined) return '<AF 0>'
  return family === 'IPv6' ? `tcp6:[${address}]:${port ?? 0}` : `tcp:${address}:${port ?? 0}`
}

export function formatConns(conns: ConnectionInfo[]): string {
  let out = ''
  for (const c of conns) {
    out += `STAT ${c.id}:addr ${c.addr}\r\n`
    if (c.listenAddr !== undefined) out += `STAT ${c.id}:listen_addr ${c.listenAddr}\r\n`
    out += `STAT ${c.id}:state ${c.state}\r\nSTAT ${c.id}:secs_since_last_cmd ${c.secsSinceLastCmd}\r\n`
  }
  return out + 'END\r\n'
}
