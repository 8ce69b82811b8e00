import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_NAMES, STEP_EXECUTION_BUCKETS } from './metric-names.ts';

/** The runner's own metrics: up, workflows, process CPU and memory, step durations, readiness checks. */
function runnerFamilies(registry: Registry) {
  const registers = [registry];
  return {
    up: new Gauge({ name: METRIC_NAMES.up, help: '1 while the runner process is up', registers }),
    running: new Gauge({ name: METRIC_NAMES.workflowsRunning, help: 'Workflows being executed now', registers }),
    completed: new Counter({
      name: METRIC_NAMES.workflowsCompleted,
      help: 'Workflows completed, by status',
      labelNames: ['status'],
      registers,
    }),
    cpu: new Gauge({
      name: METRIC_NAMES.cpuUsage,
      help: 'CPU used by the runner process, as a fraction of the machine (0..1) since the last scrape',
      registers,
    }),
    memory: new Gauge({
      name: METRIC_NAMES.memoryUsage,
      help: 'Resident memory of the runner as a fraction of its memory limit (0..1)',
      registers,
    }),
    stepDuration: new Gauge({
      name: METRIC_NAMES.stepDuration,
      help: 'Step execution time percentiles over the last 512 runs of each step name',
      labelNames: ['step', 'percentile'],
      registers,
    }),
    stepExecution: new Histogram({
      name: METRIC_NAMES.stepExecution,
      help: 'Step execution time, evaluate to pod end: a histogram that aggregates across replicas (the seed gauge kubiya_step_duration_seconds gives per-replica percentiles)',
      labelNames: ['step'],
      buckets: [...STEP_EXECUTION_BUCKETS],
      registers,
    }),
    readyCheck: new Gauge({
      name: METRIC_NAMES.readyCheck,
      help: 'Each /ready check at the last scrape: 1 passing, 0 failing (audit: log writable and locked; keys: usable JWKS)',
      labelNames: ['check'],
      registers,
    }),
  };
}

/** The pipeline's metrics: stage decisions, the policy bundle and its downloads, the audit group commit. */
function pipelineFamilies(registry: Registry) {
  const registers = [registry];
  return {
    decisions: new Counter({
      name: METRIC_NAMES.decisions,
      help: 'Pipeline stage outcomes, by stage, outcome and error code',
      labelNames: ['stage', 'outcome', 'code'],
      registers,
    }),
    bundle: new Gauge({
      name: METRIC_NAMES.policyBundle,
      help: 'The loaded policy bundle (value 1), by revision',
      labelNames: ['revision'],
      registers,
    }),
    reloadFailures: new Counter({
      name: METRIC_NAMES.policyReloadFailures,
      help: 'Policy bundles refused at load (the last good one stays)',
      registers,
    }),
    downloads: new Counter({
      name: METRIC_NAMES.policyDownloads,
      help: 'Polls of the policy bundle service, by result (swapped, unchanged, rejected, failed)',
      labelNames: ['result'],
      registers,
    }),
    fsync: new Histogram({
      name: METRIC_NAMES.auditFsync,
      help: 'Audit group-commit write+fdatasync latency',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    queue: new Gauge({
      name: METRIC_NAMES.auditQueue,
      help: 'Audit records waiting for the next group commit',
      registers,
    }),
    auditHead: new Gauge({
      name: METRIC_NAMES.auditHeadSeq,
      help: 'seq of the last durable audit record',
      registers,
    }),
    auditShipped: new Gauge({
      name: METRIC_NAMES.auditShippedSeq,
      help: 'seq of the last audit record the decision-log sink accepted (head minus this is the shipping lag)',
      registers,
    }),
  };
}

/** The runner's peers: Kubernetes API latency, timeouts and watch restarts, control-plane errors, HTTP requests. */
function peerFamilies(registry: Registry) {
  const registers = [registry];
  return {
    kube: new Histogram({
      name: METRIC_NAMES.kubeApi,
      help: 'Kubernetes API request latency, by verb',
      labelNames: ['verb'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    cpErrors: new Counter({
      name: METRIC_NAMES.controlPlaneErrors,
      help: 'Control-plane request failures, by operation',
      labelNames: ['operation'],
      registers,
    }),
    http: new Counter({
      name: METRIC_NAMES.httpRequests,
      help: 'HTTP requests served, by route and status',
      labelNames: ['route', 'status'],
      registers,
    }),
    httpRefused: new Counter({
      name: METRIC_NAMES.httpConnectionsRefused,
      help: 'HTTP connections closed as they were accepted, unread, because server.maxConnections were open',
      registers,
    }),
    kubeTimeouts: new Counter({
      name: METRIC_NAMES.kubeApiTimeouts,
      help: 'Kubernetes API requests that timed out, by phase: headers or body (kubernetes.api.requestTimeout), total (the deadline of a non-watch request, 4 request timeouts)',
      labelNames: ['phase'],
      registers,
    }),
    watchRestarts: new Counter({
      name: METRIC_NAMES.kubeApiWatchRestarts,
      help: 'Kubernetes API watches ended and started again, by kind and reason: idle (stalled), error, relist (periodic)',
      labelNames: ['kind', 'reason'],
      registers,
    }),
  };
}

/** Every metric family of METRIC_NAMES, registered in `registry` in the order /metrics lists them. */
export type MetricFamilies = ReturnType<typeof runnerFamilies> &
  ReturnType<typeof pipelineFamilies> &
  ReturnType<typeof peerFamilies>;

/** Creates and registers every metric family (runner, pipeline, peers, in that order) in `registry`. */
export function registerFamilies(registry: Registry): MetricFamilies {
  return { ...runnerFamilies(registry), ...pipelineFamilies(registry), ...peerFamilies(registry) };
}
