import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric the runner exposes, in one place. The first six are the seed's names and labels,
 * exactly. Labels are bounded: never a pod or workflow name; step names are capped (STEP_LABELS).
 */
export const METRIC_NAMES = Object.freeze({
  up: 'kubiya_runner_up',
  workflowsRunning: 'kubiya_workflows_running',
  workflowsCompleted: 'kubiya_workflows_completed',
  cpuUsage: 'kubiya_runner_cpu_usage',
  memoryUsage: 'kubiya_runner_memory_usage',
  stepDuration: 'kubiya_step_duration_seconds',
  decisions: 'kubiya_decisions_total',
  policyBundle: 'kubiya_policy_bundle_info',
  policyReloadFailures: 'kubiya_policy_reload_failures_total',
  auditFsync: 'kubiya_audit_fsync_seconds',
  auditQueue: 'kubiya_audit_queue_depth',
  kubeApi: 'kubiya_kube_api_request_duration_seconds',
  controlPlaneErrors: 'kubiya_control_plane_errors_total',
  httpRequests: 'kubiya_http_requests_total',
  kubeApiTimeouts: 'kubiya_kube_api_request_timeouts_total',
  kubeApiWatchRestarts: 'kubiya_kube_api_watch_restarts_total',
  stepExecution: 'kubiya_step_execution_seconds',
  readyCheck: 'kubiya_runner_ready_check',
});

/**
 * Buckets (seconds) of kubiya_step_execution_seconds: the seed's percentile gauge is per replica and
 * cannot be averaged; this histogram's buckets add up across replicas (histogram_quantile of a sum).
 */
export const STEP_EXECUTION_BUCKETS = Object.freeze([1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 10800]);

/** At most this many distinct step names get their own kubiya_step_duration_seconds series; the rest are "other". */
export const STEP_LABELS = 100;
const WINDOW = 512;
const PERCENTILES = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p99', 0.99],
] as const;

export interface Metrics {
  readonly registry: Registry;
  workflowsRunning(count: number): void;
  workflowFinished(status: 'success' | 'failed'): void;
  stepFinished(step: string, seconds: number): void;
  decision(stage: string, outcome: string, code: string | undefined): void;
  policyLoaded(revision: string): void;
  policyReloadFailed(): void;
  auditBatch(seconds: number, queueDepth: number): void;
  kubeApi(verb: string, seconds: number): void;
  controlPlaneError(operation: string): void;
  httpRequest(route: string, status: number): void;
  /** An API request timed out waiting for its headers, within its body, or past its total deadline. */
  kubeApiTimeout(phase: 'headers' | 'body' | 'total'): void;
  /** A watch of `kind` (pods, workflowruns) was ended and started again: idle (stalled), error or relist. */
  kubeApiWatchRestart(kind: string, reason: 'idle' | 'error' | 'relist'): void;
  /** Samples CPU and memory; call on scrape. */
  sampleProcess(): void;
  /** The /ready checks (apiServer, keys, policy, audit, ...) as kubiya_runner_ready_check{check} 1 or 0; call on scrape. */
  readiness(checks: Readonly<Record<string, { readonly ok: boolean }>>): void;
}

function memoryLimitBytes(): number {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const v = readFileSync(file, 'utf8').trim();
      const n = Number(v);
      if (v !== 'max' && Number.isFinite(n) && n > 0 && n < totalmem()) return n;
    } catch {
      // not in a cgroup with a limit
    }
  }
  return totalmem();
}

