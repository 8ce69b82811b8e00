// Which PIDs recorded in a real node's state still run a process of that node. A PID outlives its
// process: after a kill -9, a crash or a session stop, the kernel may give it to an unrelated
// process, which `down` must never signal.
import { runsAs, startTicksOf } from '../processes.ts';
import type { RealNodeState } from './state.ts';

/**
 * Whether `pid` runs a process this node started: every process the node starts names its own
 * directory or its kubeconfig on its command line (configs, the canary's root, the forwarder's tag),
 * so a recycled PID does not match.
 */
export function ownedAlive(state: Pick<RealNodeState, 'dir' | 'kubeconfig'>, pid: number): boolean {
  return runsAs(pid, [state.dir, state.kubeconfig]);
}

/** A process named for the whole uptime: its PID and its start ticks (startTicksOf, processes.ts). */
export interface Owner {
  readonly pid: number;
  readonly startTicks: string;
}

/** Whether `owner` still runs (the same PID with the same start ticks: not a recycled PID). */
export function ownerAlive(owner: Owner): boolean {
  return owner.startTicks !== '' && startTicksOf(owner.pid) === owner.startTicks;
}

/**
 * Whether a node was left by a run that ended without `down`. A node with a recorded owner (the
 * process that starts, holds, stops or clears it) is left exactly when that owner no longer runs:
 * a live owner is never left, whatever its processes — it may be starting them (red-team round 5,
 * finding 4: a node mid-start was judged left and torn down by a concurrent start). A node without
 * an owner (`dev cluster up --real-node`, once up) is left when none of its recorded processes runs
 * as its own.
 */
export function nodeLeft(state: Pick<RealNodeState, 'dir' | 'kubeconfig' | 'pids' | 'owner'>): boolean {
  if (state.owner !== undefined) return !ownerAlive(state.owner);
  return ownedPids(state).length === 0;
}

/** The recorded processes that still run as this node's (see ownedAlive); empty for a node left by a dead run. */
export function ownedPids(state: Pick<RealNodeState, 'dir' | 'kubeconfig' | 'pids'>): RealNodeState['pids'][number][] {
  return state.pids.filter((p) => ownedAlive(state, p.pid));
}
