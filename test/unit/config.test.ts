import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'
import {loadConfig} from '../../src/config/load.js'
import {BUILT_IN_SOURCE, DEFAULTS, expandHome, validateConfig, type ClusterConfig, type NodeConfig} from '../../src/config/schema.js'
import {RepctlError} from '../../src/errors.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const FILE = '/srv/app/repctl.config.yaml'
const BASE = '/srv/app'

const node = (name: string, host: string, over: Partial<NodeConfig> = {}): NodeConfig => ({
  name, host, port: 11211, replicationPort: 11212, memory: 64, maxConnections: 1024, queueMax: 8192, stateDir: join(homedir(), '.repctl'), snapshots: true, snapshotIntervalMs: 60_000, privilege: 'root', ssh: undefined, ...over,
})

/** Two nodes on one address with distinct ports: the smallest valid local pair. */
const LOCAL = {node1: {host: '127.0.0.1'}, node2: {host: '127.0.0.1', port: 11311, replicationPort: 11312}}

function rejects(raw: unknown, source = FILE): RepctlError {
  try {
    validateConfig(raw, source, BASE)
  } catch (e) {
    assert.ok(e instanceof RepctlError, String(e))
    assert.equal(e.code, 'CONFIG_INVALID')
    assert.equal(e.exitCode, 2)
    return e
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`)
}

describe('validateConfig: snapshotInterval takes the duration forms', () => {
  const cases: [unknown, number][] = [[60, 60_000], [0, 0], [0.5, 500], ['1.5s', 1500], ['2m', 120_000], ['250ms', 250], ['1h', 3_600_000], ['90', 90_000], ['24h', 86_400_000]]
  for (const [value, ms] of cases) {
    it(`${JSON.stringify(value)} is ${ms} ms, in defaults and per node`, () => {
      const viaDefaults = validateConfig({defaults: {snapshotInterval: value}, nodes: LOCAL}, FILE, BASE)
      assert.deepEqual(viaDefaults.nodes.map((n) => n.snapshotIntervalMs), [ms, ms])
      const perNode = validateConfig({nodes: {...LOCAL, node2: {...LOCAL.node2, snapshotInterval: value}}}, FILE, BASE)
      assert.deepEqual(perNode.nodes.map((n) => n.snapshotIntervalMs), [60_000, ms])
    })
  }
})

describe('validateConfig: valid configs', () => {
  const cases: {name: string; raw: unknown; expect: Omit<ClusterConfig, 'source' | 'security' | 'warnings' | 'routers'>}[] = [
    {
      name: 'two nodes on two hosts, all defaults, implicit pair',
      raw: {nodes: {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}}},
      expect: {cluster: 'local', nodes: [node('a', '127.0.0.2'), node('b', '127.0.0.3')], pairs: [{name: 'a+b', nodes: ['a', 'b']}]},
    },
    {
      name: 'two nodes on one address with their own ports',
      raw: {cluster: 'cache-1', nodes: LOCAL},
      expect: {cluster: 'cache-1', nodes: [node('node1', '127.0.0.1'), node('node2', '127.0.0.1', {port: 11311, replicationPort: 11312})], pairs: [{name: 'node1+node2', nodes: ['node1', 'node2']}]},
    },
    {
      name: 'defaults overridden, then per node',
      raw: {
        defaults: {memory: 128, maxConnections: 50, queueMax: 100, stateDir: '/var/lib/repctl', port: 20000, replicationPort: 20001},
        nodes: {node1: {host: '127.0.0.1'}, node2: {host: '127.0.0.1', port: 20100, replicationPort: 20101, memory: 512, maxConnections: 7, queueMax: 9, stateDir: '/opt/repctl', snapshots: false}},
        pairs: [['node2', 'node1']],
      },
      expect: {
        cluster: 'local',
        nodes: [
          {name: 'node1', host: '127.0.0.1', port: 20000, replicationPort: 20001, memory: 128, maxConnections: 50, queueMax: 100, stateDir: '/var/lib/repctl', snapshots: true, snapshotIntervalMs: 60_000, privilege: 'root', ssh: undefined},
          {name: 'node2', host: '127.0.0.1', port: 20100, replicationPort: 20101, memory: 512, maxConnections: 7, queueMax: 9, stateDir: '/opt/repctl', snapshots: false, snapshotIntervalMs: 60_000, privilege: 'root', ssh: undefined},
        ],
        pairs: [{name: 'node1+node2', nodes: ['node2', 'node1']}],
      },
    },
    {
      name: 'four nodes in two explicit pairs, names with . _ -, host names and IPv6',
      raw: {
        nodes: {'cache-a.1': {host: 'cache-a.example.com'}, cache_b: {host: 'cache-b'}, c: {host: '::1'}, D9: {host: '127.0.0.9'}},
        pairs: [['cache-a.1', 'cache_b'], ['D9', 'c']],
      },
      expect: {
        cluster: 'local',
        nodes: [node('cache-a.1', 'cache-a.example.com'), node('cache_b', 'cache-b'), node('c', '::1'), node('D9', '127.0.0.9')],
        pairs: [{name: 'cache-a.1+cache_b', nodes: ['cache-a.1', 'cache_b']}, {name: 'D9+c', nodes: ['D9', 'c']}],
      },
    },
    {
      name: 'ports at both ends of the range, a 63-character name',
      raw: {nodes: {['n'.repeat(63)]: {host: '127.0.0.1', port: 1, replicationPort: 65535}, b: {host: '127.0.0.1', port: 65534, replicationPort: 2}}},
      expect: {cluster: 'local', nodes: [node('n'.repeat(63), '127.0.0.1', {port: 1, replicationPort: 65535}), node('b', '127.0.0.1', {port: 65534, replicationPort: 2})], pairs: [{name: `b+${'n'.repeat(63)}`, nodes: ['n'.repeat(63), 'b']}]},
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(validateConfig(c.raw, FILE, BASE), {...c.expect, routers: [], security: {}, warnings: [], source: FILE})
    })
  }

  const dirs: [string, string][] = [
    ['~/.repctl', join(homedir(), '.repctl')],
    ['~', homedir()],
    ['~/a/../b', join(homedir(), 'b')],
    ['state', '/srv/app/state'],
    ['./state/', '/srv/app/state'],
    ['../shared/state', '/srv/shared/state'],
    ['/var/lib/repctl', '/var/lib/repctl'],
  ]
  for (const [given, resolved] of dirs) {
    it(`stateDir ${given} → ${resolved} (relative to the file's directory)`, () => {
      const viaDefaults = validateConfig({defaults: {stateDir: given}, nodes: LOCAL}, FILE, BASE)
      assert.deepEqual(viaDefaults.nodes.map((n) => n.stateDir), [resolved, resolved])
      const viaNode = validateConfig({nodes: {node1: {host: '127.0.0.1', stateDir: given}, node2: LOCAL.node2}}, FILE, BASE)
      assert.deepEqual(viaNode.nodes.map((n) => n.stateDir), [resolved, join(homedir(), '.repctl')])
    })
  }

  it('expandHome expands only a leading ~ or ~/', () => {
    assert.equal(expandHome('~', '/home/u'), '/home/u')
    assert.equal(expandHome('~/x/y', '/home/u'), '/home/u/x/y')
    assert.equal(expandHome('~other/x', '/home/u'), '~other/x')
    assert.equal(expandHome('/a/~/b', '/home/u'), '/a/~/b')
    assert.equal(expandHome('rel', '/home/u'), 'rel')
  })

  it('leaves DEFAULTS untouched', () => {
    validateConfig({defaults: {memory: 999}, nodes: LOCAL}, FILE, BASE)
    assert.deepEqual(DEFAULTS, {port: 11211, replicationPort: 11212, memory: 64, maxConnections: 1024, queueMax: 8192, stateDir: '~/.repctl', snapshots: true, snapshotIntervalMs: 60_000, privilege: 'root'})
  })
})

