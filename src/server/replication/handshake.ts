// The native handshake (docs/replication-protocol.md, "Native mode"): one
// hello line each way, then the connector's proof. Anything else means the
// peer is a legacy repcached, which is accepted only without a secret.

import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto'
import type {Socket} from 'node:net'

export interface HandshakeConfig {
  nodeId: string
  secret: Buffer | undefined
  /** This node's cas parity if it has one (kept across links so versions never collide). */
  parity: 0 | 1 | undefined
  /** How long to wait for the peer's hello (a legacy slave never sends one). */
  waitMs: number
}

export type HandshakeResult =
  /** `rev`: the native message set both sides speak (the lower of the two revisions). */
  | {mode: 'native'; peerId: string; parity: 0 | 1; rev: number; leftover: Buffer}
  | {mode: 'legacy'; leftover: Buffer}
  | {mode: 'refused'; reason: string; hungUp?: true}

const HELLO = 'repctl-hello'
const AUTH = 'repctl-auth'
const VERSION = '1'
/**
 * The native message set this node speaks: 2 adds the versioned flush
 * (flush_version), 3 an item's meta-protocol marks (stale, win token handed
 * out, base64 key) as a last word of `rep`. Announced as a last word `rev=N`
 * that a revision-1 node ignores; a hello without it is revision 1, and the
 * link speaks the lower.
 */
export const NATIVE_REV = 3
const LINE_MAX = 512

function proof(secret: Buffer | undefined, who: 'acceptor' | 'connector', nonceC: string, nonceA: string): string {
  return secret === undefined ? '-' : createHmac('sha256', secret).update(`${who}:${nonceC}:${nonceA}`).digest('hex')
}

function proofMatches(expected: string, got: string): boolean {
  const a = Buffer.from(expected)
  const b = Buffer.from(got)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Reads the first line(s) off a fresh socket, keeping every byte for whoever comes next. */
class FirstBytes {
  private buf = Buffer.alloc(0)
  private wake: (() => void) | undefined
  private closed = false
  private readonly onData = (d: Buffer): void => { this.buf = Buffer.concat([this.buf, d]); this.wake?.() }
  private readonly onEnd = (): void => { this.closed = true; this.wake?.() }

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData)
    socket.on('end', this.onEnd)
    socket.on('close', this.onEnd)
    socket.on('error', this.onEnd)
  }

  /** Resolves once `ready(bytes)` holds, the peer closed, or the time is up. */
  async wait(ready: (b: Buffer) => boolean, ms: number): Promise<Buffer> {
    const end = Date.now() + ms
    while (!ready(this.buf) && !this.closed && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, end - Date.now()))
        this.wake = () => { clearTimeout(t); resolve() }
      })
      this.wake = undefined
    }
    return this.buf
  }

  get isClosed(): boolean { return this.closed }

  /** Take a complete first line (without CRLF), or undefined. */
  takeLine(): string | undefined {
    const nl = this.buf.indexOf(10)
    if (nl === -1) return undefined
    const line = this.buf.toString('latin1', 0, nl > 0 && this.buf[nl - 1] === 13 ? nl - 1 : nl)
    this.buf = this.buf.subarray(nl + 1)
    return line
  }

  /** Stop listening; return what was read and not consumed. */
  release(): Buffer {
    this.socket.off('data', this.onData)
    this.socket.off('end', this.onEnd)
    this.socket.off('close', this.onEnd)
    this.socket.off('error', this.onEnd)
    return this.buf
  }
}

/** The bytes so far are a prefix of a hello line. */
const couldBeHello = (b: Buffer): boolean => HELLO.startsWith(b.toString('latin1', 0, Math.min(b.length, HELLO.length)))
const startsWithHello = (b: Buffer): boolean => b.length >= HELLO.length && b.toString('latin1', 0, HELLO.length) === HELLO
const hasLine = (b: Buffer): boolean => b.includes(10) || b.length > LINE_MAX

const REV_WORD = /^rev=(\d{1,3})$/

function parseHello(line: string): {id: string; nonce: string; parity: 0 | 1 | undefined; proof: string | undefined; rev: number} | undefined {
  const t = line.split(' ')
  if (t[0] !== HELLO || t[1] !== VERSION || t.length < 5) return undefined
  const parity = t[4] === '0' ? 0 : t[4] === '1' ? 1 : undefined
  if (!/^[0-9a-f]{32}$/.test(t[3]!)) return undefined
  // Words after the parity: the acceptor's proof, then (either side) `rev=N`; revision 1 sent neither rev word.
  const rest = t.slice(5)
  const revWord = rest.map((w) => REV_WORD.exec(w)).find((m) => m !== null)
  const rev = revWord === undefined ? 1 : Math.max(1, Number(revWord[1]))
  return {id: t[2]!, nonce: t[3]!, parity, proof: rest.find((w) => !REV_WORD.test(w)), rev}
}

