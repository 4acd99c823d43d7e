// The `security` section of the config: files only (a replication secret,
// the users clients log in as, TLS certificates and keys), never the secrets
// themselves, so that the config can be shared and read without giving them
// away. Each file must exist; one holding a secret that others can read gets
// a warning. Without replicationSecretFile, repctl generates the replication
// secret on the node hosts (src/cluster/replication-secret.ts); the word
// `none` turns it off.

import {accessSync, constants, statSync} from 'node:fs'
import {resolve} from 'node:path'

export interface SecurityConfig {
  /** --rep-secret-file: the pair proves this shared secret to each other. Neither this nor replicationSecretOff: repctl generates one. */
  replicationSecretFile?: string
  /** `replicationSecretFile: none`: the operator turned the replication secret off (no generated one either). */
  replicationSecretOff?: true
  /** user:password lines: clients must log in (-Y: ASCII `set` login, binary SASL PLAIN); repctl uses the first user. */
  usersFile?: string
  /** TLS on the client port (-Z); with verifyClients, clients need a certificate signed by `ca` (repctl shows clientCert). */
  tls?: {cert: string; key: string; ca?: string; verifyClients: boolean; clientCert?: string; clientKey?: string}
  /** Mutual TLS on the replication link (--rep-tls-*): the certificate must name every node's host. */
  replicationTls?: {cert: string; key: string; ca: string}
}

type Report = (path: string, problem: string) => void

const SECRET_MODE_MASK = 0o077

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Validate `security`; problems go to `problem`, loose permissions to `warn`. */
export function checkSecurity(raw: unknown, baseDir: string, problem: Report, warn: (message: string) => void): SecurityConfig {
  const out: SecurityConfig = {}
  if (raw === undefined) return out
  if (!isRecord(raw)) { problem('security', 'must be a mapping with replicationSecretFile, usersFile, tls, replicationTls'); return out }
  const file = (path: string, v: unknown, secret: boolean): string | undefined => {
    if (typeof v !== 'string' || v.trim() === '' || /[\n\0,]/.test(v)) { problem(path, 'must be a file path (no commas)'); return undefined }
    const abs = resolve(baseDir, v)
    try {
      accessSync(abs, constants.R_OK)
      const mode = statSync(abs).mode & 0o777
      if (secret && (mode & SECRET_MODE_MASK) !== 0) warn(`${path}: ${abs} is readable by others (mode ${mode.toString(8)}); chmod 600 ${abs}`)
    } catch (e) {
      problem(path, `${abs}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not readable'}`)
      return undefined
    }
    return abs
  }
  const known = (obj: Record<string, unknown>, path: string, keys: string[]): void => {
    for (const k of Object.keys(obj)) if (!keys.includes(k)) problem(`${path}.${k}`, `unknown key; expected one of ${keys.join(', ')}`)
  }
  known(raw, 'security', ['replicationSecretFile', 'usersFile', 'tls', 'replicationTls'])
  // `none` is a word, not a file: a file of that name is written ./none.
  if (raw.replicationSecretFile === 'none') out.replicationSecretOff = true
  else if (raw.replicationSecretFile !== undefined) out.replicationSecretFile = file('security.replicationSecretFile', raw.replicationSecretFile, true)
  if (raw.usersFile !== undefined) out.usersFile = file('security.usersFile', raw.usersFile, true)
  if (raw.tls !== undefined) {
    const t = raw.tls
    if (!isRecord(t)) problem('security.tls', 'must be a mapping with cert, key, and optionally ca, verifyClients, clientCert, clientKey')
    else {
      known(t, 'security.tls', ['cert', 'key', 'ca', 'verifyClients', 'clientCert', 'clientKey'])
      const verifyClients = t.verifyClients ?? false
      if (typeof verifyClients !== 'boolean') problem('security.tls.verifyClients', 'must be true or false')
      const cert = file('security.tls.cert', t.cert, false)
      const key = file('security.tls.key', t.key, true)
      const ca = t.ca === undefined ? undefined : file('security.tls.ca', t.ca, false)
      const clientCert = t.clientCert === undefined ? undefined : file('security.tls.clientCert', t.clientCert, false)
      const clientKey = t.clientKey === undefined ? undefined : file('security.tls.clientKey', t.clientKey, true)
      if (ca === undefined && t.ca === undefined) problem('security.tls.ca', 'is needed: repctl verifies the nodes\' certificates against it')
      if (verifyClients === true && (t.clientCert === undefined || t.clientKey === undefined)) problem('security.tls', 'verifyClients needs clientCert and clientKey: the certificate repctl itself shows the nodes')
      if (cert !== undefined && key !== undefined) out.tls = {cert, key, ca, verifyClients: verifyClients === true, clientCert, clientKey}
    }
  }
  if (raw.replicationTls !== undefined) {
    const t = raw.replicationTls
    if (!isRecord(t)) problem('security.replicationTls', 'must be a mapping with cert, key and ca')
    else {
      known(t, 'security.replicationTls', ['cert', 'key', 'ca'])
      const cert = file('security.replicationTls.cert', t.cert, false)
      const key = file('security.replicationTls.key', t.key, true)
      const ca = file('security.replicationTls.ca', t.ca, false)
      if (cert !== undefined && key !== undefined && ca !== undefined) out.replicationTls = {cert, key, ca}
    }
  }
  return out
}