describe('validateConfig: invalid configs name the file and the key path', () => {
  const withNode1 = (over: Record<string, unknown>): unknown => ({nodes: {node1: {host: '127.0.0.1', ...over}, node2: LOCAL.node2}})
  const withDefaults = (over: Record<string, unknown>): unknown => ({defaults: over, nodes: LOCAL})
  const cases: {name: string; raw: unknown; says: string}[] = [
    // Unknown keys at each level.
    {name: 'unknown top-level key (typo)', raw: {nodes: LOCAL, pair: [['node1', 'node2']]}, says: 'pair: unknown key; expected cluster, defaults, nodes, pairs, routers or security'},
    {name: 'unknown key in defaults', raw: withDefaults({memmory: 64}), says: 'defaults.memmory: unknown key; expected one of port, replicationPort, memory, maxConnections, queueMax, stateDir'},
    {name: 'host is no default', raw: withDefaults({host: '127.0.0.1'}), says: 'defaults.host: unknown key'},
    {name: 'unknown key in a node', raw: withNode1({prot: 1}), says: 'nodes.node1.prot: unknown key; expected one of host, ssh, port, replicationPort'},
    {name: 'ssh with a space', raw: withNode1({ssh: 'root@127.0.0.1; rm -rf /'}), says: 'nodes.node1.ssh: must be user@host[:port]'},
    {name: 'ssh user with a shell metacharacter', raw: withNode1({ssh: {user: '$(id)'}}), says: 'nodes.node1.ssh.user: must be a user name'},
    {name: 'ssh unknown key', raw: withNode1({ssh: {usr: 'root'}}), says: 'nodes.node1.ssh.usr: unknown key'},
    {name: 'ssh port out of range', raw: withNode1({ssh: {port: 70000}}), says: 'nodes.node1.ssh.port: must be a whole number from 1 to 65535'},
    {name: 'ssh hostKey not a fingerprint', raw: withNode1({ssh: {hostKey: 'abc'}}), says: 'nodes.node1.ssh.hostKey: must be an OpenSSH SHA256 fingerprint'},
    // Wrong types.
    {name: 'cluster is a number', raw: {cluster: 5, nodes: LOCAL}, says: 'cluster: must be a name'},
    {name: 'cluster with a space', raw: {cluster: 'my cluster', nodes: LOCAL}, says: 'cluster: must be a name'},
    {name: 'defaults is a list', raw: {defaults: [1], nodes: LOCAL}, says: 'defaults: must be a mapping'},
    {name: 'nodes missing', raw: {cluster: 'x'}, says: 'nodes: must map node names to their settings'},
    {name: 'nodes is a list', raw: {name: 'node1+node2', nodes: ['node1', 'node2']}, says: 'nodes: must map node names to their settings'},
    {name: 'nodes is empty', raw: {nodes: {}}, says: 'nodes: must map node names to their settings'},
    {name: 'a node is empty', raw: {nodes: {node1: null, node2: LOCAL.node2}}, says: 'nodes.node1: must be a mapping with at least host'},
    {name: 'a node is a string', raw: {nodes: {node1: '127.0.0.1', node2: LOCAL.node2}}, says: 'nodes.node1: must be a mapping with at least host'},
    {name: 'host missing', raw: {nodes: {node1: {port: 1}, node2: LOCAL.node2}}, says: 'nodes.node1.host: must be a host name or IP address (got undefined)'},
    {name: 'host is a number', raw: withNode1({host: 127}), says: 'nodes.node1.host: must be a host name or IP address (got 127)'},
    {name: 'port as a string', raw: withNode1({port: '11211'}), says: 'nodes.node1.port: must be a whole number from 1 to 65535 (got "11211")'},
    {name: 'port not whole', raw: withNode1({port: 11211.5}), says: 'nodes.node1.port: must be a whole number from 1 to 65535 (got 11211.5)'},
    {name: 'memory as a boolean', raw: withNode1({memory: true}), says: 'nodes.node1.memory: must be a whole number from 1 to 1048576 (got true)'},
    {name: 'snapshots as a string', raw: withNode1({snapshots: 'yes'}), says: 'nodes.node1.snapshots: must be true or false (got "yes")'},
    {name: 'snapshotInterval negative', raw: withDefaults({snapshotInterval: -5}), says: 'defaults.snapshotInterval: must be 0 (only at stop) or a duration from 100ms to 24h, like 250ms, 1s, 1.5s, 2m or 1h (a bare number is seconds) (got -5)'},
    {name: 'snapshotInterval with an unknown unit', raw: withNode1({snapshotInterval: '2min'}), says: 'nodes.node1.snapshotInterval: must be 0 (only at stop) or a duration from 100ms to 24h, like 250ms, 1s, 1.5s, 2m or 1h (a bare number is seconds) (got "2min")'},
    {name: 'snapshotInterval 1ms (a typo for 1m)', raw: withDefaults({snapshotInterval: '1ms'}), says: 'defaults.snapshotInterval: must be 0 (only at stop) or a duration from 100ms to 24h'},
    {name: 'snapshotInterval above a day', raw: withDefaults({snapshotInterval: '25h'}), says: 'defaults.snapshotInterval: must be 0 (only at stop) or a duration from 100ms to 24h'},
    {name: 'snapshotInterval finer than a millisecond', raw: withDefaults({snapshotInterval: '1.0005s'}), says: 'defaults.snapshotInterval: must be a whole number of milliseconds'},
    {name: 'snapshotInterval as a boolean', raw: withDefaults({snapshotInterval: true}), says: 'defaults.snapshotInterval: must be 0 (only at stop) or a duration'},
    {name: 'maxConnections zero', raw: withDefaults({maxConnections: 0}), says: 'defaults.maxConnections: must be a whole number from 1 to 1000000 (got 0)'},
    {name: 'queueMax negative', raw: withNode1({queueMax: -1}), says: 'nodes.node1.queueMax: must be a whole number from 1 to 100000000 (got -1)'},
    {name: 'stateDir a number', raw: withDefaults({stateDir: 5}), says: 'defaults.stateDir: must be a directory path (got 5)'},
    {name: 'stateDir empty', raw: withNode1({stateDir: '  '}), says: 'nodes.node1.stateDir: must be a directory path'},
    {name: 'stateDir with a newline', raw: withNode1({stateDir: '/a\n/b'}), says: 'nodes.node1.stateDir: must be a directory path'},
    // Ports out of range.
    {name: 'port 0', raw: withNode1({port: 0}), says: 'nodes.node1.port: must be a whole number from 1 to 65535 (got 0)'},
    {name: 'port 65536', raw: withNode1({port: 65536}), says: 'nodes.node1.port: must be a whole number from 1 to 65535 (got 65536)'},
    {name: 'replication port 70000 in defaults', raw: withDefaults({replicationPort: 70000}), says: 'defaults.replicationPort: must be a whole number from 1 to 65535 (got 70000)'},
    // Node names.
    {name: 'node name with a space', raw: {nodes: {'node 1': {host: '127.0.0.1'}, node2: LOCAL.node2}}, says: 'nodes.node 1: node names use letters, digits, . _ - (at most 63)'},
    {name: 'node name with a slash (it becomes a directory)', raw: {nodes: {'a/b': {host: '127.0.0.1'}, node2: LOCAL.node2}}, says: 'nodes.a/b: node names use'},
    {name: 'node name ..', raw: {nodes: {'..': {host: '127.0.0.1'}, node2: LOCAL.node2}}, says: 'nodes...: node names use'},
    {name: 'node name starting with -', raw: {nodes: {'-x': {host: '127.0.0.1'}, node2: LOCAL.node2}}, says: 'nodes.-x: node names use'},
    {name: 'node name of 64 characters', raw: {nodes: {['n'.repeat(64)]: {host: '127.0.0.1'}, node2: LOCAL.node2}}, says: `nodes.${'n'.repeat(64)}: node names use`},
    {name: 'node name with a shell metacharacter', raw: {nodes: {'n;1': {host: '127.0.0.1'}, node2: LOCAL.node2}}, says: 'nodes.n;1: node names use'},
    // Hosts that would reach a shell or a command line.
    ...['127.0.0.1; rm -rf /', 'my host', '$(reboot)', '`id`', 'a|b', 'a&b', "a'b", 'a"b', 'a>b', '-oProxyCommand=x', ''].map((host) => ({
      name: `host ${JSON.stringify(host)}`, raw: withNode1({host}), says: `nodes.node1.host: must be a host name or IP address (got ${JSON.stringify(host)})`,
    })),
    // Pairs.
    {name: 'pair names a missing node', raw: {nodes: LOCAL, pairs: [['node1', 'node3']]}, says: 'pairs[0]: names node3, which is not under nodes'},
    {name: 'a node in two pairs', raw: {nodes: {...LOCAL, node3: {host: '127.0.0.3'}}, pairs: [['node1', 'node2'], ['node3', 'node2']]}, says: 'pairs[1]: node2 is already in pairs[0]; a node belongs to one pair'},
    {name: 'a node paired with itself', raw: {nodes: LOCAL, pairs: [['node1', 'node1']]}, says: 'pairs[0]: pairs node1 with itself'},
    {name: 'a pair of one', raw: {nodes: LOCAL, pairs: [['node1']]}, says: 'pairs[0]: must be two node names, e.g. [node1, node2]'},
    {name: 'a pair of three', raw: {nodes: LOCAL, pairs: [['node1', 'node2', 'node1']]}, says: 'pairs[0]: must be two node names'},
    {name: 'a pair of numbers', raw: {nodes: LOCAL, pairs: [[1, 2]]}, says: 'pairs[0]: must be two node names'},
    {name: 'pairs as a string', raw: {nodes: LOCAL, pairs: 'node1,node2'}, says: 'pairs: must list pairs of node names'},
    {name: 'pairs empty', raw: {nodes: LOCAL, pairs: []}, says: 'pairs: must list pairs of node names'},
    {name: 'three nodes and no pairs', raw: {nodes: {...LOCAL, node3: {host: '127.0.0.3'}}}, says: 'pairs: must list pairs of node names'},
    {name: 'a single node', raw: {nodes: {node1: {host: '127.0.0.1'}}}, says: 'pairs: must list pairs of node names'},
    // Two nodes on one address.
    {name: 'two nodes share a client port', raw: {nodes: {node1: {host: '127.0.0.1'}, node2: {host: '127.0.0.1', replicationPort: 11312}}}, says: 'nodes.node2.port: 127.0.0.1:11211 is already used by nodes.node1.port; nodes and routers on one address need distinct ports'},
    {name: 'two nodes share a replication port', raw: {nodes: {node1: {host: '127.0.0.1'}, node2: {host: '127.0.0.1', port: 11311}}}, says: 'nodes.node2.replicationPort: 127.0.0.1:11212 is already used by nodes.node1.replicationPort'},
    {name: "a client port is the other's replication port", raw: {nodes: {node1: {host: '127.0.0.1'}, node2: {host: '127.0.0.1', port: 11212, replicationPort: 11312}}}, says: 'nodes.node2.port: 127.0.0.1:11212 is already used by nodes.node1.replicationPort'},
    {name: 'one node with one port for both', raw: {nodes: {node1: {host: '127.0.0.1', replicationPort: 11211}, node2: LOCAL.node2}}, says: 'nodes.node1.replicationPort: 127.0.0.1:11211 is already used by nodes.node1.port'},
  ]
  for (const c of cases) {
    it(c.name, () => {
      const e = rejects(c.raw)
      assert.ok(e.message.startsWith(`${FILE}: `), e.message)
      assert.ok(e.message.includes(c.says), `"${e.message}"\nshould include\n"${c.says}"`)
    })
  }

  it('refuses a config that is not a mapping, naming the file', () => {
    for (const raw of [null, [], 'cluster: x', 42]) {
      const e = rejects(raw)
      assert.equal(e.message, `${FILE}: the config must be a mapping with cluster, defaults, nodes and pairs`)
    }
  })

  it('lists every problem at once, up to eight', () => {
    const e = rejects({cluster: '', nodes: {node1: {host: 'a b', port: 0, memory: 0}, node2: {host: 'c;d', queueMax: 0, x: 1}}, pairs: [['node1', 'node9']], extra: 1})
    for (const path of ['extra: ', 'cluster: ', 'nodes.node1.host: ', 'nodes.node1.port: ', 'nodes.node1.memory: ', 'nodes.node2.host: ', 'nodes.node2.x: ', 'nodes.node2.queueMax: ']) {
      assert.ok(e.message.includes(path), `${e.message} should name ${path}`)
    }
    assert.match(e.message, / \(and 1 more\)$/)
  })

  it('gives the operator the way forward', () => {
    assert.deepEqual(rejects({}).suggestions, ['fix the file (see `repctl init` for a commented example)'])
  })
})

