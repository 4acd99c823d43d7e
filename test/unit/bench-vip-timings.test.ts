// The bench's vip section reports the VRRP timings it ran with, read from the
// keepalived.conf repctl rendered: checked here on a config from the renderer.

import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {vrrpTimings} from '../../bench/vip.js'
import {renderKeepalivedConfig} from '../../src/cluster/vip/keepalived-config.js'

const input = {
  cluster: 'c', pair: ['node1', 'node2'] as const, node: 'node1', address: '10.0.0.1', peerAddress: '10.0.0.2',
  checkCommand: ['/usr/bin/timeout', '0.8', '/bin/true'], scriptUser: 'root', stateFile: '/var/lib/r/node1/vip.state', trackFile: '/var/lib/r/node1/vip.drain',
}

describe('bench vip: the VRRP timings of a rendered keepalived.conf', () => {
  it('reads the advert interval and the check interval, fall, rise and timeout', () => {
    const conf = (advertIntervalMs: number): string => renderKeepalivedConfig({...input, vip: {address: '10.0.0.100', prefixLength: 24, interface: 'eth0', routerId: 7, advertIntervalMs}})
    assert.equal(vrrpTimings(conf(400)), 'advert_int 0.4 s, check every 1 s (fall 1, rise 1, timeout 1 s)')
    assert.equal(vrrpTimings(conf(1000)), 'advert_int 1 s, check every 1 s (fall 1, rise 1, timeout 1 s)')
  })

  it('says so when there is no config', () => {
    assert.equal(vrrpTimings(undefined), 'keepalived.conf not found')
    assert.equal(vrrpTimings('global_defs {\n}\n'), 'advert_int ? s, check every ? s (fall ?, rise ?, timeout ? s)')
  })
})
