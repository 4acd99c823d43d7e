// The steps `repctl start` and `repctl stop` add for a pair with a VIP.
// start: the checks (before any node starts: the node listens on the VIP, so
// the host must allow that first), then keepalived on both hosts once the
// nodes serve, then a wait until exactly one host holds the VIP.
// stop: keepalived before its node, so the VIP leaves (to the peer, if it
// serves) before the node stops answering.

import type {NodeConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {Host} from '../../hosts/host.js'
import {nodeProcess} from '../observe.js'
import type {Step} from '../plan.js'
import {waitUntil} from '../node-control.js'
import {startKeepalived, stopKeepalived, type VipPair} from './keepalived.js'
import {observeVip, type VipObservation} from './observe.js'
import {allowNonlocalBind, checkVipFree, checkVipHost, NONLOCAL_BIND_SYSCTL} from './preflight.js'

type Pool = {for(node: NodeConfig): Host}

/** keepalived elects a holder within about 3 adverts plus the first check (1 s): seconds, not tens. */
const VIP_SETTLE_TIMEOUT_MS = 20_000

const pairName = (pair: VipPair): string => `${pair.nodes[0].name},${pair.nodes[1].name}`

/** Root, keepalived, the interface and ip_nonlocal_bind on both hosts; the VIP not used elsewhere (first start only). */
export function vipPreflightStep(pool: Pool, pair: VipPair): Step {
  return {
    title: `Check the VIP ${pair.vip.address} of ${pairName(pair)} (keepalived, ${pair.vip.interface}, ${NONLOCAL_BIND_SYSCTL})`,
    run: async () => {
      const notes: string[] = []
      for (const node of pair.nodes) {
        const host = pool.for(node)
        notes.push(await checkVipHost(host, pair, node))
        if (await allowNonlocalBind(host) === 'set') {
          notes.push(`${host.label}: set ${NONLOCAL_BIND_SYSCTL}=1 so ${node.name} can listen on the VIP (not kept across a reboot; repctl start sets it again)`)
        }
      }
      notes.push(await checkVipFree(pool, pair))
      return notes.join('\n')
    },
  }
}

/** A running node that was started before its pair had a VIP does not listen on it: say so. */
async function listensOnVip(host: Host, node: NodeConfig, vip: string): Promise<string | undefined> {
  const proc = await nodeProcess(host, node)
  if (proc.process !== 'running' || proc.commandLine === undefined) return undefined
  return proc.commandLine.includes(` ${node.host},${vip} `) ? undefined
    : `; ${node.name} does not listen on the VIP (started before the VIP was configured): restart it with repctl rejoin ${node.name}`
}

export function startKeepalivedStep(pool: Pool, pair: VipPair, node: NodeConfig): Step {
  return {
    title: `Start keepalived of ${node.name} (VIP ${pair.vip.address})`,
    run: async () => {
      const host = pool.for(node)
      const r = await startKeepalived(host, pair, node)
      const what = r.action === 'started' ? `started, pid ${r.pid}` : r.action === 'reloaded' ? `config changed: reloaded (SIGHUP), pid ${r.pid}` : `already running with this config, pid ${r.pid}`
      const stale = r.staleVipRemoved ? `; removed the VIP left on ${pair.vip.interface} by a keepalived that was killed` : ''
      return `${what}${stale}${await listensOnVip(host, node, pair.vip.address) ?? ''}`
    },
  }
}

function describeVip(o: VipObservation): string {
  const k = o.keepalived.map((x) => `${x.node}: ${x.process}${x.state === null ? '' : ` ${x.state}`}`).join(', ')
  return `held by ${o.holders.length === 0 ? 'no host' : o.holders.join(' and ')}; keepalived ${k}`
}

/** Wait until exactly one host holds the VIP; resolves with which. */
export function verifyVipStep(pool: Pool, pair: VipPair): Step {
  return {
    title: `Verify the VIP ${pair.vip.address} is held by one node of ${pairName(pair)}`,
    run: async () => {
      let last: VipObservation | undefined
      await waitUntil(async () => {
        last = await observeVip(pool, pair)
        return last.holders.length === 1
      }, VIP_SETTLE_TIMEOUT_MS, `the VIP ${pair.vip.address} to settle on one host`).catch((e: Error) => {
        throw new RepctlError('TIMEOUT', `${e.message} (last seen: ${last === undefined ? 'nothing' : describeVip(last)})`,
          ['read the keepalived logs: keepalived.log in each node\'s directory; check that the hosts reach each other (VRRP, IP protocol 112)'])
      })
      const holder = pair.nodes.find((n) => n.name === last!.holders[0])!
      return `on ${holder.name}'s host (${holder.host}, ${pair.vip.interface})`
    },
  }
}

/** Both keepalived, preferred node first, then the wait for one holder. */
export function startVipSteps(pool: Pool, pair: VipPair): Step[] {
  return [...pair.nodes.map((n) => startKeepalivedStep(pool, pair, n)), verifyVipStep(pool, pair)]
}

export function stopKeepalivedStep(pool: Pool, pair: VipPair, node: NodeConfig): Step {
  return {
    title: `Stop keepalived of ${node.name} (VIP ${pair.vip.address})`,
    run: async () => {
      const r = await stopKeepalived(pool.for(node), pair, node)
      const what = r.outcome === 'not_running' ? 'was not running' : r.outcome === 'killed' ? 'did not exit on SIGTERM; killed' : 'stopped'
      return r.vipRemoved ? `${what}; removed the VIP it left on ${pair.vip.interface}` : what
    },
  }
}

/**
 * A node of a VIP pair has just restarted: wait until its keepalived's check
 * passes again (BACKUP, or MASTER), so that a switchover that follows can
 * move the VIP to it. Until its first successful check keepalived is FAULT.
 */
export function keepalivedReadyStep(pool: Pool, pair: VipPair, node: NodeConfig): Step {
  return {
    title: `Wait for the keepalived of ${node.name} to be ready to take the VIP ${pair.vip.address}`,
    run: async () => {
      let state = 'unknown'
      await waitUntil(async () => {
        const k = (await observeVip(pool, pair)).keepalived.find((x) => x.node === node.name)
        state = k?.process !== 'running' ? k?.process ?? 'unknown' : k.state ?? 'in no known state'
        return k?.process === 'running' && (k.state === 'BACKUP' || k.state === 'MASTER')
      }, VIP_SETTLE_TIMEOUT_MS, `the keepalived of ${node.name} to pass its check`).catch((e: Error) => {
        throw new RepctlError('VIP_NOT_MOVED', `${e.message}: it is ${state}`, [`read keepalived.log in ${node.name}'s directory, then run the command again`])
      })
      return state
    },
  }
}
