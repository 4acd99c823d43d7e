// Where a router's files live on its host: <stateDir>/<router name>, like a
// node's directory (router and node names never clash: config checks that),
// so `repctl stop` and `status` find the daemon by its pid file.

import {join} from 'node:path'
import type {RouterConfig} from '../../config/schema.js'

export interface RouterPaths {
  dir: string
  /** The rendered nutcracker.yml (-c): also repctl's record of where the running router sends each pair. */
  config: string
  /** Written by nutcracker itself (-p). */
  pidFile: string
  /** nutcracker's log (-o). */
  logFile: string
}

export function routerPaths(router: Pick<RouterConfig, 'name' | 'stateDir'>): RouterPaths {
  const dir = join(router.stateDir, router.name)
  return {dir, config: join(dir, 'nutcracker.yml'), pidFile: join(dir, 'nutcracker.pid'), logFile: join(dir, 'nutcracker.log')}
}
