// sudo for the privilege escalation tests: a password-less rule for one test
// user in a drop-in file of /etc/sudoers.d, removed by the test that made it.

import {existsSync, rmSync, writeFileSync} from 'node:fs'
import {spawnSync} from 'node:child_process'
import {REQUIRE_TOOLS, which} from './processes.js'

/** Skip reason when sudo is missing (throws in CI mode, like sshdMissing). */
export function sudoMissing(): string | false {
  if (which('sudo') !== undefined && existsSync('/etc/sudoers.d')) return false
  const why = 'sudo not installed (apt-get install sudo)'
  if (REQUIRE_TOOLS) throw new Error(`${why}; required because REPCTL_REQUIRE_TOOLS=1 — .ci/run installs it with apt-get`)
  return `SKIPPED LOUDLY: ${why} — the privilege escalation tests did not run`
}

function ruleFile(user: string): string {
  return `/etc/sudoers.d/repctl-test-${user}`
}

/** Let `user` run anything as root without a password (validated by visudo before it is put in place). */
export function allowSudo(user: string): void {
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`not a user name: ${user}`)
  const tmp = `${ruleFile(user)}.tmp`
  writeFileSync(tmp, `${user} ALL=(root) NOPASSWD: ALL\n`, {mode: 0o440})
  const check = spawnSync('visudo', ['-cf', tmp], {encoding: 'utf8'})
  if (check.status !== 0) { rmSync(tmp, {force: true}); throw new Error(`visudo rejected the test rule: ${check.stderr}${check.stdout}`) }
  spawnSync('mv', ['-f', tmp, ruleFile(user)])
}

export function disallowSudo(user: string): void {
  rmSync(ruleFile(user), {force: true})
  rmSync(`${ruleFile(user)}.tmp`, {force: true})
}
