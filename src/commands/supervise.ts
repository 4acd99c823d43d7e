import {Flags} from '@oclif/core'
import {appendFileSync, mkdirSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {BaseCommand} from '../cli/base-command.js'
import {DEFAULT_POLICY, type SplitBrainPolicy} from '../cluster/supervise/decide.js'
import {freshState, superviseRound, type SuperviseEvent} from '../cluster/supervise/round.js'

export interface SuperviseResult { events: SuperviseEvent[] }

export default class Supervise extends BaseCommand {
  static override description = `Watch every pair and repair it: rejoin a dead node as slave of the live master, restart a pair whose nodes are all down, heal a split brain that outlasts its grace period (by --split-brain policy). Unreachable hosts are reported, never acted on. A node that keeps failing is given up on after --max-repairs within 10 minutes.
Every change and action is an event (one JSON line with --json), also appended to ~/.repctl/supervisor/<cluster>.events.jsonl.`
  static override examples = ['<%= config.bin %> supervise', '<%= config.bin %> supervise --once --json', '<%= config.bin %> supervise --interval 2 --split-brain manual']
  static override flags = {
    interval: Flags.integer({description: 'seconds between rounds', default: 1, min: 1}),
    once: Flags.boolean({description: 'one round, then exit', default: false}),
    'split-brain': Flags.string({description: 'how to heal a split brain that lasts: keep the node with more items, keep the first node of the pair, or only report', options: ['keep-larger', 'keep-first', 'manual'], default: 'keep-larger'}),
    'split-brain-grace': Flags.integer({description: 'seconds a split brain may last before it is healed', default: DEFAULT_POLICY.splitBrainGraceMs / 1000, min: 0}),
    'max-repairs': Flags.integer({description: 'repairs of one node within 10 minutes before giving up on it', default: DEFAULT_POLICY.maxRepairs, min: 1}),
  }

  async run(): Promise<SuperviseResult> {
    const {flags} = await this.parse(Supervise)
    this.noteVerbose(flags.verbose)
    const config = await this.clusterConfig(flags.config)
    const policy = {...DEFAULT_POLICY, splitBrain: flags['split-brain'] as SplitBrainPolicy, splitBrainGraceMs: flags['split-brain-grace'] * 1000, maxRepairs: flags['max-repairs']}
    const dir = join(homedir(), '.repctl', 'supervisor')
    mkdirSync(dir, {recursive: true, mode: 0o700})
    const eventsFile = join(dir, `${config.cluster}.events.jsonl`)
    const json = this.jsonEnabled()
    const events: SuperviseEvent[] = []
    const emit = (e: SuperviseEvent): void => {
      events.push(e)
      const line = JSON.stringify(e)
      appendFileSync(eventsFile, line + '\n', {mode: 0o600})
      // --once prints one document at the end; the loop prints each event as it happens.
      if (json && !flags.once) process.stdout.write(line + '\n')
      else if (!json) this.log(`${e.time} ${e.pair} ${e.event}${e.action === null ? '' : ` ${e.action}`}${e.outcome === null ? '' : ` ${e.outcome}`}${e.durationMs === null ? '' : ` ${e.durationMs}ms`}: ${e.reason}`)
    }
    const state = freshState()
    if (flags.once) {
      await superviseRound(config, this.pool, state, policy, emit)
      return {events}
    }
    let stop = false
    process.once('SIGINT', () => { stop = true })
    process.once('SIGTERM', () => { stop = true })
    while (!stop) {
      await superviseRound(config, this.pool, state, policy, emit)
      // Connections are not kept between rounds: a host that goes away must not hang the next one.
      await this.pool.close()
      for (let waited = 0; waited < flags.interval * 1000 && !stop; waited += 100) await new Promise((r) => setTimeout(r, 100))
    }
    return {events: events.slice(-100)}
  }
}
