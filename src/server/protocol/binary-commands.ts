// Binary-protocol request handlers: a typed request in, reply packets out.
// They never see a socket. Status codes, error texts, cas fields and which
// quiet replies stay silent follow memcached 1.6.18 (proto_bin.c): a quiet
// command suppresses its success reply only, errors are always sent.

import type {ServerContext} from '../context.js'
import {generalStats, itemsStats, resetStats, settingsStats, slabsStats, type StatLine} from '../stats.js'
import {MEMCACHED_VERSION} from '../version.js'
import {encodeResponse, Opcode, Status, type PacketParts} from './binary-frame.js'
import type {BinaryRequest} from './binary-request.js'

export interface BinaryResult {
  /** Reply packets in order; none for a quiet success or a quiet miss. */
  packets: Buffer[]
  /**
   * memcached writes out everything queued so far right after this reply
   * (its conn_mwrite state). Replies not yet written are lost if the
   * connection is dropped later, so the session needs to know.
   */
  flush: boolean
  /** 'quit': write the replies, then close; 'close': the same after a protocol error. */
  after: 'continue' | 'quit' | 'close'
  reason?: string
}

type Req<T extends BinaryRequest['type']> = Extract<BinaryRequest, {type: T}>

/** Message bodies memcached's write_bin_error sends when it has no specific text. */
const ERROR_TEXT: Record<number, string> = {
  [Status.KeyNotFound]: 'Not found',
  [Status.KeyExists]: 'Data exists for key.',
  [Status.TooLarge]: 'Too large.',
  [Status.InvalidArguments]: 'Invalid arguments',
  [Status.NotStored]: 'Not stored.',
  [Status.NonNumeric]: 'Non-numeric server-side value for incr or decr',
  [Status.AuthError]: 'Auth failure.',
  [Status.UnknownCommand]: 'Unknown command',
  [Status.OutOfMemory]: 'Out of memory',
}

/** Incr/decr with this expiration fail on a miss instead of creating the item. */
const NO_CREATE_EXPIRATION = 0xffffffff

/** Our cas values stay far below 2^53; a larger client cas can only be a mismatch. */
function storeCas(cas: bigint): number {
  return cas > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(cas)
}

function flagsExtras(flags: number): Buffer {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(flags >>> 0, 0)
  return b
}

function u64(value: bigint): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeBigUInt64BE(value, 0)
  return b
}

export function packet(req: BinaryRequest, parts: Omit<PacketParts, 'opcode' | 'opaque'> & {status?: number} = {}): Buffer {
  return encodeResponse({...parts, opcode: req.opcode, opaque: req.opaque})
}

export function errorPacket(req: BinaryRequest, status: number, text = ERROR_TEXT[status] ?? ''): Buffer {
  return packet(req, {status, value: text})
}

const SILENT: BinaryResult = {packets: [], flush: false, after: 'continue'}

export function reply(p: Buffer): BinaryResult {
  return {packets: [p], flush: false, after: 'continue'}
}

/** memcached's write_bin_error: always sent (quiet or not) and written out at once. */
export function failure(req: BinaryRequest, status: number, text?: string): BinaryResult {
  return {packets: [errorPacket(req, status, text)], flush: true, after: 'continue'}
}

/** A success reply, unless the command is quiet. */
function success(req: BinaryRequest, parts: Omit<PacketParts, 'opcode' | 'opaque'> = {}): BinaryResult {
  return req.quiet ? SILENT : reply(packet(req, parts))
}

export function handleBinary(req: BinaryRequest, ctx: ServerContext): BinaryResult {
  switch (req.type) {
    case 'get': return get(req, ctx)
    case 'touch': return touch(req, ctx)
    case 'store': return store(req, ctx)
    case 'too_large':
      ctx.stats.storeTooLarge++
      // Like memcached, a failed set must not leave the old value behind (and it is no delete hit).
      if (req.dropOld) ctx.store.dropAfterFailedSet(req.key)
      // memcached goes on to skip the value before writing anything.
      return {packets: [errorPacket(req, Status.TooLarge)], flush: false, after: 'continue'}
    case 'delete': return del(req, ctx)
    case 'delta': return delta(req, ctx)
    case 'flush':
      if (!ctx.options.flushEnabled) return failure(req, Status.AuthError)
      ctx.store.flush(req.exptime)
      ctx.stats.cmdFlush++
      return success(req)
    case 'noop':
      // A Noop ends a pipeline of quiet commands: memcached writes out everything queued.
      return {packets: [packet(req)], flush: true, after: 'continue'}
    case 'version':
      return reply(packet(req, {value: MEMCACHED_VERSION}))
    case 'quit':
      return {packets: req.quiet ? [] : [packet(req)], flush: true, after: 'quit'}
    case 'stat': return stat(req, ctx)
    case 'unknown':
      return {packets: [errorPacket(req, Status.UnknownCommand)], flush: req.swallowed === 0, after: 'continue'}
    case 'sasl_list': case 'sasl_auth':
      throw new Error('SASL requests are answered by the session (binary-auth.ts)')
    case 'invalid': {
      if (req.keyTooLong === true) ctx.stats.limitsKeyTooLong++
      const status = req.status === 'invalid_arguments' ? Status.InvalidArguments : Status.UnknownCommand
      return {packets: [errorPacket(req, status)], flush: true, after: 'close', reason: req.reason}
    }
  }
}

function get(req: Req<'get'>, ctx: ServerContext): BinaryResult {
  const {store, stats} = ctx
  const it = store.get(req.key)
  stats.cmdGet++
  if (it === undefined) {
    stats.getMisses++
    if (req.quiet) return SILENT
    // GetK names the missing key and, unlike other errors, does not make memcached write out at once.
    if (req.withKey) return reply(packet(req, {status: Status.KeyNotFound, key: req.key}))
    return failure(req, Status.KeyNotFound)
  }
  return reply(packet(req, {cas: BigInt(it.cas), extras: flagsExtras(it.flags), key: req.withKey ? req.key : undefined, value: it.value}))
}

