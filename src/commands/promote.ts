import {Args, Flags} from '@oclif/core'
import {createInterface} from 'node:readline/promises'
import {BaseCommand} from '../cli/base-command.js'
import {runSteps} from '../cli/tasks.js'
import {planPromote, type PromoteResult} from '../cluster/promote.js'

export default class Promote extends BaseCommand<typeof Promote> {
  static override description = `Make NODE the master of its pair.
Healthy pair: a planned switchover with no data loss; a pair with a VIP moves it to NODE's host first (the old master's keepalived is drained, then put back so that host can take the VIP on a later failure). Split brain: keep NODE's data and restart the other node as its slave (its divergent data is dropped; needs --yes or a confirmation).`
  static override examples = ['<%= config.bin %> promote node2', '<%= config.bin %> promote node2 --yes']
  static override args = {
    node: Args.string({description: 'the node to make master', required: true}),
  }
  static override flags = {
    yes: Flags.boolean({char: 'y', description: 'confirm dropping the other node\'s data when healing a split brain', default: false}),
  }

  async run(): Promise<PromoteResult> {
    const {args, flags} = this
    const config = await this.clusterConfig()
    const confirm = async (): Promise<boolean> => {
      if (flags.yes) return true
      if (this.jsonEnabled() || process.stdin.isTTY !== true) return false
      const rl = createInterface({input: process.stdin, output: process.stderr})
      try {
        const answer = await rl.question(`Keep ${args.node}'s data and drop the other node's? [y/N] `)
        return /^y(es)?$/i.test(answer.trim())
      } finally { rl.close() }
    }
    const plan = await planPromote(config, this.pool, args.node, confirm)
    await runSteps(plan.steps, this.jsonEnabled())
    const r = plan.result()
    const vip = r.vip === null ? '' : `; the VIP ${r.vip.address} is on ${r.vip.holdersAfter.length === 0 ? 'no host' : `the host of ${r.vip.holdersAfter.join(' and ')}`}`
    this.log(`${r.action === 'none' ? `${r.node} is already the master` : `${r.node} is the master; its peer is its slave`}${vip}`)
    return r
  }
}
