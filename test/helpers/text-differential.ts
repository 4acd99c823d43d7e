// Differential testing of the text protocol: the same request bytes go to
// the real memcached and to our server, and the normalised replies must be
// equal byte for byte. Only values that legitimately differ between two
// servers (cas numbers, stats values) are normalised, and each step says
// explicitly when it wants that.

import assert from 'node:assert/strict'
import {startMemcached, startOurServer, type RunningServer} from './processes.js'
import {RawClient} from './raw-client.js'

export const SENTINEL = Buffer.from('version\r\n', 'latin1')
const VERSION_PREFIX = Buffer.from('VERSION ', 'latin1')

/** How a step's reply is delimited. */
export type Until =
  /** Send "version\r\n" after the step and read up to its VERSION line (the default). */
  | 'sentinel'
  /** Read until nothing arrives for a while: for steps that leave the server mid-value. */
  | 'quiet'
  /** The server is expected to close: read until it does. */
  | 'close'

export interface Step {
  /** Bytes to send. Several chunks are sent as separate writes with a pause between them. `{cas:KEY}` is replaced by the last cas this server returned for KEY. */
  send: string | Buffer | (string | Buffer)[]
  until?: Until
  /** Compare only the names of STAT lines (values differ between any two servers). */
  statNames?: boolean
  /** Compare only the STAT lines whose names match, values included (counters both servers must agree on). */
  statValues?: RegExp
}

export type StepInput = string | Step

export interface Transcript {
  /** One entry per step: the request as sent (printable) and the normalised reply. */
  steps: {request: string; reply: string}[]
}

const CLOSED = '[connection closed]'
const NO_SENTINEL = '[no reply to the sentinel]'

/** Printable form of bytes: CR/LF/TAB/NUL and other control bytes escaped, long runs shortened. */
export function printable(b: Buffer | string): string {
  const s = typeof b === 'string' ? b : b.toString('latin1')
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 13) out += '\\r'
    else if (c === 10) out += '\\n\n'
    else if (c === 9) out += '\\t'
    else if (c === 0) out += '\\0'
    else if (c === 92) out += '\\\\'
    else if (c < 32 || c > 126) out += `\\x${c.toString(16).padStart(2, '0')}`
    else out += s[i]
  }
  return out.replace(/(.)\1{39,}/g, (run, ch: string) => `${ch}{x${run.length}}`)
}

function endsWithSentinelReply(b: Buffer): boolean {
  if (b.length < VERSION_PREFIX.length + 2 || b[b.length - 1] !== 10 || b[b.length - 2] !== 13) return false
  // The last line must start with "VERSION " and be a whole line.
  const lineStart = b.lastIndexOf(10, b.length - 3) + 1
  return b.subarray(lineStart, lineStart + VERSION_PREFIX.length).equals(VERSION_PREFIX)
}

/**
 * A client of one server that runs steps and keeps per-server state: the
 * cas of each key seen last, and the mapping of raw cas numbers to c1, c2...
 */
export class DiffClient {
  private client: RawClient | undefined
  private readonly lastCas = new Map<string, string>()
  private readonly casNames = new Map<string, string>()

  /** `extraStats`: STAT names this server adds on purpose (left out of name comparisons). */
  constructor(readonly port: number, private readonly extraStats?: RegExp) {}

  private async connection(): Promise<RawClient> {
    if (this.client === undefined || this.client.isClosed) this.client = await RawClient.open(this.port)
    return this.client
  }

  close(): void {
    this.client?.close()
    this.client = undefined
  }

