// One key per pair that the routers' ring places on that pair, so that a
// `get` of each through a router reaches every pair. The keys are found by
// trying repctl:probe:0, :1, … on the ring (a handful per pair).

import {ketamaRing} from './ketama.js'

export interface ProbeKey { pair: string; key: string }

const MAX_TRIES_PER_PAIR = 10_000

export function probeKeys(pairNames: readonly string[]): ProbeKey[] {
  const ring = ketamaRing(pairNames)
  const found = new Map<string, string>()
  for (let i = 0; found.size < pairNames.length && i < MAX_TRIES_PER_PAIR * pairNames.length; i++) {
    const key = `repctl:probe:${i}`
    const pair = ring.pairFor(key)
    if (!found.has(pair)) found.set(pair, key)
  }
  return pairNames.flatMap((pair) => {
    const key = found.get(pair)
    return key === undefined ? [] : [{pair, key}]
  })
}
