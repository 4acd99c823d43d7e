// The one place a command becomes a command run as root. A host whose login
// is root runs it as is; another runs it through the privilege escalation
// configured for it (`sudo -n`: never a password prompt, which would hang an
// unattended repctl); with neither, repctl refuses before running anything,
// naming the host and the two ways out.

import {RepctlError} from '../errors.js'
import type {Escalation} from './host.js'

export interface PrivilegeOf {
  /** For messages. */
  label: string
  /** Whether the login is root. */
  privileged: boolean
  escalation: Escalation
}

/** Throws PRIVILEGE_NEEDED unless the host can run `what` as root. */
export function requireRoot(host: PrivilegeOf, what: string): void {
  if (host.privileged || host.escalation !== 'none') return
  throw new RepctlError('PRIVILEGE_NEEDED',
    `${what} needs root on ${host.label}, but repctl does not log in there as root and no privilege escalation is configured for that host`,
    [
      'log in to the host as root (for an SSH node, ssh.user: root; for this machine, run repctl as root)',
      'or let the login user run commands as root without a password (sudo, e.g. a NOPASSWD line in /etc/sudoers.d) and configure privilege escalation (sudo) for the host',
    ])
}

/** The argv that runs `argv` as root on the host (PRIVILEGE_NEEDED when it cannot). */
export function rootArgv(host: PrivilegeOf, argv: readonly string[]): string[] {
  requireRoot(host, `running ${argv[0] ?? 'a command'}`)
  if (host.privileged) return [...argv]
  return ['sudo', '-n', '--', ...argv]
}

/** The refusal sudo printed (no password-less rule, no such user in sudoers), or undefined. */
export function sudoRefusal(stderr: string): string | undefined {
  return /^sudo: .*(password is required|not in the sudoers|not allowed to (run|execute)|may not run sudo|a terminal is required).*$/m.exec(stderr)?.[0]
}

/**
 * After running `argv` (built by rootArgv for `file`): a refusal by sudo is
 * PRIVILEGE_NEEDED naming the host and the rule to add, not a failed command.
 */
export function checkSudo(host: PrivilegeOf, argv: readonly string[], file: string, stderr: string): void {
  const refusal = argv[0] === 'sudo' && file !== 'sudo' ? sudoRefusal(stderr) : undefined
  if (refusal === undefined) return
  throw new RepctlError('PRIVILEGE_NEEDED',
    `sudo on ${host.label} refused to run ${file} as root without a password: ${refusal}`,
    ['let the login user run commands as root without a password (a NOPASSWD line in /etc/sudoers.d), or log in to the host as root'])
}
