// Quoting for a POSIX shell. An SSH command is one string that the remote
// user's login shell parses, so every value that reaches it (paths, pids,
// flags, anything from a config file) goes through shellQuote: inside single
// quotes nothing is special except the single quote itself, which is written
// as '\'' (close, an escaped quote, reopen). The result is always quoted, even
// when it would not need to be: one rule, no judgement. Note that quoting also
// turns off tilde expansion, so "~/x" arrives as those three characters.
// NUL cannot be passed in an argument at all (C strings end there), so it is
// refused rather than silently cutting the value short.

/** `value` as one literal word for a POSIX shell (sh, bash, dash, ksh, zsh). */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error(`cannot pass a value containing a NUL byte to a shell: ${JSON.stringify(value)}`)
  return `'${value.replaceAll("'", "'\\''")}'`
}

/** A command line that runs `argv[0]` with the rest as its literal arguments. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('shellCommand: empty argv')
  return argv.map(shellQuote).join(' ')
}
