// Types for ketama-client.mjs (the test imports it).
import type memjs from 'memjs'
import type {KetamaRing} from 'repctl/ketama'

export interface PairServers {
  /** The pair's ring name, as in repctl.config.yaml. */
  name: string
  /** "host:port" (a VIP) or "hostA:port,hostB:port" (both nodes). */
  servers: string
}

export declare const VIP_OPTIONS: Readonly<{retries: number; retry_delay: number; timeout: number; conntimeout: number}>

export declare function parsePairs(text?: string): PairServers[]

export interface RingClient {
  readonly ring: KetamaRing
  clientFor(key: string): memjs.Client
  get(key: string): Promise<Buffer | null>
  set(key: string, value: string | Buffer, expires?: number): Promise<boolean>
  delete(key: string): Promise<boolean>
  close(): void
}

export declare function createRingClient(pairs?: readonly PairServers[], options?: memjs.ClientOptions & memjs.ServerOptions): RingClient
