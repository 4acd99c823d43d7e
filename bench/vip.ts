// The bench's vip section: what a client of a pair's virtual IP sees when the
// node holding the VIP is killed with -9. A pair on two hosts with their own
// network (test/helpers/vip-cluster.ts: network namespaces, sshd, repctl over
// SSH, keepalived started by repctl), a client through VIP:port with a
// persistent connection and 200 ms timeouts (test/helpers/vip-client.ts), and
// per run: kill -9 of the holder's node, the time until the VIP is on the other
// host, the time until the client's first successful request after the kill
// (the client-visible outage), then `repctl rejoin` of the dead node and a
// healthy pair before the next run. Reports median and max over the runs, and
// the VRRP timings read from the keepalived.conf repctl rendered.
//
// Runs only where it can: root, network namespaces, keepalived installed, and
// a repctl that starts keepalived; otherwise it says which is missing.

import {existsSync} from 'node:fs'
import {netnsMissing} from '../test/helpers/netns.js'
import {clock, VipClient} from '../test/helpers/vip-client.js'
import {KEEPALIVED, otherOf, PORT, VIP, VipCluster, vipOf, type NodeName} from '../test/helpers/vip-cluster.js'

export type VipBench =
  | {skipped: string}
  | {runs: {holder: string; moveMs: number; outageMs: number; failures: number}[]; timings: string}

/** Why the section cannot run on this machine (before creating anything), or undefined. */
export function vipBenchUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, keepalived)'
  let netns: string | false
  try { netns = netnsMissing() } catch (e) { netns = (e as Error).message }
  if (netns !== false) return netns.replace(/^SKIPPED LOUDLY: /, '')
  if (!existsSync(KEEPALIVED)) return `${KEEPALIVED} not installed (apt-get install keepalived)`
  return undefined
}

/** The VRRP timings in a rendered keepalived.conf: advert interval and the check's interval, fall and rise. */
export function vrrpTimings(conf: string | undefined): string {
  if (conf === undefined) return 'keepalived.conf not found'
  const word = (key: string): string | undefined => new RegExp(`^\\s*${key}\\s+(\\S+)`, 'm').exec(conf)?.[1]
  const advert = word('advert_int')
  const interval = word('interval')
  return `advert_int ${advert ?? '?'} s, check every ${interval ?? '?'} s (fall ${word('fall') ?? '?'}, rise ${word('rise') ?? '?'}, timeout ${word('timeout') ?? '?'} s)`
}

export async function benchVip(runs: number, say: (line: string) => void): Promise<VipBench> {
  const unavailable = vipBenchUnavailable()
  if (unavailable !== undefined) return {skipped: unavailable}
  const vc = await VipCluster.create(`vipbench${process.pid.toString(36)}`)
  try {
    const started = await vc.repctl.run(['start'])
    if (started.code !== 0) throw new Error(`repctl start failed (exit ${started.code}): ${started.stdout}\n${started.stderr}`)
    const missing = await vc.lifecycleMissing()
    if (missing !== false) return {skipped: missing}
    const timings = vrrpTimings(vc.keepalivedConfig('node1'))
    say(`  vip: ${timings}`)
    const out: {holder: string; moveMs: number; outageMs: number; failures: number}[] = []
    for (let i = 0; i < runs; i++) {
      const holder = vipOf(await vc.waitHealthy(60_000))!.holder as NodeName
      const other = otherOf(holder)
      const client = new VipClient({endpoint: {host: VIP, port: PORT}, prefix: `bench${i}-`}).start()
      try {
        if (!await client.acknowledged(300, 15_000)) throw new Error(`the client cannot write through the VIP (${client.ledger.failureCount} failures)`)
        const faultAt = clock()
        process.kill(vc.nodePid(holder)!, 'SIGKILL')
        const moveMs = await vc.waitHolders([other], 15_000)
        if (!await client.acknowledged(50, 15_000)) throw new Error('the client got no answer through the VIP within 15 s of the kill')
        const outage = client.ledger.outageAfter(faultAt)!
        out.push({holder, moveMs, outageMs: outage.ms, failures: outage.failures})
        say(`  vip, run ${i + 1}: kill -9 of ${holder} → VIP on ${other}'s host after ${moveMs.toFixed(0)} ms, client answered after ${outage.ms.toFixed(0)} ms (${outage.failures} failed requests)`)
      } finally {
        await client.stop()
      }
      const rejoined = await vc.repctl.run(['rejoin', holder])
      if (rejoined.code !== 0) throw new Error(`repctl rejoin ${holder} failed (exit ${rejoined.code}): ${rejoined.stdout}\n${rejoined.stderr}`)
    }
    return {runs: out, timings}
  } finally {
    await vc.destroy()
  }
}
