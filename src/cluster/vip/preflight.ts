// What `repctl start` checks on the hosts of a pair with a VIP before it
// starts anything, each failure naming the host and the fix: root (keepalived
// adds addresses), keepalived installed, the interface present; and the one
// host setting the node needs: net.ipv4.ip_nonlocal_bind=1, so that the node
// can listen on the VIP while the other host holds it (it must answer there
// the moment the VIP arrives, without a restart). And, before the first start
// only, that nothing else on the network answers on the VIP.

import type {NodeConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {Host} from '../../hosts/host.js'
import {requireRoot} from '../../hosts/privilege.js'
import {interfaceAddresses} from './ip-addr.js'
import {requireKeepalived, type VipPair} from './keepalived.js'
import {observeVip} from './observe.js'

export const NONLOCAL_BIND_SYSCTL = 'net.ipv4.ip_nonlocal_bind'
const NONLOCAL_BIND_FILE = '/proc/sys/net/ipv4/ip_nonlocal_bind'

/** Root, keepalived and the interface on `node`'s host; resolves with a note for the step's line. */
export async function checkVipHost(host: Host, pair: VipPair, node: NodeConfig): Promise<string> {
  const {vip} = pair
  requireRoot(host, `keepalived of node ${node.name} (it adds the VIP ${vip.address} to ${vip.interface})`)
  const program = await requireKeepalived(host, node)
  if (await interfaceAddresses(host, vip.interface) === 'missing') {
    throw new RepctlError('VIP_INTERFACE_MISSING',
      `the interface ${vip.interface} of the VIP ${vip.address} (pair ${pair.nodes[0].name},${pair.nodes[1].name}) does not exist on ${host.label}, the host of node ${node.name}`,
      [`see the host's interfaces with \`ip -o link show\` and set vip.interface of that pair to the one that carries ${node.host}; both hosts need the same name`])
  }
  return `${host.label}: keepalived ${program}, ${vip.interface} present`
}

/**
 * Let the host's processes bind addresses it does not hold (the VIP), as
 * root, unless already allowed. Not persistent: a reboot resets it, and the
 * next `repctl start` sets it again (docs/vip.md shows the sysctl.d line).
 */
export async function allowNonlocalBind(host: Host): Promise<'already' | 'set'> {
  const now = (await host.readFile(NONLOCAL_BIND_FILE).catch(() => undefined))?.trim()
  if (now === '1') return 'already'
  requireRoot(host, `setting ${NONLOCAL_BIND_SYSCTL}=1 (so the node can listen on the VIP while the other host holds it)`)
  const r = await host.run('sysctl', ['-w', `${NONLOCAL_BIND_SYSCTL}=1`], {asRoot: true, timeoutMs: 10_000})
  const after = (await host.readFile(NONLOCAL_BIND_FILE).catch(() => undefined))?.trim()
  if (r.exitCode !== 0 || after !== '1') {
    throw new RepctlError('HOST_ERROR', `cannot set ${NONLOCAL_BIND_SYSCTL}=1 on ${host.label}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`,
      [`set it on that host as root: sysctl -w ${NONLOCAL_BIND_SYSCTL}=1, and keep it across reboots: echo ${NONLOCAL_BIND_SYSCTL}=1 > /etc/sysctl.d/60-repctl-vip.conf`])
  }
  return 'set'
}

export type ProbeOutcome = 'connected' | 'refused' | 'timeout' | 'unreachable' | 'error'

/**
 * Node.js on the host tries VIP:PORT for at most PROBE_MS: a connection or a
 * refusal means some machine has the address. The attempt also makes the
 * host resolve the VIP by ARP, which answers even when a firewall drops TCP.
 */
const PROBE_MS = 1000
const PROBE_SCRIPT = `const s=require('node:net').connect({host:process.argv[1],port:+process.argv[2]});` +
  `const t=setTimeout(()=>{console.log('timeout');process.exit(0)},${PROBE_MS});` +
  `s.on('connect',()=>{console.log('connected');process.exit(0)});` +
  `s.on('error',(e)=>{console.log(e.code==='ECONNREFUSED'?'refused':/EHOSTUNREACH|ENETUNREACH/.test(e.code)?'unreachable':'error');process.exit(0)})`

/** A neighbour entry that an ARP reply confirmed just now (`ip neigh show ADDR dev IF`): the link-layer address, or undefined. */
export function answeredArp(neighOutput: string): string | undefined {
  return /\blladdr\s+([0-9a-f:]+)\s+.*\bREACHABLE\b/i.exec(neighOutput)?.[1]
}

/**
 * Before the first start (no keepalived of the pair runs, no host of the
 * pair holds the VIP): throw VIP_IN_USE if the VIP answers anyway, seen from
 * the first node's host. Bounded by about a second; sends one TCP SYN (and
 * ARP) to the VIP, nothing else. Resolves with a note for the step's line.
 */
export async function checkVipFree(pool: {for(node: NodeConfig): Host}, pair: VipPair): Promise<string> {
  const seen = await observeVip(pool, pair)
  const running = seen.keepalived.filter((k) => k.process === 'running').map((k) => k.node)
  if (running.length > 0) return `keepalived already runs for ${running.join(', ')}`
  if (seen.holders.length > 0) return `held by the host of ${seen.holders.join(', ')} (left by a keepalived that was killed; repctl takes it over)`
  const [node] = pair.nodes
  const host = pool.for(node)
  const {vip} = pair
  // A neighbour entry stays REACHABLE for about 30 s: one left from a holder that just let the VIP go
  // (repctl stop, then start) would look like an answer. Forget it, so only an answer to this probe counts.
  await host.run('ip', ['neigh', 'flush', 'to', vip.address, 'dev', vip.interface], {asRoot: true, timeoutMs: 10_000})
  const r = await host.run(host.nodePath, ['-e', PROBE_SCRIPT, vip.address, String(node.port)], {timeoutMs: PROBE_MS + 10_000})
  const tcp = r.stdout.trim() as ProbeOutcome
  const neigh = await host.run('ip', ['neigh', 'show', vip.address, 'dev', vip.interface], {timeoutMs: 10_000})
  const mac = neigh.exitCode === 0 ? answeredArp(neigh.stdout) : undefined
  if (tcp === 'connected' || tcp === 'refused' || mac !== undefined) {
    const how = [tcp === 'connected' ? `port ${node.port} accepted a connection` : tcp === 'refused' ? `port ${node.port} refused (a host is there)` : '', mac === undefined ? '' : `ARP answered by ${mac}`].filter((x) => x !== '').join(', ')
    throw new RepctlError('VIP_IN_USE',
      `the VIP ${vip.address} of pair ${pair.nodes[0].name},${pair.nodes[1].name} answers on the network (seen from ${host.label}: ${how}), but no host of the pair holds it: another machine uses that address`,
      ['choose a free address for vip.address in the config, or free it on the machine that uses it (its MAC is in the message when ARP answered)'])
  }
  return `nothing answers on ${vip.address} (seen from ${host.label})`
}
