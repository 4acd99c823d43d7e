// Every flag that takes a length of time: the one duration syntax
// (src/duration.ts), the value in milliseconds, a bad value refused as a
// usage error naming the flag, the value and the accepted forms.

import {Flags} from '@oclif/core'
import {checkDuration, describeRange, formatDuration, type DurationRange} from '../server/duration.js'
import {RepctlError} from '../errors.js'

export interface DurationFlagOptions {
  description: string
  /** Milliseconds. */
  default: number
  range: DurationRange
}

export function durationFlag(o: DurationFlagOptions) {
  return Flags.custom<number>({
    description: `${o.description}; ${describeRange(o.range)}`,
    default: o.default,
    defaultHelp: async () => formatDuration(o.default),
    helpValue: 'DURATION',
    async parse(input, _ctx, flag) {
      const r = checkDuration(input, o.range)
      if ('problem' in r) throw new RepctlError('USAGE', `--${flag.name} ${r.problem} (got ${JSON.stringify(input)})`)
      return r.ms
    },
  })()
}