/** We dialled the peer: announce ourselves, then see whether it answers in kind. */
export async function connectorHandshake(socket: Socket, cfg: HandshakeConfig): Promise<HandshakeResult> {
  const reader = new FirstBytes(socket)
  const nonceC = randomBytes(16).toString('hex')
  socket.write(`${HELLO} ${VERSION} ${cfg.nodeId} ${nonceC} ${cfg.parity ?? '-'} rev=${NATIVE_REV}\r\n`)
  // A legacy master streams its copy at once; a native one answers with a hello.
  const first = await reader.wait((b) => hasLine(b) || (b.length > 0 && !couldBeHello(b)), cfg.waitMs)
  // Even a legacy master with nothing to copy sends marugoto_end: a hang-up with no byte is no peer at all.
  if (first.length === 0 && reader.isClosed) {
    reader.release()
    return {mode: 'refused', reason: 'it closed the connection without answering', hungUp: true}
  }
  if (!startsWithHello(first)) {
    const leftover = reader.release()
    if (cfg.secret !== undefined) return {mode: 'refused', reason: 'the peer is a legacy repcached (no hello) and a secret is required'}
    return {mode: 'legacy', leftover}
  }
  const hello = parseHello(reader.takeLine() ?? '')
  if (hello === undefined || hello.parity === undefined) {
    reader.release()
    return {mode: 'refused', reason: 'malformed hello from the peer'}
  }
  if (!proofMatches(proof(cfg.secret, 'acceptor', nonceC, hello.nonce), hello.proof ?? '')) {
    reader.release()
    return {mode: 'refused', reason: cfg.secret === undefined ? 'the peer requires a secret and this node has none' : 'the peer did not prove the shared secret'}
  }
  socket.write(`${AUTH} ${proof(cfg.secret, 'connector', nonceC, hello.nonce)}\r\n`)
  return {mode: 'native', peerId: hello.id, parity: hello.parity === 0 ? 1 : 0, rev: Math.min(NATIVE_REV, hello.rev), leftover: reader.release()}
}

/** The peer dialled us: wait briefly for its hello (a legacy slave sends none). */
export async function acceptorHandshake(socket: Socket, cfg: HandshakeConfig): Promise<HandshakeResult> {
  const reader = new FirstBytes(socket)
  await reader.wait(hasLine, cfg.waitMs)
  const line = reader.takeLine()
  const hello = line === undefined ? undefined : parseHello(line)
  if (hello === undefined) {
    if (cfg.secret !== undefined) { reader.release(); return {mode: 'refused', reason: 'the peer sent no hello (legacy repcached?) and a secret is required'} }
    // Not a hello: legacy. Whatever it sent is replication data; give it back.
    const rest = reader.release()
    return {mode: 'legacy', leftover: line === undefined ? rest : Buffer.concat([Buffer.from(line + '\r\n', 'latin1'), rest])}
  }
  // The acceptor keeps its parity; the connector takes the other one.
  const parity: 0 | 1 = cfg.parity ?? (hello.parity === undefined ? 0 : hello.parity === 0 ? 1 : 0)
  const nonceA = randomBytes(16).toString('hex')
  const rev = Math.min(NATIVE_REV, hello.rev)
  // A revision-1 connector gets exactly the hello it knows; a later one learns the revision the link speaks.
  socket.write(`${HELLO} ${VERSION} ${cfg.nodeId} ${nonceA} ${parity} ${proof(cfg.secret, 'acceptor', hello.nonce, nonceA)}${rev > 1 ? ` rev=${rev}` : ''}\r\n`)
  await reader.wait(hasLine, cfg.waitMs * 4)
  const auth = reader.takeLine()?.split(' ')
  if (auth === undefined || auth[0] !== AUTH || auth.length !== 2) {
    reader.release()
    return {mode: 'refused', reason: reader.isClosed ? 'the peer closed the connection during the handshake' : 'no valid proof from the peer'}
  }
  if (cfg.secret !== undefined && !proofMatches(proof(cfg.secret, 'connector', hello.nonce, nonceA), auth[1]!)) {
    reader.release()
    return {mode: 'refused', reason: 'the peer did not prove the shared secret'}
  }
  return {mode: 'native', peerId: hello.id, parity, rev, leftover: reader.release()}
}
