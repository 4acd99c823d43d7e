// `repctl start`: bring each pair to "paired", changing only what is not
// running. The decision is a pure function of the two observations.

import type {ClusterConfig, NodeConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'
import type {HostPool} from '../hosts/pool.js'
import {installNode, preflight, startNode, waitUntil} from './node-control.js'
import {nodeProcess, observeForAction, observeNode, type NodeObservation} from './observe.js'
import type {Plan, Step} from './plan.js'
import {settleSecret, type SecretUse} from './replication-secret.js'
import {chooseMaster, readSnapshot} from './snapshots.js'
import {selectPairs} from './topology.js'
import {pairVerdict} from './verdict.js'
import {vipPairOf} from './vip/keepalived.js'
import {startVipSteps, vipPreflightStep} from './vip/steps.js'
import {confirmRemovals, ringChanges, startRouterSteps, type RouterStartResult} from './router/steps.js'

export type StartDecision =
  | {action: 'none'; reason: string}
  | {action: 'start_both'; first: string; second: string}
  | {action: 'start_slave'; node: string; master: string}
  | {action: 'refuse'; code: 'SPLIT_BRAIN' | 'NOT_PAIRED' | 'HOST_ERROR'; reason: string}

type Obs = Pick<NodeObservation, 'name' | 'process' | 'role' | 'state'>

/** `preferred` is the node to make master when both are down (the first one named). */
export function decideStart(preferred: Obs, other: Obs): StartDecision {
  for (const n of [preferred, other]) {
    if (n.process === 'unknown') return {action: 'refuse', code: 'HOST_ERROR', reason: `cannot tell whether ${n.name} runs`}
  }
  const v = pairVerdict(preferred, other)
  switch (v.verdict) {
    case 'ok':
    case 'copying':
      return {action: 'none', reason: `already running (${v.reason})`}
    case 'down':
      return {action: 'start_both', first: preferred.name, second: other.name}
    case 'slave_down': {
      const down = preferred.process === 'running' ? other : preferred
      return {action: 'start_slave', node: down.name, master: v.master!}
    }
    case 'split_brain':
      return {action: 'refuse', code: 'SPLIT_BRAIN', reason: v.reason}
    case 'master_down':
    case 'unpaired':
      return {action: 'refuse', code: 'NOT_PAIRED', reason: `${v.reason}; starting more now could split the pair`}
  }
}

export interface StartResult {
  cluster: string
  pairs: {
    nodes: [string, string]; master: string | null; started: string[]; alreadyRunning: boolean
    /** Both nodes were down: the snapshot the master started from (null: none, the pair started empty). */
    restoredFrom: {node: string; time: string; items: number} | null
  }[]
  /** Each router, after every pair: how it was brought up and what its ring gained and lost. */
  routers: RouterStartResult[]
}

/**
 * Steps that start one node beside its running peer and wait until it serves
 * (a slave: after its copy). `running`: the peer as observed, whose use of a
 * replication secret the node must match to pair with it.
 */
export function startSteps(pool: HostPool, node: NodeConfig, peer: NodeConfig, running: NodeObservation): Step[] {
  const host = pool.for(node)
  let secret: SecretUse = 'none'
  // Another actor (a supervisor's repair, typically) may start the node between our stop and our
  // start. Its node rejoins the same live master, so we take it as started rather than fail on
  // its ports; the step after these (verifyPairedStep) still checks the pair.
  let startedElsewhere: number | undefined
  const alreadyRunning = async (): Promise<number | undefined> => {
    const p = await nodeProcess(host, node)
    return p.process === 'running' && p.pid !== null ? p.pid : undefined
  }
  const elsewhere = (pid: number): string => `already running (pid ${pid}), started by another repctl (a supervisor?) meanwhile`
  return [
    {
      title: `Check ${node.name} (${node.host}:${node.port})`,
      run: async () => {
        startedElsewhere = await alreadyRunning()
        if (startedElsewhere !== undefined) return elsewhere(startedElsewhere)
        await preflight(host, node)
        return undefined
      },
    },
    {title: `Install repcached for ${node.name}`, run: async () => (startedElsewhere !== undefined ? 'skipped: already running' : installNode(host, node))},
    {
      title: `Replication secret for ${node.name}`,
      run: async () => {
        if (startedElsewhere !== undefined) return 'skipped: already running'
        const s = await settleSecret(pool, [node, peer], [node], running)
        secret = s.use
        return s.note
      },
    },
    {
      title: `Start ${node.name} as slave of ${peer.name} (full copy)`,
      run: async () => {
        if (startedElsewhere !== undefined) return elsewhere(startedElsewhere)
        try {
          return `pid ${await startNode(host, node, peer, secret)}`
        } catch (e) {
          const pid = await alreadyRunning().catch(() => undefined)
          if (pid !== undefined) return elsewhere(pid)
          throw e
        }
      },
    },
  ]
}

/** Wait until both nodes report a live link. */
export function verifyPairedStep(pool: HostPool, a: NodeConfig, b: NodeConfig): Step {
  return {
    title: `Verify ${a.name} and ${b.name} are paired`,
    run: async () => {
      let last = ''
      await waitUntil(async () => {
        const [oa, ob] = await Promise.all([observeNode(pool.for(a), a), observeNode(pool.for(b), b)])
        const v = pairVerdict(oa, ob)
        last = `${v.verdict}: ${v.reason}`
        return v.verdict === 'ok'
      }, 30_000, `${a.name} and ${b.name} to pair`).catch((e: Error) => { throw new RepctlError('NOT_PAIRED', `${e.message} (last seen: ${last})`) })
      return 'paired'
    },
  }
}

export interface StartOptions {
  /** Confirms dropping pairs from the routers' rings (their keys are lost to clients). */
  yes?: boolean
  /** Leave routers alone (the supervisor starts a pair; it tends routers itself). */
  routers?: boolean
}

export async function planStart(config: ClusterConfig, pool: HostPool, pair: string | undefined, opts: StartOptions = {}): Promise<Plan<StartResult>> {
  const steps: Step[] = []
  const result: StartResult = {cluster: config.cluster, pairs: [], routers: []}
  const withRouters = opts.routers !== false && config.routers.length > 0
  // Before anything starts: a pair dropped from a ring needs --yes.
  const removals = withRouters ? confirmRemovals(await ringChanges(config, pool), opts.yes === true) : []
  for (const [a, b] of selectPairs(config, pair)) {
    const [oa, ob] = await observeForAction(pool, [a, b]) as [NodeObservation, NodeObservation]
    const d = decideStart(oa, ob)
    // A pair with a VIP: its checks before any node starts (the node listens on the VIP), keepalived after.
    const vip = vipPairOf(config, [a.name, b.name])
    const vipChecks = vip === undefined ? [] : [vipPreflightStep(pool, vip)]
    const vipStarts = vip === undefined ? [] : startVipSteps(pool, vip)
    const entry: StartResult['pairs'][number] = {nodes: [a.name, b.name], master: pairVerdict(oa, ob).master, started: [], alreadyRunning: false, restoredFrom: null}
    result.pairs.push(entry)
    switch (d.action) {
      case 'refuse':
        throw new RepctlError(d.code, `pair ${a.name},${b.name}: ${d.reason}`)
      case 'none':
        entry.alreadyRunning = true
        steps.push({title: `Pair ${a.name},${b.name}: ${d.reason}`, run: async () => undefined}, ...vipChecks, ...vipStarts)
        break
      case 'start_both': {
        entry.master = a.name
        entry.started = [a.name, b.name]
        // Decided once both bundles are installed: the installed server judges its own snapshot.
        let choice = chooseMaster(a.name, {valid: false, reason: 'not checked'}, b.name, {valid: false, reason: 'not checked'})
        const byName = (name: string): NodeConfig => (name === a.name ? a : b)
        // Both preflights first, so that a taken port stops us before anything runs.
        steps.push({title: `Check ${a.name} and ${b.name}`, run: async () => { await preflight(pool.for(a), a); await preflight(pool.for(b), b) }}, ...vipChecks)
        for (const n of [a, b]) steps.push({title: `Install repcached for ${n.name}`, run: () => installNode(pool.for(n), n)})
        let secret: SecretUse = 'none'
        steps.push({
          title: `Replication secret of ${a.name},${b.name}`,
          run: async () => {
            const s = await settleSecret(pool, [a, b], [a, b])
            secret = s.use
            return s.note
          },
        })
        steps.push({
          title: `Choose the master of ${a.name},${b.name}: the node with the newest snapshot`,
          run: async () => {
            const [sa, sb] = await Promise.all([readSnapshot(pool.for(a), a), readSnapshot(pool.for(b), b)])
            choice = chooseMaster(a.name, sa, b.name, sb)
            entry.master = choice.first
            entry.started = [choice.first, choice.second]
            entry.restoredFrom = choice.from === null ? null : {node: choice.first, time: choice.from.time, items: choice.from.items}
            return choice.why
          },
        })
        steps.push(
          {title: 'Start the master', run: async () => `${choice.first}: pid ${await startNode(pool.for(byName(choice.first)), byName(choice.first), byName(choice.second), secret)}`},
          {title: 'Start the slave (full copy)', run: async () => `${choice.second}: pid ${await startNode(pool.for(byName(choice.second)), byName(choice.second), byName(choice.first), secret)}`},
          verifyPairedStep(pool, a, b),
          ...vipStarts,
        )
        break
      }
      case 'start_slave': {
        const node = d.node === a.name ? a : b
        const master = node === a ? b : a
        entry.master = master.name
        entry.started = [node.name]
        steps.push(...vipChecks, ...startSteps(pool, node, master, node === a ? ob : oa), verifyPairedStep(pool, a, b), ...vipStarts)
        break
      }
    }
  }
  if (withRouters) {
    if (removals.length > 0) steps.push({title: 'Remove pairs from the routers\' rings (confirmed with --yes)', run: async () => removals.join('\n')})
    for (const router of config.routers) steps.push(...startRouterSteps(config, pool, router, result.routers))
  }
  return {steps, result: () => result}
}
