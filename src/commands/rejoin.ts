import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {runSteps} from '../cli/tasks.js'
import {planRejoin, type RejoinResult} from '../cluster/rejoin.js'

export default class Rejoin extends BaseCommand<typeof Rejoin> {
  static override description = `Restart NODE as the slave of its pair's live master and wait for the full copy.
This is the manual step of the repcached guides ("restart the old master by hand as the new slave").`
  static override examples = ['<%= config.bin %> rejoin node1']
  static override args = {
    node: Args.string({description: 'the node to rejoin', required: true}),
  }

  async run(): Promise<RejoinResult> {
    const {args, flags} = this
    const config = await this.clusterConfig()
    const plan = await planRejoin(config, this.pool, args.node)
    await runSteps(plan.steps, this.jsonEnabled())
    const r = plan.result()
    this.log(r.changed ? `${r.node} is the slave of ${r.master}, with a full copy` : `${r.node} is already the slave of ${r.master}`)
    return r
  }
}
