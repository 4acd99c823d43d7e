import type {NodeConfig} from '../config/schema.js'
import type {Host} from './host.js'
import {LocalHost} from './local-host.js'

/** One Host per machine for the length of a command; close() releases them all. */
export class HostPool {
  private readonly hosts = new Map<string, Host>()

  for(node: NodeConfig): Host {
    const key = `local:${node.host}`
    let host = this.hosts.get(key)
    if (host === undefined) {
      host = new LocalHost(node.host)
      this.hosts.set(key, host)
    }
    return host
  }

  async close(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => h.close()))
    this.hosts.clear()
  }
}
