// Certificates for the TLS tests, made with the openssl command line at test
// time: a CA, a server and a client certificate it signs (the server's names
// 127.0.0.1 and localhost), and a second, unrelated CA with its own server
// and client certificates, for everything that must be refused.

import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export interface Certs {
  dir: string
  caCert: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  rogueCa: string
  rogueServerCert: string
  rogueServerKey: string
  rogueClientCert: string
  rogueClientKey: string
  read(path: string): Buffer
}

function openssl(args: string[], dir: string): void {
  const r = spawnSync('openssl', args, {cwd: dir, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

function ca(dir: string, name: string): void {
  openssl(['req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2'], dir)
}

function signed(dir: string, caName: string, name: string, cn: string): void {
  openssl(['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir)
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,IP:127.0.0.11,IP:127.0.0.12,DNS:localhost\n')
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir)
}

export function makeCerts(): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'repctl-certs-'))
  ca(dir, 'ca')
  signed(dir, 'ca', 'server', 'localhost')
  signed(dir, 'ca', 'client', 'test-client')
  ca(dir, 'rogue-ca')
  signed(dir, 'rogue-ca', 'rogue-server', 'localhost')
  signed(dir, 'rogue-ca', 'rogue-client', 'rogue-client')
  const p = (f: string): string => join(dir, f)
  return {
    dir, caCert: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key'),
    rogueCa: p('rogue-ca.crt'), rogueServerCert: p('rogue-server.crt'), rogueServerKey: p('rogue-server.key'),
    rogueClientCert: p('rogue-client.crt'), rogueClientKey: p('rogue-client.key'),
    read: (path) => readFileSync(path),
  }
}
