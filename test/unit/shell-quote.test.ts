import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {shellCommand, shellQuote} from '../../src/hosts/shell-quote.js'
import {which} from '../helpers/processes.js'

describe('shellQuote', () => {
  it('wraps in single quotes and escapes a single quote as \'\\\'\'', () => {
    assert.equal(shellQuote('abc'), "'abc'")
    assert.equal(shellQuote(''), "''")
    assert.equal(shellQuote("it's"), "'it'\\''s'")
    assert.equal(shellQuote("''"), "''\\'''\\'''")
  })

  it('refuses a NUL byte', () => {
    assert.throws(() => shellQuote('a\0b'), /NUL/)
    assert.throws(() => shellCommand(['printf', 'x\0']), /NUL/)
  })

  it('refuses an empty argv', () => {
    assert.throws(() => shellCommand([]), /empty/)
  })
})

describe('shellCommand through a real shell', () => {
  let dir: string
  let marker: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'repctl-quote-'))
    marker = join(dir, 'pwned')
    // Files for a glob to expand to, were one to be expanded.
    writeFileSync(join(dir, 'a.txt'), '')
    writeFileSync(join(dir, 'b.txt'), '')
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  const hostile = (m: string): string[] => [
    '; rm -rf /',
    `; touch ${m}`,
    `$(touch ${m})`,
    `\`touch ${m}\``,
    `" ; touch ${m} ; "`,
    `' ; touch ${m} ; '`,
    `'\\'' ; touch ${m} ; '\\''`,
    `a\ntouch ${m}`,
    `x && touch ${m} || touch ${m}`,
    `| touch ${m}`,
    `> ${m}`,
    'two words  and   spaces',
    '\ttab\t',
    '*',
    '*.txt',
    '?.txt',
    '[ab].txt',
    '{a,b}.txt',
    '-n',
    '-e',
    '--',
    '--help',
    '-rf',
    '$HOME',
    '${PATH}',
    '~',
    '~root/x',
    '!!',
    '\\',
    '\\n',
    '#not a comment',
    'é ü 日本',
    '',
  ]

  function roundTrip(shell: string, values: string[]): string[] {
    // printf repeats its format for every argument: each one comes back followed by a NUL.
    const line = shellCommand(['printf', '%s\\0', ...values])
    const r = spawnSync(shell, ['-c', line], {cwd: dir, encoding: 'utf8'})
    assert.equal(r.status, 0, `${shell} failed: ${r.stderr}`)
    const parts = r.stdout.split('\0')
    assert.equal(parts.pop(), '', 'output ends with a NUL')
    return parts
  }

  for (const shell of ['sh', 'bash', 'dash']) {
    it(`every hostile value arrives as one literal argument (${shell})`, {skip: which(shell) === undefined ? `${shell} not installed` : false}, () => {
      const values = hostile(marker)
      assert.deepEqual(roundTrip(shell, values), values)
      assert.equal(existsSync(marker), false, 'no command inside a value ran')
      assert.deepEqual(readdirSync(dir).sort(), ['a.txt', 'b.txt'], 'nothing was created or removed')
    })
  }

  it('each value alone is one argument too', () => {
    for (const v of hostile(marker)) assert.deepEqual(roundTrip('sh', [v]), [v])
    assert.equal(existsSync(marker), false)
  })

  it('a quoted value is inert inside a longer script as well', () => {
    const script = `cd ${shellQuote(dir)} && printf '%s\\n' ${shellQuote(`$(touch ${marker})`)} > ${shellQuote(join(dir, 'out; touch x'))}`
    const r = spawnSync('sh', ['-c', script], {encoding: 'utf8'})
    assert.equal(r.status, 0, r.stderr)
    assert.equal(existsSync(marker), false)
    assert.equal(existsSync(join(dir, 'x')), false)
    assert.ok(existsSync(join(dir, 'out; touch x')))
  })
})
