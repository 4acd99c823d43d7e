// Received bytes not yet parsed, kept as the chunks the socket delivered.
// Joining chunks only when a request spans them keeps a 1 MB value that
// arrives in 64 KB reads from being copied once per read. The newest chunk
// may be lent (see ProtocolSession): settle() copies what is left of it.

export class ByteQueue {
  private chunks: Buffer[] = []
  /** Bytes of chunks[0] already consumed. */
  private offset = 0
  private total = 0
  /** The chunk pushed as lent, while it is still queued. */
  private lent: Buffer | undefined

  get length(): number {
    return this.total
  }

  /** `lent`: the bytes are only valid until settle(). */
  push(chunk: Buffer, lent = false): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.total += chunk.length
    if (lent) this.lent = chunk
  }

  /** Copy what is still queued of the lent chunk, whose memory is about to be reused. */
  settle(): void {
    const lent = this.lent
    if (lent === undefined) return
    this.lent = undefined
    const i = this.chunks.lastIndexOf(lent)
    if (i === -1) return
    const from = i === 0 ? this.offset : 0
    this.chunks[i] = Buffer.from(lent.subarray(from))
    if (i === 0) this.offset = 0
  }

  /** The first `n` bytes (n <= length) as one Buffer, without consuming them. */
  peek(n: number): Buffer {
    if (n > this.total) throw new RangeError(`peek(${n}) with only ${this.total} bytes queued`)
    const first = this.chunks[0]
    if (first === undefined) return Buffer.alloc(0)
    if (first.length - this.offset >= n) return first.subarray(this.offset, this.offset + n)
    // Merge just enough leading chunks so that a repeated peek does not copy again.
    let have = first.length - this.offset
    let count = 1
    while (have < n) have += this.chunks[count++]!.length
    const merged = Buffer.concat([first.subarray(this.offset), ...this.chunks.slice(1, count)], have)
    this.chunks.splice(0, count, merged)
    this.offset = 0
    return merged.subarray(0, n)
  }

  /** Drop up to `n` bytes; returns how many were dropped. */
  skip(n: number): number {
    let left = Math.min(n, this.total)
    const dropped = left
    while (left > 0) {
      const first = this.chunks[0]!
      const avail = first.length - this.offset
      if (avail > left) {
        this.offset += left
        break
      }
      left -= avail
      this.chunks.shift()
      this.offset = 0
    }
    this.total -= dropped
    return dropped
  }

  /** The first `n` bytes (n <= length), consumed. */
  take(n: number): Buffer {
    const b = this.peek(n)
    this.skip(n)
    return b
  }
}
