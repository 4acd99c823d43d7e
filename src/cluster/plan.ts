/** One step of an operation, shown as one line of progress; returns a detail line or nothing. */
export interface Step {
  title: string
  run(): Promise<string | void>
}

/** An operation decided up front from observations: its steps, and its result once they have run. */
export interface Plan<R> {
  steps: Step[]
  result(): R
}