describe('loadConfig with real files', () => {
  let tmp: string
  let savedEnv: string | undefined
  let n = 0
  /** A fresh project directory (with a package.json, so the search stops there). */
  const project = (files: Record<string, string> = {}, pkg: unknown = {name: 'p', private: true}): string => {
    const dir = join(tmp, `p${n++}`)
    mkdirSync(dir, {recursive: true})
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg))
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), {recursive: true})
      writeFileSync(join(dir, name), text)
    }
    return dir
  }
  const YAML = 'cluster: from-yaml\nnodes:\n  a: {host: 127.0.0.1, port: 21211, replicationPort: 21212}\n  b: {host: 127.0.0.1, port: 21311, replicationPort: 21312}\n'
  const rejected = async (p: Promise<unknown>): Promise<RepctlError> => {
    const e = await p.then(() => undefined, (err: unknown) => err)
    assert.ok(e instanceof RepctlError, `expected a RepctlError, got ${String(e)}`)
    return e
  }

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'repctl-config-'))
    savedEnv = process.env.REPCTL_CONFIG
    delete process.env.REPCTL_CONFIG
  })
  after(() => {
    if (savedEnv === undefined) delete process.env.REPCTL_CONFIG
    else process.env.REPCTL_CONFIG = savedEnv
    rmSync(tmp, {recursive: true, force: true})
  })

  it('finds repctl.config.yaml in the working directory', async () => {
    const dir = project({'repctl.config.yaml': YAML})
    const c = await loadConfig(undefined, dir)
    assert.equal(c.cluster, 'from-yaml')
    assert.equal(c.source, join(dir, 'repctl.config.yaml'))
    assert.deepEqual(c.pairs, [{name: 'a+b', nodes: ['a', 'b']}])
  })

  it('searches up from a subdirectory and resolves a relative stateDir against the file, not the cwd', async () => {
    const dir = project({'repctl.config.yaml': `${YAML}defaults: {stateDir: ./state}\n`, 'sub/deeper/.keep': ''})
    const c = await loadConfig(undefined, join(dir, 'sub', 'deeper'))
    assert.equal(c.source, join(dir, 'repctl.config.yaml'))
    assert.deepEqual(c.nodes.map((x) => x.stateDir), [join(dir, 'state'), join(dir, 'state')])
  })

  it('does not search past the project root', async () => {
    const outer = project({'repctl.config.yaml': YAML})
    const inner = join(outer, 'inner')
    mkdirSync(join(inner, 'sub'), {recursive: true})
    writeFileSync(join(inner, 'package.json'), '{"name": "inner"}')
    assert.equal((await loadConfig(undefined, join(inner, 'sub'))).source, BUILT_IN_SOURCE)
  })

  it('reads repctl.config.json', async () => {
    const dir = project({'repctl.config.json': JSON.stringify({cluster: 'from-json', nodes: {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}}})})
    const c = await loadConfig(undefined, dir)
    assert.equal(c.cluster, 'from-json')
    assert.equal(c.source, join(dir, 'repctl.config.json'))
  })

  it('reads repctl.config.mjs', async () => {
    const dir = project({'repctl.config.mjs': `export default ${JSON.stringify({cluster: 'from-mjs', nodes: {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}}})}\n`})
    assert.equal((await loadConfig(undefined, dir)).cluster, 'from-mjs')
  })

  it('reads .repctlrc (YAML without an extension)', async () => {
    const dir = project({'.repctlrc': YAML.replace('from-yaml', 'from-rc')})
    const c = await loadConfig(undefined, dir)
    assert.equal(c.cluster, 'from-rc')
    assert.equal(c.source, join(dir, '.repctlrc'))
  })

  it('reads the repctl key of package.json', async () => {
    const dir = project({}, {name: 'p', repctl: {cluster: 'from-pkg', nodes: {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}}}})
    const c = await loadConfig(undefined, dir)
    assert.equal(c.cluster, 'from-pkg')
    assert.equal(c.source, join(dir, 'package.json'))
  })

  it('names the file, line and column of a YAML syntax error', async () => {
    const dir = project({'repctl.config.yaml': 'cluster: x\nnodes:\n  a: {host: 127.0.0.1\n  b: [\n'})
    const e = await rejected(loadConfig(undefined, dir))
    assert.equal(e.code, 'CONFIG_INVALID')
    assert.ok(e.message.includes(join(dir, 'repctl.config.yaml')), e.message)
    assert.match(e.message, /\(4:\d+\)/)
  })

  it('names the file of a JSON syntax error', async () => {
    const dir = project({'repctl.config.json': '{"nodes": {'})
    const e = await rejected(loadConfig(undefined, dir))
    assert.equal(e.code, 'CONFIG_INVALID')
    assert.ok(e.message.includes(join(dir, 'repctl.config.json')), e.message)
  })

  it('names the file and key path of a schema error', async () => {
    const dir = project({'repctl.config.yaml': YAML.replace('port: 21311', 'port: 70000')})
    const e = await rejected(loadConfig(undefined, dir))
    assert.equal(e.message, `${join(dir, 'repctl.config.yaml')}: nodes.b.port: must be a whole number from 1 to 65535 (got 70000)`)
  })

  it('refuses an empty or all-comment file, found or named, instead of falling back to the built-in pair', async () => {
    for (const text of ['', '# cluster: local\n# nodes: {}\n']) {
      const dir = project({'repctl.config.yaml': text, 'sub/.keep': ''})
      for (const [explicit, cwd] of [[undefined, dir], [undefined, join(dir, 'sub')], ['repctl.config.yaml', dir]] as const) {
        const e = await rejected(loadConfig(explicit, cwd))
        assert.equal(e.code, 'CONFIG_INVALID')
        assert.equal(e.message, `${join(dir, 'repctl.config.yaml')} is empty`)
      }
    }
  })

  it('prefers a config file to a package.json without a repctl key in the same directory', async () => {
    const dir = project({'.repctlrc.json': JSON.stringify({cluster: 'from-rc-json', nodes: {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}}})})
    assert.equal((await loadConfig(undefined, dir)).cluster, 'from-rc-json')
  })

  it('--config reads that file (relative to the cwd) instead of searching', async () => {
    const dir = project({'repctl.config.yaml': YAML, 'conf/other.yaml': YAML.replace('from-yaml', 'from-flag')})
    const c = await loadConfig('conf/other.yaml', dir)
    assert.equal(c.cluster, 'from-flag')
    assert.equal(c.source, join(dir, 'conf', 'other.yaml'))
  })

  it('--config to a missing file is CONFIG_NOT_FOUND, naming the absolute path', async () => {
    const dir = project({'repctl.config.yaml': YAML})
    const e = await rejected(loadConfig('nope.yaml', dir))
    assert.equal(e.code, 'CONFIG_NOT_FOUND')
    assert.equal(e.exitCode, 2)
    assert.equal(e.message, `config file ${join(dir, 'nope.yaml')} does not exist`)
  })

  it('REPCTL_CONFIG is used when --config is not given, and --config wins over it', async () => {
    const dir = project({'repctl.config.yaml': YAML, 'env.yaml': YAML.replace('from-yaml', 'from-env'), 'flag.yaml': YAML.replace('from-yaml', 'from-flag')})
    process.env.REPCTL_CONFIG = join(dir, 'env.yaml')
    try {
      assert.equal((await loadConfig(undefined, dir)).cluster, 'from-env')
      assert.equal((await loadConfig('flag.yaml', dir)).cluster, 'from-flag')
      process.env.REPCTL_CONFIG = join(dir, 'gone.yaml')
      assert.equal((await rejected(loadConfig(undefined, dir))).code, 'CONFIG_NOT_FOUND')
      process.env.REPCTL_CONFIG = ''
      assert.equal((await loadConfig(undefined, dir)).cluster, 'from-yaml')
    } finally {
      delete process.env.REPCTL_CONFIG
    }
  })

  it('without any file uses the built-in local pair', async () => {
    const dir = project()
    const c = await loadConfig(undefined, dir)
    const state = join(homedir(), '.repctl')
    assert.deepEqual(c, {
      cluster: 'local',
      nodes: [
        {name: 'node1', host: '127.0.0.1', port: 11211, replicationPort: 11212, memory: 64, maxConnections: 1024, queueMax: 8192, stateDir: state, snapshots: true, snapshotIntervalMs: 60_000, privilege: 'root', ssh: undefined},
        {name: 'node2', host: '127.0.0.1', port: 11311, replicationPort: 11312, memory: 64, maxConnections: 1024, queueMax: 8192, stateDir: state, snapshots: true, snapshotIntervalMs: 60_000, privilege: 'root', ssh: undefined},
      ],
      pairs: [{name: 'node1+node2', nodes: ['node1', 'node2']}],
      routers: [],
      security: {},
      warnings: [],
      source: BUILT_IN_SOURCE,
    })
  })

  it('the shipped template loads and is the built-in pair', async () => {
    const template = join(ROOT, 'templates', 'repctl.config.yaml')
    const fromTemplate = await loadConfig(template, project())
    const builtIn = await loadConfig(undefined, project())
    assert.equal(fromTemplate.source, template)
    assert.deepEqual({...fromTemplate, source: ''}, {...builtIn, source: ''})
  })
})

