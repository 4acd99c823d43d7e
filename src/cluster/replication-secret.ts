// The pair's replication secret. Unless the config names a file (or says
// `none`), repctl makes one at the first start and keeps it with the cluster:
// in each node's private secrets dir on the node's host, never on the machine
// that ran the command, so that any machine managing the cluster with the same
// config finds and uses the same secret. What to do is a pure function of what
// the hosts hold and what a running peer uses; the I/O is around it.

import {randomBytes} from 'node:crypto'
import type {NodeConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'
import type {HostPool} from '../hosts/pool.js'
import type {NodeObservation} from './observe.js'
import {generatedSecretPath, nodePaths} from './topology.js'

/** What the server of a node is started with: the configured file, the generated one, or no secret. */
export type SecretUse = 'configured' | 'generated' | 'none'
/** What the config asks for: its own file, none at all, or (no key) the one repctl generates. */
export type SecretMode = 'configured' | 'off' | 'generated'

export function secretMode(node: NodeConfig): SecretMode {
  if (node.security?.replicationSecretFile !== undefined) return 'configured'
  if (node.security?.replicationSecretOff === true) return 'off'
  return 'generated'
}

/** One node's generated secret as found on its host (the server's reading: one trailing newline dropped). */
export interface SecretHolding { node: string; host: string; path: string; secret: string | undefined }

export type SecretDecision =
  | {use: 'configured' | 'none'; note: string}
  /** `from`: the node whose copy is used, null: make a new one; `installOn`: nodes whose host lacks it. */
  | {use: 'generated'; from: string | null; installOn: string[]; note: string}
  | {use: 'refuse'; message: string; suggestion: string}

/** The node of the pair that keeps running while the other starts, and whether it demands a secret (null: cannot tell). */
export interface RunningPeer { name: string; usesSecret: boolean | null }

const LOCK_HINT = 'to lock the pair, restart both nodes: repctl stop && repctl start (the data comes back from the snapshots)'

/**
 * Which secret `starting` starts with. Both nodes starting: the config's
 * choice, a generated secret found on either host, or a new one. One node
 * starting beside a running peer: whatever that peer demands, since the
 * handshake refuses a link where one side has a secret and the other none.
 */
export function decideSecret(mode: SecretMode, starting: string[], holdings: SecretHolding[], peer?: RunningPeer): SecretDecision {
  const who = starting.join(' and ')
  if (peer?.usesSecret === false) {
    if (mode === 'off') return {use: 'none', note: 'no secret (replicationSecretFile: none)'}
    return {use: 'none', note: `no secret: ${peer.name} runs without one (started before repctl made one by default), and ${who} must pair with it; ${LOCK_HINT}`}
  }
  if (mode === 'configured') return {use: 'configured', note: 'secret from security.replicationSecretFile'}
  if (mode === 'off') {
    if (peer?.usesSecret === true) {
      return {
        use: 'refuse',
        message: `${peer.name} runs with a replication secret but the config turns it off (replicationSecretFile: none): started without one, ${who} would be refused by it`,
        suggestion: 'restart both nodes so that they start without it: repctl stop && repctl start; or drop `replicationSecretFile: none` to keep the secret',
      }
    }
    return {use: 'none', note: 'no secret (replicationSecretFile: none)'}
  }
  const empty = holdings.find((h) => h.secret === '')
  if (empty !== undefined) {
    return {use: 'refuse', message: `the generated replication secret ${empty.path} of ${empty.node} on ${empty.host} is empty`, suggestion: `delete it (rm ${empty.path} on ${empty.host}) and run the command again`}
  }
  const found = holdings.filter((h) => h.secret !== undefined)
  const [first, second] = found
  if (first !== undefined && second !== undefined && first.secret !== second.secret) {
    const running = peer === undefined ? undefined : found.find((h) => h.node === peer.name)
    const other = running === undefined ? undefined : found.find((h) => h !== running)
    return {
      use: 'refuse',
      message: `the generated replication secrets of ${first.node} (${first.path} on ${first.host}) and ${second.node} (${second.path} on ${second.host}) differ; repctl will not pick one`,
      suggestion: running !== undefined && other !== undefined
        ? `${running.node} runs with its own copy: delete the other (rm ${other.path} on ${other.host}) and run the command again`
        : `keep one: delete either file (rm ${first.path} on ${first.host}, or rm ${second.path} on ${second.host}) and run the command again; both nodes then use the other`,
    }
  }
  const missing = holdings.filter((h) => h.secret === undefined).map((h) => h.node)
  if (first !== undefined) return {use: 'generated', from: first.node, installOn: missing, note: `generated secret (kept on the node hosts)${missing.length > 0 ? `; copied from ${first.node} to ${missing.join(', ')}` : ''}`}
  if (peer?.usesSecret === true) {
    return {
      use: 'refuse',
      message: `${peer.name} runs with a replication secret, but no generated secret is on either node's host and none is configured: ${who} could not pair with it`,
      suggestion: 'restart both nodes so that repctl makes a new secret for both: repctl stop && repctl start; or set security.replicationSecretFile to the file it uses',
    }
  }
  return {use: 'generated', from: null, installOn: missing, note: `new generated secret, written (0600) into the secrets dir of ${missing.join(' and ')} on ${missing.length > 1 ? 'their hosts' : 'its host'}`}
}

/** A new secret: 32 random bytes as hex (the server takes the file's text, one trailing newline dropped). */
export function newSecret(): string {
  return randomBytes(32).toString('hex')
}

/** Read the generated secret of each node of the pair on its host. */
async function holdings(pool: HostPool, pair: NodeConfig[]): Promise<SecretHolding[]> {
  return Promise.all(pair.map(async (node) => {
    const host = pool.for(node)
    const path = generatedSecretPath(node)
    let text: string | undefined
    try {
      text = await host.readFile(path)
    } catch (e) {
      if (e instanceof RepctlError) throw e
      throw new RepctlError('HOST_ERROR', `cannot read the replication secret ${path} of node ${node.name} on ${host.label}: ${(e as Error).message}`)
    }
    return {node: node.name, host: host.label, path, secret: text?.replace(/\r?\n$/, '')}
  }))
}

/**
 * Settle the secret before `starting` (one node, or both) start: read what
 * the hosts hold, decide, and put the generated secret where it is missing.
 * `peer`: the node that keeps running, as observed.
 */
export async function settleSecret(pool: HostPool, pair: [NodeConfig, NodeConfig], starting: NodeConfig[], peer?: Pick<NodeObservation, 'name' | 'replicationSecret'>): Promise<{use: SecretUse; note: string}> {
  const mode = secretMode(pair[0])
  const running: RunningPeer | undefined = peer === undefined ? undefined : {name: peer.name, usesSecret: peer.replicationSecret}
  const held = mode === 'generated' ? await holdings(pool, pair) : []
  const d = decideSecret(mode, starting.map((n) => n.name), held, running)
  if (d.use === 'refuse') throw new RepctlError('SECRET_CONFLICT', d.message, [d.suggestion])
  if (d.use !== 'generated') return {use: d.use, note: d.note}
  const secret = d.from === null ? newSecret() : held.find((h) => h.node === d.from)!.secret!
  for (const node of pair.filter((n) => d.installOn.includes(n.name))) {
    const host = pool.for(node)
    const path = generatedSecretPath(node)
    try {
      await host.makePrivateDir(nodePaths(node).secrets)
      await host.writeFile(path, `${secret}\n`, 0o600)
    } catch (e) {
      if (e instanceof RepctlError) throw e
      throw new RepctlError('HOST_ERROR', `cannot write the replication secret ${path} of node ${node.name} on ${host.label}: ${(e as Error).message}`)
    }
  }
  return {use: 'generated', note: d.note}
}

/** `status`: whether the pair's link is authenticated by the shared secret, and why (a stable contract, see the status schema). */
export interface LinkAuth {
  /** Both nodes that can be seen demand the secret (so a link between them proved it); null: no node can be seen. */
  authenticated: boolean | null
  /** What the config asks for: its own file, the generated secret, or off (replicationSecretFile: none). */
  secret: SecretMode
  /** One line for people: what holds, and what to run where it should not. */
  summary: string
}

const SOURCE: Record<Exclude<SecretMode, 'off'>, string> = {configured: 'secret from security.replicationSecretFile', generated: 'secret generated by repctl, kept on the node hosts'}
const OFF = 'off (replicationSecretFile: none)'

/** The link's authentication as seen in each node's repl_secret (or command line). */
export function linkAuth(mode: SecretMode, a: Pick<NodeObservation, 'name' | 'replicationSecret'>, b: Pick<NodeObservation, 'name' | 'replicationSecret'>): LinkAuth {
  const seen = [a, b].filter((n) => n.replicationSecret !== null)
  const without = seen.filter((n) => n.replicationSecret === false)
  if (seen.length === 0) return {authenticated: null, secret: mode, summary: mode === 'off' ? OFF : 'unknown: no node of the pair can be seen running'}
  if (without.length === 0) {
    const summary = mode === 'off' ? `yes (the nodes run with a secret; the config turns it off at their next restart: ${OFF})` : `yes (${SOURCE[mode]})`
    return {authenticated: true, secret: mode, summary}
  }
  if (mode === 'off') return {authenticated: false, secret: mode, summary: OFF}
  if (without.length < seen.length) {
    const w = without[0]!
    const other = seen.find((n) => n.replicationSecret === true)!
    return {authenticated: false, secret: mode, summary: `no: ${w.name} runs without the secret and ${other.name} with it, so they refuse each other; restart ${w.name} with it: repctl rejoin ${w.name} (or, if both are masters, repctl promote ${other.name} --yes)`}
  }
  const names = without.map((n) => n.name).join(' and ')
  return {authenticated: false, secret: mode, summary: `no: ${names} ${without.length > 1 ? 'run' : 'runs'} without a replication secret (started before repctl made one by default); ${LOCK_HINT}`}
}
