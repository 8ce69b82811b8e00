// The state a real node leaves for `dev cluster down --real-node`: written by `up`, read by `down`.
import type { RealNodeToolName } from '../../adapters/tools.ts';

/** What `down` needs: the host state before, the processes of ours, the node's directory. */
export interface RealNodeState {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly tools: Readonly<Record<RealNodeToolName, string>>;
  readonly pids: readonly { readonly name: string; readonly pid: number }[];
  /** Seconds per phase (containerd, images, node Ready, network, DNS) and in all. */
  readonly timings: Readonly<Record<string, number>>;
}
