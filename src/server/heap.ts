// How fast V8's old generation may grow. In steady state we keep it tight
// (20% steps) so RSS follows -m under churn; while the store is being filled
// in bulk (a full copy arriving, a snapshot loading) tight steps mean a major
// GC every 20% of growth over hundreds of MB, so the default rule applies
// until the bulk load is over.

import {setFlagsFromString} from 'node:v8'

const STEADY = '--heap-growing-percent=20'
/** 0 restores V8's own growth rule. */
const BULK = '--heap-growing-percent=0'

let bulkLoads = 0

export function steadyHeap(): void {
  setFlagsFromString(STEADY)
}

export function beginBulkLoad(): void {
  if (bulkLoads++ === 0) setFlagsFromString(BULK)
}

export function endBulkLoad(): void {
  if (bulkLoads > 0 && --bulkLoads === 0) setFlagsFromString(STEADY)
}
