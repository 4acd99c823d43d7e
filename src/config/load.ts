// Finding and reading the config: --config, else REPCTL_CONFIG, else a
// search from the working directory up to the project root; no file at all
// means the built-in local pair.

import {cosmiconfig, defaultLoaders, type LoaderSync} from 'cosmiconfig'
import {existsSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {RepctlError} from '../errors.js'
import {BUILT_IN_CONFIG, BUILT_IN_SOURCE, validateConfig, type ClusterConfig} from './schema.js'

export const CONFIG_FILE_NAME = 'repctl.config.yaml'

const SEARCH_PLACES = [
  'package.json',
  'repctl.config.yaml', 'repctl.config.yml', 'repctl.config.json', 'repctl.config.js', 'repctl.config.mjs', 'repctl.config.cjs',
  '.repctlrc', '.repctlrc.yaml', '.repctlrc.yml', '.repctlrc.json', '.repctlrc.js', '.repctlrc.mjs', '.repctlrc.cjs',
]

/**
 * An empty or all-comment file is an error, not a reason to fall back to the
 * built-in pair: cosmiconfig skips an empty file while searching and takes a
 * file that parses to null for no file at all, so make the latter "empty" too.
 */
const orEmpty = (load: LoaderSync): LoaderSync => (filepath, content) => load(filepath, content) ?? undefined
const LOADERS = {'.yaml': orEmpty(defaultLoaders['.yaml']), '.yml': orEmpty(defaultLoaders['.yml']), '.json': orEmpty(defaultLoaders['.json']), noExt: orEmpty(defaultLoaders.noExt)}

export async function loadConfig(explicit: string | undefined, cwd = process.cwd()): Promise<ClusterConfig> {
  const explorer = cosmiconfig('repctl', {searchPlaces: SEARCH_PLACES, searchStrategy: 'project', ignoreEmptySearchPlaces: false, loaders: LOADERS})
  const path = explicit ?? process.env.REPCTL_CONFIG
  let result: Awaited<ReturnType<typeof explorer.load>>
  try {
    if (path !== undefined && path !== '') {
      const file = resolve(cwd, path)
      if (!existsSync(file)) throw new RepctlError('CONFIG_NOT_FOUND', `config file ${file} does not exist`)
      result = await explorer.load(file)
    } else {
      result = await explorer.search(cwd)
    }
  } catch (e) {
    if (e instanceof RepctlError) throw e
    // cosmiconfig's message already names the file, line and column.
    throw new RepctlError('CONFIG_INVALID', (e as Error).message.trim())
  }
  if (result === null || result === undefined) return validateConfig(BUILT_IN_CONFIG, BUILT_IN_SOURCE, cwd)
  if (result.isEmpty === true) throw new RepctlError('CONFIG_INVALID', `${result.filepath} is empty`)
  return validateConfig(result.config, result.filepath, dirname(result.filepath))
}
