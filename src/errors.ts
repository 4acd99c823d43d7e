// The one catalogue of repctl's errors: a stable code (for scripts and
// docs), the exit code, and what the operator should do next.

export const ERROR_CATALOGUE = {
  CONFIG_NOT_FOUND: {exit: 2, hint: 'check the path given with --config or REPCTL_CONFIG, or run `repctl init`'},
  CONFIG_INVALID: {exit: 2, hint: 'fix the file (see `repctl init` for a commented example)'},
  CONFIG_EXISTS: {exit: 2, hint: 'pass --force to overwrite it'},
  USAGE: {exit: 2, hint: 'see the command\'s --help'},
  NODE_UNKNOWN: {exit: 2, hint: 'use a node name from the config (`repctl status` lists them)'},
  PAIR_UNKNOWN: {exit: 2, hint: 'use two node names that form a pair in the config, e.g. --pair node1,node2'},
  PORT_IN_USE: {exit: 1, hint: 'stop what uses the port, or give the node another port in the config'},
  RUNTIME_MISSING: {exit: 1, hint: 'install Node.js 20.19 or newer on the host'},
  BUNDLE_MISSING: {exit: 1, hint: 'run `npm run build` in the repctl package'},
  NODE_START_FAILED: {exit: 1, hint: 'read the node\'s log with `repctl logs NODE`'},
  NODE_STOP_FAILED: {exit: 1, hint: 'check the process by hand; its pid is in the node\'s pid file'},
  DAEMON_START_FAILED: {exit: 1, hint: 'read the daemon\'s log (its last line is in the message) and fix what it says'},
  DAEMON_STOP_FAILED: {exit: 1, hint: 'check the process by hand; its pid is in the message'},
  NODE_DOWN: {exit: 1, hint: 'start it with `repctl start` or `repctl rejoin NODE`'},
  NO_LIVE_MASTER: {exit: 1, hint: 'no node of the pair serves as master; start the pair with `repctl start`'},
  SPLIT_BRAIN: {exit: 1, hint: 'choose the node whose data to keep: `repctl promote NODE --yes`'},
  CONFIRMATION_NEEDED: {exit: 1, hint: 'add --yes to confirm'},
  NOT_PAIRED: {exit: 1, hint: 'wait for the copy to finish, or check `repctl status`'},
  TIMEOUT: {exit: 1, hint: 'check `repctl status` and the node\'s log (`repctl logs NODE`)'},
  HOST_ERROR: {exit: 1, hint: 'check the host and the node\'s state directory'},
  HOST_UNREACHABLE: {exit: 1, hint: 'check that the host is up, its SSH port is open and the address in the config is right'},
  SSH_AUTH_FAILED: {exit: 1, hint: 'check the user and key (ssh.identityFile, ~/.ssh/id_*, or SSH_AUTH_SOCK) and the host\'s authorized_keys'},
  HOST_KEY_UNKNOWN: {exit: 1, hint: 'rerun with --accept-new-host-key, or add the key to ~/.ssh/known_hosts, or pin it as ssh.hostKey'},
  HOST_KEY_CHANGED: {exit: 1, hint: 'the host\'s identity changed: verify it out of band, then fix known_hosts or ssh.hostKey; repctl never accepts a changed key'},
  SUPERVISOR_RUNNING: {exit: 1, hint: 'one supervisor per cluster: stop the running one first (its pid is in the message), or leave it to do the job'},
  SECRET_CONFLICT: {exit: 1, hint: 'the nodes of the pair cannot agree on a replication secret: do what the message says, then run the command again'},
  PRIVILEGE_NEEDED: {exit: 1, hint: 'log in to the host as root, or configure privilege escalation (sudo without a password) for it'},
  KEEPALIVED_MISSING: {exit: 1, hint: 'install keepalived on the host: apt-get install keepalived'},
  VIP_INTERFACE_MISSING: {exit: 1, hint: 'set vip.interface to an interface both hosts of the pair have (`ip -o link show` lists them)'},
  VIP_IN_USE: {exit: 1, hint: 'the VIP answers on the network although no host of the pair holds it: choose a free address for vip.address, or free it where it is used'},
  VIP_NOT_MOVED: {exit: 1, hint: 'the VIP could not be moved to the new master\'s host; nothing was stopped: check keepalived on both hosts (repctl status, keepalived.log in each node\'s directory)'},
  NUTCRACKER_MISSING: {exit: 1, hint: 'install nutcracker (twemproxy) on the router\'s host: apt-get install nutcracker (repctl starts it itself; the package\'s own service may stay disabled: systemctl disable --now nutcracker)'},
  ROUTER_CONFIG_REFUSED: {exit: 1, hint: 'nutcracker refused the config repctl rendered: run `nutcracker -t -c FILE` on the router\'s host and report it; the running router, if any, was left alone'},
  ROUTER_START_FAILED: {exit: 1, hint: 'read the router\'s log (nutcracker.log in its directory; the last line is in the message) and fix what it says'},
  ROUTER_UNKNOWN: {exit: 2, hint: 'use a router name from the config (`repctl status` lists them)'},
  ROUTER_NOT_SERVING: {exit: 1, hint: 'the router runs but a request through it failed: check `repctl status` (each pair seen by the router) and the router\'s log'},
  SSH_TIMEOUT: {exit: 1, hint: 'the host did not answer in time; check the network and the host\'s load, and that the login shell starts at once (every command runs through it: `time ssh HOST true`; a slow ~/.bashrc delays each one)'},
} as const satisfies Record<string, {exit: number; hint: string}>

export type ErrorCode = keyof typeof ERROR_CATALOGUE

/** An error the operator can act on: one sentence naming the thing, plus what to do. */
export class RepctlError extends Error {
  readonly suggestions: string[]
  /** The message as written here: oclif prefixes the message of an error thrown while parsing a flag. */
  readonly sentence: string

  constructor(readonly code: ErrorCode, message: string, suggestions?: string[]) {
    super(message)
    this.sentence = message
    this.name = 'RepctlError'
    this.suggestions = suggestions ?? [ERROR_CATALOGUE[code].hint]
  }

  get exitCode(): number {
    return ERROR_CATALOGUE[this.code].exit
  }
}
