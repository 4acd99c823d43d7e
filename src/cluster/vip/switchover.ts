// The VIP's part in `repctl promote` for a pair with one: clients should
// reach the new master's host before the old master stops.
//
// - The VIP on the old master's host: write 1 into that node's drain file
//   (its keepalived goes to FAULT and sends a priority-0 advert; the peer
//   takes the VIP after its skew time, about 0.25 s) and wait, bounded, until
//   the new master's host alone holds it. Only then does the old master stop.
//   If it does not move in time, the drain is undone and promote fails with
//   nothing stopped. Both nodes are writable and replicate to each other, so
//   requests landing on the new master while it is still a slave are kept.
// - The VIP already on the new master's host, or on no host: nothing to move.
// - At the end, once the old master is back as a slave, the drain goes back
//   to 0: that host may take the VIP again on a later failure; nopreempt keeps
//   it from taking it back now. Any failure in between also sets it back to 0
//   (a drain left at 1 would keep the VIP off that host for good).
// - Healing a split brain, the VIP goes to the kept node's host the same way:
//   writes that land on the dropped node are discarded, so its clients move
//   first. When keepalived of the kept node cannot take the VIP, the heal
//   goes on without moving it (the dropped node's keepalived gives it up
//   when its node stops) instead of refusing: `repctl start`, which would
//   start that keepalived, refuses a split pair.

import type {NodeConfig} from '../../config/schema.js'
import {RepctlError} from '../../errors.js'
import type {Host} from '../../hosts/host.js'
import {waitUntil} from '../node-control.js'
import type {Step} from '../plan.js'
import type {VipPair} from './keepalived.js'
import {drainVip, observeVip, type VipObservation} from './observe.js'

type Pool = {for(node: NodeConfig): Host}

/** Drain → the peer holds it: measured 0.2-0.35 s; keepalived's own timers stay far below this. */
export const VIP_MOVE_TIMEOUT_MS = 5000

export type VipMoveDecision =
  | {action: 'drain'}
  | {action: 'none'; note: string}
  | {action: 'refuse'; code: 'VIP_NOT_MOVED' | 'HOST_ERROR'; reason: string; suggestion: string}

type Seen = Pick<VipObservation, 'address' | 'holders' | 'unobserved' | 'keepalived'>

/** What to do with the VIP when `to` becomes master in place of `from` (pure). */
export function decideVipMove(seen: Seen, to: string, from: string, heal: boolean, pair: string): VipMoveDecision {
  const {address} = seen
  if (seen.unobserved.length > 0) {
    return {action: 'refuse', code: 'HOST_ERROR', reason: `the VIP ${address}: the host of ${seen.unobserved.join(' and ')} cannot be asked where it is`, suggestion: 'check the host (repctl status)'}
  }
  if (!seen.holders.includes(from)) {
    return {action: 'none', note: seen.holders.includes(to) ? `the VIP ${address} is on ${to}'s host already` : `the VIP ${address} is on no host; not moved`}
  }
  const k = seen.keepalived.find((x) => x.node === to)
  const able = k?.process === 'running' && (k.state === 'BACKUP' || k.state === 'MASTER')
  if (able) return {action: 'drain'}
  const why = k === undefined || k.process !== 'running' ? `keepalived of ${to} is ${k?.process ?? 'unknown'}` : `keepalived of ${to} is ${k.state ?? 'in no known state'} (its check fails, or it is drained)`
  if (heal) return {action: 'none', note: `the VIP ${address} stays on ${from}'s host until its node stops: ${why}`}
  return {
    action: 'refuse', code: 'VIP_NOT_MOVED', reason: `the VIP ${address} is on ${from}'s host and cannot move to ${to}'s: ${why}`,
    suggestion: `start it (repctl start --pair ${pair} starts each keepalived that is not running) or read keepalived.log in ${to}'s directory, then promote again`,
  }
}

const describeHolders = (o: Seen | undefined): string => o === undefined ? 'nothing' : o.holders.length === 0 ? 'on no host' : `on the host of ${o.holders.join(' and ')}`

export interface VipMovePlan {
  /** Before the old master stops. */
  before: Step[]
  /** After the old master is back as a slave. */
  after: Step[]
  /** Wraps the steps in between: a failure there sets the drain back to 0 first. */
  guard(step: Step): Step
  holdersAfter(): string[]
}

export function planVipMove(pool: Pool, pair: VipPair, to: NodeConfig, from: NodeConfig, d: VipMoveDecision, seen: VipObservation): VipMovePlan {
  let after = seen.holders
  const observe: Step = {
    title: `Check where the VIP ${pair.vip.address} is`,
    run: async () => {
      const o = await observeVip(pool, pair)
      after = o.holders
      return describeHolders(o)
    },
  }
  if (d.action !== 'drain') {
    return {before: [{title: `VIP ${pair.vip.address}: ${d.action === 'none' ? d.note : d.reason}`, run: async () => undefined}], after: [observe], guard: (s) => s, holdersAfter: () => after}
  }
  let drained = false
  const undrain = async (): Promise<void> => {
    if (!drained) return
    await drainVip(pool, from, false)
    drained = false
  }
  const move: Step = {
    title: `Move the VIP ${pair.vip.address} to ${to.name}'s host (drain ${from.name}'s keepalived)`,
    run: async () => {
      const t0 = Date.now()
      drained = true
      await drainVip(pool, from, true)
      let last: VipObservation | undefined
      try {
        await waitUntil(async () => {
          last = await observeVip(pool, pair)
          return last.holders.length === 1 && last.holders[0] === to.name
        }, VIP_MOVE_TIMEOUT_MS, `the VIP ${pair.vip.address} to move to ${to.name}'s host`)
      } catch {
        await undrain()
        // Give the undrained host the time to take it back, and say where it ended.
        await waitUntil(async () => (last = await observeVip(pool, pair)).holders.length === 1, VIP_MOVE_TIMEOUT_MS, 'the VIP to settle').catch(() => undefined)
        throw new RepctlError('VIP_NOT_MOVED', `the VIP ${pair.vip.address} did not move to ${to.name}'s host within ${VIP_MOVE_TIMEOUT_MS / 1000} s of draining ${from.name}; the drain is undone and nothing was stopped (the VIP is ${describeHolders(last)})`,
          [`read keepalived.log in the directories of ${from.name} and ${to.name}; check that their hosts reach each other (VRRP, IP protocol 112)`])
      }
      return `on ${to.name}'s host after ${Date.now() - t0} ms`
    },
  }
  const release: Step = {
    title: `Let ${from.name}'s host take the VIP again on a failure (drain off)`,
    run: async () => {
      await drainVip(pool, from, false)
      drained = false
    },
  }
  const guard = (step: Step): Step => ({
    title: step.title,
    run: async () => {
      try {
        return await step.run()
      } catch (e) {
        await undrain().catch(() => undefined)
        throw e
      }
    },
  })
  return {before: [move], after: [release, observe], guard, holdersAfter: () => after}
}