export function createMetrics(runner: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ runner });
  const up = new Gauge({ name: METRIC_NAMES.up, help: '1 while the runner process is up', registers: [registry] });
  up.set(1);
  const running = new Gauge({
    name: METRIC_NAMES.workflowsRunning,
    help: 'Workflows being executed now',
    registers: [registry],
  });
  const completed = new Counter({
    name: METRIC_NAMES.workflowsCompleted,
    help: 'Workflows completed, by status',
    labelNames: ['status'],
    registers: [registry],
  });
  const cpu = new Gauge({
    name: METRIC_NAMES.cpuUsage,
    help: 'CPU used by the runner process, as a fraction of the machine (0..1) since the last scrape',
    registers: [registry],
  });
  const memory = new Gauge({
    name: METRIC_NAMES.memoryUsage,
    help: 'Resident memory of the runner as a fraction of its memory limit (0..1)',
    registers: [registry],
  });
  const stepDuration = new Gauge({
    name: METRIC_NAMES.stepDuration,
    help: 'Step execution time percentiles over the last 512 runs of each step name',
    labelNames: ['step', 'percentile'],
    registers: [registry],
  });
  const stepExecution = new Histogram({
    name: METRIC_NAMES.stepExecution,
    help: 'Step execution time, evaluate to pod end: a histogram that aggregates across replicas (the seed gauge kubiya_step_duration_seconds gives per-replica percentiles)',
    labelNames: ['step'],
    buckets: [...STEP_EXECUTION_BUCKETS],
    registers: [registry],
  });
  const readyCheck = new Gauge({
    name: METRIC_NAMES.readyCheck,
    help: 'Each /ready check at the last scrape: 1 passing, 0 failing (audit: log writable and locked; keys: usable JWKS)',
    labelNames: ['check'],
    registers: [registry],
  });
  const decisions = new Counter({
    name: METRIC_NAMES.decisions,
    help: 'Pipeline stage outcomes, by stage, outcome and error code',
    labelNames: ['stage', 'outcome', 'code'],
    registers: [registry],
  });
  const bundle = new Gauge({
    name: METRIC_NAMES.policyBundle,
    help: 'The loaded policy bundle (value 1), by revision',
    labelNames: ['revision'],
    registers: [registry],
  });
  const reloadFailures = new Counter({
    name: METRIC_NAMES.policyReloadFailures,
    help: 'Policy bundles refused at load (the last good one stays)',
    registers: [registry],
  });
  const fsync = new Histogram({
    name: METRIC_NAMES.auditFsync,
    help: 'Audit group-commit write+fdatasync latency',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const queue = new Gauge({
    name: METRIC_NAMES.auditQueue,
    help: 'Audit records waiting for the next group commit',
    registers: [registry],
  });
  const kube = new Histogram({
    name: METRIC_NAMES.kubeApi,
    help: 'Kubernetes API request latency, by verb',
    labelNames: ['verb'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const cpErrors = new Counter({
    name: METRIC_NAMES.controlPlaneErrors,
    help: 'Control-plane request failures, by operation',
    labelNames: ['operation'],
    registers: [registry],
  });
  const http = new Counter({
    name: METRIC_NAMES.httpRequests,
    help: 'HTTP requests served, by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  const kubeTimeouts = new Counter({
    name: METRIC_NAMES.kubeApiTimeouts,
    help: 'Kubernetes API requests that timed out, by phase: headers or body (kubernetes.api.requestTimeout), total (the deadline of a non-watch request, 4 request timeouts)',
    labelNames: ['phase'],
    registers: [registry],
  });
  const watchRestarts = new Counter({
    name: METRIC_NAMES.kubeApiWatchRestarts,
    help: 'Kubernetes API watches ended and started again, by kind and reason: idle (stalled), error, relist (periodic)',
    labelNames: ['kind', 'reason'],
    registers: [registry],
  });

  const windows = new Map<string, number[]>();
  let lastCpu = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  const limit = memoryLimitBytes();
  const cores = Math.max(1, cpus().length);
  let revision: string | undefined;

  return {
    registry,
    workflowsRunning: (count) => running.set(count),
    workflowFinished: (status) => completed.inc({ status }),
    stepFinished: (step, seconds) => {
      const key = windows.has(step) || windows.size < STEP_LABELS ? step : 'other';
      const w = windows.get(key) ?? [];
      w.push(seconds);
      if (w.length > WINDOW) w.shift();
      windows.set(key, w);
      stepExecution.observe({ step: key }, seconds);
      const sorted = [...w].sort((a, b) => a - b);
      for (const [label, q] of PERCENTILES) {
        stepDuration.set(
          { step: key, percentile: label },
          sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0,
        );
      }
    },
    decision: (stage, outcome, code) => decisions.inc({ stage, outcome, code: code ?? '' }),
    policyLoaded: (r) => {
      if (revision !== undefined) bundle.remove({ revision });
      revision = r;
      bundle.set({ revision: r }, 1);
    },
    policyReloadFailed: () => reloadFailures.inc(),
    auditBatch: (seconds, depth) => {
      fsync.observe(seconds);
      queue.set(depth);
    },
    kubeApi: (verb, seconds) => kube.observe({ verb }, seconds),
    controlPlaneError: (operation) => cpErrors.inc({ operation }),
    httpRequest: (route, status) => http.inc({ route, status: String(status) }),
    kubeApiTimeout: (phase) => kubeTimeouts.inc({ phase }),
    kubeApiWatchRestart: (kind, reason) => watchRestarts.inc({ kind, reason }),
    sampleProcess: () => {
      const now = process.hrtime.bigint();
      const used = process.cpuUsage(lastCpu);
      const elapsedMicros = Number(now - lastAt) / 1000;
      if (elapsedMicros > 0) cpu.set(Math.min(1, (used.user + used.system) / elapsedMicros / cores));
      lastCpu = process.cpuUsage();
      lastAt = now;
      memory.set(process.memoryUsage.rss() / limit);
    },
    readiness: (checks) => {
      for (const [check, { ok }] of Object.entries(checks)) readyCheck.set({ check }, ok ? 1 : 0);
    },
  };
}
