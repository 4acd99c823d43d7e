import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {findNode, generatedSecretPath, nodePaths, pairOf, selectPairs, serverArgs, type NodePaths} from '../../src/cluster/topology.js'
import {validateConfig, type ClusterConfig} from '../../src/config/schema.js'
import {RepctlError, type ErrorCode} from '../../src/errors.js'

const SOURCE = '/srv/app/repctl.config.yaml'

/** Two pairs: a local one with per-node ports, and one across two addresses. */
const CONFIG: ClusterConfig = validateConfig({
  cluster: 'test',
  defaults: {stateDir: '/var/lib/repctl', memory: 128, maxConnections: 2048, queueMax: 4096},
  nodes: {
    node1: {host: '127.0.0.1', port: 11211, replicationPort: 11212},
    node2: {host: '127.0.0.1', port: 11311, replicationPort: 11312, memory: 256, stateDir: '/opt/state'},
    'cache-a': {host: '127.0.0.2', port: 21211, replicationPort: 21212},
    'cache-b': {host: '127.0.0.3', port: 21211, replicationPort: 21212, queueMax: 10, snapshots: false},
  },
  pairs: [['node1', 'node2'], ['cache-a', 'cache-b']],
}, SOURCE, '/srv/app')

function throws(fn: () => unknown, code: ErrorCode, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RepctlError, String(e))
    assert.equal(e.code, code)
    assert.equal(e.message, message)
    return true
  })
}

describe('nodePaths', () => {
  const cases: [string, NodePaths][] = [
    ['node1', {dir: '/var/lib/repctl/node1', bundle: '/var/lib/repctl/node1/repcached.mjs', pidFile: '/var/lib/repctl/node1/repcached.pid', logFile: '/var/lib/repctl/node1/repcached.log', snapshot: '/var/lib/repctl/node1/snapshot.rcs', secrets: '/var/lib/repctl/node1/secrets'}],
    ['node2', {dir: '/opt/state/node2', bundle: '/opt/state/node2/repcached.mjs', pidFile: '/opt/state/node2/repcached.pid', logFile: '/opt/state/node2/repcached.log', snapshot: '/opt/state/node2/snapshot.rcs', secrets: '/opt/state/node2/secrets'}],
    ['cache-a', {dir: '/var/lib/repctl/cache-a', bundle: '/var/lib/repctl/cache-a/repcached.mjs', pidFile: '/var/lib/repctl/cache-a/repcached.pid', logFile: '/var/lib/repctl/cache-a/repcached.log', snapshot: '/var/lib/repctl/cache-a/snapshot.rcs', secrets: '/var/lib/repctl/cache-a/secrets'}],
  ]
  for (const [name, paths] of cases) {
    it(`${name}: a directory per node under its stateDir`, () => assert.deepEqual(nodePaths(findNode(CONFIG, name)), paths))
  }
})

describe('serverArgs: the repcached command line', () => {
  const cases: [string, string, string[]][] = [
    ['node1', 'node2', [
      '/var/lib/repctl/node1/repcached.mjs', '-d', '-v', '-P', '/var/lib/repctl/node1/repcached.pid',
      '-p', '11211', '-l', '127.0.0.1', '-m', '128', '-c', '2048', '-x', '127.0.0.1', '-X', '11212:11312', '-q', '4096',
      '--snapshot', '/var/lib/repctl/node1/snapshot.rcs', '--snapshot-interval', '1m',
    ]],
    ['node2', 'node1', [
      '/opt/state/node2/repcached.mjs', '-d', '-v', '-P', '/opt/state/node2/repcached.pid',
      '-p', '11311', '-l', '127.0.0.1', '-m', '256', '-c', '2048', '-x', '127.0.0.1', '-X', '11312:11212', '-q', '4096',
      '--snapshot', '/opt/state/node2/snapshot.rcs', '--snapshot-interval', '1m',
    ]],
    ['cache-a', 'cache-b', [
      '/var/lib/repctl/cache-a/repcached.mjs', '-d', '-v', '-P', '/var/lib/repctl/cache-a/repcached.pid',
      '-p', '21211', '-l', '127.0.0.2', '-m', '128', '-c', '2048', '-x', '127.0.0.3', '-X', '21212:21212', '-q', '4096',
      '--snapshot', '/var/lib/repctl/cache-a/snapshot.rcs', '--snapshot-interval', '1m',
    ]],
    ['cache-b', 'cache-a', [
      '/var/lib/repctl/cache-b/repcached.mjs', '-d', '-v', '-P', '/var/lib/repctl/cache-b/repcached.pid',
      '-p', '21211', '-l', '127.0.0.3', '-m', '128', '-c', '2048', '-x', '127.0.0.2', '-X', '21212:21212', '-q', '10',
    ]],
  ]
  for (const [name, peer, args] of cases) {
    it(`${name} with peer ${peer}: listens on its own address, -x its peer, -X own:peer replication ports`, () => {
      assert.deepEqual(serverArgs(findNode(CONFIG, name), findNode(CONFIG, peer), 'none'), args)
    })
  }

  it('passes the settled replication secret as a path in the node\'s secrets dir, never its content', () => {
    const node1 = findNode(CONFIG, 'node1')
    const node2 = findNode(CONFIG, 'node2')
    const secretArg = (use: 'configured' | 'generated' | 'none'): string[] => {
      const args = serverArgs(node1, node2, use)
      const i = args.indexOf('--rep-secret-file')
      return i === -1 ? [] : args.slice(i, i + 2)
    }
    assert.deepEqual(secretArg('generated'), ['--rep-secret-file', '/var/lib/repctl/node1/secrets/replication-generated.secret'])
    assert.equal(generatedSecretPath(node1), '/var/lib/repctl/node1/secrets/replication-generated.secret')
    assert.deepEqual(secretArg('configured'), ['--rep-secret-file', '/var/lib/repctl/node1/secrets/replication.secret'])
    assert.deepEqual(secretArg('none'), [])
  })

  it('always names the peer, so a plain restart of either node rejoins as slave', () => {
    for (const {nodes: [a, b]} of CONFIG.pairs) {
      for (const [node, peer] of [[a, b], [b, a]] as const) {
        const args = serverArgs(findNode(CONFIG, node), findNode(CONFIG, peer), 'generated')
        assert.equal(args[args.indexOf('-x') + 1], findNode(CONFIG, peer).host)
      }
    }
  })
})

