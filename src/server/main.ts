// repcached entry point: flags, daemon, store, listeners, signals.

import {PrefixStats} from './stats-detail.js'
import {readFileSync} from 'node:fs'
import type {TlsOptions} from 'node:tls'
import {Credentials} from './auth.js'
import type {ServerContext} from './context.js'
import {daemonize, dropPrivileges, isDaemonChild, removePidFile, reportReady, restorePidFile, writePidFile} from './daemon.js'
import {steadyHeap} from './heap.js'
import {Logger} from './log.js'
import {helpText, licenseText, parseOptions, UsageError, type ServerOptions} from './options.js'
import {openReplicationWarning} from './replication/exposure.js'
import {replicationOffLines, Replicator} from './replication/replicator.js'
import {ClientListeners} from './server.js'
import {checkServing} from './serving-check.js'
import {checkSnapshot} from './snapshot/loader.js'
import {Snapshots} from './snapshot/snapshots.js'
import {ServerStats} from './stats.js'
import {now, startClock, stopClock} from './store/clock.js'
import {ItemStore} from './store/item-store.js'
import {SlabClasses} from './store/slab-classes.js'
import {MEMCACHED_VERSION} from './version.js'

/** How long the expiry crawler may work per tick, in items. */
const CRAWL_BUDGET = 20_000