describe('validateConfig: ssh', () => {
  const two = (ssh1: unknown, ssh2: unknown): unknown => ({nodes: {a: {host: '172.16.0.8', ssh: ssh1}, b: {host: '172.16.0.9', ssh: ssh2}}})

  it('reads user@host:port and the mapping form, with the node host as the default address', () => {
    const c = validateConfig(two('repuser@10.0.0.8:2222', {user: 'root', identityFile: '~/.ssh/deploy', hostKey: 'SHA256:' + 'A'.repeat(43)}), FILE, BASE)
    assert.deepEqual(c.nodes[0]!.ssh, {host: '10.0.0.8', port: 2222, user: 'repuser', identityFile: undefined, agent: undefined, knownHosts: undefined, hostKey: undefined})
    const b = c.nodes[1]!.ssh!
    assert.deepEqual([b.host, b.port, b.user, b.identityFile, b.hostKey], ['172.16.0.9', 22, 'root', join(homedir(), '.ssh/deploy'), 'SHA256:' + 'A'.repeat(43)])
  })

  it('keeps ~ in the state dir of an SSH node for the remote home, resolves it for local ones', () => {
    const c = validateConfig({nodes: {a: {host: '172.16.0.8', ssh: 'root@172.16.0.8'}, b: {host: '127.0.0.1'}}}, FILE, BASE)
    assert.equal(c.nodes[0]!.stateDir, '~/.repctl')
    assert.equal(c.nodes[1]!.stateDir, join(homedir(), '.repctl'))
  })
})

