// The keepalived.conf for one host of a pair with a VIP (Debian's keepalived
// 2.2.x). Pure: every path and command comes in, text goes out. Keywords and
// quoting as keepalived.conf(5) and its parser (lib/parser.c) define them.
//
// What the config makes keepalived do:
// - VRRPv3 by unicast between the pair's two hosts only (unicast_src_ip,
//   unicast_peer, check_unicast_src): no multicast, and adverts from any other
//   host are dropped, which is what keeps two clusters apart, since VRRPv3 has
//   no authentication. Two instances that share hosts must still differ in
//   virtual_router_id (the config's routerId).
// - Both hosts start as BACKUP with nopreempt, so a repaired node that
//   returns does not take the VIP back from its healthy peer. Priorities
//   differ (first node of the pair 150, second 100) so that two instances
//   starting together do not both become master until the tie-break (the
//   higher address wins) settles it; nopreempt makes the difference matter
//   only then, and when a cut link heals with both holding the VIP.
// - A vrrp_script runs the check command every second (fall 1, rise 1,
//   init_fail): one failure puts the instance in FAULT, which drops the VIP
//   and sends a priority-0 advert, so the peer takes over after its skew time
//   instead of waiting for three missed adverts. keepalived only takes whole
//   seconds for the interval and timeout: the command should give up by
//   itself well within a second (a frozen node accepts but never answers).
// - A track_file with weight 0: any non-zero number in it is FAULT. repctl
//   writes 1 there to move the VIP away for a planned switchover and removes
//   the file (a missing file reads as 0) when done, without touching
//   keepalived. There is no init_file: keepalived never writes it.
// - notify runs /bin/sh to write the instance's new state (MASTER, BACKUP,
//   FAULT, STOP) to the state file, renamed into place so a reader never sees
//   half of it; no script file to install. Notify commands run one per
//   transition and are not ordered with each other (keepalived only orders
//   notify_fifo), so two transitions within milliseconds may land out of
//   order; and a keepalived killed with -9 leaves its last state behind. Read
//   it with the process's liveness, and the VIP on the interface as the truth.
// - Scripts run as scriptUser with enable_script_security: when that is root,
//   keepalived refuses a command whose path (the file and every directory
//   above it) is writable by anyone but root. It checks only the command
//   itself, not the files the command reads (a script given to an
//   interpreter), so those must live in a root-owned directory (0700 or 0755)
//   too. When the user repctl acts as is not root (privilege: sudo), run the
//   scripts as that user instead: the check needs no privilege.
// - Gratuitous ARP: a burst at once and another 1 s after taking the VIP
//   (keepalived's default waits 5 s), and one every 10 s while holding it, so
//   clients and switches learn the new MAC fast; after a cut link heals the
//   losing master sends one more advert (vrrp_higher_prio_send_advert) so the
//   winner announces itself again.

import {isAbsolute} from 'node:path'
import type {VipConfig} from '../../config/schema.js'
import {KEEPALIVED_UNSAFE, parseIpv4} from '../../config/vip.js'
import {RepctlError} from '../../errors.js'

export interface KeepalivedInput {
  cluster: string
  /** The pair's node names in config order: the first is preferred (higher priority). */
  pair: readonly [string, string]
  /** The node on this host (one of `pair`). */
  node: string
  /** This host's IPv4 address (the node's host): adverts are sent from it. */
  address: string
  /** The peer node's host IPv4 address: adverts go to it and only its adverts count. */
  peerAddress: string
  vip: VipConfig
  /** argv keepalived runs every second as scriptUser; exit 0 means the node serves clients. The first word is an absolute path. */
  checkCommand: readonly string[]
  /** The user keepalived runs the check and the notify command as (root, or the unprivileged user repctl acts as). */
  scriptUser: string
  /** Absolute path of the file that receives the instance's state: one line, MASTER, BACKUP, FAULT or STOP. */
  stateFile: string
  /** Absolute path of the file keepalived watches: a non-zero number in it forces FAULT (the VIP leaves this host). */
  trackFile: string
}

/** keepalived's priorities: the pair's first node is preferred when both start; nopreempt keeps the VIP where it is after that. */
export const PREFERRED_PRIORITY = 150
export const OTHER_PRIORITY = 100

/** The check runs every second (keepalived's minimum) and fails the instance at once. */
export const CHECK_INTERVAL_S = 1

