// repctl as a user runs it, for end-to-end tests: the built CLI in a clean
// environment with its own HOME, and its --json output checked against the
// command's schema.

import assert from 'node:assert/strict'
import {join} from 'node:path'
import {execa} from 'execa'
import type {StatusReport} from '../../src/cluster/status.js'
import {ROOT} from './processes.js'
import {assertValid, type SchemaName} from './schemas.js'

export const REPCTL_BIN = join(ROOT, 'bin', 'run.js')

export interface RepctlRun { code: number; stdout: string; stderr: string }

export interface Repctl {
  run(args: string[]): Promise<RepctlRun>
  /** `repctl ARGS --json`: asserts the exit code and the schema, returns the document. */
  json<T>(args: string[], code: number, schema: SchemaName): Promise<T>
  /** `repctl status --json`: any monitoring exit code (0-3), the report checked against its schema. */
  statusReport(): Promise<{code: number; report: StatusReport}>
}

export function repctlIn(cwd: string, home: string, timeoutMs = 90_000): Repctl {
  const run = async (args: string[]): Promise<RepctlRun> => {
    const r = await execa(process.execPath, [REPCTL_BIN, ...args], {
      cwd, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8'}, extendEnv: false, reject: false, stdin: 'ignore', timeout: timeoutMs,
    })
    return {code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr)}
  }
  return {
    run,
    async json<T>(args: string[], code: number, schema: SchemaName): Promise<T> {
      const r = await run([...args, '--json'])
      assert.equal(r.code, code, `repctl ${args.join(' ')}: ${r.stdout}\n${r.stderr}`)
      const doc = JSON.parse(r.stdout) as T
      assertValid(schema, doc)
      return doc
    },
    async statusReport(): Promise<{code: number; report: StatusReport}> {
      const r = await run(['status', '--json'])
      assert.ok([0, 1, 2, 3].includes(r.code), `repctl status: exit ${r.code}\n${r.stdout}\n${r.stderr}`)
      const report = JSON.parse(r.stdout) as StatusReport
      assertValid('status', report)
      return {code: r.code, report}
    },
  }
}
