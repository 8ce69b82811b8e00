// The state a real node leaves for `dev cluster down --real-node`: written by `up`, read by `down`.
import type { RealNodeToolName } from '../../adapters/tools.ts';

/** What `down` needs: the host state before, the processes of ours, the node's directory. */
export interface RealNodeState {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly tools: Readonly<Record<RealNodeToolName, string>>;
  readonly pids: readonly { readonly name: string; readonly pid: number }[];
  /**
   * The process that started the node and tears it down when it ends (a test run), identified by PID
   * and its start time in clock ticks since boot (/proc/<pid>/stat field 22, proc(5)); absent when the
   * node is meant to outlive its starter (`dev cluster up --real-node`, torn down by `down`).
   */
  readonly owner?: { readonly pid: number; readonly startTicks: string };
  /** Seconds per phase (containerd, images, node Ready, network, DNS) and in all. */
  readonly timings: Readonly<Record<string, number>>;
}