describe('validateConfig: security', () => {
  const dir = mkdtempSync(join(tmpdir(), 'repctl-secconf-'))
  after(() => rmSync(dir, {recursive: true, force: true}))
  const nodes = {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}}

  it('resolves files against the config\'s directory, puts them on every node, and warns about a readable secret', () => {
    writeFileSync(join(dir, 'users'), 'app:pw\n', {mode: 0o644})
    writeFileSync(join(dir, 'secret'), 's\n', {mode: 0o600})
    chmodSync(join(dir, 'users'), 0o644)
    const c = validateConfig({nodes, security: {usersFile: 'users', replicationSecretFile: 'secret'}}, 'cfg.yaml', dir)
    assert.deepEqual(c.security, {usersFile: join(dir, 'users'), replicationSecretFile: join(dir, 'secret')})
    assert.deepEqual(c.nodes.map((n) => n.security), [c.security, c.security])
    assert.deepEqual(c.warnings, [`cfg.yaml: security.usersFile: ${join(dir, 'users')} is readable by others (mode 644); chmod 600 ${join(dir, 'users')}`])
  })

  it('without replicationSecretFile nothing is configured (repctl generates the secret); `none` turns it off, and is no file name', () => {
    assert.deepEqual(validateConfig({nodes}, 'cfg.yaml', dir).security, {})
    assert.equal(validateConfig({nodes}, 'cfg.yaml', dir).nodes[0]!.security, undefined)
    const off = validateConfig({nodes, security: {replicationSecretFile: 'none'}}, 'cfg.yaml', dir)
    assert.deepEqual(off.security, {replicationSecretOff: true})
    assert.deepEqual(off.nodes.map((n) => n.security), [off.security, off.security])
    // A file named none is reached as ./none, and must exist like any other.
    assert.throws(() => validateConfig({nodes, security: {replicationSecretFile: './none'}}, 'cfg.yaml', dir), /security\.replicationSecretFile: .*none: no such file/)
    writeFileSync(join(dir, 'none'), 's\n', {mode: 0o600})
    assert.deepEqual(validateConfig({nodes, security: {replicationSecretFile: './none'}}, 'cfg.yaml', dir).security, {replicationSecretFile: join(dir, 'none')})
  })

  it('refuses TLS or a users file together with routers, naming the key and what to do; each alone is fine', () => {
    writeFileSync(join(dir, 'cert'), 'x', {mode: 0o600})
    writeFileSync(join(dir, 'users'), 'app:pw\n', {mode: 0o600})
    const routers = {app1: {host: '127.0.0.1', port: 22121}}
    const tls = {cert: 'cert', key: 'cert', ca: 'cert'}
    for (const [key, security] of [['tls', {tls}], ['usersFile', {usersFile: 'users'}]] as const) {
      assert.throws(() => validateConfig({nodes, routers, security}, 'cfg.yaml', dir), (e: unknown) => {
        assert.ok(e instanceof RepctlError && e.code === 'CONFIG_INVALID', String(e))
        assert.ok(e.message.includes(`security.${key}: cannot be used with routers: nutcracker 0.5.0 speaks neither TLS nor memcached's authentication, so it could not reach the nodes; remove routers, or let applications reach the pairs directly (docs/client-side-hashing.md)`), e.message)
        return true
      }, key)
      assert.equal(validateConfig({nodes, security}, 'cfg.yaml', dir).routers.length, 0, `${key} without routers`)
    }
    const both = (() => { try { validateConfig({nodes, routers, security: {tls, usersFile: 'users'}}, 'cfg.yaml', dir) } catch (e) { return (e as Error).message } return '' })()
    assert.match(both, /security\.tls: cannot be used with routers.*security\.usersFile: cannot be used with routers/, 'both named at once')
    assert.deepEqual(validateConfig({nodes, routers, security: {replicationSecretFile: 'none'}}, 'cfg.yaml', dir).routers.map((r) => r.name), ['app1'], 'the replication secret is between the nodes: fine with routers')
  })

  it('names a missing file, an unknown key, TLS without a CA, and verifyClients without repctl\'s own certificate', () => {
    writeFileSync(join(dir, 'cert'), 'x', {mode: 0o600})
    const cases: [unknown, RegExp][] = [
      [{usersFile: 'nope'}, /security\.usersFile: .*nope: no such file/],
      [{password: 'x'}, /security\.password: unknown key/],
      [{tls: {cert: 'cert', key: 'cert'}}, /security\.tls\.ca: is needed/],
      [{tls: {cert: 'cert', key: 'cert', ca: 'cert', verifyClients: true}}, /verifyClients needs clientCert and clientKey/],
    ]
    assert.throws(() => validateConfig({defaults: {stateDir: '/srv/a,b'}, nodes, security: {tls: {cert: 'cert', key: 'cert', ca: 'cert'}}}, 'cfg.yaml', dir),
      /nodes\.a\.stateDir: must not contain a comma when security\.tls is set/)
    for (const [security, message] of cases) {
      assert.throws(() => validateConfig({nodes, security}, 'cfg.yaml', dir), (e: Error) => message.test(e.message), JSON.stringify(security))
    }
  })
})

