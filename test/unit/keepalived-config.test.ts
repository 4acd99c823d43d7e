import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {renderKeepalivedConfig, vrrpInstanceName, vrrpPriority, type KeepalivedInput} from '../../src/cluster/vip/keepalived-config.js'
import {vipPaths} from '../../src/cluster/vip/paths.js'
import {validateConfig} from '../../src/config/schema.js'
import {RepctlError} from '../../src/errors.js'
import {REQUIRE_TOOLS, toolMissing} from '../helpers/processes.js'

const NODE1: KeepalivedInput = {
  cluster: 'prod',
  pair: ['node1', 'node2'],
  node: 'node1',
  address: '10.0.0.1',
  peerAddress: '10.0.0.2',
  vip: {address: '10.0.0.100', prefixLength: 24, interface: 'eth0', routerId: 163, advertIntervalMs: 400},
  checkCommand: ['/usr/bin/node', '/root/.repctl/node1/vip-check.mjs', '10.0.0.1', '11211'],
  scriptUser: 'root',
  stateFile: '/root/.repctl/node1/vip.state',
  trackFile: '/root/.repctl/node1/vip.drain',
}

const EXPECTED_NODE1 = `# keepalived for node node1 of pair node1,node2 in cluster prod.
# Written by repctl, which rewrites it: change repctl.config.yaml instead.
global_defs {
    router_id prod-node1
    vrrp_version 3
    script_user root
    enable_script_security
    vrrp_garp_master_delay 1
    vrrp_garp_master_refresh 10
    vrrp_higher_prio_send_advert
}

vrrp_script repctl_check {
    script "/usr/bin/node /root/.repctl/node1/vip-check.mjs 10.0.0.1 11211"
    interval 1
    timeout 1
    fall 1
    rise 1
    init_fail
}

track_file repctl_drain {
    file "/root/.repctl/node1/vip.drain"
    weight 0
}

vrrp_instance repctl_prod_node1_node2 {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 163
    priority 150
    advert_int 0.4
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    check_unicast_src
    virtual_ipaddress {
        10.0.0.100/24
    }
    track_script {
        repctl_check
    }
    track_file {
        repctl_drain
    }
    notify "/bin/sh -c 'umask 022; echo \\"$3\\" >\\"$0.$$\\" && mv -f \\"$0.$$\\" \\"$0\\"' /root/.repctl/node1/vip.state"
}
`

/** The lines of a rendered config that differ from the node1 sample, as [sample line, rendered line]. */
function diff(input: KeepalivedInput): [string, string][] {
  const want = EXPECTED_NODE1.split('\n')
  const got = renderKeepalivedConfig(input).split('\n')
  assert.equal(got.length, want.length, 'same shape')
  return want.flatMap((line, i) => (line === got[i] ? [] : [[line.trim(), got[i]!.trim()] as [string, string]]))
}

