// Start replicating nodes of our server on loopback with free ports.

import {freePort} from './ports.js'
import {launch, SERVER_BUNDLE, type RunningServer} from './processes.js'
import {RawClient} from './raw-client.js'

export interface NodeSpec {
  /** Client port (chosen free if absent). */
  port?: number
  /** Replication listen port. */
  repListen: number
  /** The peer's replication port we connect to. */
  repConnect?: number
  /** -x peer host; undefined = start as master. */
  peer?: string
  extra?: string[]
  /** -l address (loopback); default 127.0.0.1. */
  host?: string
  /** Extra environment variables for the node process. */
  env?: Record<string, string>
}

export interface ReplNode extends RunningServer {
  readonly host: string
  readonly repPort: number
  readonly args: string[]
}

/** Start one node; resolves when its client port accepts (for a slave: after the full copy). */
export async function startNode(spec: NodeSpec, timeoutMs = 15_000): Promise<ReplNode> {
  const x = spec.peer === undefined ? [] : ['-x', spec.peer]
  const repX = spec.repConnect === undefined ? String(spec.repListen) : `${spec.repListen}:${spec.repConnect}`
  const host = spec.host ?? '127.0.0.1'
  let args: string[] = []
  const server = await launch(process.execPath, (port) => {
    args = ['-p', String(port), '-l', host, '-X', repX, ...x, ...(spec.extra ?? [])]
    return [SERVER_BUNDLE, ...args]
  }, 'node', {port: spec.port, host, readyTimeoutMs: timeoutMs, stopGraceMs: 10_000, env: spec.env})
  return {...server, host, repPort: spec.repListen, args}
}

/** Two nodes that name each other as -x, master first. */
export async function startPair(extra: string[] = []): Promise<{master: ReplNode; slave: ReplNode}> {
  const [ra, rb] = [await freePort(), await freePort()]
  const master = await startNode({repListen: ra, repConnect: rb, peer: '127.0.0.1', extra: ['-v', ...extra]})
  const slave = await startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1', extra: ['-v', ...extra]})
  return {master, slave}
}

/** One `stats` value. */
export async function stat(port: number, name: string, host = '127.0.0.1'): Promise<string | undefined> {
  const c = await RawClient.open(port, host)
  try {
    const reply = await c.request('stats\r\n', 'END\r\n')
    const m = new RegExp(`^STAT ${name} (.*)\r$`, 'm').exec(reply)
    return m?.[1]
  } finally { c.close() }
}

/** Poll until `check` holds or time runs out; returns whether it held. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 5000, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, stepMs))
  }
  return check()
}

/** gets for many keys: key -> "flags bytes cas value". */
export async function dump(port: number, keys: string[], host = '127.0.0.1'): Promise<Map<string, string>> {
  const c = await RawClient.open(port, host)
  const out = new Map<string, string>()
  try {
    for (let i = 0; i < keys.length; i += 100) {
      const reply = await c.request(`gets ${keys.slice(i, i + 100).join(' ')}\r\n`, 'END\r\n', 10_000)
      const re = /VALUE (\S+) (\d+) (\d+) (\d+)\r\n/g
      let m: RegExpExecArray | null
      while ((m = re.exec(reply)) !== null) {
        const len = Number(m[3])
        const value = reply.slice(re.lastIndex, re.lastIndex + len)
        out.set(m[1]!, `${m[2]} ${len} ${m[4]} ${value}`)
        re.lastIndex += len + 2
      }
    }
  } finally { c.close() }
  return out
}
