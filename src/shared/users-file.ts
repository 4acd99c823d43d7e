// The users file's format (memcached's -Y auth file, and the file
// MEMCACHED_SASL_PWDB names for -S): one `user:password` per line. Read by
// the server to check logins and by repctl to log in as its first user. Here,
// importing nothing, so that both may import it: the bundled server holds
// only src/server and src/shared, and the CLI never imports the server.

export interface UserLine { user: string; password: string }

/** The `user:password` lines of a users file; blank lines and lines starting with # are skipped. */
export function userLines(text: string, source: string): UserLine[] {
  const out: UserLine[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line === '' || line.startsWith('#')) return
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Error(`${source} line ${i + 1}: expected user:password`)
    out.push({user: line.slice(0, colon), password: line.slice(colon + 1)})
  })
  return out
}
