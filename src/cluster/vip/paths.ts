// Where keepalived's files for a node live: beside the node's own, in its
// directory under stateDir, so one host can run the keepalived of several
// nodes and `repctl stop` finds each by its pid file. On an SSH host the
// stateDir may still start with ~: resolve it there before these paths go
// into a keepalived config, which takes absolute paths only.

import {join} from 'node:path'
import type {NodeConfig} from '../../config/schema.js'
import {nodePaths} from '../topology.js'

export interface VipPaths {
  /** The rendered keepalived.conf (-f). */
  config: string
  /** keepalived's main process (-p) and its VRRP child (-r). */
  pidFile: string
  vrrpPidFile: string
  logFile: string
  /** Written by the notify command: MASTER, BACKUP, FAULT or STOP. */
  stateFile: string
  /** Read by keepalived: a non-zero number moves the VIP away; absent reads as 0. */
  trackFile: string
}

export function vipPaths(node: NodeConfig): VipPaths {
  const {dir} = nodePaths(node)
  return {
    config: join(dir, 'keepalived.conf'),
    pidFile: join(dir, 'keepalived.pid'),
    vrrpPidFile: join(dir, 'keepalived-vrrp.pid'),
    logFile: join(dir, 'keepalived.log'),
    stateFile: join(dir, 'vip.state'),
    trackFile: join(dir, 'vip.drain'),
  }
}
