/** One step of an operation, shown as one line of progress; returns a detail line or nothing. */
export interface Step {
  title: string
  run(): Promise<string | void>
  /**
   * A step made of steps decided only when it is reached (they depend on what
   * earlier steps did): shown as sub-steps; `run` runs them all.
   */
  expand?(): Promise<Step[]>
}

/** A step whose sub-steps are decided when it is reached. */
export function laterSteps(title: string, decide: () => Promise<Step[]>): Step {
  return {
    title,
    expand: decide,
    run: async () => { for (const s of await decide()) await s.run() },
  }
}

/** An operation decided up front from observations: its steps, and its result once they have run. */
export interface Plan<R> {
  steps: Step[]
  result(): R
}
