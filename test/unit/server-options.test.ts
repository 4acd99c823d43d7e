import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {parseOptions, UsageError} from '../../src/server/options.js'

const FORMS = 'like 250ms, 1s, 1.5s, 2m or 1h (a bare number is seconds)'

describe('server options: our own time flags take durations', () => {
  it('--snapshot-interval and the --rep-* timeouts take 250ms, 1.5s, 2m, and bare seconds as before', () => {
    const cases: [string, string, 'snapshotIntervalMs' | 'repTimeoutMs' | 'connectTimeoutMs' | 'drainTimeoutMs', number][] = [
      ['--snapshot-interval', '1.5s', 'snapshotIntervalMs', 1500], ['--snapshot-interval', '250ms', 'snapshotIntervalMs', 250],
      ['--snapshot-interval', '2m', 'snapshotIntervalMs', 120_000], ['--snapshot-interval', '60', 'snapshotIntervalMs', 60_000], ['--snapshot-interval', '0', 'snapshotIntervalMs', 0],
      ['--rep-timeout', '3', 'repTimeoutMs', 3000], ['--rep-timeout', '1500ms', 'repTimeoutMs', 1500], ['--rep-timeout', '1h', 'repTimeoutMs', 3_600_000],
      ['--rep-connect-timeout', '2.5s', 'connectTimeoutMs', 2500], ['--rep-drain-timeout', '0', 'drainTimeoutMs', 0], ['--rep-drain-timeout', '750ms', 'drainTimeoutMs', 750],
    ]
    for (const [flag, value, key, ms] of cases) {
      assert.equal(parseOptions([flag, value])[key], ms, `${flag} ${value}`)
      assert.equal(parseOptions([`${flag}=${value}`])[key], ms, `${flag}=${value}`)
    }
  })

  it('a bad time is one line naming the flag, the value and the accepted forms', () => {
    const cases: [string, string, string][] = [
      ['--snapshot-interval', '1x', `--snapshot-interval: must be 0 (only at shutdown) or a duration from 100ms to 24h, ${FORMS} (got "1x")`],
      ['--snapshot-interval', '1ms', `--snapshot-interval: must be 0 (only at shutdown) or a duration from 100ms to 24h, ${FORMS} (got "1ms")`],
      ['--rep-timeout', '500ms', `--rep-timeout: must be a duration from 1s to 1h, ${FORMS} (got "500ms")`],
      ['--rep-connect-timeout', '2h', `--rep-connect-timeout: must be a duration from 1s to 1h, ${FORMS} (got "2h")`],
      ['--rep-drain-timeout', '-1', `--rep-drain-timeout: must be a duration from 0s to 1h, ${FORMS} (got "-1")`],
    ]
    for (const [flag, value, message] of cases) {
      assert.throws(() => parseOptions([`${flag}=${value}`]), (e: unknown) => e instanceof UsageError && e.message === message, `${flag}=${value}`)
    }
  })

  it("memcached's own -o idle_timeout stays plain seconds, as memcached parses it", () => {
    assert.equal(parseOptions(['-o', 'idle_timeout=5']).idleTimeout, 5)
    assert.throws(() => parseOptions(['-o', 'idle_timeout=5s']), UsageError)
  })
})
