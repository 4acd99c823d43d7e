// Hosts with their own network (test/helpers/netns.ts), each running sshd
// that one client key may log in to as root: what the VIP and router clusters
// of the tests are built on, with repctl reaching each host over SSH with its
// host key pinned.

import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createTestNetwork, type TestHost, type TestNetwork} from './netns.js'
import {keyPair} from './sshd.js'

/** OpenSSH's SHA256 fingerprint of a public key line, as the config's ssh.hostKey pins it. */
export function fingerprint(publicLine: string): string {
  const blob = Buffer.from(publicLine.split(' ')[1]!, 'base64')
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

export interface SshNetwork {
  net: TestNetwork
  /** A private directory with work/, home/ and keys/ (repctl's cwd, its HOME, the client key). */
  dir: string
  clientKey: string
}

/** `hosts` namespace hosts with sshd; on any failure nothing is left behind. */
export async function createSshNetwork(prefix: string, hosts: number): Promise<SshNetwork> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  for (const d of ['work', 'home', 'keys']) mkdirSync(join(dir, d), {mode: 0o700})
  let net: TestNetwork | undefined
  try {
    const client = keyPair(join(dir, 'keys'), 'client')
    net = await createTestNetwork({hosts})
    await Promise.all(net.hosts.map((h) => h.startSshd({authorizedKeys: [client.publicLine]})))
    return {net, dir, clientKey: client.privateKey}
  } catch (e) {
    await net?.destroy()
    rmSync(dir, {recursive: true, force: true})
    throw e
  }
}

/** The `ssh:` mapping of a config entry on `host`: root with the client key, its host key pinned. */
export function sshEntry(host: TestHost, clientKey: string): string {
  return `{ host: ${host.address}, user: root, identityFile: ${JSON.stringify(clientKey)}, hostKey: ${JSON.stringify(fingerprint(host.sshd!.hostKey.publicLine))} }`
}
