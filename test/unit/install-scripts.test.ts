// A fresh `npm ci` must print no warning: every dependency with an install
// script has a decision in package.json's allowScripts (the reasons are in the
// README, "Development"). npm reads node_modules and package.json for this,
// offline, in under a second.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {describe, it} from 'node:test'
import {REQUIRE_TOOLS, ROOT} from '../helpers/processes.js'

function npm(args: string[]): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync('npm', args, {cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: {...process.env, npm_config_update_notifier: 'false'}})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** npm before 11 has no allowScripts (it runs every script and says nothing): nothing to check there. */
function noInstallScriptsCommand(): string | false {
  const help = npm(['install-scripts', '--help'])
  if (help.status === 0) return false
  const why = `npm ${npm(['--version']).stdout.trim()} has no \`npm install-scripts\``
  if (REQUIRE_TOOLS) throw new Error(`${why}; CI's npm must have it (REPCTL_REQUIRE_TOOLS=1)`)
  return why
}

describe('install scripts', () => {
  it('every installed dependency with an install script is covered by allowScripts (npm ci warns of none)', {skip: noInstallScriptsCommand()}, () => {
    const r = npm(['install-scripts', 'ls', '--json', '--offline'])
    assert.equal(r.status, 0, r.stderr)
    const pending = (JSON.parse(r.stdout) as {allowScripts: {name: string; changes: {key: string; change: string}[]}[]}).allowScripts
    assert.deepEqual(pending.flatMap((p) => p.changes.map((c) => `${c.key}: ${c.change}`)), [], 'decide in package.json "allowScripts", and say why in the README')
  })
})
