// How client bytes reach the connection. By default Node allocates a 64 KiB
// buffer for every read, wraps a slice of it in a Buffer and pushes it
// through the stream machinery: per request, that allocation and its
// garbage cost more user CPU than everything else the server does (bench/
// history.md, 2026-12-06). Node can read into a buffer the caller owns
// (`onread`), but only for sockets it creates, not for the ones net.Server
// accepts; so an accepted socket's handle is moved into a socket created
// with `onread`, all of them reading into one buffer of the process (the
// way memcached 1.6 lends a thread's read buffer to whichever connection is
// reading). The bytes handed over are valid only until the handler returns:
// whatever the parser keeps, it copies.
//
// This is the one place that reaches into Node's internals (`_handle`); when
// the handle is not there as expected (another Node, a TLS socket), the
// socket keeps Node's own reads and nothing else changes.

import {Socket} from 'node:net'

/** `bytes[0 .. length)` arrived; only valid until this returns. */
export type ReadHandler = (bytes: Buffer, length: number) => void

/** memcached reads up to 16 KiB at a time; Node's default is 64 KiB, kept so a bulk load takes as few reads as before. */
const READ_BUFFER_BYTES = 64 * 1024
let shared: Buffer | undefined

/** The process's read buffer, lent to every connection in turn. */
function readBuffer(): Buffer {
  shared ??= Buffer.allocUnsafe(READ_BUFFER_BYTES)
  return shared
}

interface HandleOwner { _handle?: {readStart?: unknown; readStop?: unknown; useUserBuffer?: unknown} | null }

/**
 * Deliver the socket's bytes to `onRead`; returns the socket to use from now
 * on (a new one when the reads were moved to the shared buffer). `socket`
 * must not have started reading yet (net.Server's `pauseOnConnect`).
 */
export function deliverReads(socket: Socket, onRead: ReadHandler): Socket {
  const owner = socket as unknown as HandleOwner
  const handle = owner._handle
  const movable = socket.constructor === Socket && handle != null && typeof handle.readStart === 'function' && typeof handle.useUserBuffer === 'function'
  if (!movable) {
    socket.on('data', (chunk: Buffer) => onRead(chunk, chunk.length))
    socket.resume()
    return socket
  }
  // The old socket lets go of the handle, then is destroyed: that only settles the server's connection count.
  owner._handle = null
  socket.destroy()
  // `handle` is what net.Server itself passes for an accepted socket; @types/node leaves it out.
  const options = {
    handle,
    allowHalfOpen: false,
    readable: true,
    writable: true,
    onread: {buffer: readBuffer(), callback: (length: number, bytes: Uint8Array) => { onRead(bytes as Buffer, length) }},
  }
  return new Socket(options as ConstructorParameters<typeof Socket>[0])
}
