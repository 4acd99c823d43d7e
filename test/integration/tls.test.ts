// TLS on the client port (-Z, memcached's options) and on the native
// replication link (--rep-tls-*): replies over TLS as memcached gives them,
// certificates verified (a client refuses a server its CA did not sign; with
// ssl_verify_mode=2 the server refuses clients without a good certificate),
// plain clients on a TLS port cost only their own connection, and a peer
// without the right certificate never receives a byte of data.

import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chmodSync, chownSync, writeFileSync} from 'node:fs'
import {connect as tlsConnect, type ConnectionOptions, type TLSSocket} from 'node:tls'
import {after, before, describe, it} from 'node:test'
import {makeCerts, type Certs} from '../helpers/certs.js'
import {eventually, startNode, stat, type ReplNode} from '../helpers/pair.js'
import {freePort} from '../helpers/ports.js'
import {launch, SERVER_BUNDLE, startMemcached, startOurServer, toolMissing, type RunningServer} from '../helpers/processes.js'
import {RawClient} from '../helpers/raw-client.js'

const skip = toolMissing('memcached') || toolMissing('openssl')

let certs: Certs
before(() => {
  if (skip !== false) return
  certs = makeCerts()
  // memcached drops to nobody when the tests run as root: let it read the files it is given.
  if (process.getuid?.() === 0) {
    chmodSync(certs.dir, 0o755)
    for (const f of [certs.serverCert, certs.serverKey, certs.caCert]) chownSync(f, 65534, 65534)
  }
})

/** Connect with TLS, send, and read until the server is quiet; the error if the handshake fails. */
async function exchange(port: number, send: string, opts: ConnectionOptions = {}): Promise<{reply: string} | {error: string}> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let quiet: NodeJS.Timeout | undefined
    const socket: TLSSocket = tlsConnect({host: '127.0.0.1', port, ca: certs.read(certs.caCert), ...opts}, () => {
      socket.write(send)
    })
    const finish = (): void => { socket.destroy(); resolve({reply: Buffer.concat(chunks).toString('latin1')}) }
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      clearTimeout(quiet)
      quiet = setTimeout(finish, 150)
    })
    socket.on('error', (e) => { clearTimeout(quiet); resolve({error: e.message}) })
    socket.on('close', () => { if (quiet !== undefined) { clearTimeout(quiet); finish() } })
    setTimeout(() => { socket.destroy(); resolve({error: 'no reply within 3 s'}) }, 3000).unref()
  })
}

function tlsArgs(extra: string[] = []): string[] {
  return ['-Z', '-o', `ssl_chain_cert=${certs.serverCert},ssl_key=${certs.serverKey}${extra.length > 0 ? ',' + extra.join(',') : ''}`]
}

describe('TLS on the client port (-Z)', {skip}, () => {
  let mc: RunningServer | undefined
  let ours: RunningServer | undefined
  before(async () => { [mc, ours] = await Promise.all([startMemcached(tlsArgs()), startOurServer(tlsArgs())]) })
  after(async () => { await Promise.all([mc?.stop(), ours?.stop()]) })

  it('answers over TLS exactly as memcached does', async () => {
    for (const send of ['set k 0 0 5\r\nhello\r\nget k\r\n', 'gets nothing\r\nincr k 1\r\ndelete k\r\nget k\r\n', 'bogus\r\nversion\r\n']) {
      const [theirs, o] = await Promise.all([exchange(mc!.port, send), exchange(ours!.port, send)])
      assert.deepEqual(o, theirs, send)
    }
  })

  it('a client that verifies against another CA refuses the server', async () => {
    const r = await exchange(ours!.port, 'version\r\n', {ca: certs.read(certs.rogueCa)})
    assert.ok('error' in r && /self[- ]signed|unable to (get|verify)/i.test(r.error), JSON.stringify(r))
  })

  it('a plain-text client gets nothing and costs only its own connection', async () => {
    const plain = await RawClient.open(ours!.port)
    plain.send('version\r\n')
    const got = await plain.readUntil(() => false, 1000)
    assert.equal(got.toString('latin1').includes('VERSION'), false)
    plain.close()
    assert.deepEqual(await exchange(ours!.port, 'version\r\n'), {reply: 'VERSION 1.6.18\r\n'})
  })

  it('reports TLS in stats settings, and counts failed handshakes', async () => {
    const r = await exchange(ours!.port, 'stats settings\r\nstats\r\n')
    assert.ok('reply' in r)
    assert.match(r.reply, /STAT ssl_enabled yes\r\n/)
    assert.match(r.reply, /STAT ssl_handshake_errors [1-9]\d*\r\n/)
  })
})

describe('a notls: listener beside a TLS one, as memcached offers', {skip}, () => {
  let ours: RunningServer | undefined
  let plainPort = 0
  before(async () => {
    plainPort = await freePort()
    ours = await startOurServer([...tlsArgs(), '-l', `notls:127.0.0.1:${plainPort}`])
  })
  after(async () => { await ours?.stop() })

  it('serves TLS on -p and plain text on the notls: address', async () => {
    assert.deepEqual(await exchange(ours!.port, 'version\r\n'), {reply: 'VERSION 1.6.18\r\n'})
    const c = await RawClient.open(plainPort)
    try { assert.equal(await c.request('version\r\n'), 'VERSION 1.6.18\r\n') } finally { c.close() }
  })
})

