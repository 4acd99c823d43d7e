// The server alone, at -v, warns once when its replication port listens
// beyond loopback with no secret; `stats` says whether it demands one
// (repl_secret, read by repctl status).

import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {eventually, startNode, stat} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'

const WARNING = /warning: the replication port (\S+) listens beyond loopback with no secret: .*--rep-secret-file/g

const dir = mkdtempSync(join(tmpdir(), 'repctl-exposure-'))
after(() => rmSync(dir, {recursive: true, force: true}))

const count = (text: string): number => [...text.matchAll(WARNING)].length

describe('the open replication port warning', () => {
  it('0.0.0.0 with no secret at -v: warned once, naming the address, even after the port listens again; repl_secret 0', async () => {
    const repPort = await freePort()
    const node = await startNode({repListen: repPort, host: '0.0.0.0', extra: ['-v']})
    try {
      assert.equal(await stat(node.port, 'repl_secret'), '0')
      assert.ok(await eventually(async () => /replication: listen/.test(node.stderr()), 3000), node.stderr())
      // A peer that comes and goes: the node listens a second time.
      const s = connect({host: '127.0.0.1', port: repPort})
      s.on('error', () => {})
      s.on('data', () => {})
      assert.ok(await eventually(async () => /replication: accept/.test(node.stderr()), 3000), node.stderr())
      s.destroy()
      assert.ok(await eventually(async () => (node.stderr().match(/replication: listen/g) ?? []).length >= 2, 8000), `listens again\n${node.stderr()}`)
      assert.equal(count(node.stderr()), 1, node.stderr())
      assert.equal([...node.stderr().matchAll(WARNING)][0]![1], `0.0.0.0:${repPort}`)
    } finally { await node.stop() }
  })

  it('with a secret, on loopback, or without -v: no warning; with a secret repl_secret 1', async () => {
    const secret = join(dir, 'secret')
    writeFileSync(secret, 'a-shared-secret\n', {mode: 0o600})
    const runs: [string, string | undefined, string[], string][] = [
      ['0.0.0.0 with --rep-secret-file', '0.0.0.0', ['-v', `--rep-secret-file=${secret}`], '1'],
      ['127.0.0.1 without a secret', '127.0.0.1', ['-v'], '0'],
      ['0.0.0.0 without -v', '0.0.0.0', [], '0'],
    ]
    for (const [what, host, extra, repSecret] of runs) {
      const node = await startNode({repListen: await freePort(), host, extra})
      try {
        assert.equal(await stat(node.port, 'repl_secret'), repSecret, what)
        await new Promise((r) => setTimeout(r, 200))
        assert.equal(count(node.stderr()), 0, `${what}: ${node.stderr()}`)
        assert.ok(!node.stderr().includes('a-shared-secret'), 'the secret is never logged')
      } finally { await node.stop() }
    }
  })
})