/** Gratuitous ARP: second burst this long after taking the VIP, and a refresh this often while holding it. */
export const GARP_MASTER_DELAY_S = 1
export const GARP_MASTER_REFRESH_S = 10

export const SCRIPT_NAME = 'repctl_check'
export const TRACK_FILE_NAME = 'repctl_drain'

export function vrrpPriority(pair: readonly [string, string], node: string): number {
  return node === pair[0] ? PREFERRED_PRIORITY : OTHER_PRIORITY
}

/** The vrrp_instance name: it shows in keepalived's log and in the notify arguments. */
export function vrrpInstanceName(cluster: string, pair: readonly [string, string]): string {
  return `repctl_${cluster}_${pair[0]}_${pair[1]}`
}

/** keepalived reads lines with fgets into 1024 bytes and silently splits longer ones. */
const MAX_LINE_BYTES = 1000

/** Words keepalived takes as they are, outside quotes. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const INTERFACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/
const UNSAFE_PROBLEM = 'holds what keepalived\'s config cannot carry: " \\ { }, $ before a letter or _, or a control character'
/** In a command word `"` and `\` are fine (escaped twice, see scriptValue); the rest of KEEPALIVED_UNSAFE is not. */
const SCRIPT_WORD_UNSAFE = /[{}\x00-\x1f\x7f]|\$[A-Za-z_]/

/** Script words that need no quotes in keepalived's argv splitting. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * The notify command: sh -c SCRIPT STATEFILE, to which keepalived appends
 * INSTANCE, the instance name, the new state and the priority: $0 is the
 * state file, $3 the state. Only `$` followed by a digit or `$`, which
 * keepalived's parameter substitution leaves alone. keepalived runs scripts
 * with umask 077; the state is no secret, so readers need no privilege.
 */
const NOTIFY_SCRIPT = 'umask 022; echo "$3" >"$0.$$" && mv -f "$0.$$" "$0"'

function invalid(input: KeepalivedInput, what: string, value: unknown, problem: string): never {
  throw new RepctlError('CONFIG_INVALID', `keepalived config for node ${input.node}: ${what} ${JSON.stringify(value)} ${problem}`)
}

/** A double-quoted config string: keepalived removes the quotes and undoes \\ and \". */
function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`
}

/** One argv word inside a script string: keepalived splits that string again, honouring single quotes and backslashes. */
function scriptWord(word: string): string {
  return PLAIN_WORD.test(word) ? word : `'${word.replace(/[\\']/g, '\\$&')}'`
}

/** A `script`/`notify` value: the argv words joined, then quoted as one config string. */
function scriptValue(argv: readonly string[]): string {
  return quoted(argv.map(scriptWord).join(' '))
}

function checkInput(input: KeepalivedInput): void {
  for (const [what, v] of [['cluster', input.cluster], ['node', input.node], ['pair node', input.pair[0]], ['pair node', input.pair[1]]] as const) {
    if (!NAME.test(v)) invalid(input, what, v, 'must be a name of letters, digits, _ . -')
  }
  if (input.pair[0] === input.pair[1] || !input.pair.includes(input.node)) invalid(input, 'pair', input.pair, `must be two different nodes, one of them ${input.node}`)
  for (const [what, v] of [['address', input.address], ['peer address', input.peerAddress], ['vip.address', input.vip.address]] as const) {
    if (parseIpv4(v) === undefined) invalid(input, what, v, 'must be an IPv4 address')
  }
  if (input.address === input.peerAddress) invalid(input, 'peer address', input.peerAddress, 'is this host\'s own address; the pair needs two hosts')
  const {vip} = input
  if (vip.address === input.address || vip.address === input.peerAddress) invalid(input, 'vip.address', vip.address, 'belongs to a host of the pair')
  if (!(Number.isInteger(vip.prefixLength) && vip.prefixLength >= 1 && vip.prefixLength <= 32)) invalid(input, 'vip.prefixLength', vip.prefixLength, 'must be a whole number from 1 to 32')
  if (!INTERFACE.test(vip.interface)) invalid(input, 'vip.interface', vip.interface, 'must be a network interface name, e.g. eth0')
  if (!(Number.isInteger(vip.routerId) && vip.routerId >= 1 && vip.routerId <= 255)) invalid(input, 'vip.routerId', vip.routerId, 'must be a whole number from 1 to 255')
  if (!(Number.isInteger(vip.advertIntervalMs) && vip.advertIntervalMs >= 10 && vip.advertIntervalMs <= 40_950 && vip.advertIntervalMs % 10 === 0)) {
    invalid(input, 'vip.advertIntervalMs', vip.advertIntervalMs, 'must be a multiple of 10 from 10 to 40950')
  }
  if (!USER.test(input.scriptUser)) invalid(input, 'scriptUser', input.scriptUser, 'must be a user name')
  if (input.checkCommand.length === 0) invalid(input, 'checkCommand', input.checkCommand, 'must name a program')
  if (!isAbsolute(input.checkCommand[0]!)) invalid(input, 'checkCommand[0]', input.checkCommand[0], 'must be an absolute path (keepalived would search its own PATH for it)')
  input.checkCommand.forEach((word, i) => {
    if (SCRIPT_WORD_UNSAFE.test(word)) invalid(input, `checkCommand[${i}]`, word, 'holds what keepalived\'s config cannot carry in a command: { }, $ before a letter or _, or a control character')
  })
  for (const [what, v] of [['stateFile', input.stateFile], ['trackFile', input.trackFile]] as const) {
    if (!isAbsolute(v)) invalid(input, what, v, 'must be an absolute path (resolve ~ on the host first)')
    if (KEEPALIVED_UNSAFE.test(v)) invalid(input, what, v, `${UNSAFE_PROBLEM}; choose a stateDir without it`)
  }
}

