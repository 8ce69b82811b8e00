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
  policyDownloads: 'kubiya_policy_bundle_downloads_total',
  auditFsync: 'kubiya_audit_fsync_seconds',
  auditQueue: 'kubiya_audit_queue_depth',
  auditHeadSeq: 'kubiya_audit_head_seq',
  auditShippedSeq: 'kubiya_audit_shipped_seq',
  kubeApi: 'kubiya_kube_api_request_duration_seconds',
  controlPlaneErrors: 'kubiya_control_plane_errors_total',
  httpRequests: 'kubiya_http_requests_total',
  httpConnectionsRefused: 'kubiya_http_connections_refused_total',
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
