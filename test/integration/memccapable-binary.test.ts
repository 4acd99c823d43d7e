// libmemcached's protocol conformance checker, binary tests only
// (`memccapable -b`), against our server. It is also run against the real
// memcached first: a test that fails there says nothing about us, so only
// the tests memcached passes are required of our server.

import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {describe, it} from 'node:test'
import {serversSideBySide, toolMissing} from '../helpers/processes.js'

const skip = toolMissing('memccapable') || toolMissing('memcached')

interface CapableRun { results: Map<string, string>; output: string; code: number | null }

function memccapable(port: number): Promise<CapableRun> {
  return new Promise((resolve, reject) => {
    execFile('memccapable', ['-h', '127.0.0.1', '-p', String(port), '-b', '-t', '5'], {timeout: 120_000}, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') return reject(err)
      const output = stdout + stderr
      const results = new Map<string, string>()
      for (const m of output.matchAll(/^(binary \S+)\s+\[(\w+)\]/gm)) results.set(m[1]!, m[2]!)
      resolve({results, output, code: err === null ? 0 : Number(err.code)})
    })
  })
}

describe('memccapable -b', {skip}, () => {
  const servers = serversSideBySide()

  it('passes every binary test that the real memcached passes', async () => {
    const reference = await memccapable(servers.theirs().port)
    const passedThere = [...reference.results].filter(([, r]) => r === 'pass').map(([name]) => name)
    assert.ok(passedThere.length >= 20, `memccapable ran too few tests against memcached:\n${reference.output}`)
    const run = await memccapable(servers.ours().port)
    const failed = passedThere.filter((name) => run.results.get(name) !== 'pass')
    assert.deepEqual(failed, [], `memccapable against our server:\n${run.output}`)
    // memcached 1.6.18 passes them all; if that ever changes, the line above still holds us to memcached.
    if (reference.code === 0) assert.equal(run.code, 0, run.output)
  })
})