  private expand(chunk: string | Buffer): Buffer {
    if (typeof chunk !== 'string') return chunk
    const s = chunk.replace(/\{cas:([^}]*)\}/g, (_m, key: string) => this.lastCas.get(key) ?? '0')
    return Buffer.from(s, 'latin1')
  }

  async run(step: Step, pauseMs = 25): Promise<{request: string; reply: string}> {
    const c = await this.connection()
    const chunks = (Array.isArray(step.send) ? step.send : [step.send]).map((x) => this.expand(x))
    const until = step.until ?? 'sentinel'
    for (let i = 0; i < chunks.length; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, pauseMs))
      // The sentinel rides in the same write as the last chunk: it must not change how the step is read.
      c.send(until === 'sentinel' && i === chunks.length - 1 ? Buffer.concat([chunks[i]!, SENTINEL]) : chunks[i]!)
    }
    let raw: Buffer
    if (until === 'sentinel') raw = await c.readUntil(endsWithSentinelReply, 3000)
    else if (until === 'close') raw = await c.readUntil(() => false, 3000)
    else raw = await c.readQuiet(80, 3000)
    const closed = c.isClosed
    let reply: string
    if (until === 'sentinel' && endsWithSentinelReply(raw)) {
      reply = this.normalise(raw.subarray(0, raw.lastIndexOf(10, raw.length - 3) + 1), step)
    } else {
      reply = this.normalise(raw, step)
      if (until === 'sentinel' && !closed) reply += NO_SENTINEL
      if (until === 'close' && !closed) reply += '[still open]'
    }
    if (closed) {
      reply += CLOSED
      this.close()
    }
    // A "|" marks where the request was split into separate writes.
    return {request: printable(chunks.map((x) => x.toString('latin1')).join('|')), reply}
  }

  /** The same cas number gets the same name (c1, c2 …) for as long as this client lives; 0 stays 0. */
  private casName(cas: string): string {
    if (cas === '0') return cas
    let name = this.casNames.get(cas)
    if (name === undefined) { name = `c${this.casNames.size + 1}`; this.casNames.set(cas, name) }
    return name
  }

  /**
   * A meta reply line: its cas flag (c…) and me's cas= are named like VALUE
   * lines' cas, and remembered for the key its k flag names. Times read off
   * each server's own clock (TTL left t…, me's exp=, last access l… and
   * la=) are rounded to tens: memcached's clock ticks from its start, not
   * on the wall clock's second, so the two servers can be a second apart;
   * the tables use TTLs that are multiples of ten.
   */
  private normaliseMeta(line: string): string {
    const f = line.split(' ')
    const key = f.find((t) => t.startsWith('k'))?.slice(1)
    const tens = (n: string): string => String(Math.round(Number(n) / 10) * 10)
    // me's second word is the key, whatever it looks like.
    const first = f[0] === 'ME' ? 2 : 1
    return f.map((t, i) => {
      if (i < first) return t
      if (/^c\d+$/.test(t)) {
        if (key !== undefined) this.lastCas.set(key, t.slice(1))
        return 'c' + this.casName(t.slice(1))
      }
      if (/^cas=\d+$/.test(t)) return 'cas=' + this.casName(t.slice(4))
      if (/^t\d+$/.test(t)) return 't~' + tens(t.slice(1))
      if (/^l\d+$/.test(t)) return 'l~' + tens(t.slice(1))
      if (/^exp=\d+$/.test(t)) return 'exp=~' + tens(t.slice(4))
      if (/^exp=-\d+$/.test(t) && t !== 'exp=-1') return 'exp=~-' + tens(t.slice(5))
      if (/^la=\d+$/.test(t)) return 'la=~' + tens(t.slice(3))
      return t
    }).join(' ')
  }

  /** Rewrite cas numbers (and STAT values if asked) so that two servers' replies can be compared. */
  private normalise(b: Buffer, {statNames, statValues}: Step): string {
    const s = b.toString('latin1')
    let out = ''
    let pos = 0
    while (pos < s.length) {
      const eol = s.indexOf('\r\n', pos)
      if (eol === -1) { out += s.slice(pos); break }
      const line = s.slice(pos, eol)
      pos = eol + 2
      if (line.startsWith('VALUE ')) {
        const f = line.split(' ')
        const bytes = Number(f[3])
        if ((f.length === 4 || f.length === 5) && Number.isInteger(bytes) && pos + bytes + 2 <= s.length) {
          if (f.length === 5) {
            const cas = f[4]!
            this.lastCas.set(f[1]!, cas)
            // 0 stays 0 (memcached -C shows it for every item), so that it is compared as it is.
            let name = cas === '0' ? cas : this.casNames.get(cas)
            if (name === undefined) { name = `c${this.casNames.size + 1}`; this.casNames.set(cas, name) }
            f[4] = name
          }
          out += f.join(' ') + '\r\n' + s.slice(pos, pos + bytes + 2)
          pos += bytes + 2
          continue
        }
      }
      if (META_REPLY.test(line)) {
        out += this.normaliseMeta(line) + '\r\n'
        // A VA line's value follows; it is compared as it is.
        const bytes = line.startsWith('VA ') ? Number(line.split(' ')[1]) : NaN
        if (Number.isInteger(bytes) && pos + bytes + 2 <= s.length) {
          out += s.slice(pos, pos + bytes + 2)
          pos += bytes + 2
        }
        continue
      }
      if (statValues !== undefined && line.startsWith('STAT ')) {
        const name = line.slice(5).split(' ')[0]!
        if (statValues.test(name)) out += line + '\r\n'
        continue
      }
      if (statNames === true && line.startsWith('STAT ')) {
        const sp = line.indexOf(' ', 5)
        const name = sp === -1 ? line.slice(5) : line.slice(5, sp)
        if (this.extraStats === undefined || !this.extraStats.test(name)) out += `STAT ${name}\r\n`
        continue
      }
      out += line + '\r\n'
    }
    return printable(out)
  }
}

