import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {routerPaths} from '../cluster/router/paths.js'
import {findRouter} from '../cluster/router/routes.js'
import {findNode, nodePaths} from '../cluster/topology.js'

export interface LogsResult { node: string; file: string; lines: string[] }

export default class Logs extends BaseCommand<typeof Logs> {
  static override description = 'Show the server log of NODE, or the nutcracker log of a router'
  static override examples = ['<%= config.bin %> logs node1', '<%= config.bin %> logs node1 -n 200', '<%= config.bin %> logs node2 -f', '<%= config.bin %> logs app1   # a router']
  static override args = {
    node: Args.string({description: 'node or router name', required: true}),
  }
  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'keep printing new lines until interrupted', default: false}),
    lines: Flags.integer({char: 'n', description: 'how many of the last lines to show', default: 50, min: 0}),
  }

  async run(): Promise<LogsResult> {
    const {args, flags} = this
    const config = await this.clusterConfig()
    // Router names never clash with node names (the config checks it).
    const router = findRouter(config, args.node)
    const node = router ?? findNode(config, args.node)
    const host = this.pool.for(node)
    const file = router !== undefined ? routerPaths(router).logFile : nodePaths(findNode(config, args.node)).logFile
    const text = flags.lines === 0 ? '' : await host.tail(file, flags.lines)
    if (!this.jsonEnabled()) process.stdout.write(text)
    if (flags.follow && !this.jsonEnabled()) {
      const abort = new AbortController()
      process.once('SIGINT', () => abort.abort())
      process.once('SIGTERM', () => abort.abort())
      await host.follow(file, (chunk) => process.stdout.write(chunk), abort.signal)
    }
    return {node: node.name, file, lines: text === '' ? [] : text.replace(/\n$/, '').split('\n')}
  }
}
