import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {readRoutes, renderNutcrackerConfig, type NutcrackerInput} from '../../src/cluster/router/nutcracker-config.js'
import {validateConfig} from '../../src/config/schema.js'
import {RepctlError} from '../../src/errors.js'
import {toolMissing} from '../helpers/processes.js'

const APP1: NutcrackerInput = {
  cluster: 'prod',
  router: {name: 'app1', host: '10.0.1.5', port: 22121},
  pairs: [
    {name: 'cache-a+cache-b', endpoint: {host: '10.0.0.100', port: 11211}},
    {name: 'pair2', endpoint: {host: '10.0.0.12', port: 11311}},
    {name: 'c+d', endpoint: {host: 'cache-c.example.com', port: 11211}},
  ],
}

const EXPECTED_APP1 = `# nutcracker for router app1 of cluster prod.
# Written by repctl, which rewrites it: change repctl.config.yaml instead.
prod:
  listen: 10.0.1.5:22121
  hash: md5
  distribution: ketama
  auto_eject_hosts: false
  timeout: 1000
  server_connections: 1
  servers:
    - 10.0.0.100:11211:1 cache-a+cache-b
    - 10.0.0.12:11311:1 pair2
    - cache-c.example.com:11211:1 c+d
`

describe('renderNutcrackerConfig', () => {
  it('renders one pool named after the cluster, one named server per pair', () => {
    assert.equal(renderNutcrackerConfig(APP1), EXPECTED_APP1)
  })

  it('a pair whose endpoint changes keeps its server name (what ketama hashes); only its address line differs', () => {
    const moved = renderNutcrackerConfig({...APP1, pairs: APP1.pairs.map((p) => (p.name === 'pair2' ? {...p, endpoint: {host: '10.0.0.11', port: 11211}} : p))})
    const before = EXPECTED_APP1.split('\n')
    const changed = moved.split('\n').map((line, i) => [before[i], line]).filter(([a, b]) => a !== b)
    assert.deepEqual(changed, [['    - 10.0.0.12:11311:1 pair2', '    - 10.0.0.11:11211:1 pair2']])
  })

  it('writes the router\'s timeout (nutcracker waits forever without one); 1000 ms when not given', () => {
    assert.match(renderNutcrackerConfig({...APP1, router: {...APP1.router, timeoutMs: 300}}), /\n {2}timeout: 300\n/)
    assert.match(renderNutcrackerConfig(APP1), /\n {2}timeout: 1000\n/)
  })

  it('takes the ring names and router validateConfig produces', () => {
    const c = validateConfig({
      cluster: 'shop',
      nodes: {a: {host: '127.0.0.1'}, b: {host: '127.0.0.1', port: 11311, replicationPort: 11312}, c: {host: '127.0.0.1', port: 11411, replicationPort: 11412}, d: {host: '127.0.0.1', port: 11511, replicationPort: 11512}},
      pairs: [['b', 'a'], {nodes: ['c', 'd'], name: 'pair2'}],
      routers: {r1: {host: '127.0.0.1', port: 22121}},
    }, '/srv/repctl.config.yaml', '/srv')
    const byName = new Map(c.nodes.map((n) => [n.name, n]))
    const text = renderNutcrackerConfig({cluster: c.cluster, router: c.routers[0]!, pairs: c.pairs.map((p) => ({name: p.name, endpoint: {host: byName.get(p.nodes[0])!.host, port: byName.get(p.nodes[0])!.port}}))})
    assert.match(text, /^shop:\n  listen: 127\.0\.0\.1:22121\n/m)
    assert.match(text, /servers:\n {4}- 127\.0\.0\.1:11311:1 a\+b\n {4}- 127\.0\.0\.1:11411:1 pair2\n$/)
  })

  const bad: [string, Partial<NutcrackerInput>, string][] = [
    ['a cluster name YAML would read as syntax', {cluster: 'prod: x'}, 'cluster "prod: x" must be a name of letters, digits, _ . -'],
    ['no pairs', {pairs: []}, 'pairs [] is empty; nutcracker needs at least one server in the pool'],
    ['an IPv6 listen address', {router: {name: 'app1', host: '::1', port: 22121}}, 'listen host "::1" is an IPv6 address; routers take IPv4 addresses or host names for now'],
    ['a listen host with a space', {router: {name: 'app1', host: 'a b', port: 22121}}, 'listen host "a b" must be a host name or IPv4 address'],
    ['listen port 0', {router: {name: 'app1', host: '10.0.1.5', port: 0}}, 'listen port 0 must be a whole number from 1 to 65535'],
    ['a pair name with a space', {pairs: [{name: 'pair 1', endpoint: {host: '10.0.0.1', port: 11211}}]}, 'pairs[0].name "pair 1" must be a ring name of letters, digits, _ . + - (at most 80)'],
    ['a pair name of 81 characters', {pairs: [{name: 'p'.repeat(81), endpoint: {host: '10.0.0.1', port: 11211}}]}, 'pairs[0].name'],
    ['two pairs with one name', {pairs: [{name: 'p', endpoint: {host: '10.0.0.1', port: 11211}}, {name: 'p', endpoint: {host: '10.0.0.2', port: 11211}}]}, 'pairs[1].name "p" names two pairs; ketama would give them the same points'],
    ['an IPv6 endpoint', {pairs: [{name: 'p', endpoint: {host: 'fe80::1', port: 11211}}]}, 'pair p endpoint host "fe80::1" is an IPv6 address'],
    ['an endpoint with a newline', {pairs: [{name: 'p', endpoint: {host: '10.0.0.1\n- x', port: 11211}}]}, 'pair p endpoint host "10.0.0.1\\n- x" must be a host name or IPv4 address'],
    ['an endpoint port past 65535', {pairs: [{name: 'p', endpoint: {host: '10.0.0.1', port: 65536}}]}, 'pair p endpoint port 65536 must be a whole number from 1 to 65535'],
  ]
  for (const [name, over, says] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(() => renderNutcrackerConfig({...APP1, ...over}), (e: unknown) => {
        assert.ok(e instanceof RepctlError)
        assert.equal(e.code, 'CONFIG_INVALID')
        assert.ok(e.message.startsWith('nutcracker config for router app1: '), e.message)
        assert.ok(e.message.includes(says), e.message)
        return true
      })
    })
  }
})

