import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {renderRestart} from '../cli/render-restart.js'
import {runSteps} from '../cli/tasks.js'
import {planRestart, type RestartResult} from '../cluster/restart/plan.js'

export default class Upgrade extends BaseCommand<typeof Upgrade> {
  static override description = `Restart every node whose running server is not this repctl's bundle (status: outdated), the way restart does: one node of a pair at a time, the slave first, a master by a switchover. Nothing to do when every node is current.`
  static override examples = ['<%= config.bin %> upgrade --dry-run', '<%= config.bin %> upgrade', '<%= config.bin %> upgrade --json']
  static override flags = {
    'dry-run': Flags.boolean({description: 'print the plan, change nothing', default: false}),
  }

  async run(): Promise<RestartResult> {
    const config = await this.clusterConfig()
    const plan = await planRestart(config, this.pool, {kind: 'outdated'}, this.flags['dry-run'])
    await runSteps(plan.steps, this.jsonEnabled())
    const r = plan.result()
    this.log(renderRestart(r))
    return r
  }
}