describe('renderKeepalivedConfig', () => {
  it('renders the whole config for the first node of a pair', () => {
    assert.equal(renderKeepalivedConfig(NODE1), EXPECTED_NODE1)
  })

  const cases: {name: string; input: KeepalivedInput; changes: [string, string][]}[] = [
    {
      name: 'the second node: lower priority, addresses swapped, its own files',
      input: {...NODE1, node: 'node2', address: '10.0.0.2', peerAddress: '10.0.0.1', checkCommand: ['/usr/bin/node', '/root/.repctl/node2/vip-check.mjs', '10.0.0.2', '11311'], stateFile: '/root/.repctl/node2/vip.state', trackFile: '/root/.repctl/node2/vip.drain'},
      changes: [
        ['# keepalived for node node1 of pair node1,node2 in cluster prod.', '# keepalived for node node2 of pair node1,node2 in cluster prod.'],
        ['router_id prod-node1', 'router_id prod-node2'],
        ['script "/usr/bin/node /root/.repctl/node1/vip-check.mjs 10.0.0.1 11211"', 'script "/usr/bin/node /root/.repctl/node2/vip-check.mjs 10.0.0.2 11311"'],
        ['file "/root/.repctl/node1/vip.drain"', 'file "/root/.repctl/node2/vip.drain"'],
        ['priority 150', 'priority 100'],
        ['unicast_src_ip 10.0.0.1', 'unicast_src_ip 10.0.0.2'],
        ['10.0.0.2', '10.0.0.1'],
        [String.raw`notify "/bin/sh -c 'umask 022; echo \"$3\" >\"$0.$$\" && mv -f \"$0.$$\" \"$0\"' /root/.repctl/node1/vip.state"`, String.raw`notify "/bin/sh -c 'umask 022; echo \"$3\" >\"$0.$$\" && mv -f \"$0.$$\" \"$0\"' /root/.repctl/node2/vip.state"`],
      ],
    },
    {
      name: 'the smallest and largest advert intervals, and whole seconds',
      input: {...NODE1, vip: {...NODE1.vip, advertIntervalMs: 10}},
      changes: [['advert_int 0.4', 'advert_int 0.01']],
    },
    {name: '40.95 s', input: {...NODE1, vip: {...NODE1.vip, advertIntervalMs: 40_950}}, changes: [['advert_int 0.4', 'advert_int 40.95']]},
    {name: '1 s', input: {...NODE1, vip: {...NODE1.vip, advertIntervalMs: 1000}}, changes: [['advert_int 0.4', 'advert_int 1']]},
    {name: '1.23 s', input: {...NODE1, vip: {...NODE1.vip, advertIntervalMs: 1230}}, changes: [['advert_int 0.4', 'advert_int 1.23']]},
    {
      name: 'a /32 VIP on a VLAN interface, router id 1, an unprivileged script user',
      input: {...NODE1, vip: {...NODE1.vip, address: '192.168.5.7', prefixLength: 32, interface: 'eth0.100', routerId: 1}, scriptUser: 'repuser'},
      changes: [['script_user root', 'script_user repuser'], ['interface eth0', 'interface eth0.100'], ['virtual_router_id 163', 'virtual_router_id 1'], ['10.0.0.100/24', '192.168.5.7/32']],
    },
    {
      name: 'paths with a space, # and a quote: double quotes in the config, single quotes (escaped) inside a command',
      input: {...NODE1, stateFile: "/srv/my cache #1/it's/vip.state", trackFile: "/srv/my cache #1/it's/vip.drain"},
      changes: [
        ['file "/root/.repctl/node1/vip.drain"', `file "/srv/my cache #1/it's/vip.drain"`],
        [String.raw`notify "/bin/sh -c 'umask 022; echo \"$3\" >\"$0.$$\" && mv -f \"$0.$$\" \"$0\"' /root/.repctl/node1/vip.state"`, String.raw`notify "/bin/sh -c 'umask 022; echo \"$3\" >\"$0.$$\" && mv -f \"$0.$$\" \"$0\"' '/srv/my cache #1/it\\'s/vip.state'"`],
      ],
    },
    {
      name: 'a check command with quotes, a backslash, $1 and an empty word',
      input: {...NODE1, checkCommand: ['/bin/sh', '-c', String.raw`printf '%s\n' "$1" | grep -q ok`, 'x', '']},
      changes: [['script "/usr/bin/node /root/.repctl/node1/vip-check.mjs 10.0.0.1 11211"', String.raw`script "/bin/sh -c 'printf \\'%s\\\\n\\' \"$1\" | grep -q ok' x ''"`]],
    },
  ]
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(diff(c.input), c.changes))
  }

  it('priority and instance name', () => {
    assert.deepEqual([vrrpPriority(['a', 'b'], 'a'), vrrpPriority(['a', 'b'], 'b'), vrrpPriority(['b', 'a'], 'a')], [150, 100, 100])
    assert.equal(vrrpInstanceName('prod', ['cache-a', 'cache-b']), 'repctl_prod_cache-a_cache-b')
  })

  const refused: [string, Partial<KeepalivedInput>, string][] = [
    ['a relative state file', {stateFile: 'state/vip.state'}, 'stateFile "state/vip.state" must be an absolute path (resolve ~ on the host first)'],
    ['a state dir with ~ left in it', {trackFile: '~/.repctl/node1/vip.drain'}, 'trackFile "~/.repctl/node1/vip.drain" must be an absolute path'],
    ['a double quote in the track file', {trackFile: '/srv/"x"/vip.drain'}, 'trackFile "/srv/\\"x\\"/vip.drain" holds what keepalived\'s config cannot carry: " \\ { }, $ before a letter or _, or a control character; choose a stateDir without it'],
    ['a backslash in the state file', {stateFile: '/srv/a\\b/vip.state'}, 'stateFile "/srv/a\\\\b/vip.state" holds what keepalived\'s config cannot carry'],
    ['a keepalived parameter in a path', {stateFile: '/srv/$_PWD/vip.state'}, 'stateFile "/srv/$_PWD/vip.state" holds what'],
    ['a brace in a path', {stateFile: '/srv/{a}/vip.state'}, 'stateFile "/srv/{a}/vip.state" holds what'],
    ['a newline in a path', {trackFile: '/srv/a\nb'}, 'trackFile "/srv/a\\nb" holds what'],
    ['a $NAME in the check', {checkCommand: ['/bin/sh', '-c', 'test -n "$HOME"']}, 'checkCommand[2] "test -n \\"$HOME\\"" holds what keepalived\'s config cannot carry in a command: { }, $ before a letter or _, or a control character'],
    ['${1} in the check', {checkCommand: ['/bin/sh', '-c', 'echo ${1}']}, 'checkCommand[2] "echo ${1}" holds what'],
    ['a check found through PATH', {checkCommand: ['node', 'check.mjs']}, 'checkCommand[0] "node" must be an absolute path (keepalived would search its own PATH for it)'],
    ['no check', {checkCommand: []}, 'checkCommand [] must name a program'],
    ['a host name for an address', {peerAddress: 'cache-b'}, 'peer address "cache-b" must be an IPv4 address'],
    ['the peer on this host\'s address', {peerAddress: '10.0.0.1'}, 'peer address "10.0.0.1" is this host\'s own address; the pair needs two hosts'],
    ['the VIP on a host\'s address', {vip: {...NODE1.vip, address: '10.0.0.2'}}, 'vip.address "10.0.0.2" belongs to a host of the pair'],
    ['an IPv6 VIP', {vip: {...NODE1.vip, address: 'fd00::100'}}, 'vip.address "fd00::100" must be an IPv4 address'],
    ['an interface with a space', {vip: {...NODE1.vip, interface: 'eth 0'}}, 'vip.interface "eth 0" must be a network interface name, e.g. eth0'],
    ['router id 0', {vip: {...NODE1.vip, routerId: 0}}, 'vip.routerId 0 must be a whole number from 1 to 255'],
    ['an advert interval keepalived would round', {vip: {...NODE1.vip, advertIntervalMs: 415}}, 'vip.advertIntervalMs 415 must be a multiple of 10 from 10 to 40950'],
    ['prefix length 0', {vip: {...NODE1.vip, prefixLength: 0}}, 'vip.prefixLength 0 must be a whole number from 1 to 32'],
    ['a script user with a space', {scriptUser: 'a b'}, 'scriptUser "a b" must be a user name'],
    ['a node outside its pair', {node: 'node3'}, 'pair ["node1","node2"] must be two different nodes, one of them node3'],
    ['a cluster name keepalived would split', {cluster: 'my cluster'}, 'cluster "my cluster" must be a name of letters, digits, _ . -'],
  ]
  for (const [name, over, message] of refused) {
    it(`refuses ${name}, naming it`, () => {
      assert.throws(() => renderKeepalivedConfig({...NODE1, ...over}), (e: unknown) => {
        assert.ok(e instanceof RepctlError, String(e))
        assert.equal(e.code, 'CONFIG_INVALID')
        assert.ok(e.message.startsWith(`keepalived config for node ${over.node ?? 'node1'}: ${message}`), `${e.message}\nshould start with\nkeepalived config for node node1: ${message}`)
        return true
      })
    })
  }

  it('refuses a line longer than keepalived reads (it would split it silently)', () => {
    const deep = `/srv/${'d'.repeat(990)}/vip.drain`
    assert.throws(() => renderKeepalivedConfig({...NODE1, trackFile: deep}), /the line "file "\/srv\/d+…" is 1016 bytes; keepalived reads at most 1000: use a shorter stateDir/)
  })
})

