// What a binary request means: the typed requests the handlers receive, and
// the per-opcode rules that turn a frame head into one. The rules (which
// lengths are accepted, what a quiet opcode stands for, how many body bytes
// are read or skipped) follow memcached 1.6's dispatch_bin_command, because
// clients see the difference in status codes and in whether the connection
// survives.

import {Opcode, type FrameHead} from './binary-frame.js'

/** memcached keeps 8-bit key lengths internally, even though the header allows 16 bits. */
export const KEY_MAX_LENGTH = 250

export type BinaryStoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend'

interface Common {
  /** The opcode as received; replies echo it, quiet or not. */
  opcode: number
  opaque: number
  /** A quiet opcode (GetQ, SetQ, ...): successes stay silent. */
  quiet: boolean
}

export type BinaryRequest = Common & (
  | {type: 'get'; key: string; withKey: boolean}
  /** Touch, GAT, GATK: change the expiry, then answer like a get (Touch: flags only). */
  | {type: 'touch'; key: string; exptime: number; withKey: boolean; withValue: boolean}
  | {type: 'store'; mode: BinaryStoreMode; key: string; flags: number; exptime: number; cas: bigint; value: string}
  /** A value over the item size limit; its bytes are skipped, never buffered. */
  | {type: 'too_large'; key: string; dropOld: boolean}
  | {type: 'delete'; key: string; cas: bigint}
  | {type: 'delta'; incr: boolean; key: string; delta: bigint; initial: bigint; exptime: number; cas: bigint}
  | {type: 'flush'; exptime: number}
  | {type: 'noop'}
  | {type: 'version'}
  | {type: 'quit'}
  | {type: 'stat'; group: string}
  /** With authentication on (-S or -Y): the SASL mechanisms, and an authentication step (data undefined: too long to read). */
  | {type: 'sasl_list'}
  | {type: 'sasl_auth'; step: boolean; mech: string; data: string | undefined}
  /** An opcode memcached does not serve (SASL without SASL, Verbosity, anything else). */
  | {type: 'unknown'; swallowed: number}
  /** A frame memcached refuses with an error and then closes the connection. */
  | {type: 'invalid'; status: 'invalid_arguments' | 'unknown_command'; reason: string; keyTooLong?: true}
)

export interface FrameLimits {
  /** -I: values whose memcached size exceeds it are skipped, not buffered. */
  isTooLarge(keyLength: number, flags: number, valueLength: number): boolean
  /** Authentication is on: the SASL opcodes are served instead of being unknown. */
  sasl: boolean
}

/** memcached's MAX_SASL_MECH_LEN. */
const SASL_MECH_MAX = 32
/** A PLAIN message is two names and a password; anything longer is skipped, not buffered. */
const SASL_DATA_MAX = 4096

/** What the parser does after a frame head. */
export type FramePlan =
  | {then: 'done'; request: BinaryRequest}
  | {then: 'swallow'; request: BinaryRequest; bytes: number}
  | {then: 'value'; bytes: number; build: (value: string) => BinaryRequest}

const QUIET_BASE = new Map<number, number>([
  [Opcode.GetQ, Opcode.Get], [Opcode.GetKQ, Opcode.GetK], [Opcode.SetQ, Opcode.Set], [Opcode.AddQ, Opcode.Add],
  [Opcode.ReplaceQ, Opcode.Replace], [Opcode.DeleteQ, Opcode.Delete], [Opcode.IncrementQ, Opcode.Increment],
  [Opcode.DecrementQ, Opcode.Decrement], [Opcode.QuitQ, Opcode.Quit], [Opcode.FlushQ, Opcode.Flush],
  [Opcode.AppendQ, Opcode.Append], [Opcode.PrependQ, Opcode.Prepend], [Opcode.GATQ, Opcode.GAT], [Opcode.GATKQ, Opcode.GATK],
])

/**
 * memcached keeps body lengths in C ints: a uint32 of 2^31 or more turns
 * negative, which makes a swallow count do nothing and a value too large.
 */
function asInt32(n: number): number {
  return n | 0
}

function done(request: BinaryRequest): FramePlan {
  return {then: 'done', request}
}

