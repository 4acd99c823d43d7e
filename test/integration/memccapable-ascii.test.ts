// libmemcached's protocol checker, `memccapable -a` (text protocol only),
// against our server. Where memcached is installed, it is run against
// memcached too, and we must pass every check memcached passes: a check that
// fails on the real memcached is a fault of the checker, not of ours.
// (With memcached 1.6.18 and Debian's libmemcached-tools, all 27 pass.)

import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {after, before, describe, it} from 'node:test'
import {startMemcached, startOurServer, toolMissing, which, type RunningServer} from '../helpers/processes.js'

const skip = toolMissing('memccapable')

interface Run { code: number | null; output: string; results: Map<string, string> }

/** Run memccapable against a port; memccapable flushes the server it checks. */
function memccapable(port: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(which('memccapable')!, ['-h', '127.0.0.1', '-p', String(port), '-a', '-t', '5'], {stdio: ['ignore', 'pipe', 'pipe']})
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { output += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      // "ascii set       [pass]"; a failure may print assertion lines before its "[FAIL]".
      const results = new Map<string, string>()
      for (const m of output.matchAll(/(ascii [a-z ]*[a-z])[^[]*\[(pass|FAIL|skipped)\]/g)) results.set(m[1]!, m[2]!)
      resolve({code, output, results})
    })
  })
}

describe('memccapable -a (text protocol conformance)', {skip}, () => {
  let ours: RunningServer | undefined
  let theirs: RunningServer | undefined

  before(async () => {
    // Without memcached (allowed outside CI) every check must pass instead.
    const withMemcached = toolMissing('memcached') === false
    ;[ours, theirs] = await Promise.all([startOurServer(), withMemcached ? startMemcached() : Promise.resolve(undefined)])
  })

  after(async () => {
    await Promise.all([ours?.stop(), theirs?.stop()])
  })

  it('passes every check that memcached passes', async () => {
    const [our, their] = await Promise.all([memccapable(ours!.port), theirs === undefined ? undefined : memccapable(theirs.port)])
    assert.ok(our.results.size > 0, `no results parsed from memccapable:\n${our.output}`)
    if (their === undefined) {
      assert.equal(our.code, 0, our.output)
      return
    }
    assert.deepEqual([...our.results.keys()], [...their.results.keys()], 'the same checks ran')
    const expected = [...their.results].filter(([, r]) => r === 'pass').map(([name]) => name)
    const passed = [...our.results].filter(([, r]) => r === 'pass').map(([name]) => name)
    assert.deepEqual(passed.filter((n) => expected.includes(n)), expected, `memccapable against our server:\n${our.output}`)
    if (their.code === 0) assert.equal(our.code, 0, our.output)
  })
})
