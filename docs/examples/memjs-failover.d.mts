// Types for memjs-failover.mjs (the test imports it).
import type memjs from 'memjs'

export declare const FAILOVER_OPTIONS: Readonly<{
  failover: true
  failoverTime: number
  retries: number
  retry_delay: number
  timeout: number
  conntimeout: number
}>

export declare function createCacheClient(servers?: string, options?: memjs.ClientOptions & memjs.ServerOptions): memjs.Client
