// SASL on the binary protocol, answered the way memcached 1.6.18 with -S
// answers (checked against it, test/integration/auth.test.ts): PLAIN is the
// one mechanism; a failed attempt leaves the connection open but
// unauthenticated (even if it was authenticated before); any other command
// before success gets "Auth failure." and the connection is closed. Version
// needs no authentication.

import {parsePlain, type Credentials} from '../auth.js'
import type {ServerContext} from '../context.js'
import {Status} from './binary-frame.js'
import {errorPacket, failure, packet, reply, type BinaryResult} from './binary-commands.js'
import type {BinaryRequest} from './binary-request.js'

type SaslRequest = Extract<BinaryRequest, {type: 'sasl_list' | 'sasl_auth'}>

export function isSasl(req: BinaryRequest): req is SaslRequest {
  return req.type === 'sasl_list' || req.type === 'sasl_auth'
}

/** Whether memcached lets this request through before authentication. */
export function allowedBeforeAuth(req: BinaryRequest): boolean {
  return req.type === 'version' || isSasl(req)
}

export function refuseUnauthenticated(req: BinaryRequest): BinaryResult {
  return {packets: [errorPacket(req, Status.AuthError)], flush: true, after: 'close', reason: 'command before authentication'}
}

/** Answer a SASL request; `authenticated` is the connection's state afterwards. */
export function saslCommand(req: SaslRequest, ctx: ServerContext, credentials: Credentials): {result: BinaryResult; authenticated: boolean | undefined} {
  if (req.type === 'sasl_list') return {result: reply(packet(req, {value: 'PLAIN'})), authenticated: undefined}
  ctx.stats.authCmds++
  const plain = !req.step && req.mech === 'PLAIN' && req.data !== undefined ? parsePlain(req.data) : undefined
  if (plain !== undefined && credentials.check(plain.user, plain.password)) {
    ctx.log.info(`binary client authenticated as ${plain.user}`)
    return {result: reply(packet(req, {value: 'Authenticated'})), authenticated: true}
  }
  ctx.stats.authErrors++
  ctx.log.info(`binary client failed to authenticate${plain === undefined ? '' : ` as ${plain.user}`}`)
  return {result: failure(req, Status.AuthError), authenticated: false}
}
