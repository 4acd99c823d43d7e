// What each decision of the supervisor means, as a code: its memory (the
// flapping guard, rebuilt from the events file by a restarted supervisor) and
// its "say it once" rule read these, never the wording of a reason, so that a
// message may be reworded without changing what the supervisor does.

/** A pair's decision (decide.ts, decide-vip.ts). */
export type PairCode =
  | 'healthy' // ok: nothing to do
  | 'copying' // a full copy runs: nothing to do
  | 'slave-down' // a node is down while its partner serves as master: rejoin it
  | 'pair-down' // both nodes are down: start the pair
  | 'split-grace' // a split brain younger than its grace: wait
  | 'split-heal' // a split brain past its grace: heal it by the policy
  | 'split-cut' // a split brain between nodes that keep dialling each other: the network is cut; report
  | 'split-manual' // a split brain past its grace under policy manual: report
  | 'settling' // the survivor is not yet master, or the nodes are not linked: wait for the servers
  | 'unreachable' // a node's host cannot be observed: report, no action
  | 'backoff' // a repair is due but the last one was too recent: wait
  | 'gave-up' // a daemon was repaired maxRepairs times within the window: report, no more repairs
  | 'vip-split' // the VIP on both hosts while both keepalived run: report
  | 'vip-stale' // a VIP left on a host by a keepalived that is not running: restart that keepalived
  | 'keepalived-down' // keepalived not running beside a running node: restart it
  | 'vip-stranded' // the VIP on the host of a down node whose keepalived runs: wait its grace
  | 'keepalived-stuck' // ... past the grace: restart that keepalived
  | 'vip-missing' // no host holds the VIP past the grace, no node repair due: report

/** A router's decision (decide-router.ts). */
export type RouterCode =
  | 'healthy'
  | 'unreachable' // its host cannot be asked: report
  | 'not-serving' // it runs but its stats port is silent: report
  | 'ring-change' // its ring lacks a pair or has one the config dropped: report (only repctl start changes a ring)
  | 'stale-routes' // it sends a pair to a node that no longer serves it: restart it with the new routes
  | 'router-down' // it is not running: restart it
  | 'backoff'
  | 'gave-up'

export type DecisionCode = PairCode | RouterCode
