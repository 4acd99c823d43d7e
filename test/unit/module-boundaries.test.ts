// The arrows between the wings (DESIGN.md): the CLI learns about a node only
// through the network and its Host, never by importing the server; the server
// stands alone (it is bundled to one file). What both need is in src/shared,
// which imports nothing.

import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {describe, it} from 'node:test'

const ROOT = resolve(import.meta.dirname, '../..')

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), {withFileTypes: true, recursive: true})
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => relative(ROOT, join(d.parentPath, d.name)))
}

/** The files a module imports (relative specifiers, as paths from the repo's root), and its other specifiers. */
function imports(file: string): {local: string[]; packages: string[]} {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const specs = [...text.matchAll(/^(?:import|export)\s[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)].map((m) => m[1] ?? m[2]!)
  const local = specs.filter((s) => s.startsWith('.')).map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, '.ts'))
  return {local, packages: specs.filter((s) => !s.startsWith('.'))}
}

describe('module boundaries', () => {
  it('no CLI module imports a server module (duration.ts, which imports nothing, is the one the CLI shares)', () => {
    const cli = sources('src').filter((f) => !f.startsWith('src/server/'))
    const crossing = cli.flatMap((f) => imports(f).local.filter((i) => i.startsWith('src/server/') && i !== 'src/server/duration.ts').map((i) => `${f} -> ${i}`))
    assert.deepEqual(crossing, [])
  })

  it('the server imports only the server, src/shared and node: built-ins', () => {
    const bad = sources('src/server').flatMap((f) => {
      const {local, packages} = imports(f)
      return [...local.filter((i) => !i.startsWith('src/server/') && !i.startsWith('src/shared/')), ...packages.filter((p) => !p.startsWith('node:'))].map((i) => `${f} -> ${i}`)
    })
    assert.deepEqual(bad, [])
  })

  it('src/shared imports nothing', () => {
    const files = sources('src/shared')
    assert.ok(files.includes('src/shared/users-file.ts'))
    for (const f of files) {
      const {local, packages} = imports(f)
      assert.deepEqual([...local, ...packages], [], `${f} imports`)
    }
  })
})
