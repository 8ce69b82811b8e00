// bench/peers/peer.ts
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';

/** What the harness gives every row: one shared local control plane (kube-apiserver + etcd + kwok +
 * scheduler + controller-manager from src/dev/cluster.ts), and a fresh namespace per row labelled
 * pod-security.kubernetes.io/{enforce,audit,warn}=restricted (same labels as the runner's). */
export interface PeerEnv {
  readonly kubeConfig: KubeConfig; // admin credentials to the API server
  readonly kubeconfigPath: string; // the same, as a file (for Go peers' --kubeconfig)
  readonly namespace: string; // this row's own namespace (exists, labelled, empty)
  readonly workDir: string; // private temp dir for the row (certs, logs); removed after
  readonly log: (line: string) => void; // progress to stderr
}

/** The one-step workload every row runs: the SAME unhardened pod (no securityContext; a peer must
 * apply the restricted mutation itself), image from the allowed registry, requests + memory limit. */
export interface StepSpec {
  readonly index: number; // 0..steps-1 within a round (unique within a round)
  readonly round: number;
  readonly pod: V1Pod; // unhardened pod body; name = the pod name to use
}

/** Parity fixtures (see harness): the row must answer allow/deny for each. */
export type ParityVerdict = 'allow' | 'deny';

export interface PeerRow {
  /** Row name in the tables, e.g. "gatekeeper v3.23.1 + bare create", "argo v4.0.5 (defaults)". */
  readonly name: string;
  /** Why the row cannot run (tool not built, ...): the harness prints it and skips the row. */
  skipReason(): Promise<string | undefined>;
  /** Start the system's processes and install what it needs (CRDs, webhooks, policies) into env. */
  start(env: PeerEnv): Promise<void>;
  /** Submit one step and resolve once the API server has ACCEPTED the submission (not when the pod
   * exists). Returns the pod name the harness must wait for on its own pod watch of env.namespace.
   * A denial (admission error) must reject with an Error whose message says "denied". */
  submit(step: StepSpec): Promise<{ readonly podName: string }>;
  /** Resolves with the wall-clock ms (Date.now()) at which the system's own terminal record for this
   * step exists (Argo: Workflow phase Succeeded seen; runner: durable finish audit record); undefined
   * if the system keeps no terminal record (bare, gatekeeper, in-tree). Called after the pod Succeeded. */
  terminalRecordAt(step: StepSpec): Promise<number | undefined>;
  /** Optional (added 05:10 UTC): for a submission the system accepted but whose pod never came,
   * the system's own record of the denial (runner: its audit log's deny record; Argo: the
   * Workflow's message), shown in the parity table; undefined when it has none. */
  denial?(step: StepSpec): Promise<string | undefined>;
  /** Delete everything created by submit() in env.namespace (between rounds). */
  reset(): Promise<void>;
  /** PIDs of this system's own processes (for CPU-seconds and peak RSS); [] for none (bare, in-tree:
   * their cost shows in the API server's CPU, which the harness measures for every row). */
  pids(): readonly number[];
  /** Stop processes started by start() (by PID) and remove cluster-scoped objects it installed
   * (webhook configurations, CRDs, VAP/MAP and bindings) so the next row sees a clean API server. */
  stop(): Promise<void>;
  /** What this system does NOT do that the runner does (token verification, signed audit, per-step
   * egress policy, ...), one short phrase each, for the BENCHMARKS.md table. */
  readonly lacks: readonly string[];
}
