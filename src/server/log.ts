// Server log lines go to stderr, as memcached's do; -v levels gate them.

export class Logger {
  constructor(public verbosity: number) {}

  /** Always printed: start-up failures and warnings an operator must see. */
  warn(message: string): void {
    process.stderr.write(message + '\n')
  }

  /** Printed at -v and above. */
  info(message: string): void {
    if (this.verbosity >= 1) process.stderr.write(message + '\n')
  }

  /** Printed at -vv and above (per-command traces). */
  trace(message: string): void {
    if (this.verbosity >= 2) process.stderr.write(message + '\n')
  }
}
