// What every repctl command shares: --config (or REPCTL_CONFIG), --json,
// --verbose; its command line parsed once, before run(); one host pool per
// run; and errors turned into one clear message with the right exit code —
// also under --json.

import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {loadConfig} from '../config/load.js'
import type {ClusterConfig} from '../config/schema.js'
import {ERROR_CATALOGUE, RepctlError} from '../errors.js'
import {HostPool} from '../hosts/pool.js'

/** What every command prints under --json when it fails. */
export interface ErrorJson { code: string; message: string; oclif: {exit: number}; suggestions: string[]; name: string }

/** A command's flags (its own and the base flags) and args, as parsed. */
export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export abstract class BaseCommand<T extends typeof Command = typeof Command> extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    config: Flags.string({description: 'config file (default: search for repctl.config.yaml, else the built-in local pair)', env: 'REPCTL_CONFIG', helpGroup: 'GLOBAL'}),
    verbose: Flags.boolean({description: 'show stack traces of unexpected errors', helpGroup: 'GLOBAL', default: false}),
    'accept-new-host-key': Flags.boolean({description: 'record the key of an SSH host seen for the first time (a changed key is always refused)', helpGroup: 'GLOBAL', default: false}),
  }

  protected readonly pool = new HostPool()
  /** Set by commands whose failures have a fixed exit code (status: 3, "unknown"). */
  protected errorExitCode: number | undefined
  private verboseErrors = Boolean(process.env.DEBUG)
  /** Parsed once, in init(). */
  protected flags!: CommandFlags<T>
  protected args!: CommandArgs<T>
  /** The arguments as given (a command with a variable number of them). */
  protected operands!: string[]

  override async init(): Promise<void> {
    await super.init()
    const {args, argv, flags} = await this.parse(this.ctor)
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
    this.operands = argv as string[]
    const base = flags as CommandFlags<typeof BaseCommand>
    this.verboseErrors ||= base.verbose
    this.pool.acceptNewHostKey = base['accept-new-host-key']
  }

  /** The cluster's config (--config, REPCTL_CONFIG, or the search), its warnings said. */
  protected async clusterConfig(): Promise<ClusterConfig> {
    const config = await loadConfig((this.flags as CommandFlags<typeof BaseCommand>).config)
    for (const w of config.warnings) this.warn(w)
    await this.pool.resolveHomes(config)
    return config
  }

  /** oclif's warning, on stderr, also under --json (where oclif would drop it): the document on stdout stays one. */
  override warn(input: string | Error): string | Error {
    Errors.warn(input)
    return input
  }

  protected override async catch(err: Error & {oclif?: {exit?: number}; exitCode?: number}): Promise<unknown> {
    let e: Error & {oclif?: {exit?: number}} = err
    if (err instanceof RepctlError) {
      e = new Errors.CLIError(err.sentence, {code: err.code, exit: err.exitCode, suggestions: err.suggestions})
    } else if (!this.parsed) {
      // oclif's parser rejected the command line: a usage error (oclif prints the help with it), never a bug.
      if (!(err instanceof Errors.CLIError) && err.oclif === undefined) e = new Errors.CLIError(err.message, {exit: ERROR_CATALOGUE.USAGE.exit})
    } else if (!(err instanceof Errors.CLIError) && err.oclif === undefined) {
      // A bug, not an operator mistake: one line unless asked for the stack.
      if (this.verboseErrors && err.stack !== undefined) process.stderr.write(err.stack + '\n')
      e = new Errors.CLIError(err.message, {code: 'INTERNAL', exit: 1, suggestions: ['rerun with --verbose for details, and report it']})
    }
    if (this.errorExitCode !== undefined && !(err instanceof Errors.ExitError)) e.oclif = {...e.oclif, exit: this.errorExitCode}
    // oclif exits 1 under --json whatever the error says; keep the catalogue's code.
    if (this.jsonEnabled() && process.exitCode === undefined) process.exitCode = e.oclif?.exit ?? 1
    return super.catch(e)
  }

  /**
   * The error document under --json: always exactly {code, message, oclif: {exit}, suggestions, name}
   * (src/cli/schemas/error.schema.json). oclif's own parse errors would otherwise carry their whole
   * parser input (the loaded config, every flag definition) into it, and no code.
   */
  protected override toErrorJson(err: unknown): {error: ErrorJson} {
    const e = (err instanceof Error ? err : new Error(String(err))) as Error & {code?: unknown; oclif?: {exit?: number}; suggestions?: unknown}
    const usage = e.code === undefined && !this.parsed
    const code = typeof e.code === 'string' ? e.code : usage ? 'USAGE' : 'INTERNAL'
    const suggestions = Array.isArray(e.suggestions) ? e.suggestions.map(String) : usage ? [`see ${this.config.bin} ${this.id} --help`] : []
    return {error: {code, message: e.message, oclif: {exit: e.oclif?.exit ?? 1}, suggestions, name: e.name}}
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await this.pool.close()
    return super.finally(err)
  }
}
