// Which server bundle a node runs, against the one this repctl installs: the
// server reports the sha256 of the file it was started from (stat
// repcached_bundle_sha256); a node that runs any other file is "outdated" and is what
// `repctl upgrade` restarts.

import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {SERVER_BUNDLE} from './node-control.js'

let local: string | null | undefined

/** sha256 of this repctl's server bundle; null when it is not built. Read once per process. */
export function localBundleSha256(): string | null {
  if (local === undefined) {
    try { local = createHash('sha256').update(readFileSync(SERVER_BUNDLE)).digest('hex') } catch { local = null }
  }
  return local
}

/**
 * Whether a node answering `stats` runs another bundle than `wanted`. A server
 * from before the repcached_bundle_sha256 stat runs an older bundle by definition.
 * null: the node did not answer, or there is no bundle to compare with.
 */
export function isOutdated(reported: string | null, answered: boolean, wanted: string | null): boolean | null {
  if (!answered || wanted === null) return null
  return reported !== wanted
}