/** The first word of a meta protocol reply line. */
const META_REPLY = /^(HD|VA|EN|NS|EX|NF|MN|ME)( |$)/

export function toStep(s: StepInput): Step {
  return typeof s === 'string' ? {send: s} : s
}

/** Run the same steps against both servers (in parallel) and return the two transcripts. */
export async function runBoth(theirs: DiffClient, ours: DiffClient, steps: StepInput[]): Promise<{theirs: Transcript; ours: Transcript}> {
  const t: Transcript = {steps: []}
  const o: Transcript = {steps: []}
  for (const s of steps) {
    const step = toStep(s)
    const [a, b] = await Promise.all([theirs.run(step), ours.run(step)])
    // Both servers took the sentinel for data: the step leaves them mid-value and wants `until: 'quiet'`.
    if (a.reply.endsWith(NO_SENTINEL) && b.reply.endsWith(NO_SENTINEL)) throw new Error(`step swallowed the sentinel on both servers: ${a.request}`)
    t.steps.push(a)
    o.steps.push(b)
  }
  return {theirs: t, ours: o}
}

/** A readable report of the steps where the two transcripts differ ('' when none). */
export function differences(theirs: Transcript, ours: Transcript): string {
  let out = ''
  const n = Math.max(theirs.steps.length, ours.steps.length)
  for (let i = 0; i < n; i++) {
    const t = theirs.steps[i]
    const o = ours.steps[i]
    if (t !== undefined && o !== undefined && t.request === o.request && t.reply === o.reply) continue
    out += `--- step ${i}: ${(t ?? o)!.request.slice(0, 300)}\n` +
      `memcached:\n${t?.reply.slice(0, 1500) ?? '(none)'}\nours:\n${o?.reply.slice(0, 1500) ?? '(none)'}\n`
  }
  return out
}

/** Debian's memcached and our server, started with the same flags. */
export interface ServerPair { theirs: RunningServer; ours: RunningServer }

export async function startServerPair(args: string[] = []): Promise<ServerPair> {
  const [theirs, ours] = await Promise.all([startMemcached(args), startOurServer(args)])
  return {theirs, ours}
}

export async function stopServerPair(p: ServerPair | undefined): Promise<void> {
  if (p === undefined) return
  await Promise.all([p.theirs.stop(), p.ours.stop()])
}

/**
 * Run steps on fresh connections to both servers and require identical
 * transcripts. `extraStats`: STAT names our server adds on purpose, left out
 * of name comparisons.
 */
export async function sameReplies(p: ServerPair, steps: StepInput[], extraStats?: RegExp): Promise<void> {
  const theirs = new DiffClient(p.theirs.port)
  const ours = new DiffClient(p.ours.port, extraStats)
  try {
    const r = await runBoth(theirs, ours, steps)
    const diff = differences(r.theirs, r.ours)
    if (diff !== '') assert.fail(`replies differ from memcached's:\n${diff}`)
  } finally {
    theirs.close()
    ours.close()
  }
}
