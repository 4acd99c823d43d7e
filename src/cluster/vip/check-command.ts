// The command keepalived runs every second on a node's host: exit 0 while the
// node serves clients on its own address, non-zero otherwise (then the
// instance goes to FAULT and the VIP leaves the host at once).
//
// "Serves" means its process replied to a request within 0.8 s: a dead node
// refuses, a slave still receiving its full copy keeps its client port closed
// (refuses too), and a frozen one accepts (the kernel does that) but never
// replies. Any reply line counts, so users (-Y) need no credentials here: an
// unauthenticated `version` gets CLIENT_ERROR, a reply all the same.
//
// Two forms, for what they cost every second:
// - plain TCP: bash's /dev/tcp and builtins under coreutils' timeout, about
//   2 ms of CPU per run. Only the command's path is checked by keepalived's
//   script security; /usr/bin/timeout belongs to root.
// - client TLS (-Z): bash cannot speak TLS, so the server bundle's own check
//   mode (`repcached --check-serving ADDR:PORT --check-tls`, Node built-ins):
//   a Node.js start, about 90 ms of CPU per run (measured on the CI machine).
// keepalived's own `timeout 1` is only the backstop: it counts whole seconds.

import type {NodeConfig} from '../../config/schema.js'
import {nodePaths} from '../topology.js'

/** The check's own bound: within keepalived's one-second interval, with room for the process start. */
export const CHECK_TIMEOUT_MS = 800

export const TIMEOUT_PROGRAM = '/usr/bin/timeout'
export const BASH = '/bin/bash'

/** bash script for the plain form: no `$` (keepalived would substitute `$NAME` even inside quotes). */
export function plainCheckScript(host: string, port: number): string {
  return `exec 3<>/dev/tcp/${host}/${port} && printf 'version\\r\\n' >&3 && IFS= read -r reply <&3`
}

/**
 * argv of the check for `node` on its host. `nodePath`: the host's Node.js
 * runtime, an absolute path (used with client TLS only).
 */
export function servingCheckCommand(node: NodeConfig, nodePath: string): string[] {
  if (node.security?.tls !== undefined) {
    return [nodePath, nodePaths(node).bundle, `--check-serving=${node.host}:${node.port}`, '--check-tls', `--check-timeout=${CHECK_TIMEOUT_MS}ms`]
  }
  return [TIMEOUT_PROGRAM, String(CHECK_TIMEOUT_MS / 1000), BASH, '-c', plainCheckScript(node.host, node.port)]
}