describe('validateConfig: pairs with a vip', () => {
  /** Four nodes on four IPv4 hosts: two pairs that can each have a VIP. */
  const HOSTS = {a: {host: '10.0.0.1'}, b: {host: '10.0.0.2'}, c: {host: '10.0.0.3'}, d: {host: '10.0.0.4'}}
  const withVip = (vip: unknown, extra: Record<string, unknown> = {}): unknown => ({cluster: 'prod', nodes: HOSTS, pairs: [{nodes: ['a', 'b'], vip}, ['c', 'd']], ...extra})
  const vipOf = (raw: unknown): unknown => validateConfig(raw, FILE, BASE).pairs[0]!.vip

  it('reads the mapping form beside the short form, with the default advert interval and a derived router id', () => {
    const c = validateConfig(withVip({address: '10.0.0.100/24', interface: 'eth0'}), FILE, BASE)
    assert.deepEqual(c.pairs, [
      {name: 'a+b', nodes: ['a', 'b'], vip: {address: '10.0.0.100', prefixLength: 24, interface: 'eth0', routerId: 163, advertIntervalMs: 400}},
      {name: 'c+d', nodes: ['c', 'd']},
    ])
  })

  it('a mapping without vip is the same as the short form', () => {
    assert.deepEqual(validateConfig({nodes: HOSTS, pairs: [{name: 'a+b', nodes: ['a', 'b']}, ['c', 'd']]}, FILE, BASE).pairs, [{name: 'a+b', nodes: ['a', 'b']}, {name: 'c+d', nodes: ['c', 'd']}])
  })

  const intervals: [unknown, number][] = [[0.5, 500], ['500ms', 500], ['0.5s', 500], ['1s', 1000], [1, 1000], ['2', 2000], [0.07, 70], ['10ms', 10], ['40.95s', 40_950], [0.4, 400]]
  for (const [given, ms] of intervals) {
    it(`advertInterval ${JSON.stringify(given)} is ${ms} ms`, () => {
      assert.deepEqual(vipOf(withVip({address: '10.0.0.100/24', interface: 'eth0', advertInterval: given})), {address: '10.0.0.100', prefixLength: 24, interface: 'eth0', routerId: 163, advertIntervalMs: ms})
    })
  }

  it('takes routerId as written, and /31, /32 and interface names with . _ -', () => {
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [{address: '10.0.0.100/24', interface: 'eth0', routerId: 1}, {routerId: 1}],
      [{address: '10.0.0.100/24', interface: 'eth0', routerId: 255}, {routerId: 255}],
      [{address: '192.168.7.0/31', interface: 'eth0.100'}, {address: '192.168.7.0', prefixLength: 31, interface: 'eth0.100'}],
      [{address: '192.168.7.255/32', interface: 'br-1a2b3c4d5e6f'}, {address: '192.168.7.255', prefixLength: 32, interface: 'br-1a2b3c4d5e6f'}],
      [{address: '10.0.0.100/8', interface: 'enp3s0f1'}, {prefixLength: 8}],
    ]
    for (const [raw, expect] of cases) {
      const vip = vipOf(withVip(raw)) as Record<string, unknown>
      for (const [k, v] of Object.entries(expect)) assert.equal(vip[k], v, `${JSON.stringify(raw)}: ${k}`)
    }
  })

  it('derives router ids from the cluster and node names: distinct within the cluster, unchanged by node order or other pairs, and different in another cluster', () => {
    const two = (cluster: string, first: [string, string], secondVip: Record<string, unknown> = {}): (number | undefined)[] =>
      validateConfig({cluster, nodes: HOSTS, pairs: [{nodes: first, vip: {address: '10.0.0.100/24', interface: 'eth0'}}, {nodes: ['c', 'd'], vip: {address: '10.0.0.101/24', interface: 'eth0', ...secondVip}}]}, FILE, BASE).pairs.map((p) => p.vip?.routerId)
    // Pinned: changing the derivation would renumber every running pair at the next upgrade.
    assert.deepEqual(two('prod', ['a', 'b']), [163, 242])
    assert.deepEqual(two('prod', ['b', 'a']), [163, 242], 'the order of preference does not change the id')
    assert.deepEqual(two('staging', ['a', 'b']), [232, 123], 'another cluster, other ids')
    assert.deepEqual(two('prod', ['a', 'b'], {routerId: 163}), [164, 163], 'a configured id is never taken by a derived one')
    const alone = validateConfig({cluster: 'prod', nodes: HOSTS, pairs: [{nodes: ['a', 'b'], vip: {address: '10.0.0.100/24', interface: 'eth0'}}, ['c', 'd']]}, FILE, BASE)
    assert.equal(alone.pairs[0]!.vip!.routerId, 163, 'adding a pair without a vip changes nothing')
  })

  it('privilege: root by default, sudo in defaults or per node', () => {
    const c = validateConfig({defaults: {privilege: 'sudo'}, nodes: {a: {host: '10.0.0.1'}, b: {host: '10.0.0.2', privilege: 'root'}}}, FILE, BASE)
    assert.deepEqual(c.nodes.map((n) => n.privilege), ['sudo', 'root'])
    assert.deepEqual(validateConfig({nodes: HOSTS, pairs: [['a', 'b']]}, FILE, BASE).nodes.map((n) => n.privilege), ['root', 'root', 'root', 'root'])
  })

  const v = (over: Record<string, unknown>): unknown => withVip({address: '10.0.0.100/24', interface: 'eth0', ...over})
  const twoVips = (first: Record<string, unknown>, second: Record<string, unknown>): unknown => ({nodes: HOSTS, pairs: [
    {nodes: ['a', 'b'], vip: {interface: 'eth0', ...first}}, {nodes: ['c', 'd'], vip: {interface: 'eth0', ...second}},
  ]})
  const cases: {name: string; raw: unknown; says: string}[] = [
    {name: 'vip is a string', raw: withVip('10.0.0.100/24'), says: 'pairs[0].vip: must be a mapping with address and interface, e.g. {address: 10.0.0.100/24, interface: eth0}'},
    {name: 'address missing', raw: withVip({interface: 'eth0'}), says: 'pairs[0].vip.address: is required: the virtual IPv4 address with its prefix length, e.g. 10.0.0.100/24'},
    {name: 'address without a prefix length', raw: v({address: '10.0.0.100'}), says: 'pairs[0].vip.address: must be an IPv4 address with its prefix length (CIDR), e.g. 10.0.0.100/24 (got "10.0.0.100")'},
    {name: 'address with an octet over 255', raw: v({address: '10.0.0.256/24'}), says: 'pairs[0].vip.address: must be an IPv4 address with its prefix length (CIDR)'},
    {name: 'address with a leading zero', raw: v({address: '10.0.0.010/24'}), says: 'pairs[0].vip.address: must be an IPv4 address with its prefix length (CIDR)'},
    {name: 'prefix length 0', raw: v({address: '10.0.0.100/0'}), says: 'pairs[0].vip.address: must be an IPv4 address with its prefix length (CIDR)'},
    {name: 'prefix length 33', raw: v({address: '10.0.0.100/33'}), says: 'pairs[0].vip.address: must be an IPv4 address with its prefix length (CIDR)'},
    {name: 'address a host name', raw: v({address: 'cache.example.com/24'}), says: 'pairs[0].vip.address: must be an IPv4 address with its prefix length (CIDR)'},
    {name: 'address a number', raw: v({address: 42}), says: 'pairs[0].vip.address: must be an IPv4 address with its prefix length (CIDR), e.g. 10.0.0.100/24 (got 42)'},
    {name: 'IPv6', raw: v({address: 'fd00::100/64'}), says: 'pairs[0].vip.address: IPv6 VIPs are not supported yet; use an IPv4 address with its prefix length, e.g. 10.0.0.100/24 (got "fd00::100/64")'},
    {name: 'the network address', raw: v({address: '10.0.0.0/24'}), says: 'pairs[0].vip.address: 10.0.0.0 is the network address of 10.0.0.0/24; choose a host address inside it'},
    {name: 'the broadcast address', raw: v({address: '10.0.0.255/24'}), says: 'pairs[0].vip.address: 10.0.0.255 is the broadcast address of 10.0.0.255/24'},
    {name: 'the broadcast address of a /30', raw: v({address: '10.0.0.103/30'}), says: 'pairs[0].vip.address: 10.0.0.103 is the broadcast address of 10.0.0.103/30'},
    {name: 'loopback', raw: v({address: '127.0.0.100/8'}), says: 'pairs[0].vip.address: 127.0.0.100 is a loopback address; a VIP must be reachable on the network'},
    {name: 'multicast', raw: v({address: '224.0.0.18/24'}), says: 'pairs[0].vip.address: 224.0.0.18 is a multicast address'},
    {name: 'reserved', raw: v({address: '250.0.0.1/8'}), says: 'pairs[0].vip.address: 250.0.0.1 is a reserved (or the broadcast) address'},
    {name: 'in 0.0.0.0/8', raw: v({address: '0.0.0.5/8'}), says: 'pairs[0].vip.address: 0.0.0.5 is in 0.0.0.0/8'},
    {name: 'a node\'s host address', raw: v({address: '10.0.0.3/24'}), says: 'pairs[0].vip.address: 10.0.0.3 is the address of node c (nodes.c.host); a VIP must be an address no host owns'},
    {name: 'the same VIP on two pairs', raw: twoVips({address: '10.0.0.100/24'}, {address: '10.0.0.100/16'}), says: 'pairs[1].vip.address: 10.0.0.100 is already the VIP of pairs[0]; each pair needs its own'},
    {name: 'the same router id on two pairs', raw: twoVips({address: '10.0.0.100/24', routerId: 7}, {address: '10.0.0.101/24', routerId: 7}), says: 'pairs[1].vip.routerId: 7 is already the router id of pairs[0]; pairs on one network need distinct ids'},
    {name: 'interface missing', raw: withVip({address: '10.0.0.100/24'}), says: 'pairs[0].vip.interface: is required: the network interface that carries the VIP on both hosts, e.g. eth0'},
    ...['eth 0', 'eth0:1', 'a/b', '.', '..', '-eth0', 'abcdefghijklmnop', '', 'eth"0', 'eth0}', 5].map((iface) => ({
      name: `interface ${JSON.stringify(iface)}`, raw: v({interface: iface}), says: `pairs[0].vip.interface: must be a network interface name (1 to 15 letters, digits, _ . -, not starting with . or -), e.g. eth0 (got ${JSON.stringify(iface)})`,
    })),
    ...[0, 256, 1.5, '51', -1].map((id) => ({name: `routerId ${JSON.stringify(id)}`, raw: v({routerId: id}), says: `pairs[0].vip.routerId: must be a whole number from 1 to 255 (got ${JSON.stringify(id)})`})),
    ...[0, '5ms', '15ms', 0.005, '41s', 41, 'fast', '1m', '-1', -0.5, '1.5 s', '1e3', true].map((d) => ({
      name: `advertInterval ${JSON.stringify(d)}`, raw: v({advertInterval: d}), says: `pairs[0].vip.advertInterval: must be a duration from 10ms to 40.95s in steps of 10ms (VRRPv3 counts centiseconds), like 250ms, 1s, 1.5s, 2m or 1h (a bare number is seconds) (got ${JSON.stringify(d)})`,
    })),
    {name: 'priority is repctl\'s', raw: v({priority: 200}), says: 'pairs[0].vip.priority: unknown key; repctl sets the VRRP priorities'},
    {name: 'an unknown vip key', raw: v({adress: '10.0.0.100/24'}), says: 'pairs[0].vip.adress: unknown key; expected one of address, interface, routerId, advertInterval'},
    {name: 'an unknown pair key', raw: {nodes: HOSTS, pairs: [{nodes: ['a', 'b'], vips: {}}, ['c', 'd']]}, says: 'pairs[0].vips: unknown key; expected nodes, name or vip'},
    {name: 'the mapping form without nodes', raw: {nodes: HOSTS, pairs: [{vip: {address: '10.0.0.100/24', interface: 'eth0'}}, ['c', 'd']]}, says: 'pairs[0].nodes: must be two node names, e.g. [node1, node2]'},
    {name: 'a pair that is a number', raw: {nodes: HOSTS, pairs: [7]}, says: 'pairs[0]: must be two node names, e.g. [node1, node2], or a mapping with nodes and vip'},
    {name: 'a node host given by name', raw: {nodes: {...HOSTS, a: {host: 'cache-a.example.com'}}, pairs: [{nodes: ['a', 'b'], vip: {address: '10.0.0.100/24', interface: 'eth0'}}, ['c', 'd']]},
      says: 'pairs[0].vip: nodes.a.host must be an IPv4 address for a pair with a vip, since keepalived\'s unicast peers are addresses (got "cache-a.example.com")'},
    {name: 'both nodes on one host', raw: {nodes: {a: {host: '10.0.0.1'}, b: {host: '10.0.0.1', port: 11311, replicationPort: 11312}}, pairs: [{nodes: ['a', 'b'], vip: {address: '10.0.0.100/24', interface: 'eth0'}}]},
      says: 'pairs[0].vip: a and b are both on 10.0.0.1; a VIP moves between two hosts, so the pair\'s nodes need different host addresses'},
    {name: 'the nodes on different client ports', raw: {nodes: {...HOSTS, b: {host: '10.0.0.2', port: 11311, replicationPort: 11312}}, pairs: [{nodes: ['a', 'b'], vip: {address: '10.0.0.100/24', interface: 'eth0'}}, ['c', 'd']]},
      says: 'pairs[0].vip: a listens on port 11211 and b on 11311; clients reach a pair with a VIP at one address and port, so give both nodes the same port'},
    ...['/srv/"x"', '/srv/a\\b', '/srv/$HOME', '/srv/${_PWD}', '/srv/{a}', '/srv/a\tb'].map((dir) => ({
      name: `stateDir ${JSON.stringify(dir)} with a vip`, raw: withVip({address: '10.0.0.100/24', interface: 'eth0'}, {defaults: {stateDir: dir}}),
      says: 'nodes.a.stateDir: must not contain " \\ { }, $ before a letter, or control characters when its pair has a vip',
    })),
    {name: 'privilege neither root nor sudo', raw: {defaults: {privilege: 'doas'}, nodes: HOSTS, pairs: [['a', 'b'], ['c', 'd']]}, says: 'defaults.privilege: must be root (repctl acts as root on the host) or sudo (repctl runs what needs root through sudo -n) (got "doas")'},
  ]
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      const e = rejects(c.raw)
      assert.ok(e.message.includes(c.says), `"${e.message}"\nshould include\n"${c.says}"`)
    })
  }

  it('nodes on different client ports are fine for a pair without a vip (clients, and routers, reach a node directly)', () => {
    const c = validateConfig({nodes: {...HOSTS, b: {host: '10.0.0.2', port: 11311, replicationPort: 11312}}, pairs: [['a', 'b'], ['c', 'd']]}, FILE, BASE)
    assert.deepEqual(c.nodes.map((n) => n.port), [11211, 11311, 11211, 11211])
  })

  it('accepts those state dirs for a pair without a vip, and $0-style dollars with one', () => {
    assert.equal(validateConfig({defaults: {stateDir: '/srv/"x"'}, nodes: HOSTS, pairs: [['a', 'b'], ['c', 'd']]}, FILE, BASE).nodes[0]!.stateDir, '/srv/"x"')
    assert.equal(validateConfig(withVip({address: '10.0.0.100/24', interface: 'eth0'}, {defaults: {stateDir: '/srv/cost$1 #2'}}), FILE, BASE).nodes[0]!.stateDir, '/srv/cost$1 #2')
  })
})

