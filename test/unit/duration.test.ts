import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {checkDuration, describeRange, formatDuration, type DurationRange} from '../../src/server/duration.js'

const WIDE: DurationRange = {min: 0, max: 86_400_000}
const FORMS = 'like 250ms, 1s, 1.5s, 2m or 1h (a bare number is seconds)'

describe('checkDuration: the forms a user writes', () => {
  const good: [unknown, number][] = [
    ['250ms', 250], ['1s', 1000], ['1.5s', 1500], ['2m', 120_000], ['1h', 3_600_000], ['0.5m', 30_000], ['1.25h', 4_500_000],
    // A bare number is seconds, as before units: text from a flag, a number from YAML.
    ['1', 1000], ['60', 60_000], ['0', 0], ['0.5', 500], ['1.1', 1100], ['0.001', 1], [60, 60_000], [1.5, 1500], [0, 0],
    ['1.100s', 1100], ['0ms', 0], ['007s', 7000], ['86400', 86_400_000], ['24h', 86_400_000], ['1440m', 86_400_000],
  ]
  for (const [value, ms] of good) {
    it(`${JSON.stringify(value)} is ${ms} ms`, () => assert.deepEqual(checkDuration(value, WIDE), {ms}))
  }

  const bad: [unknown, string][] = [
    ['1x', 'not a unit'], ['', 'empty'], ['s', 'no number'], ['-1s', 'negative'], [-1, 'negative number'], ['1 s', 'a space'], [' 1s', 'leading space'],
    ['1S', 'unit in capitals'], ['1sec', 'a spelled-out unit'], ['1m30s', 'two parts'], ['.5s', 'no digit before the point'], ['1.s', 'no digit after the point'],
    ['1e3', 'an exponent'], ['0x10', 'hex'], ['Infinity', 'Infinity'], [Number.NaN, 'NaN'], [Number.POSITIVE_INFINITY, 'infinite number'],
    [true, 'a boolean'], [null, 'null'], [undefined, 'missing'], [['1s'], 'a list'], ['1d', 'days are not a unit'],
  ]
  for (const [value, why] of bad) {
    it(`refuses ${String(JSON.stringify(value))} (${why}), naming the accepted forms`, () => {
      assert.deepEqual(checkDuration(value, WIDE), {problem: `must be a duration from 0s to 24h, ${FORMS}`})
    })
  }

  it('refuses a fraction of a millisecond, exactly (no float rounding either way)', () => {
    for (const value of ['0.5ms', '1.0005s', '0.0001', 0.0001, '1.2345s']) {
      assert.deepEqual(checkDuration(value, WIDE), {problem: `must be a whole number of milliseconds: a duration from 0s to 24h, ${FORMS}`}, String(value))
    }
    // 1.1 * 1000 is 1100.0000000000002 in floats: the parser must not see a fraction there.
    assert.deepEqual(checkDuration('1.1s', WIDE), {ms: 1100})
    assert.deepEqual(checkDuration('4.35s', WIDE), {ms: 4350})
  })

  it('holds a value to its range, saying the range in the same units', () => {
    const range: DurationRange = {min: 100, max: 3_600_000}
    assert.deepEqual(checkDuration('100ms', range), {ms: 100})
    assert.deepEqual(checkDuration('1h', range), {ms: 3_600_000})
    for (const value of ['99ms', '0', '3600001ms', '2h', '99999999999999999999h']) {
      assert.deepEqual(checkDuration(value, range), {problem: `must be a duration from 100ms to 1h, ${FORMS}`}, value)
    }
  })

  it('takes 0 below the minimum when the range says what 0 means', () => {
    const range: DurationRange = {min: 100, max: 86_400_000, zero: 'only at stop'}
    assert.deepEqual(checkDuration('0', range), {ms: 0})
    assert.deepEqual(checkDuration('0s', range), {ms: 0})
    assert.deepEqual(checkDuration('50ms', range), {problem: `must be 0 (only at stop) or a duration from 100ms to 24h, ${FORMS}`})
    assert.equal(describeRange(range), `0 (only at stop) or a duration from 100ms to 24h, ${FORMS}`)
  })
})

describe('formatDuration', () => {
  it('writes the shortest exact form, which parses back to the same value', () => {
    const cases: [number, string][] = [[0, '0s'], [1, '1ms'], [250, '250ms'], [1000, '1s'], [1500, '1500ms'], [60_000, '1m'], [90_000, '90s'], [3_600_000, '1h'], [5_400_000, '90m'], [86_400_000, '24h']]
    for (const [ms, text] of cases) {
      assert.equal(formatDuration(ms), text)
      assert.deepEqual(checkDuration(text, WIDE), {ms})
    }
  })
})
