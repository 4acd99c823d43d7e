import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {runSteps} from '../cli/tasks.js'
import {planStart, type StartResult} from '../cluster/start.js'

export default class Start extends BaseCommand<typeof Start> {
  static override description = `Start the pair(s): when both nodes are down, the node with the newest valid snapshot (else the first node) as master, with that snapshot's items, then its peer as slave with a full copy.
Each node is started with its peer as -x, so a plain restart of either rejoins as slave. Nodes already running are left alone; a healthy pair is not touched.
Then each router (nutcracker): restarted only when its ring or a pair's address changed, and checked with a request to every pair.`
  static override examples = ['<%= config.bin %> start', '<%= config.bin %> start --pair node1,node2', '<%= config.bin %> start --json', '<%= config.bin %> start --yes   # after removing a pair from a config with routers']
  static override flags = {
    pair: Flags.string({description: 'only this pair, as A,B (A is preferred as master)'}),
    yes: Flags.boolean({description: 'confirm removing pairs from the routers\' rings (their keys are lost to clients)', default: false}),
  }

  async run(): Promise<StartResult> {
    const {flags} = this
    const config = await this.clusterConfig()
    const plan = await planStart(config, this.pool, flags.pair, {yes: flags.yes})
    await runSteps(plan.steps, this.jsonEnabled())
    const result = plan.result()
    for (const p of result.pairs) {
      const restored = p.restoredFrom === null ? '' : `, restored ${p.restoredFrom.items} items from ${p.restoredFrom.node}'s snapshot of ${p.restoredFrom.time}`
      this.log(p.alreadyRunning ? `${p.nodes.join(',')}: already running, nothing changed` : `${p.nodes.join(',')}: paired, master ${p.master}${restored}`)
    }
    for (const r of result.routers) {
      const moved = r.movedShare === null || (r.added.length === 0 && r.removed.length === 0) ? '' : `, ring ${[...r.added.map((n) => `+${n}`), ...r.removed.map((n) => `-${n}`)].join(' ')}: ${(r.movedShare * 100).toFixed(1)}% of keys moved`
      this.log(`router ${r.name}: ${r.action === 'unchanged' ? 'already running with this ring' : r.action}, pid ${r.pid}${moved}`)
    }
    return result
  }
}
