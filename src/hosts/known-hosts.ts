// OpenSSH known_hosts, read the way ssh(1) reads it (sshd(8) "SSH_KNOWN_HOSTS
// FILE FORMAT"), and the decision for a host key a server presents:
//
//   [@marker] patterns keytype base64-key [comment]
//
// - patterns: a comma list of host names or addresses, `[host]:port` for a
//   port other than 22, wildcards `*` and `?`, and `!pattern` negations (a
//   negated match vetoes the line); or one hashed name `|1|salt|hash`, where
//   hash = HMAC-SHA1(key = salt, data = the name as it would be written).
// - markers: @revoked (this key must never be accepted for these hosts: we
//   report it as a changed key) and @cert-authority (a CA for host
//   certificates, which repctl does not use: ignored).
//
// The verdict for a presented key: 'match' when a line for the host carries
// exactly this key, 'changed' when the host has lines but none carries it (or
// the key is revoked), 'unknown' when the host has no line at all.

import {createHash, createHmac, timingSafeEqual} from 'node:crypto'
import {appendFile, mkdir, open, readFile} from 'node:fs/promises'
import {dirname} from 'node:path'

export type HostKeyVerdict = 'match' | 'unknown' | 'changed'

export interface KnownHostEntry {
  /** 1-based line number, for messages. */
  line: number
  marker?: 'revoked' | 'cert-authority'
  /** The patterns as written (a hashed entry is one `|1|...` pattern). */
  patterns: string[]
  keyType: string
  /** The public key blob (the base64 field, decoded). */
  key: Buffer
}

/** How a host is written in known_hosts: `name`, or `[name]:port` for a port other than 22. */
export function knownHostName(host: string, port = 22): string {
  const name = host.toLowerCase()
  return port === 22 ? name : `[${name}]:${port}`
}

/** Parse a known_hosts file; malformed lines are skipped, as ssh(1) does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    const fields = trimmed.split(/[ \t]+/)
    let marker: KnownHostEntry['marker']
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift()!
      if (m === '@revoked') marker = 'revoked'
      else if (m === '@cert-authority') marker = 'cert-authority'
      else continue // an unknown marker: ssh(1) skips the line
    }
    const [hosts, keyType, b64] = fields
    if (hosts === undefined || keyType === undefined || b64 === undefined) continue
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue
    const key = Buffer.from(b64, 'base64')
    if (key.length === 0) continue
    entries.push({line: i + 1, ...(marker === undefined ? {} : {marker}), patterns: hosts.split(','), keyType, key})
  }
  return entries
}

/** Read and parse a known_hosts file; a missing file has no entries. */
export async function readKnownHosts(file: string): Promise<KnownHostEntry[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw e
  }
  return parseKnownHosts(text)
}

/** `*` and `?` wildcards as in ssh_config PATTERNS, case-insensitive. */
function wildcardMatch(pattern: string, name: string): boolean {
  const re = pattern.toLowerCase().replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')
  return new RegExp(`^${re}$`).test(name)
}

function hashedMatch(pattern: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = pattern.split('|')
  if (parts.length !== 4 || parts[1] !== '1') return false
  const salt = Buffer.from(parts[2]!, 'base64')
  const want = Buffer.from(parts[3]!, 'base64')
  const got = createHmac('sha1', salt).update(name).digest()
  return want.length === got.length && timingSafeEqual(want, got)
}

/** Whether an entry's patterns name `name` (as knownHostName writes it). */
export function entryMatchesHost(entry: KnownHostEntry, name: string): boolean {
  let matched = false
  for (const p of entry.patterns) {
    if (p.startsWith('|')) {
      if (hashedMatch(p, name)) matched = true
    } else if (p.startsWith('!')) {
      if (wildcardMatch(p.slice(1), name)) return false
    } else if (wildcardMatch(p, name)) {
      matched = true
    }
  }
  return matched
}

/** The entries that apply to host:port (cert-authority lines left out). */
export function entriesFor(entries: readonly KnownHostEntry[], host: string, port = 22): KnownHostEntry[] {
  const name = knownHostName(host, port)
  return entries.filter((e) => e.marker !== 'cert-authority' && entryMatchesHost(e, name))
}

/** The verdict for the key `key` (a public key blob) presented by host:port. */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const mine = entriesFor(entries, host, port)
  if (mine.some((e) => e.marker === 'revoked' && e.key.equals(key))) return 'changed'
  const known = mine.filter((e) => e.marker === undefined)
  if (known.length === 0) return 'unknown'
  return known.some((e) => e.key.equals(key)) ? 'match' : 'changed'
}

/** The key types known for host:port, in file order (to ask the server for one of those first, as ssh(1) does). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const types: string[] = []
  for (const e of entriesFor(entries, host, port)) {
    if (e.marker === undefined && !types.includes(e.keyType)) types.push(e.keyType)
  }
  return types
}

/** The key type written inside a public key blob ("ssh-ed25519", ...). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) throw new Error('not an SSH public key blob')
  const len = key.readUInt32BE(0)
  if (len === 0 || len > 64 || 4 + len > key.length) throw new Error('not an SSH public key blob')
  return key.subarray(4, 4 + len).toString('latin1')
}

/** The OpenSSH fingerprint `SHA256:<unpadded base64 of sha256(blob)>`, as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/**
 * Whether `key` is the pinned host key. The pin is an OpenSSH SHA256
 * fingerprint ("SHA256:..." — the prefix and base64 padding optional), or a
 * public key as in a .pub file ("ssh-ed25519 AAAA... [comment]").
 */
export function matchesPin(pin: string, key: Buffer): boolean {
  const p = pin.trim()
  const asKey = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(\s.*)?$/.exec(p)
  if (asKey !== null) return Buffer.from(asKey[2]!, 'base64').equals(key)
  const want = p.replace(/^SHA256:/i, '').replace(/=+$/, '')
  return want === fingerprint(key).slice('SHA256:'.length)
}

/** Whether a pin is well-formed (a SHA256 fingerprint or a public key line). */
export function validPin(pin: string): boolean {
  const p = pin.trim()
  if (/^\S+\s+[A-Za-z0-9+/]+={0,2}(\s.*)?$/.test(p)) return true
  return /^(SHA256:)?[A-Za-z0-9+/]{43}=?$/i.test(p)
}

/** The known_hosts line recording `key` for host:port (not hashed, so it can be read and audited). */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${knownHostName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}`
}

/**
 * Record `key` for host:port at the end of `file`: the directory is created
 * with mode 700 and the file with mode 600 when missing (as ssh(1) does with
 * ~/.ssh and ~/.ssh/known_hosts). An existing file keeps its mode.
 */
export async function appendKnownHost(file: string, host: string, port: number, key: Buffer): Promise<void> {
  await mkdir(dirname(file), {recursive: true, mode: 0o700})
  // Start on a new line if the file does not end with one.
  let prefix = ''
  try {
    const fh = await open(file, 'r')
    try {
      const {size} = await fh.stat()
      if (size > 0) {
        const last = Buffer.alloc(1)
        await fh.read(last, 0, 1, size - 1)
        if (last[0] !== 0x0a) prefix = '\n'
      }
    } finally {
      await fh.close()
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  await appendFile(file, `${prefix}${knownHostsLine(host, port, key)}\n`, {mode: 0o600})
}
