import {Listr} from 'listr2'
import type {Step} from '../cluster/plan.js'

/** Run an operation's steps with listr2: a live tree on a terminal, plain lines otherwise, nothing under --json. */
export async function runSteps(steps: Step[], json: boolean): Promise<void> {
  const list = new Listr(
    steps.map((step) => ({
      title: step.title,
      task: async (_ctx: unknown, task: {output: string}) => {
        const detail = await step.run()
        if (typeof detail === 'string' && detail !== '') task.output = detail
      },
      rendererOptions: {persistentOutput: true},
    })),
    {
      renderer: 'default',
      fallbackRenderer: 'simple',
      fallbackRendererCondition: Boolean(process.env.CI) && process.env.CI !== 'false',
      silentRendererCondition: json,
      rendererOptions: {collapseSubtasks: false},
      exitOnError: true,
    },
  )
  await list.run()
}
