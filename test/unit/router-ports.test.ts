// portsNotHeld (src/cluster/router/nutcracker.ts): which of a router's ports
// the running nutcracker is known not to hold, from its config file's listen
// line and its command line. Those are checked before it is stopped (a taken
// one leaves it running); a new stats port alone also means a restart.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {nutcrackerArgs, portsNotHeld} from '../../src/cluster/router/nutcracker.js'
import {renderNutcrackerConfig} from '../../src/cluster/router/nutcracker-config.js'
import type {RouterConfig} from '../../src/config/schema.js'

const R: RouterConfig = {name: 'r1', host: '127.0.0.1', ssh: undefined, port: 22121, statsPort: 22122, stateDir: '/srv/routers', privilege: 'root', timeoutMs: 1000}
const file = (r: RouterConfig): string => renderNutcrackerConfig({cluster: 'c', router: r, pairs: [{name: 'a+b', endpoint: {host: '127.0.0.1', port: 11211}}]})
/** The command line LocalHost reads from /proc: arguments joined by spaces. */
const cmd = (r: RouterConfig): string => ['/usr/sbin/nutcracker', ...nutcrackerArgs(r)].join(' ')

describe('portsNotHeld', () => {
  const table: [string, RouterConfig, string | undefined, string | undefined, string[]][] = [
    ['the same ports: none (the router frees them itself when stopped)', R, file(R), cmd(R), []],
    ['a new client port', {...R, port: 6000}, file(R), cmd(R), ['client']],
    ['a new stats port', {...R, statsPort: 6001}, file(R), cmd(R), ['stats']],
    ['ports swapped: both still held (by the running router, in the other role)', {...R, port: 22122, statsPort: 22121}, file(R), cmd(R), []],
    ['a stats port that was its client port is still held; the new client port is not', {...R, port: 22125, statsPort: 22121}, file(R), cmd(R), ['client']],
    ['a new address: both', {...R, host: '127.0.0.2'}, file(R), cmd(R), ['client', 'stats']],
    ['a stats port that is a prefix of the old one is another port', {...R, statsPort: 2212}, file(R), cmd(R), ['stats']],
    ['no config file: what it holds cannot be told, so no port is claimed free', {...R, port: 6000}, undefined, cmd(R), []],
    ['no command line (unreadable): the same', {...R, statsPort: 6001}, file(R), undefined, []],
    ['a command line without -s (not ours): the same', {...R, statsPort: 6001}, file(R), '/usr/sbin/nutcracker -c x', []],
  ]
  for (const [what, router, installed, commandLine, want] of table) it(what, () => assert.deepEqual(portsNotHeld(router, installed, commandLine), want))
})