describe('vipPaths', () => {
  it('keeps keepalived\'s files in the node\'s directory', () => {
    const c = validateConfig({defaults: {stateDir: '/var/lib/repctl'}, nodes: {a: {host: '10.0.0.1'}, b: {host: '10.0.0.2'}}}, 'f', '/')
    assert.deepEqual(vipPaths(c.nodes[0]!), {
      config: '/var/lib/repctl/a/keepalived.conf', pidFile: '/var/lib/repctl/a/keepalived.pid', vrrpPidFile: '/var/lib/repctl/a/keepalived-vrrp.pid',
      logFile: '/var/lib/repctl/a/keepalived.log', stateFile: '/var/lib/repctl/a/vip.state', trackFile: '/var/lib/repctl/a/vip.drain',
    })
  })
})

/** A network interface of this machine other than lo: keepalived's config test insists the interface exists. */
function someInterface(): string | undefined {
  try {
    return readdirSync('/sys/class/net').sort().find((name) => name !== 'lo' && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(name))
  } catch {
    return undefined
  }
}

describe('keepalived --config-test accepts what we render', () => {
  const missing = toolMissing('keepalived')
  const iface = someInterface()
  const skip = missing !== false ? missing : iface === undefined ? 'no network interface besides lo' : false
  const dir = mkdtempSync(join(tmpdir(), 'repctl-keepalived-'))
  after(() => rmSync(dir, {recursive: true, force: true}))

  /** keepalived -t: exit status and what it reports (it prints nothing for a clean config). */
  function configTest(input: KeepalivedInput, name: string): {status: number | null; output: string} {
    const file = join(dir, `${name}.conf`)
    writeFileSync(file, renderKeepalivedConfig(input))
    const r = spawnSync('keepalived', ['--config-test', '-f', file], {encoding: 'utf8', timeout: 10_000})
    return {status: r.status, output: `${r.stdout}${r.stderr}`.trim()}
  }
  const inDir = (over: Partial<KeepalivedInput>): KeepalivedInput => ({
    ...NODE1, vip: {...NODE1.vip, interface: iface ?? 'eth0'}, checkCommand: ['/bin/true'],
    stateFile: join(dir, 'my state #1', 'vip.state'), trackFile: join(dir, 'my state #1', 'vip.drain'), ...over,
  })

  it('both nodes of a pair, with paths that need quoting and the fastest and slowest adverts', {skip}, () => {
    const inputs: [string, KeepalivedInput][] = [
      ['node1', inDir({})],
      ['node2', inDir({node: 'node2', address: '10.0.0.2', peerAddress: '10.0.0.1'})],
      ['fast', inDir({vip: {...NODE1.vip, interface: iface ?? 'eth0', advertIntervalMs: 10}})],
      ['slow', inDir({vip: {...NODE1.vip, interface: iface ?? 'eth0', advertIntervalMs: 40_950, prefixLength: 32}})],
      ['quoted-check', inDir({checkCommand: ['/bin/sh', '-c', String.raw`printf '%s\n' "$0" | grep -q "it's" #`, "it's here"], stateFile: join(dir, "it's", 'vip.state')})],
    ]
    for (const [name, input] of inputs) assert.deepEqual(configTest(input, name), {status: 0, output: ''}, name)
  })

  it('and the test can fail: keepalived reports a check it cannot run', {skip}, () => {
    const r = configTest(inDir({checkCommand: [join(dir, 'no-such-check')]}), 'missing-check')
    assert.notEqual(r.status, 0)
    assert.match(r.output, /not found|cannot be accessed/)
  })
})

