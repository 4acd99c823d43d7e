import type {ClusterConfig, NodeConfig} from '../config/schema.js'

/** What places a daemon on a machine: a node or a router. */
export type Placed = Pick<NodeConfig, 'host' | 'ssh' | 'privilege'>
import type {Host} from './host.js'
import {LocalHost} from './local-host.js'
import {SshHost} from './ssh-host.js'

/** One Host per machine for the length of a command (one SSH connection each); close() releases them all. */
export class HostPool {
  private readonly hosts = new Map<string, Host>()
  /** --accept-new-host-key: record unknown SSH host keys instead of refusing them. */
  acceptNewHostKey = false

  private readonly failed = new Map<string, Error>()

  private keyOf(node: Placed): string {
    const ssh = node.ssh
    return ssh === undefined ? `local:${node.host}` : `ssh:${ssh.user}@${ssh.host}:${ssh.port}`
  }

  for(node: Placed): Host {
    const ssh = node.ssh
    const key = this.keyOf(node)
    const failure = this.failed.get(key)
    if (failure !== undefined) return failingHost(failure, this.hosts.get(key)!)
    let host = this.hosts.get(key)
    if (host === undefined) {
      // `privilege: sudo` is the one way repctl escalates; a host shared by several nodes takes the first node's.
      const escalation = node.privilege === 'sudo' ? 'sudo' : 'none'
      host = ssh === undefined ? new LocalHost(node.host, {escalation}) : new SshHost({
        host: ssh.host, port: ssh.port, user: ssh.user, identityFile: ssh.identityFile, agent: ssh.agent,
        knownHostsFile: ssh.knownHosts, hostKey: ssh.hostKey, acceptNewHostKey: this.acceptNewHostKey, escalation,
      })
      this.hosts.set(key, host)
    }
    return host
  }

  /**
   * An SSH node's state dir may start with ~: the remote user's home, asked of
   * its host. A host that cannot be reached keeps the ~ path; whatever uses it
   * next reports the host's error.
   */
  async resolveHomes(config: ClusterConfig): Promise<void> {
    await Promise.all([...config.nodes, ...config.routers].map(async (node) => {
      if (node.ssh === undefined || !node.stateDir.startsWith('~')) return
      try {
        const home = await this.for(node).homeDir()
        node.stateDir = node.stateDir === '~' ? home : `${home.replace(/\/$/, '')}/${node.stateDir.slice(2)}`
      } catch (e) {
        // The ~ path is meaningless without the home: everything done on this host now fails with
        // the host's error (observe reports it as unreachable), so no literal "~" directory appears.
        this.failed.set(this.keyOf(node), e instanceof Error ? e : new Error(String(e)))
      }
    }))
  }

  async close(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => h.close()))
    this.hosts.clear()
  }
}

/** A host that could not even tell its home directory: every operation fails with that error. */
function failingHost(error: Error, real: Host): Host {
  const fail = async (): Promise<never> => { throw error }
  return {
    label: real.label, transport: real.transport, nodePath: real.nodePath, privileged: real.privileged, escalation: real.escalation,
    run: fail, runDaemon: fail, readFile: fail, writeFile: fail, makePrivateDir: fail, sha256: fail, upload: fail,
    processInfo: fail, signal: fail, portFree: fail, homeDir: fail, nodeVersion: fail, tail: fail, follow: fail,
    close: () => real.close(),
  }
}
