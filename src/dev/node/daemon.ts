/**
 * The real node's options, and how it starts each of its daemons (logged under the node's
 * directory, recorded in `started` so that `down` stops it by PID). Split out of node.ts, unchanged.
 */
import { join } from 'node:path';
import { startProcess, type Started } from '../processes.ts';
import type { RealNodeToolName } from '../../adapters/tools.ts';
import type { NodePaths } from './configs.ts';

/** What `startRealNode` needs: the control plane, a directory of its own, the tools, the namespaces to place there. */
export interface RealNodeOptions {
  readonly kubeconfig: string;
  /** The node's directory (state, configs, logs, containerd and kubelet roots). */
  readonly dir: string;
  readonly tools: Readonly<Record<RealNodeToolName, string>>;
  /** Namespaces whose every pod is placed on the real node (and, with egressGate, gated). */
  readonly namespaces: readonly string[];
  /** Label those namespaces for the egress gate (default true). */
  readonly egressGate?: boolean;
  readonly detached?: boolean;
  readonly say?: (line: string) => void;
}

/** Starts one of the node's tools as a daemon, its log `<node dir>/<name>.log`. */
export function daemon(
  o: RealNodeOptions,
  p: NodePaths,
  name: RealNodeToolName,
  args: string[],
  started: Started[],
  env?: NodeJS.ProcessEnv,
): Started {
  const s = startProcess(name, o.tools[name], args, join(p.dir, `${name}.log`), o.detached ?? false, env);
  started.push(s);
  return s;
}