export function classifyFrame(frame: FrameHead, limits: FrameLimits): FramePlan {
  const h = frame.header
  const keyLen = h.keyLength
  const extLen = h.extrasLength
  const body = h.bodyLength
  const key = frame.key
  const extras = frame.extras
  if (keyLen > body || keyLen + extLen > body) {
    return done({opcode: h.opcode, opaque: h.opaque, quiet: false, type: 'invalid', status: 'unknown_command', reason: 'key and extras longer than the body'})
  }
  if (keyLen > KEY_MAX_LENGTH) {
    return done({opcode: h.opcode, opaque: h.opaque, quiet: false, type: 'invalid', status: 'invalid_arguments', reason: `key of ${keyLen} bytes`, keyTooLong: true})
  }
  const quietBase = QUIET_BASE.get(h.opcode)
  const cmd = quietBase ?? h.opcode
  const c: Common = {opcode: h.opcode, opaque: h.opaque, quiet: quietBase !== undefined}
  const malformed = (): FramePlan =>
    done({...c, type: 'invalid', status: 'invalid_arguments', reason: `malformed request for opcode 0x${h.opcode.toString(16).padStart(2, '0')}`})
  const bare = extLen === 0 && keyLen === 0 && body === 0

  switch (cmd) {
    case Opcode.Version:
      return bare ? done({...c, type: 'version'}) : malformed()
    case Opcode.Noop:
      return bare ? done({...c, type: 'noop'}) : malformed()
    case Opcode.Quit:
      return bare ? done({...c, type: 'quit'}) : malformed()
    case Opcode.Flush:
      if (keyLen !== 0 || body !== extLen || (extLen !== 0 && extLen !== 4)) return malformed()
      return done({...c, type: 'flush', exptime: extLen === 4 ? extras.readUInt32BE(0) : 0})
    case Opcode.Set: case Opcode.Add: case Opcode.Replace: {
      if (extLen !== 8 || keyLen === 0 || body < keyLen + 8) return malformed()
      const mode = cmd === Opcode.Set ? 'set' : cmd === Opcode.Add ? 'add' : 'replace'
      return storage(c, mode, frame, extras.readUInt32BE(0), extras.readUInt32BE(4), limits)
    }
    case Opcode.Append: case Opcode.Prepend:
      if (keyLen === 0 || extLen !== 0) return malformed()
      return storage(c, cmd === Opcode.Append ? 'append' : 'prepend', frame, 0, 0, limits)
    case Opcode.Get: case Opcode.GetK:
      if (extLen !== 0 || body !== keyLen || keyLen === 0) return malformed()
      return done({...c, type: 'get', key, withKey: cmd === Opcode.GetK})
    case Opcode.Delete:
      if (keyLen === 0 || extLen !== 0 || body !== keyLen) return malformed()
      return done({...c, type: 'delete', key, cas: h.cas})
    case Opcode.Increment: case Opcode.Decrement:
      if (keyLen === 0 || extLen !== 20 || body !== keyLen + 20) return malformed()
      return done({
        ...c, type: 'delta', incr: cmd === Opcode.Increment, key, cas: h.cas,
        delta: extras.readBigUInt64BE(0), initial: extras.readBigUInt64BE(8), exptime: extras.readUInt32BE(16),
      })
    case Opcode.Stat:
      // Body bytes past the key are not read: memcached parses them as the next request.
      return extLen === 0 ? done({...c, type: 'stat', group: key}) : malformed()
    case Opcode.Touch: case Opcode.GAT: case Opcode.GATK:
      // As with Stat, memcached never checks the body length here.
      if (extLen !== 4 || keyLen === 0) return malformed()
      return done({...c, type: 'touch', key, exptime: extras.readUInt32BE(0), withKey: cmd === Opcode.GATK, withValue: cmd !== Opcode.Touch})
    case Opcode.SaslListMechs:
      if (!bare) return malformed()
      return done(limits.sasl ? {...c, type: 'sasl_list'} : {...c, type: 'unknown', swallowed: 0})
    case Opcode.SaslAuth: case Opcode.SaslStep: {
      if (extLen !== 0 || keyLen === 0) return malformed()
      if (!limits.sasl) return unknown(c, asInt32(body - keyLen))
      const step = cmd === Opcode.SaslStep
      const bytes = body - keyLen
      if (keyLen > SASL_MECH_MAX || bytes > SASL_DATA_MAX) return {then: 'swallow', request: {...c, type: 'sasl_auth', step, mech: key, data: undefined}, bytes}
      return {then: 'value', bytes, build: (data) => ({...c, type: 'sasl_auth', step, mech: key, data})}
    }
    default:
      // memcached skips `bodylen` bytes counted from after the key: extlen + keylen bytes past this request's end.
      return unknown(c, asInt32(body))
  }
}

function unknown(c: Common, swallow: number): FramePlan {
  const bytes = Math.max(0, swallow)
  return {then: 'swallow', request: {...c, type: 'unknown', swallowed: bytes}, bytes}
}

function storage(c: Common, mode: BinaryStoreMode, frame: FrameHead, flags: number, exptime: number, limits: FrameLimits): FramePlan {
  const h = frame.header
  const key = frame.key
  const vlen = asInt32(h.bodyLength - h.keyLength - h.extrasLength)
  // memcached sizes the item as vlen + 2 (for the CRLF it stores) in an int.
  if (asInt32(vlen + 2) < 2 || limits.isTooLarge(h.keyLength, flags, vlen)) {
    return {then: 'swallow', request: {...c, type: 'too_large', key, dropOld: mode === 'set'}, bytes: Math.max(0, vlen)}
  }
  return {then: 'value', bytes: vlen, build: (value) => ({...c, type: 'store', mode, key, flags, exptime, cas: h.cas, value})}
}