describe('findNode and pairOf', () => {
  it('finds a node by name', () => {
    assert.equal(findNode(CONFIG, 'cache-b').host, '127.0.0.3')
  })

  it('pairOf gives [node, its peer] from either side', () => {
    const cases: [string, string, string][] = [['node1', 'node1', 'node2'], ['node2', 'node2', 'node1'], ['cache-a', 'cache-a', 'cache-b'], ['cache-b', 'cache-b', 'cache-a']]
    for (const [name, node, peer] of cases) {
      assert.deepEqual(pairOf(CONFIG, name).map((n) => n.name), [node, peer])
    }
  })

  it('an unknown node is NODE_UNKNOWN, naming the file and the nodes there are', () => {
    const message = `no node named "node3" in ${SOURCE} (nodes: node1, node2, cache-a, cache-b)`
    throws(() => findNode(CONFIG, 'node3'), 'NODE_UNKNOWN', message)
    throws(() => pairOf(CONFIG, 'node3'), 'NODE_UNKNOWN', message)
    throws(() => findNode(CONFIG, 'Node1'), 'NODE_UNKNOWN', `no node named "Node1" in ${SOURCE} (nodes: node1, node2, cache-a, cache-b)`)
  })

  it('a node in no pair is PAIR_UNKNOWN', () => {
    const lonely: ClusterConfig = {...CONFIG, pairs: [{name: 'node1+node2', nodes: ['node1', 'node2']}]}
    throws(() => pairOf(lonely, 'cache-a'), 'PAIR_UNKNOWN', `node "cache-a" is in no pair in ${SOURCE}`)
  })
})

describe('selectPairs (--pair)', () => {
  const names = (pairs: ReturnType<typeof selectPairs>): string[][] => pairs.map((p) => p.map((n) => n.name))
  const cases: [string | undefined, string[][]][] = [
    [undefined, [['node1', 'node2'], ['cache-a', 'cache-b']]],
    ['node1,node2', [['node1', 'node2']]],
    // The order given is the order of preference for the master.
    ['node2,node1', [['node2', 'node1']]],
    ['cache-b,cache-a', [['cache-b', 'cache-a']]],
    [' cache-a , cache-b ', [['cache-a', 'cache-b']]],
  ]
  for (const [flag, expected] of cases) {
    it(`--pair ${flag === undefined ? '(none)' : JSON.stringify(flag)} → ${expected.map((p) => p.join(',')).join('; ')}`, () => {
      assert.deepEqual(names(selectPairs(CONFIG, flag)), expected)
    })
  }

  for (const flag of ['node1,cache-a', 'node1', 'node1,node2,node1', 'node1,node1', 'node1,node3', '', ',', 'node1;node2']) {
    it(`--pair ${JSON.stringify(flag)} is PAIR_UNKNOWN, listing the pairs`, () => {
      throws(() => selectPairs(CONFIG, flag), 'PAIR_UNKNOWN', `"${flag}" is not a pair in ${SOURCE} (pairs: node1,node2; cache-a,cache-b)`)
    })
  }

  it('PAIR_UNKNOWN tells the operator how to name a pair', () => {
    try {
      selectPairs(CONFIG, 'x,y')
      assert.fail('accepted x,y')
    } catch (e) {
      assert.ok(e instanceof RepctlError)
      assert.equal(e.exitCode, 2)
      assert.match(e.suggestions.join(' '), /--pair node1,node2/)
    }
  })
})