/** Poll until `read()` returns `want`; the last value seen is in the failure. */
async function until(read: () => string, want: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let seen = read()
  while (seen !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50))
    seen = read()
  }
  assert.equal(seen, want, `${what}: still ${JSON.stringify(seen)} after ${timeoutMs} ms`)
}

describe('keepalived runs what we render (alone, in a network namespace of its own)', () => {
  // unshare -n gives keepalived a private network with one veth pair in it, which
  // disappears with the process: nothing to clean up on the machine, even after a failure.
  const missing = toolMissing('keepalived') || toolMissing('unshare') || toolMissing('ip')
  const notRoot = process.getuid?.() !== 0 ? 'needs root (keepalived adds addresses)' : false
  if (notRoot !== false && REQUIRE_TOOLS) throw new Error(`${notRoot}; CI runs as root`)
  const skip = missing !== false ? missing : notRoot
  const base = mkdtempSync(join(tmpdir(), 'repctl-keepalived-run-'))
  after(() => rmSync(base, {recursive: true, force: true}))

  it('runs the check with its argv intact, records MASTER/FAULT/STOP in the state file, and obeys the track file', {skip, timeout: 30_000}, async () => {
    const dir = join(base, "node1 state #1, it's")
    mkdirSync(dir)
    const paths = {stateFile: join(dir, 'vip.state'), trackFile: join(dir, 'vip.drain')}
    const input: KeepalivedInput = {
      ...NODE1, ...paths, vip: {...NODE1.vip, interface: 'vk0'},
      checkCommand: ['/bin/sh', '-c', String.raw`printf '%s\n' "$0" > "$1/check-args"; test ! -e "$1/down"`, "it's \"one\"", dir],
    }
    const conf = join(dir, 'keepalived.conf')
    writeFileSync(conf, renderKeepalivedConfig(input))
    const setup = 'ip link add vk0 type veth peer name vk1 && ip link set vk0 up && ip link set vk1 up && ip addr add 10.0.0.1/24 dev vk0'
    const child = spawn('unshare', ['-n', 'sh', '-c', `${setup} && exec keepalived -n -l -P -f "$0" -p "$1" -r "$2"`, conf, join(dir, 'k.pid'), join(dir, 'k-vrrp.pid')], {stdio: ['ignore', 'pipe', 'pipe']})
    let log = ''
    child.stdout.on('data', (b: Buffer) => { log += b.toString() })
    child.stderr.on('data', (b: Buffer) => { log += b.toString() })
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    const state = (): string => (existsSync(paths.stateFile) ? readFileSync(paths.stateFile, 'utf8') : '')
    try {
      // No peer answers, so after the first good check and the down timer it takes the VIP.
      await until(state, 'MASTER\n', 10_000, `state file (log: ${log})`)
      assert.equal(readFileSync(join(dir, 'check-args'), 'utf8'), 'it\'s "one"\n', 'the check got its words as given')
      writeFileSync(paths.trackFile, '1\n')
      await until(state, 'FAULT\n', 5000, 'a non-zero track file')
      unlinkSync(paths.trackFile)
      await until(state, 'MASTER\n', 10_000, 'the track file removed')
      writeFileSync(join(dir, 'down'), '')
      await until(state, 'FAULT\n', 5000, 'a failing check')
      unlinkSync(join(dir, 'down'))
      await until(state, 'MASTER\n', 10_000, 'the check passing again')
    } finally {
      child.kill('SIGTERM')
      await exited
    }
    assert.equal(state(), 'STOP\n')
    assert.doesNotMatch(log, /insecure|unsafe|not found|cannot be accessed/i, 'keepalived ran both scripts')
  })
})
