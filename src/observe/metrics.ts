import { Registry } from 'prom-client';
import { registerFamilies } from './metric-families.ts';
import { processSampler, stepRecorder } from './metric-samplers.ts';

export { METRIC_NAMES, STEP_EXECUTION_BUCKETS, STEP_LABELS } from './metric-names.ts';

export interface Metrics {
  readonly registry: Registry;
  workflowsRunning(count: number): void;
  workflowFinished(status: 'success' | 'failed'): void;
  stepFinished(step: string, seconds: number): void;
  decision(stage: string, outcome: string, code: string | undefined): void;
  policyLoaded(revision: string): void;
  policyReloadFailed(): void;
  /** A poll of the bundle service: swapped, unchanged, rejected or failed. */
  policyDownload(result: string): void;
  auditBatch(seconds: number, queueDepth: number): void;
  /** The seq of the last durable audit record (kubiya_audit_head_seq). */
  auditHead(seq: number): void;
  /** The seq of the last record the decision-log sink accepted (kubiya_audit_shipped_seq). */
  auditShipped(seq: number): void;
  kubeApi(verb: string, seconds: number): void;
  controlPlaneError(operation: string): void;
  httpRequest(route: string, status: number): void;
  /** A connection closed unread at server.maxConnections. */
  httpConnectionRefused(): void;
  /** An API request timed out waiting for its headers, within its body, or past its total deadline. */
  kubeApiTimeout(phase: 'headers' | 'body' | 'total'): void;
  /** A watch of `kind` (pods, workflowruns) was ended and started again: idle (stalled), error or relist. */
  kubeApiWatchRestart(kind: string, reason: 'idle' | 'error' | 'relist'): void;
  /** Samples CPU and memory; call on scrape. */
  sampleProcess(): void;
  /** The /ready checks (apiServer, keys, policy, audit, ...) as kubiya_runner_ready_check{check} 1 or 0; call on scrape. */
  readiness(checks: Readonly<Record<string, { readonly ok: boolean }>>): void;
}

/**
 * The runner's Prometheus metrics (names in src/observe/metric-names.ts, families in
 * metric-families.ts) in a registry of their own, every series labelled with `runner`.
 */
export function createMetrics(runner: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ runner });
  const m = registerFamilies(registry);
  m.up.set(1);
  let revision: string | undefined;
  return {
    registry,
    workflowsRunning: (count) => m.running.set(count),
    workflowFinished: (status) => m.completed.inc({ status }),
    stepFinished: stepRecorder(m.stepDuration, m.stepExecution),
    decision: (stage, outcome, code) => m.decisions.inc({ stage, outcome, code: code ?? '' }),
    policyLoaded: (r) => {
      if (revision !== undefined) m.bundle.remove({ revision });
      revision = r;
      m.bundle.set({ revision: r }, 1);
    },
    policyReloadFailed: () => m.reloadFailures.inc(),
    policyDownload: (result) => m.downloads.inc({ result }),
    auditBatch: (seconds, depth) => {
      m.fsync.observe(seconds);
      m.queue.set(depth);
    },
    auditHead: (seq) => m.auditHead.set(seq),
    auditShipped: (seq) => m.auditShipped.set(seq),
    kubeApi: (verb, seconds) => m.kube.observe({ verb }, seconds),
    controlPlaneError: (operation) => m.cpErrors.inc({ operation }),
    httpRequest: (route, status) => m.http.inc({ route, status: String(status) }),
    httpConnectionRefused: () => m.httpRefused.inc(),
    kubeApiTimeout: (phase) => m.kubeTimeouts.inc({ phase }),
    kubeApiWatchRestart: (kind, reason) => m.watchRestarts.inc({ kind, reason }),
    sampleProcess: processSampler(m.cpu, m.memory),
    readiness: (checks) => {
      for (const [check, { ok }] of Object.entries(checks)) m.readyCheck.set({ check }, ok ? 1 : 0);
    },
  };
}
