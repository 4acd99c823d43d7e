import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {runSteps} from '../cli/tasks.js'
import {planStop, type StopResult} from '../cluster/stop.js'

export default class Stop extends BaseCommand<typeof Stop> {
  static override description = 'Stop nodes and routers (all when none is named; routers first): SIGTERM, so each drains its replication queue to its peer, then SIGKILL after a timeout'
  static override examples = ['<%= config.bin %> stop', '<%= config.bin %> stop node2']
  static override strict = false
  static override args = {
    node: Args.string({description: 'node or router name(s)', required: false}),
  }

  async run(): Promise<StopResult> {
        const config = await this.clusterConfig()
    const plan = await planStop(config, this.pool, this.operands)
    await runSteps(plan.steps, this.jsonEnabled())
    return plan.result()
  }
}