function touch(req: Req<'touch'>, ctx: ServerContext): BinaryResult {
  const {store, stats} = ctx
  const it = store.touch(req.key, req.exptime)
  stats.cmdTouch++
  if (it === undefined) {
    stats.touchMisses++
    if (req.quiet) return SILENT
    if (req.withKey) return reply(packet(req, {status: Status.KeyNotFound, key: req.key}))
    return failure(req, Status.KeyNotFound)
  }
  // Touch answers with the flags only; GAT adds the value, GATK the key as well.
  return reply(packet(req, {
    cas: BigInt(it.cas), extras: flagsExtras(it.flags),
    key: req.withKey ? req.key : undefined, value: req.withValue ? it.value : undefined,
  }))
}

function store(req: Req<'store'>, ctx: ServerContext): BinaryResult {
  const {store: items, stats} = ctx
  // Under -C memcached's items have no room for a cas, so the one a storage request carries is dropped unread.
  const cas = ctx.options.useCas ? storeCas(req.cas) : 0
  const concat = req.mode === 'append' || req.mode === 'prepend'
  // Any non-zero cas turns set, add and replace into a compare-and-swap.
  const mode = !concat && cas !== 0 ? 'cas' : req.mode
  const outcome = items.store(mode, req.key, req.flags, req.exptime, req.value, cas)
  if (mode === 'cas' && outcome === 'not_found') stats.casMisses++
  switch (outcome) {
    case 'stored': return success(req, {cas: BigInt(items.lastStoredCas)})
    case 'exists': return failure(req, Status.KeyExists)
    case 'not_found': return failure(req, Status.KeyNotFound)
    case 'no_memory':
      // memcached fails the allocation before reading the value, then skips it without writing out.
      if (!concat) return {packets: [errorPacket(req, Status.OutOfMemory, 'Out of memory allocating item')], flush: false, after: 'continue'}
      return failure(req, Status.NotStored)
    case 'not_stored': case 'too_large':
      if (mode === 'add') return failure(req, Status.KeyExists)
      if (mode === 'replace') return failure(req, Status.KeyNotFound)
      return failure(req, Status.NotStored)
  }
}

function del(req: Req<'delete'>, ctx: ServerContext): BinaryResult {
  const {store, stats} = ctx
  const cas = storeCas(req.cas)
  if (cas !== 0) {
    const it = store.peek(req.key)
    if (it !== undefined && it.cas !== cas) return failure(req, Status.KeyExists)
  }
  if (store.delete(req.key)) return success(req)
  stats.deleteMisses++
  return failure(req, Status.KeyNotFound)
}

function delta(req: Req<'delta'>, ctx: ServerContext): BinaryResult {
  const {store, stats} = ctx
  const create = req.exptime === NO_CREATE_EXPIRATION ? undefined : {initial: req.initial, exptime: req.exptime}
  const existed = store.peek(req.key) !== undefined
  const r = store.deltaOrCreate(req.key, req.incr, req.delta, storeCas(req.cas), create)
  switch (r.status) {
    case 'ok':
      return success(req, {cas: BigInt(r.item.cas), value: u64(BigInt(r.value))})
    case 'created':
      // memcached counts no miss when it creates the item.
      return success(req, {cas: BigInt(r.cas), value: u64(req.initial)})
    case 'not_found':
      if (req.incr) stats.incrMisses++
      else stats.decrMisses++
      return failure(req, Status.KeyNotFound)
    case 'non_numeric': return failure(req, Status.NonNumeric)
    case 'exists': return failure(req, Status.KeyExists)
    case 'not_stored': return failure(req, Status.NotStored)
    case 'no_memory':
      return failure(req, Status.OutOfMemory, existed ? 'Out of memory incrementing value' : 'Out of memory allocating new item')
  }
}

/**
 * Stat groups as memcached's binary protocol serves them: "reset",
 * "settings" and "detail" match as prefixes, the rest exactly; a group it
 * does not know (including a single stat's name) is "Not found".
 */
function stat(req: Req<'stat'>, ctx: ServerContext): BinaryResult {
  const group = req.group
  let lines: readonly StatLine[]
  let terminated = true
  if (group === '') {
    lines = generalStats(ctx)
  } else if (group.startsWith('reset')) {
    resetStats(ctx)
    lines = []
  } else if (group.startsWith('settings')) {
    lines = settingsStats(ctx)
  } else if (group.startsWith('detail')) {
    const sub = group.slice('detail'.length)
    if (sub.startsWith(' dump')) lines = [['detailed', 'END\r\n']]
    else if (sub.startsWith(' on') || sub.startsWith(' off')) lines = []
    else return failure(req, Status.KeyNotFound)
  } else if (group === 'items') {
    lines = itemsStats(ctx)
  } else if (group === 'slabs') {
    lines = slabsStats(ctx)
  } else if (group === 'sizes') {
    lines = [['sizes_status', 'disabled']]
  } else if (group === 'sizes_disable') {
    // memcached answers this one without the closing empty packet.
    lines = [['sizes_status', 'disabled']]
    terminated = false
  } else {
    return failure(req, Status.KeyNotFound)
  }
  const packets = lines.map(([name, value]) => encodeResponse({opcode: Opcode.Stat, opaque: req.opaque, key: name, value: String(value)}))
  if (terminated) packets.push(encodeResponse({opcode: Opcode.Stat, opaque: req.opaque}))
  return {packets, flush: false, after: 'continue'}
}
