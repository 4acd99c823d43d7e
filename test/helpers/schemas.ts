// The JSON Schemas of every command's --json output (src/cli/schemas), compiled
// once with ajv (draft 2020-12, strict), and an assertion that names what failed.

import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Ajv2020, type ValidateFunction} from 'ajv/dist/2020.js'
import {ROOT} from './processes.js'

export const SCHEMA_DIR = join(ROOT, 'src', 'cli', 'schemas')
export const COMMANDS = ['init', 'start', 'stop', 'status', 'promote', 'rejoin', 'logs', 'supervise', 'restart', 'upgrade'] as const
export type CommandName = typeof COMMANDS[number]
export type SchemaName = CommandName | 'error'
export const SCHEMA_NAMES: readonly SchemaName[] = [...COMMANDS, 'error']

export function schemaFile(name: SchemaName, dir = SCHEMA_DIR): string {
  return join(dir, `${name}.schema.json`)
}

export function loadSchema(name: SchemaName, dir = SCHEMA_DIR): Record<string, unknown> {
  const parsed: unknown = JSON.parse(readFileSync(schemaFile(name, dir), 'utf8'))
  assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `${name}.schema.json is not an object`)
  return parsed as Record<string, unknown>
}

const ajv = new Ajv2020({allErrors: true, strict: true})
const compiled = new Map<SchemaName, ValidateFunction>()

export function validator(name: SchemaName): ValidateFunction {
  let v = compiled.get(name)
  if (v === undefined) {
    v = ajv.compile(loadSchema(name))
    compiled.set(name, v)
  }
  return v
}

/** Errors of `doc` against the schema, as one readable string ('' when valid). */
export function schemaErrors(name: SchemaName, doc: unknown): string {
  const v = validator(name)
  return v(doc) ? '' : ajv.errorsText(v.errors, {separator: '\n', dataVar: name})
}

export function assertValid(name: SchemaName, doc: unknown): void {
  const errors = schemaErrors(name, doc)
  assert.equal(errors, '', `--json output does not match ${name}.schema.json:\n${errors}\n${JSON.stringify(doc, null, 2)}`)
}

export function assertInvalid(name: SchemaName, doc: unknown, why: string): void {
  assert.notEqual(schemaErrors(name, doc), '', `${name}.schema.json accepted ${why}: ${JSON.stringify(doc)}`)
}