describe('validateConfig: pair ring names', () => {
  const FOUR = {a: {host: '127.0.0.2'}, b: {host: '127.0.0.3'}, c: {host: '127.0.0.4'}, d: {host: '127.0.0.5'}}
  const names = (pairs: unknown): string[] => validateConfig({nodes: FOUR, pairs}, FILE, BASE).pairs.map((p) => p.name)

  it('default to the sorted node names joined by +, whatever the order or position', () => {
    assert.deepEqual(names([['a', 'b'], ['d', 'c']]), ['a+b', 'c+d'])
    assert.deepEqual(names([['c', 'd']]), ['c+d'], 'removing the first pair leaves the other\'s name (and keys) alone')
    assert.deepEqual(names([{nodes: ['b', 'a']}, ['c', 'd']]), ['a+b', 'c+d'])
  })

  it('take pairs[].name when given', () => {
    assert.deepEqual(names([{nodes: ['a', 'b'], name: 'pair1'}, {nodes: ['c', 'd'], name: 'shard.2_x+y-z'}]), ['pair1', 'shard.2_x+y-z'])
    assert.deepEqual(names([{nodes: ['a', 'b'], name: 'p'.repeat(80)}, ['c', 'd']]), ['p'.repeat(80), 'c+d'])
  })

  const bad: {name: string; pairs: unknown; says: string}[] = [
    {name: 'a name with a space', pairs: [{nodes: ['a', 'b'], name: 'pair 1'}, ['c', 'd']], says: 'pairs[0].name: must be a name of letters, digits, _ . + - (starting with a letter or digit, at most 80), e.g. pair1 (got "pair 1")'},
    {name: 'a name starting with -', pairs: [{nodes: ['a', 'b'], name: '-p'}, ['c', 'd']], says: 'pairs[0].name: must be a name of letters'},
    {name: 'a YAML-ish name', pairs: [{nodes: ['a', 'b'], name: 'p:1'}, ['c', 'd']], says: 'pairs[0].name: must be a name of letters'},
    {name: 'a name of 81 characters', pairs: [{nodes: ['a', 'b'], name: 'p'.repeat(81)}, ['c', 'd']], says: 'pairs[0].name: must be a name of letters'},
    {name: 'a number', pairs: [{nodes: ['a', 'b'], name: 1}, ['c', 'd']], says: 'pairs[0].name: must be a name of letters, digits, _ . + - (starting with a letter or digit, at most 80), e.g. pair1 (got 1)'},
    {name: 'two pairs with one name', pairs: [{nodes: ['a', 'b'], name: 'p1'}, {nodes: ['c', 'd'], name: 'p1'}], says: 'pairs[1].name: ring name "p1" is already the name of pairs[0]; each pair needs its own (set pairs[].name)'},
    {name: 'a name equal to another pair\'s derived name', pairs: [['a', 'b'], {nodes: ['c', 'd'], name: 'a+b'}], says: 'pairs[1].name: ring name "a+b" is already the name of pairs[0]'},
  ]
  for (const c of bad) it(`rejects ${c.name}`, () => assert.ok(rejects({nodes: FOUR, pairs: c.pairs}).message.includes(c.says), rejects({nodes: FOUR, pairs: c.pairs}).message))

  it('asks for a name when the derived one is too long for nutcracker', () => {
    const long = {['a'.repeat(50)]: {host: '127.0.0.2'}, ['b'.repeat(50)]: {host: '127.0.0.3'}}
    assert.ok(rejects({nodes: long}).message.includes('pairs[0]: its ring name (the node names joined by +) would be 101 characters; nutcracker hashes at most 80: set pairs[0].name, e.g. pair1'))
    assert.equal(validateConfig({nodes: long, pairs: [{nodes: ['a'.repeat(50), 'b'.repeat(50)], name: 'big'}]}, FILE, BASE).pairs[0]!.name, 'big')
  })
})

