// What every repctl command shares: --config (or REPCTL_CONFIG), --json,
// --verbose; one host pool per run; and errors turned into one clear
// message with the right exit code — also under --json.

import {Command, Errors, Flags} from '@oclif/core'
import {loadConfig} from '../config/load.js'
import type {ClusterConfig} from '../config/schema.js'
import {RepctlError} from '../errors.js'
import {HostPool} from '../hosts/pool.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    config: Flags.string({description: 'config file (default: search for repctl.config.yaml, else the built-in local pair)', env: 'REPCTL_CONFIG', helpGroup: 'GLOBAL'}),
    verbose: Flags.boolean({description: 'show stack traces of unexpected errors', helpGroup: 'GLOBAL', default: false}),
  }

  protected readonly pool = new HostPool()
  /** Set by commands whose failures have a fixed exit code (status: 3, "unknown"). */
  protected errorExitCode: number | undefined
  private verboseErrors = Boolean(process.env.DEBUG)

  protected async clusterConfig(path: string | undefined): Promise<ClusterConfig> {
    return loadConfig(path)
  }

  protected noteVerbose(verbose: boolean): void {
    this.verboseErrors ||= verbose
  }

  protected override async catch(err: Error & {oclif?: {exit?: number}; exitCode?: number}): Promise<unknown> {
    let e: Error & {oclif?: {exit?: number}} = err
    if (err instanceof RepctlError) {
      e = new Errors.CLIError(err.message, {code: err.code, exit: err.exitCode, suggestions: err.suggestions})
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

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await this.pool.close()
    return super.finally(err)
  }
}