/** The replication secret: the file's content without a trailing newline. Never logged. */
function readSecret(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    fail(`--rep-secret-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 64)
  }
  const secret = text.replace(/\r?\n$/, '')
  if (secret === '') fail(`--rep-secret-file: ${file} is empty`, 64)
  return Buffer.from(secret, 'utf8')
}

/** Users for -S (the file MEMCACHED_SASL_PWDB names, as memcached reads it) and -Y. */
function loadCredentials(o: ServerOptions): Credentials | undefined {
  let c: Credentials | undefined
  try {
    if (o.sasl) {
      const pwdb = process.env.MEMCACHED_SASL_PWDB
      if (pwdb === undefined || pwdb === '') fail('-S: set MEMCACHED_SASL_PWDB to a file of user:password lines (the users SASL PLAIN accepts)', 64)
      c = Credentials.fromFile(pwdb, 'MEMCACHED_SASL_PWDB')
    }
    if (o.authFile !== undefined) {
      const y = Credentials.fromFile(o.authFile, '-Y')
      c = c === undefined ? y : c.with(y)
    }
  } catch (e) {
    fail((e as Error).message, 64)
  }
  return c
}

/** A PEM file named by a TLS option, read at start so that a wrong path stops the server with its name. */
function readTlsFile(flag: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (e) {
    fail(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 64)
  }
}

/** -Z: the client port's certificate, and client certificates asked for (1) or required (2, 3) per ssl_verify_mode. */
function clientTls(o: ServerOptions): TlsOptions {
  const cert = readTlsFile('-o ssl_chain_cert', o.tlsCert!)
  return {
    cert,
    key: o.tlsKey === undefined ? cert : readTlsFile('-o ssl_key', o.tlsKey),
    ca: o.tlsCa === undefined ? undefined : readTlsFile('-o ssl_ca_cert', o.tlsCa),
    requestCert: o.tlsVerifyMode >= 1,
    rejectUnauthorized: o.tlsVerifyMode >= 2,
  }
}

function fail(message: string, code: number): never {
  process.stderr.write(`repcached: ${message}\n`)
  process.exit(code)
}

export async function main(argv: readonly string[]): Promise<void> {
  let options: ServerOptions
  try {
    options = parseOptions(argv)
  } catch (e) {
    if (e instanceof UsageError) fail(e.message, e.exitCode)
    throw e
  }
  if (options.action === 'help') { process.stdout.write(helpText()); return }
  if (options.action === 'version') { process.stdout.write(`memcached ${MEMCACHED_VERSION}\n`); return }
  if (options.action === 'license') { process.stdout.write(licenseText()); return }
  if (options.action === 'check-snapshot' || options.action === 'snapshot-info') {
    const r = checkSnapshot(options.checkFile!, options.action === 'snapshot-info')
    const info = r.ok
      ? {file: options.checkFile, valid: true, created: new Date(r.header.created).toISOString(), items: r.header.items, bytes: r.bytes, version: r.header.version}
      : {file: options.checkFile, valid: false, missing: r.missing, reason: r.reason}
    process.stdout.write(JSON.stringify(info) + '\n')
    process.exitCode = r.ok ? 0 : 1
    return
  }
  if (options.action === 'check-serving') {
    const r = await checkServing({...options.checkServing!, tls: options.checkTls, timeoutMs: options.checkTimeoutMs})
    process.stdout.write(`${r.serving ? 'serving' : 'not serving'}: ${r.why}\n`)
    process.exitCode = r.serving ? 0 : 1
    return
  }
  const credentials = loadCredentials(options)
  if (options.daemonize && !isDaemonChild()) await daemonize(options.verbosity > 0)

  const log = new Logger(options.verbosity)
  for (const n of options.ignored) log.info(`note: ${n}`)
  // A cache churns its heap at full speed; V8's default growth lets the heap
  // balloon to several times the live data. Growing it by 20% at a time keeps
  // RSS close to -m (measured: 206 MB instead of 470 MB at -m 64 under
  // eviction churn) for about 10% of throughput in that worst case.
  steadyHeap()
  startClock()
  const store = new ItemStore({
    maxBytes: options.memoryLimitBytes,
    itemSizeMax: options.itemSizeMax,
    evict: options.evict,
    useCas: options.useCas,
    slabs: new SlabClasses(options.minSpace, options.growthFactor, options.itemSizeMax),
  })
  let stopping = false
  const listeners: {current?: ClientListeners} = {}
  const snapshots = options.snapshotFile === undefined ? undefined : new Snapshots(options.snapshotFile, options.snapshotIntervalMs, store, log)
  const replicating = options.peer !== undefined || options.replicationListenPort !== 0
  const secret = replicating ? readSecret(options.repSecretFile) : undefined
  // Every replicating node listens whenever it has no link (a slave too, once its master is gone).
  const exposed = replicating ? openReplicationWarning(options.listen[0], options.replicationListenPort, secret !== undefined, options.repTlsCert !== undefined) : undefined
  if (exposed !== undefined) log.info(exposed)
  const replicator = replicating ? new Replicator(store, {
    peer: options.peer,
    listenPort: options.replicationListenPort,
    connectPort: options.replicationConnectPort,
    queueMax: options.queueMax,
    listenAddress: options.listen[0],
    connectTimeoutMs: options.connectTimeoutMs,
    drainTimeoutMs: options.drainTimeoutMs,
    timeoutMs: options.repTimeoutMs,
    secret,
    tls: options.repTlsCert === undefined ? undefined : {
      cert: readTlsFile('--rep-tls-cert', options.repTlsCert),
      key: readTlsFile('--rep-tls-key', options.repTlsKey!),
      ca: readTlsFile('--rep-tls-ca', options.repTlsCa!),
    },
    reconnect: options.repReconnect,
  }, log, snapshots === undefined ? undefined : {load: () => { snapshots.load() }, skip: (master) => snapshots.skipLoad(master)}) : undefined
  const stop = async (why: string): Promise<void> => {
    if (stopping) return
    stopping = true
    log.info(`Signal handled: ${why}.`)
    // Stop taking client writes first, then hand the peer what it has not got.
    await listeners.current?.close()
    await replicator?.stop()
    // Taken once no client and no peer can change anything: the freshest state there is.
    await snapshots?.final()
    store.close()
    stopClock()
    if (options.pidFile !== undefined) removePidFile(options.pidFile)
    process.exit(0)
  }
  const ctx: ServerContext = {
    options, store, log, stats: new ServerStats(), startedAt: now() - 2, verbosity: options.verbosity, credentials,
    detail: options.detailEnabled ? new PrefixStats(true, options.prefixDelimiter) : undefined,
    requestShutdown: () => { void stop('shutdown command') },
    extra: () => [
      ...(replicator === undefined ? replicationOffLines() : replicator.statLines()),
      // Whether the peer must prove the shared secret (repctl status reads it as "authenticated").
      ['repl_secret', secret === undefined ? 0 : 1],
      ...(snapshots?.statLines() ?? []),
    ],
  }
  const clients = new ClientListeners(ctx, options.tls ? clientTls(options) : undefined)
  listeners.current = clients
  process.on('SIGTERM', () => { void stop('Terminated') })
  process.on('SIGINT', () => { void stop('Interrupt') })
  // memcached 1.6's graceful shutdown (the one that keeps its memory file for a warm restart).
  process.on('SIGUSR1', () => { void stop('User defined signal 1') })
  process.on('SIGHUP', () => log.info('SIGHUP ignored'))
  // Written before the (possibly long) snapshot load or full copy, so that whoever watches the pid
  // file (repctl) sees this process while it gets ready, instead of starting a second one; a failed
  // start puts back what was there.
  let previousPid: string | undefined
  try {
    if (options.pidFile !== undefined) {
      try { previousPid = readFileSync(options.pidFile, 'utf8') } catch { previousPid = undefined }
      writePidFile(options.pidFile)
    }
    // repcached takes its replication role first: a slave opens client ports only with the full copy in hand.
    // A node that serves alone or as master loads its snapshot before anyone can read or copy from it.
    if (replicator === undefined) snapshots?.load()
    await replicator?.start()
    snapshots?.startPeriodic()
    await clients.open()
    if (options.user !== undefined) {
      if (process.getuid?.() === 0) dropPrivileges(options.user)
      else log.info('note: -u: not running as root, identity unchanged')
    } else if (process.getuid?.() === 0) {
      log.info('warning: running as root; pass -u <user> to drop privileges')
    }
  } catch (e) {
    if (options.pidFile !== undefined) restorePidFile(options.pidFile, previousPid)
    fail((e as Error).message, 1)
  }
  const crawler = setInterval(() => store.crawl(CRAWL_BUDGET), 1000)
  crawler.unref()
  log.info(`repcached serving on ${options.unixSocket ?? clients.boundPorts.map((p) => String(p)).join(',')}`)
  reportReady()
}

await main(process.argv.slice(2))
