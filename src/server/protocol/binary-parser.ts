// Incremental parser for binary-protocol requests: bytes in, typed requests
// out. It buffers at most one request head (bounded by memcached's read
// buffer) or one value (bounded by -I); oversized bodies are skipped.

import {ByteQueue} from './byte-queue.js'
import {decodeRequestHeader, HEADER_LENGTH, READ_BUFFER_SIZE, REQUEST_MAGIC, type FrameHead} from './binary-frame.js'
import {classifyFrame, type BinaryRequest, type FrameLimits} from './binary-request.js'

export type ParsedFrame = BinaryRequest | {type: 'close'; reason: string}

type ParserState =
  | {at: 'head'}
  | {at: 'value'; length: number; build: (value: string) => BinaryRequest}
  | {at: 'swallow'; remaining: number}

/**
 * Incremental request parser. Like memcached it consumes header, extras and
 * key, then lets the opcode decide what follows: a value to read, bytes to
 * throw away, or nothing (extra body bytes of e.g. a Stat request are then
 * parsed as the next header, exactly as memcached does).
 */
export class BinaryFrameParser {
  private readonly queue = new ByteQueue()
  private state: ParserState = {at: 'head'}
  private closed = false

  constructor(private readonly limits: FrameLimits) {}

  /** `lent`: the bytes are only valid until settle(). */
  push(chunk: Buffer, lent = false): void {
    if (!this.closed) this.queue.push(chunk, lent)
  }

  /** Copy what is still queued of lent bytes (see ProtocolSession). */
  settle(): void {
    this.queue.settle()
  }

  /** Bytes received and not consumed yet. */
  get buffered(): number {
    return this.queue.length
  }

  /** True while reading a value or skipping bytes: memcached sends no replies in that state. */
  get inBody(): boolean {
    return this.state.at !== 'head'
  }

  /** The next complete request, or undefined when more bytes are needed. */
  next(): ParsedFrame | undefined {
    for (;;) {
      if (this.closed) return undefined
      const state = this.state
      if (state.at === 'swallow') {
        state.remaining -= this.queue.skip(state.remaining)
        if (state.remaining > 0) return undefined
        this.state = {at: 'head'}
        continue
      }
      if (state.at === 'value') {
        if (this.queue.length < state.length) return undefined
        const value = this.queue.take(state.length).toString('latin1')
        this.state = {at: 'head'}
        return state.build(value)
      }
      if (this.queue.length < HEADER_LENGTH) return undefined
      const header = decodeRequestHeader(this.queue.peek(HEADER_LENGTH))
      if (header.magic !== REQUEST_MAGIC) return this.close(`invalid magic 0x${header.magic.toString(16)}`)
      const headLength = HEADER_LENGTH + header.extrasLength + header.keyLength
      if (headLength > READ_BUFFER_SIZE) {
        // memcached's read buffer fills up before the head is complete; it then drops the client.
        if (this.queue.length >= READ_BUFFER_SIZE) return this.close(`request head of ${headLength} bytes does not fit the read buffer`)
        return undefined
      }
      if (this.queue.length < headLength) return undefined
      const head = this.queue.take(headLength)
      const extrasEnd = HEADER_LENGTH + header.extrasLength
      const frame: FrameHead = {header, extras: head.subarray(HEADER_LENGTH, extrasEnd), key: head.toString('latin1', extrasEnd, headLength)}
      const plan = classifyFrame(frame, this.limits)
      switch (plan.then) {
        case 'done':
          return plan.request
        case 'swallow':
          if (plan.bytes > 0) this.state = {at: 'swallow', remaining: plan.bytes}
          return plan.request
        case 'value':
          this.state = {at: 'value', length: plan.bytes, build: plan.build}
          continue
      }
    }
  }

  private close(reason: string): ParsedFrame {
    this.closed = true
    this.queue.skip(this.queue.length)
    return {type: 'close', reason}
  }
}