describe('readRoutes: the routes of a running router, read back from the file we rendered', () => {
  const inputs: [string, NutcrackerInput][] = [
    ['the sample (a VIP, a host name, ring names with +)', APP1],
    ['one pair, ports 1 and 65535', {cluster: 'local', router: {name: 'r', host: '127.0.0.1', port: 1}, pairs: [{name: 'node1+node2', endpoint: {host: '127.0.0.1', port: 65535}}]}],
    ['the longest ring name, and names of every allowed character', {cluster: 'c', router: {name: 'r', host: 'localhost', port: 22121}, pairs: [
      {name: `${'a'.repeat(40)}+${'b'.repeat(39)}`, endpoint: {host: 'cache-1.example.com', port: 11211}},
      {name: '0.9_x-y+z', endpoint: {host: '10.0.0.3', port: 11311}},
      {name: 'Z', endpoint: {host: 'h_1', port: 2}},
    ]}],
  ]
  for (const [what, input] of inputs) {
    it(`round trip: ${what}`, () => assert.deepEqual(readRoutes(renderNutcrackerConfig(input)), input.pairs))
  }

  it('skips every line that is not a server line of ours: an empty or foreign file gives no routes', () => {
    assert.deepEqual(readRoutes(''), [])
    assert.deepEqual(readRoutes(EXPECTED_APP1.replace(/ {4}- .*\n/g, '')), [], 'our header and pool keys without servers')
    // A hand-written server without a name (nutcracker would hash host:port): not a route repctl wrote.
    assert.deepEqual(readRoutes('alpha:\n  servers:\n    - 127.0.0.1:11211:1\n'), [])
    assert.deepEqual(readRoutes(`${EXPECTED_APP1}    - 10.0.0.9:11211:1 pair 9\n`), APP1.pairs, 'a name with a space is not one of ours')
  })
})

describe('nutcracker -t accepts what we render', () => {
  const skip = toolMissing('nutcracker')
  const dir = mkdtempSync(join(tmpdir(), 'repctl-nutcracker-'))
  after(() => rmSync(dir, {recursive: true, force: true}))

  /** nutcracker -t: exit status and what it says ("syntax is ok" or "syntax is invalid"). */
  function configTest(text: string, name: string): {status: number | null; output: string} {
    const file = join(dir, `${name}.yml`)
    writeFileSync(file, text)
    const r = spawnSync('nutcracker', ['-t', '-c', file], {encoding: 'utf8', timeout: 10_000})
    return {status: r.status, output: `${r.stdout}${r.stderr}`.trim()}
  }

  it('the sample, a single pair on loopback, and the longest names', {skip}, () => {
    const inputs: [string, NutcrackerInput][] = [
      ['sample', APP1],
      ['one-pair', {cluster: 'local', router: {name: 'r', host: '127.0.0.1', port: 1, timeoutMs: 300}, pairs: [{name: 'node1+node2', endpoint: {host: '127.0.0.1', port: 65535}}]}],
      ['long', {cluster: 'c'.repeat(63), router: {name: 'r', host: 'localhost', port: 22121}, pairs: [
        {name: `${'a'.repeat(40)}+${'b'.repeat(39)}`, endpoint: {host: '10.0.0.1', port: 11211}},
        {name: `${'a'.repeat(40)}+${'b'.repeat(38)}c`, endpoint: {host: '10.0.0.2', port: 11211}},
        {name: '0.9_x-y+z', endpoint: {host: '10.0.0.3', port: 11211}},
      ]}],
    ]
    for (const [name, input] of inputs) {
      const r = configTest(renderNutcrackerConfig(input), name)
      assert.equal(r.status, 0, `${name}: ${r.output}`)
      assert.match(r.output, /syntax is ok/)
    }
  })

  it('and the test can fail: nutcracker refuses two servers with one name', {skip}, () => {
    const text = renderNutcrackerConfig(APP1).replace(' pair2\n', ' c+d\n')
    const r = configTest(text, 'duplicate-name')
    assert.notEqual(r.status, 0)
    assert.match(r.output, /syntax is invalid/)
  })

  it('and -t resolves the listen host: a name that cannot resolve (.invalid, RFC 6761) is refused', {skip}, () => {
    const r = configTest(renderNutcrackerConfig({...APP1, router: {name: 'app1', host: 'router-host.invalid', port: 22121}}), 'unresolvable')
    assert.notEqual(r.status, 0)
    assert.match(r.output, /syntax is invalid/)
  })
})
