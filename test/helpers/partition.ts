// A silent network partition between two loopback "hosts", made with
// iptables as in shared/testing/real-hosts.md: one dedicated chain,
// REPCTL_TEST, hooked into `OUTPUT -o lo`; cut() adds DROP rules for both
// directions between two loopback addresses, heal() flushes the chain,
// remove() unhooks and deletes it. Nothing outside that chain is ever
// touched (the one hook rule in OUTPUT is ours too), and only addresses in
// 127.0.0.0/8 are accepted.
//
// DROP makes new and established TCP connections hang (no reset). Rules match
// the source address, so a process must bind its own loopback address for its
// outgoing connections to be cut (our server binds its -l address); a test
// client dialing 127.0.0.11 from 127.0.0.1 is not affected.

import {spawnSync} from 'node:child_process'
import {REQUIRE_TOOLS, which} from './processes.js'

export const CHAIN = 'REPCTL_TEST'
/** The two loopback "hosts" of partition tests. */
export const HOST_A = '127.0.0.11'
export const HOST_B = '127.0.0.12'

const HOOK = ['OUTPUT', '-o', 'lo', '-j', CHAIN]

interface Run { ok: boolean; out: string }

function iptablesBin(): string | undefined {
  return which('iptables')
}

/** Run iptables (waiting up to 5 s for the xtables lock); never throws. */
function run(args: string[]): Run {
  const bin = iptablesBin()
  if (bin === undefined) return {ok: false, out: 'iptables not installed'}
  const r = spawnSync(bin, ['-w', '5', ...args], {encoding: 'utf8', timeout: 15_000})
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error === undefined ? '' : r.error.message}`.trim()
  return {ok: r.status === 0, out}
}

/** Run iptables; throws with its output on failure. */
function must(args: string[]): string {
  const r = run(args)
  if (!r.ok) throw new Error(`iptables ${args.join(' ')} failed: ${r.out}`)
  return r.out
}

/** Why partitions cannot be made here, or undefined when they can. */
function unavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'iptables partitions need Linux'
  if (process.getuid?.() !== 0) return 'iptables partitions need root'
  if (iptablesBin() === undefined) return 'iptables not installed'
  // Root and the binary are not enough in a container without CAP_NET_ADMIN: ask (read only).
  const probe = run(['-S', 'OUTPUT'])
  if (!probe.ok) return `iptables does not work here: ${probe.out}`
  return undefined
}

let cachedReason: string | undefined | null = null

/** Whether iptables works here (root, the binary, and the kernel lets us list OUTPUT). */
export function partitionAvailable(): boolean {
  if (cachedReason === null) cachedReason = unavailableReason()
  return cachedReason === undefined
}

/**
 * Skip reason when partitions cannot be made here, false when they can. In CI
 * (REPCTL_REQUIRE_TOOLS=1) a missing iptables throws instead: the test fails,
 * it is not skipped (as toolMissing in processes.ts).
 */
export function partitionMissing(): string | false {
  if (partitionAvailable()) return false
  const why = cachedReason ?? 'iptables unavailable'
  if (REQUIRE_TOOLS) throw new Error(`${why}; iptables as root is required (REPCTL_REQUIRE_TOOLS=1) — .ci/run installs it with apt-get`)
  return why
}

/** Throws unless `addr` is a dotted IPv4 address in 127.0.0.0/8. */
export function assertLoopback(addr: string): void {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr)
  if (m === null || m.slice(1).some((o) => Number(o) > 255)) throw new Error(`partition: ${JSON.stringify(addr)} is not a loopback address (127.0.0.0/8)`)
}

function chainExists(): boolean {
  return run(['-S', CHAIN]).ok
}

function hooked(): boolean {
  return run(['-C', ...HOOK]).ok
}

/** Unhook (every copy of our hook rule), flush and delete the chain; a no-op when absent. */
/** Whether the REPCTL_TEST chain exists (read only). */
export function chainPresent(): boolean {
  return chainExists()
}

/** How many copies of our hook rule `-A OUTPUT -o lo -j REPCTL_TEST` are in OUTPUT (read only). */
export function hookCount(): number {
  const r = run(['-S', 'OUTPUT'])
  return r.ok ? r.out.split('\n').filter((l) => l.trim() === `-A ${HOOK.join(' ')}`).length : 0
}

function removeChain(): void {
  for (let i = 0; i < 20 && hooked(); i++) must(['-D', ...HOOK])
  if (chainExists()) {
    must(['-F', CHAIN])
    must(['-X', CHAIN])
  }
}

let exitHookInstalled = false
const live = new Set<Partition>()

export class Partition {
  private removed = false
  private readonly cuts: [string, string][] = []

  private constructor() {}

  /**
   * Create the chain and hook it into OUTPUT -o lo, after clearing a leftover
   * REPCTL_TEST chain from an earlier run. Throws when iptables does not work.
   */
  static create(): Partition {
    if (!partitionAvailable()) throw new Error(`partition: ${cachedReason ?? 'iptables unavailable'}`)
    // A new chain supersedes every earlier object: their remove() must not delete it.
    for (const q of live) q.removed = true
    live.clear()
    removeChain()
    must(['-N', CHAIN])
    must(['-I', ...HOOK])
    const p = new Partition()
    live.add(p)
    if (!exitHookInstalled) {
      exitHookInstalled = true
      // Last resort if an after-hook never ran: never leave DROP rules on lo behind.
      const removeAll = (): void => { for (const q of [...live]) q.remove() }
      process.once('exit', removeAll)
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
        process.once(sig, () => {
          removeAll()
          // Keep the signal's usual effect when nobody else handles it.
          if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
        })
      }
    }
    return p
  }

  /** Drop every packet between `a` and `b`, both directions. */
  cut(a: string, b: string): void {
    assertLoopback(a)
    assertLoopback(b)
    if (a === b) throw new Error('partition: cut needs two different addresses')
    if (this.removed) throw new Error('partition: already removed')
    must(['-A', CHAIN, '-s', a, '-d', b, '-j', 'DROP'])
    must(['-A', CHAIN, '-s', b, '-d', a, '-j', 'DROP'])
    this.cuts.push([a, b])
  }

  /** Remove every cut (flush the chain); the hook stays for the next cut. */
  heal(): void {
    if (this.removed) return
    must(['-F', CHAIN])
    this.cuts.length = 0
  }

  /** Whether a cut is in place (as far as this object knows). */
  get isCut(): boolean { return this.cuts.length > 0 }

  /** The chain's rules as `iptables -S` prints them (for messages). */
  rules(): string[] {
    const r = run(['-S', CHAIN])
    return r.ok ? r.out.split('\n').filter((l) => l !== '') : []
  }

  /** Unhook and delete the chain. Safe to call twice, and after a failed test. */
  remove(): void {
    if (this.removed) return
    this.removed = true
    live.delete(this)
    this.cuts.length = 0
    removeChain()
  }
}