/** advert_int in seconds, from whole milliseconds, without float noise: 400 -> 0.4, 1000 -> 1, 40950 -> 40.95. */
function seconds(ms: number): string {
  const whole = Math.floor(ms / 1000)
  const frac = String(ms % 1000).padStart(3, '0').replace(/0+$/, '')
  return frac === '' ? String(whole) : `${whole}.${frac}`
}

/** keepalived.conf for the host of `input.node`. Throws CONFIG_INVALID naming the input keepalived could not be given. */
export function renderKeepalivedConfig(input: KeepalivedInput): string {
  checkInput(input)
  const {vip} = input
  const lines = [
    `# keepalived for node ${input.node} of pair ${input.pair.join(',')} in cluster ${input.cluster}.`,
    '# Written by repctl, which rewrites it: change repctl.config.yaml instead.',
    'global_defs {',
    `    router_id ${input.cluster}-${input.node}`,
    '    vrrp_version 3',
    `    script_user ${input.scriptUser}`,
    '    enable_script_security',
    `    vrrp_garp_master_delay ${GARP_MASTER_DELAY_S}`,
    `    vrrp_garp_master_refresh ${GARP_MASTER_REFRESH_S}`,
    '    vrrp_higher_prio_send_advert',
    '}',
    '',
    `vrrp_script ${SCRIPT_NAME} {`,
    `    script ${scriptValue(input.checkCommand)}`,
    `    interval ${CHECK_INTERVAL_S}`,
    '    timeout 1',
    '    fall 1',
    '    rise 1',
    '    init_fail',
    '}',
    '',
    `track_file ${TRACK_FILE_NAME} {`,
    `    file ${quoted(input.trackFile)}`,
    '    weight 0',
    '}',
    '',
    `vrrp_instance ${vrrpInstanceName(input.cluster, input.pair)} {`,
    '    state BACKUP',
    '    nopreempt',
    `    interface ${vip.interface}`,
    `    virtual_router_id ${vip.routerId}`,
    `    priority ${vrrpPriority(input.pair, input.node)}`,
    `    advert_int ${seconds(vip.advertIntervalMs)}`,
    `    unicast_src_ip ${input.address}`,
    '    unicast_peer {',
    `        ${input.peerAddress}`,
    '    }',
    '    check_unicast_src',
    '    virtual_ipaddress {',
    `        ${vip.address}/${vip.prefixLength}`,
    '    }',
    '    track_script {',
    `        ${SCRIPT_NAME}`,
    '    }',
    '    track_file {',
    `        ${TRACK_FILE_NAME}`,
    '    }',
    `    notify ${scriptValue(['/bin/sh', '-c', NOTIFY_SCRIPT, input.stateFile])}`,
    '}',
  ]
  for (const line of lines) {
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
      throw new RepctlError('CONFIG_INVALID', `keepalived config for node ${input.node}: the line "${line.trim().slice(0, 60)}…" is ${Buffer.byteLength(line)} bytes; keepalived reads at most ${MAX_LINE_BYTES}: use a shorter stateDir`)
    }
  }
  return lines.join('\n') + '\n'
}
