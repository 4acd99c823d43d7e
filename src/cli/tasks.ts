import {Listr} from 'listr2'
import type {Step} from '../cluster/plan.js'

/** Run an operation's steps with listr2: a live tree on a terminal, plain lines otherwise, nothing under --json. */
export async function runSteps(steps: Step[], json: boolean): Promise<void> {
  const list = new Listr(
    steps.map(toTask),
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

type ListrTask = ConstructorParameters<typeof Listr>[0]
type TaskOf = Exclude<ListrTask, unknown[]>

function toTask(step: Step): TaskOf {
  return {
    title: step.title,
    task: async (_ctx, task) => {
      // Sub-steps decided now: shown under this step, in order, each with its own line.
      if (step.expand !== undefined) return task.newListr((await step.expand()).map(toTask), {exitOnError: true})
      const detail = await step.run()
      if (typeof detail === 'string' && detail !== '') task.output = detail
      return undefined
    },
    rendererOptions: {persistentOutput: true},
  }
}
