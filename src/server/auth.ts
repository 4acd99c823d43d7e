// Who may use the cache: users and passwords from memcached's file formats
// (one `user:password` per line: the -Y auth file, and the file
// MEMCACHED_SASL_PWDB names for -S), checked in constant time.

import {createHash, timingSafeEqual} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {userLines} from '../shared/users-file.js'

export class Credentials {
  /** Password digests per user: a user may be in both files, with either password. */
  private readonly users = new Map<string, Buffer[]>()

  static parse(text: string, source: string): Credentials {
    const c = new Credentials()
    for (const {user, password} of userLines(text, source)) c.add(user, digest(password))
    if (c.users.size === 0) throw new Error(`${source}: no user:password lines; add at least one`)
    return c
  }

  static fromFile(path: string, what: string): Credentials {
    let text: string
    try {
      text = readFileSync(path, 'latin1')
    } catch (e) {
      throw new Error(`${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
    }
    return Credentials.parse(text, `${what} ${path}`)
  }

  /** The users of both (the -S file and the -Y file). */
  with(other: Credentials): Credentials {
    const c = new Credentials()
    for (const from of [this, other]) for (const [u, ps] of from.users) for (const p of ps) c.add(u, p)
    return c
  }

  private add(user: string, passwordDigest: Buffer): void {
    const list = this.users.get(user)
    if (list === undefined) this.users.set(user, [passwordDigest])
    else list.push(passwordDigest)
  }

  check(user: string, password: string): boolean {
    // Digests on both sides: equal lengths for timingSafeEqual, so a password's length is not given away.
    const got = digest(password)
    let ok = false
    for (const want of this.users.get(user) ?? []) if (timingSafeEqual(want, got)) ok = true
    return ok
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'latin1').digest()
}

/**
 * A SASL PLAIN message (RFC 4616): authzid NUL authcid NUL password. As with
 * memcached's Cyrus SASL, the authzid must be empty or the same user.
 */
export function parsePlain(data: string): {user: string; password: string} | undefined {
  const a = data.indexOf('\0')
  if (a === -1) return undefined
  const b = data.indexOf('\0', a + 1)
  if (b === -1) return undefined
  const authzid = data.slice(0, a)
  const user = data.slice(a + 1, b)
  const password = data.slice(b + 1)
  if (user === '' || password.includes('\0') || (authzid !== '' && authzid !== user)) return undefined
  return {user, password}
}
