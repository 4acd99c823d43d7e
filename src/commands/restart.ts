import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {renderRestart} from '../cli/render-restart.js'
import {runSteps} from '../cli/tasks.js'
import {planRestart, type RestartResult, type RestartSelection} from '../cluster/restart/plan.js'
import {RepctlError} from '../errors.js'

export default class Restart extends BaseCommand<typeof Restart> {
  static override description = `Restart nodes on this repctl's server bundle, one node of a pair at a time, never both.
A slave is restarted and comes back with a full copy; a master is restarted by a switchover to its slave (it hands over every queued change as it stops, the VIP moves where there is one, routers follow) and comes back as slave. A pair that is not healthy is refused before anything is touched.`
  static override examples = ['<%= config.bin %> restart node2', '<%= config.bin %> restart --pair node1,node2 --rolling', '<%= config.bin %> restart --rolling', '<%= config.bin %> restart --rolling --dry-run']
  static override strict = false
  static override args = {
    node: Args.string({description: 'node name(s) to restart', required: false}),
  }
  static override flags = {
    pair: Flags.string({description: 'both nodes of this pair, as A,B'}),
    rolling: Flags.boolean({description: 'alone: every node of every pair, pair by pair (every restart is one node of a pair at a time, with or without it)', default: false}),
    'dry-run': Flags.boolean({description: 'print the plan, change nothing', default: false}),
  }

  async run(): Promise<RestartResult> {
    const {flags} = this
    const names = this.operands
    if (names.length > 0 && flags.pair !== undefined) throw new RepctlError('USAGE', 'give node names or --pair A,B, not both', ['repctl restart node2', 'repctl restart --pair node1,node2'])
    if (names.length === 0 && flags.pair === undefined && !flags.rolling) {
      throw new RepctlError('USAGE', 'say what to restart: node names, or --pair A,B, or --rolling for every node', ['repctl restart node2', 'repctl restart --rolling'])
    }
    const selection: RestartSelection = flags.pair !== undefined ? {kind: 'pair', pair: flags.pair} : names.length > 0 ? {kind: 'nodes', names} : {kind: 'all'}
    const config = await this.clusterConfig()
    const plan = await planRestart(config, this.pool, selection, flags['dry-run'])
    await runSteps(plan.steps, this.jsonEnabled())
    const r = plan.result()
    this.log(renderRestart(r))
    return r
  }
}