describe('validateConfig: routers', () => {
  const HOSTS4 = {a: {host: '10.0.0.1'}, b: {host: '10.0.0.2'}}
  const routersOf = (routers: unknown, extra: Record<string, unknown> = {}) => validateConfig({nodes: HOSTS4, routers, ...extra}, FILE, BASE).routers

  it('are none when absent', () => assert.deepEqual(validateConfig({nodes: HOSTS4}, FILE, BASE).routers, []))

  it('take the defaults: port 22121, stats port + 1, the cluster\'s stateDir and privilege', () => {
    assert.deepEqual(routersOf({app1: {host: '10.0.1.5'}}), [
      {name: 'app1', host: '10.0.1.5', ssh: undefined, port: 22121, statsPort: 22122, stateDir: join(homedir(), '.repctl'), privilege: 'root', timeoutMs: 1000},
    ])
  })

  it('are placed like nodes: ssh in both forms, stateDir relative to the file or ~ on the SSH host', () => {
    const [r1, r2] = routersOf({
      app1: {host: '10.0.1.5', ssh: 'deploy@10.0.1.5:2222', port: 6000, statsPort: 7000, stateDir: '~/routers', privilege: 'sudo'},
      app2: {host: '10.0.1.6', ssh: {user: 'ops', port: 22}, stateDir: 'state'},
    }, {defaults: {privilege: 'sudo'}})
    assert.equal(r1!.ssh!.user, 'deploy')
    assert.equal(r1!.ssh!.port, 2222)
    assert.deepEqual([r1!.port, r1!.statsPort, r1!.stateDir, r1!.privilege], [6000, 7000, '~/routers', 'sudo'])
    assert.equal(r2!.ssh!.host, '10.0.1.6')
    assert.deepEqual([r2!.port, r2!.statsPort, r2!.stateDir, r2!.privilege], [22121, 22122, join(BASE, 'state'), 'sudo'])
  })

  it('may listen on loopback over SSH when the SSH host is this machine too (a loopback alias)', () => {
    assert.equal(routersOf({app1: {host: '127.0.0.11', ssh: 'root@127.0.0.11:2222'}})[0]!.host, '127.0.0.11')
  })

  it('take a timeout (nutcracker\'s server timeout) as a duration', () => {
    assert.deepEqual(routersOf({a1: {host: '10.0.1.5', timeout: '300ms'}, a2: {host: '10.0.1.6', timeout: '2s'}}).map((r) => r.timeoutMs), [300, 2000])
  })

  it('may share a host with nodes and each other on distinct ports', () => {
    assert.deepEqual(routersOf({r1: {host: '10.0.0.1'}, r2: {host: '10.0.0.1', port: 22123}}).map((r) => [r.port, r.statsPort]), [[22121, 22122], [22123, 22124]])
  })

  const bad: {name: string; routers: unknown; says: string}[] = [
    {name: 'routers a list', routers: [{host: '10.0.1.5'}], says: 'routers: must map router names to their settings, e.g. {app1: {host: 10.0.1.5, port: 22121}}'},
    {name: 'a router without host', routers: {app1: {port: 22121}}, says: 'routers.app1.host: must be a host name or IP address (got undefined)'},
    {name: 'a router that is a string', routers: {app1: '10.0.1.5'}, says: 'routers.app1: must be a mapping with at least host'},
    {name: 'a bad router name', routers: {'app 1': {host: '10.0.1.5'}}, says: 'routers.app 1: router names use letters, digits, . _ - (at most 63)'},
    {name: 'a router named like a node', routers: {a: {host: '10.0.1.5'}}, says: 'routers.a: a is also a node; a router needs its own name (its files live in <stateDir>/a)'},
    {name: 'an unknown key', routers: {app1: {host: '10.0.1.5', memory: 64}}, says: 'routers.app1.memory: unknown key; expected one of host, ssh, port, statsPort, timeout, stateDir, privilege'},
    {name: 'a timeout without a unit', routers: {app1: {host: '10.0.1.5', timeout: 300}}, says: 'routers.app1.timeout: must be'},
    {name: 'a timeout below 50ms', routers: {app1: {host: '10.0.1.5', timeout: '10ms'}}, says: 'routers.app1.timeout: must be'},
    {name: 'port 0', routers: {app1: {host: '10.0.1.5', port: 0}}, says: 'routers.app1.port: must be a whole number from 1 to 65535 (got 0)'},
    {name: 'a port as a string', routers: {app1: {host: '10.0.1.5', port: '22121'}}, says: 'routers.app1.port: must be a whole number from 1 to 65535 (got "22121")'},
    {name: 'statsPort out of range', routers: {app1: {host: '10.0.1.5', statsPort: 70000}}, says: 'routers.app1.statsPort: must be a whole number from 1 to 65535 (got 70000)'},
    {name: 'the default statsPort past 65535', routers: {app1: {host: '10.0.1.5', port: 65535}}, says: 'routers.app1.statsPort: defaults to port + 1, which is past 65535: set it'},
    {name: 'statsPort equal to port', routers: {app1: {host: '10.0.1.5', port: 6000, statsPort: 6000}}, says: 'routers.app1.statsPort: is the client port 6000; nutcracker needs two ports'},
    {name: 'an IPv6 host', routers: {app1: {host: '::1'}}, says: 'routers.app1.host: is an IPv6 address; routers take IPv4 addresses or host names for now'},
    {name: 'a bad ssh', routers: {app1: {host: '10.0.1.5', ssh: 'a b'}}, says: 'routers.app1.ssh: must be user@host[:port] (got "a b")'},
    {name: 'a bad privilege', routers: {app1: {host: '10.0.1.5', privilege: 'doas'}}, says: 'routers.app1.privilege: must be root (repctl acts as root on the host) or sudo'},
    {name: 'an empty stateDir', routers: {app1: {host: '10.0.1.5', stateDir: ' '}}, says: 'routers.app1.stateDir: must be a directory path (got " ")'},
    {name: 'a router on a node\'s client port', routers: {app1: {host: '10.0.0.1', port: 11211}}, says: 'routers.app1.port: 10.0.0.1:11211 is already used by nodes.a.port; nodes and routers on one address need distinct ports'},
    {name: 'a stats port on a node\'s replication port', routers: {app1: {host: '10.0.0.2', port: 11000, statsPort: 11212}}, says: 'routers.app1.statsPort: 10.0.0.2:11212 is already used by nodes.b.replicationPort'},
    {name: 'a loopback address on another machine reached over SSH', routers: {app1: {host: '127.0.0.1', ssh: 'deploy@10.0.1.5'}}, says: 'routers.app1.host: is a loopback address of the SSH host 10.0.1.5: repctl checks a router and reads its stats over the network from the machine it runs on'},
    {name: 'localhost on another machine reached over SSH', routers: {app1: {host: 'localhost', ssh: {host: '10.0.1.5', user: 'ops'}}}, says: 'routers.app1.host: is a loopback address of the SSH host 10.0.1.5'},
    {name: 'two routers on one port', routers: {r1: {host: '10.0.1.5'}, r2: {host: '10.0.1.5', port: 22121, statsPort: 23000}}, says: 'routers.r2.port: 10.0.1.5:22121 is already used by routers.r1.port'},
    {name: 'a router on another\'s default stats port', routers: {r1: {host: '10.0.1.5'}, r2: {host: '10.0.1.5', port: 22122}}, says: 'routers.r2.port: 10.0.1.5:22122 is already used by routers.r1.statsPort'},
  ]
  for (const c of bad) {
    it(`rejects ${c.name}`, () => {
      const e = rejects({nodes: HOSTS4, routers: c.routers})
      assert.ok(e.message.includes(c.says), e.message)
    })
  }
})
