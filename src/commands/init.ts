import {Flags} from '@oclif/core'
import {existsSync} from 'node:fs'
import {copyFile} from 'node:fs/promises'
import {resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {BaseCommand} from '../cli/base-command.js'
import {CONFIG_FILE_NAME} from '../config/load.js'
import {RepctlError} from '../errors.js'

const TEMPLATE = fileURLToPath(new URL('../../templates/repctl.config.yaml', import.meta.url))

export interface InitResult { file: string; overwritten: boolean }

export default class Init extends BaseCommand<typeof Init> {
  static override description = 'Write repctl.config.yaml describing the default local pair (with a commented SSH example)'
  static override examples = ['<%= config.bin %> init', '<%= config.bin %> init --force', '<%= config.bin %> init --config /etc/repctl/repctl.config.yaml']
  static override flags = {
    force: Flags.boolean({description: 'overwrite an existing file', default: false}),
  }

  async run(): Promise<InitResult> {
    const {flags} = this
    const file = resolve(flags.config ?? CONFIG_FILE_NAME)
    const exists = existsSync(file)
    if (exists && !flags.force) throw new RepctlError('CONFIG_EXISTS', `${file} already exists`)
    await copyFile(TEMPLATE, file)
    this.log(`${exists ? 'Overwrote' : 'Wrote'} ${file}. Next: repctl start`)
    return {file, overwritten: exists}
  }
}