describe('client certificates (ssl_verify_mode=2)', {skip}, () => {
  let ours: RunningServer | undefined
  before(async () => { ours = await startOurServer(tlsArgs(['ssl_verify_mode=2', `ssl_ca_cert=${certs.caCert}`])) })
  after(async () => { await ours?.stop() })

  it('serves a client whose certificate the CA signed', async () => {
    assert.deepEqual(await exchange(ours!.port, 'version\r\n', {cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey)}), {reply: 'VERSION 1.6.18\r\n'})
  })

  it('refuses a client without a certificate, or with one from another CA', async () => {
    const none = await exchange(ours!.port, 'version\r\n')
    assert.ok(!('reply' in none && none.reply.includes('VERSION')), JSON.stringify(none))
    const rogue = await exchange(ours!.port, 'version\r\n', {cert: certs.read(certs.rogueClientCert), key: certs.read(certs.rogueClientKey)})
    assert.ok(!('reply' in rogue && rogue.reply.includes('VERSION')), JSON.stringify(rogue))
  })
})

describe('TLS options that cannot work stop the server with their name', {skip}, () => {
  const run = (args: string[]): {status: number | null; stderr: string} => {
    const r = spawnSync(process.execPath, [SERVER_BUNDLE, '-p', '0', '-l', '127.0.0.1', '-X', '0', ...args], {encoding: 'utf8', timeout: 10_000})
    return {status: r.status, stderr: r.stderr}
  }

  it('-Z without a certificate, a missing file, a file that is not a certificate', () => {
    const noCert = run(['-Z'])
    assert.equal(noCert.status, 64)
    assert.match(noCert.stderr, /-Z: TLS needs a certificate: -o ssl_chain_cert=FILE/)
    const missing = run(['-Z', '-o', 'ssl_chain_cert=/nonexistent/cert.pem'])
    assert.equal(missing.status, 64)
    assert.match(missing.stderr, /-o ssl_chain_cert: cannot read \/nonexistent\/cert.pem: ENOENT/)
    const junk = `${certs.dir}/junk.pem`
    writeFileSync(junk, 'not a certificate\n')
    const bad = run(['-Z', '-o', `ssl_chain_cert=${junk}`])
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /-Z: the certificate or key is not usable/)
  })

  it('--rep-tls-* only all together', () => {
    const r = run(['--rep-tls-cert', certs.serverCert])
    assert.equal(r.status, 64)
    assert.match(r.stderr, /--rep-tls-cert, --rep-tls-key and --rep-tls-ca go together/)
  })
})

describe('TLS on the native replication link', {skip}, () => {
  const nodes: ReplNode[] = []
  after(async () => { await Promise.all(nodes.map((n) => n.stop())) })
  const repTls = (cert: string, key: string): string[] => ['--rep-tls-cert', cert, '--rep-tls-key', key, '--rep-tls-ca', certs.caCert]

  it('pairs two nodes with certificates from the same CA, and replicates', async () => {
    const [ra, rb] = [await freePort(), await freePort()]
    const a = await startNode({repListen: ra, repConnect: rb, peer: '127.0.0.1', extra: ['-v', ...repTls(certs.serverCert, certs.serverKey)]})
    nodes.push(a)
    const b = await startNode({repListen: rb, repConnect: ra, peer: '127.0.0.1', extra: ['-v', ...repTls(certs.clientCert, certs.clientKey)]})
    nodes.push(b)
    const c = await RawClient.open(a.port)
    assert.equal(await c.request('set over-tls 0 0 3\r\nyes\r\n', '\r\n'), 'STORED\r\n')
    c.close()
    assert.ok(await eventually(async () => {
      const d = await RawClient.open(b.port)
      try { return (await d.request('get over-tls\r\n', 'END\r\n')).includes('yes') } finally { d.close() }
    }), 'the write reached the peer over TLS')
  })

  it('refuses a peer whose certificate another CA signed: no pair, no data', async () => {
    const [ra, rb] = [await freePort(), await freePort()]
    const a = await startNode({repListen: ra, repConnect: rb, peer: '127.0.0.1', extra: ['-v', ...repTls(certs.serverCert, certs.serverKey)]})
    nodes.push(a)
    const c = await RawClient.open(a.port)
    await c.request('set secret-data 0 0 3\r\nabc\r\n', '\r\n')
    c.close()
    const rogue = await launch(process.execPath, (port) => [SERVER_BUNDLE, '-p', String(port), '-l', '127.0.0.1', '-X', `${rb}:${ra}`, '-x', '127.0.0.1', '-v',
      '--rep-tls-cert', certs.rogueServerCert, '--rep-tls-key', certs.rogueServerKey, '--rep-tls-ca', certs.rogueCa], 'repcached')
    try {
      assert.ok(await eventually(async () => Number(await stat(a.port, 'repl_refused_peers')) > 0, 5000), 'the rogue peer was refused')
      const d = await RawClient.open(rogue.port)
      try { assert.equal(await d.request('get secret-data\r\n', 'END\r\n'), 'END\r\n') } finally { d.close() }
      assert.equal(await stat(a.port, 'repl_state'), 'listening')
    } finally {
      await rogue.stop()
    }
  })
})
