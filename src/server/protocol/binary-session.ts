import type {ServerContext} from '../context.js'
import type {ProtocolSession} from './session.js'

/** Placeholder until the binary protocol lands: refuses binary clients by closing. */
export class BinarySession implements ProtocolSession {
  constructor(private readonly ctx: ServerContext, private readonly id: number) {}

  push(_chunk: Buffer): void {}

  drain(): ReturnType<ProtocolSession['drain']> {
    this.ctx.log.info(`<${this.id} binary protocol not supported yet`)
    return {reply: '', status: 'close', reason: 'binary protocol not supported'}
  }
}
