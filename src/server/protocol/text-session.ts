import type {ServerContext} from '../context.js'
import type {ProtocolSession} from './session.js'
import {handleText} from './text-commands.js'
import {TextParser} from './text-parser.js'
import {itemTotalSize} from '../store/slab-classes.js'

export class TextSession implements ProtocolSession {
  private readonly parser: TextParser

  constructor(private readonly ctx: ServerContext, private readonly id: number) {
    const {itemSizeMax, useCas} = ctx.options
    this.parser = new TextParser({isTooLarge: (k, f, v) => itemTotalSize(k, f, v, useCas) > itemSizeMax})
  }

  push(chunk: Buffer): void {
    this.parser.push(chunk)
  }

  drain(budget: number): ReturnType<ProtocolSession['drain']> {
    let reply = ''
    const log = this.ctx.log
    for (;;) {
      const req = this.parser.next()
      if (req === undefined) return {reply, status: 'wait'}
      if (log.verbosity >= 2) log.trace(`<${this.id} ${this.parser.lastLine}`)
      if (req.type === 'quit') return {reply, status: 'quit'}
      if (req.type === 'close') return {reply, status: 'close', reason: req.reason}
      reply += handleText(req, this.ctx)
      if (req.type === 'shutdown' && this.ctx.options.enableShutdown) return {reply, status: 'close', reason: 'shutdown'}
      if (reply.length >= budget) return {reply, status: 'more'}
    }
  }
}
