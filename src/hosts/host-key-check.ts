// The decision on the host key an SSH server presents, as ssh(1) with
// StrictHostKeyChecking=yes (or accept-new): against a pinned key if one is
// configured, else against the known_hosts entries read beforehand. Pure: the
// caller records a key the decision says to record, and reports a refusal.
// A changed key is never accepted.

import type {ServerHostKeyAlgorithm} from 'ssh2'
import {RepctlError} from '../errors.js'
import {checkHostKey, entriesFor, fingerprint, keyTypeOf, knownHostName, knownKeyTypes, matchesPin, type KnownHostEntry} from './known-hosts.js'

export interface PresentedKey {
  /** The public key blob the server presented. */
  key: Buffer
  address: string
  port: number
  /** The host, for messages. */
  where: string
  /** A pinned key (fingerprint or public key line): replaces known_hosts. */
  pin?: string
  /** The entries of the known hosts files (ignored with a pin). */
  known: readonly KnownHostEntry[]
  /** Where a new key is recorded; named in messages. */
  knownHostsFile: string
  /** Read after knownHostsFile; named in messages. */
  globalKnownHostsFile?: string
  acceptNew: boolean
}

export type HostKeyDecision =
  | {action: 'accept'}
  /** An unknown key, and acceptNew: record it in knownHostsFile, then accept. */
  | {action: 'record'; fingerprint: string; keyType: string}
  | {action: 'refuse'; error: RepctlError}

export function decideHostKey(p: PresentedKey): HostKeyDecision {
  const {key, where, pin} = p
  const fp = fingerprint(key)
  let type = 'unknown'
  try { type = keyTypeOf(key) } catch { /* reported with the fingerprint only */ }
  if (pin !== undefined) {
    if (matchesPin(pin, key)) return {action: 'accept'}
    return {action: 'refuse', error: new RepctlError('HOST_KEY_CHANGED',
      `the SSH host key of ${where} (${type} ${fp}) does not match the pinned ssh.hostKey ${pin.trim()}: either the host was replaced or reinstalled, or someone is intercepting the connection`,
      [`verify the host's key out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then correct ssh.hostKey; repctl never accepts a changed key`])}
  }
  const verdict = checkHostKey(p.known, p.address, p.port, key)
  if (verdict === 'match') return {action: 'accept'}
  const name = knownHostName(p.address, p.port)
  if (verdict === 'changed') {
    const lines = entriesFor(p.known, p.address, p.port).map((e) => e.line)
    return {action: 'refuse', error: new RepctlError('HOST_KEY_CHANGED',
      `the SSH host key of ${where} has CHANGED: it presented ${type} ${fp}, which is not the key recorded for ${name} in ${p.knownHostsFile}${p.globalKnownHostsFile === undefined ? '' : ` or ${p.globalKnownHostsFile}`} (line${lines.length === 1 ? '' : 's'} ${lines.join(', ')}); either the host was reinstalled or someone is intercepting the connection`,
      [`verify the new key out of band; if it is right, remove the old entry (ssh-keygen -R '${name}' -f ${p.knownHostsFile}) and connect again; repctl never accepts a changed key, not even with --accept-new-host-key`])}
  }
  if (p.acceptNew) return {action: 'record', fingerprint: fp, keyType: type}
  return {action: 'refuse', error: new RepctlError('HOST_KEY_UNKNOWN',
    `the SSH host key of ${where} is not known: it presented ${type} ${fp}, and ${name} is not in ${p.knownHostsFile}; if that fingerprint is the host's, rerun with --accept-new-host-key, add the key to known_hosts, or pin it as ssh.hostKey`,
    [
      `check the fingerprint on the host itself (ssh-keygen -lf /etc/ssh/ssh_host_${type === 'ssh-ed25519' ? 'ed25519' : type.startsWith('ecdsa') ? 'ecdsa' : 'rsa'}_key.pub)`,
      `then rerun with --accept-new-host-key to record it in ${p.knownHostsFile}`,
      `or add it yourself: ssh-keyscan${p.port === 22 ? '' : ` -p ${p.port}`} ${p.address} >> ${p.knownHostsFile}`,
      `or pin it in the config: ssh.hostKey: "${fp}"`,
    ])}
}

/** ssh2's default host key algorithms, in its order. */
const DEFAULT_HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
]
const ALGORITHMS_FOR_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
}

/**
 * The host key algorithms to offer: first those of a type already known for
 * the host (as ssh(1) does), so that a host known by its RSA key is not
 * reported as changed because it also has an Ed25519 key.
 */
export function hostKeyAlgorithms(known: readonly KnownHostEntry[], address: string, port: number, pin: string | undefined): ServerHostKeyAlgorithm[] {
  const preferredTypes = pin === undefined ? knownKeyTypes(known, address, port) : pinnedKeyType(pin)
  const preferred = preferredTypes.flatMap((t) => ALGORITHMS_FOR_KEY_TYPE[t] ?? [])
  return [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])]
}

function pinnedKeyType(pin: string): string[] {
  const m = /^(\S+)\s+[A-Za-z0-9+/]+={0,2}(\s|$)/.exec(pin.trim())
  return m === null ? [] : [m[1]!]
}
