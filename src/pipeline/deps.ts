import type { JWTVerifyGetKey } from 'jose';
import type { RunnerError } from '../errors/result.ts';
import type { AuditOutcome, AuditRecord, AuditSink, AuditStage } from '../audit/record.ts';
import type { ErrorCode } from '../errors/codes.ts';
import type { PodLogs } from '../ports/pod-logs.ts';
import type { Pods } from '../ports/pods.ts';
import type { StepObjects } from '../ports/step-objects.ts';
import type { RunStore } from '../ports/runs.ts';
import type { EgressMode } from '../egress/network-policy.ts';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';
import type { RestrictedProfile } from '../mutate/restricted.ts';
import type { ResourceDefaults } from '../pod/resources.ts';
import type { ReceiveLimits } from '../receive/receive.ts';
import type { RefusalLimits } from './refusal-budget.ts';
import type { TrustedKeyStore } from '../verify/trusted-keys.ts';
import type { VerifyOptions } from '../verify/verify.ts';

export interface PipelineConfig {
  readonly runner: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly defaultTimeoutSeconds: number;
  /** sizeLimit of each step's /workspace emptyDir (runner.storage.workspaceSize). */
  readonly workspaceSize?: string | undefined;
  /** Requests/limits for what a container's spec leaves out or zeroes (runner.workflow.defaultResources). */
  readonly defaultResources?: ResourceDefaults | undefined;
  /** storageClassName of workflow volumes (runner.storage.storageClass); cluster default when unset. */
  readonly storageClass?: string | undefined;
  /** At most this many runs execute at once; the rest wait as Pending WorkflowRuns, oldest first. */
  readonly maxConcurrent: number;
  /** How long ImagePullBackOff, ErrImagePull, CreateContainerConfigError... are tolerated. */
  readonly failFastGraceSeconds: number;
  /** Finished runs keep their pods (for kubectl logs), NetworkPolicies and PVCs this long. */
  readonly ttlAfterFinishedSeconds: number;
  /**
   * A finished run's WorkflowRun is deleted this long after it finished (at least the TTL), and not
   * before its token can no longer verify (src/reconcile/expire.ts). Seconds.
   */
  readonly retainFinishedSeconds: number;
  /** networkpolicy: ipBlock rules (hosts need pinned CIDRs); cilium: CiliumNetworkPolicy toFQDNs. */
  readonly egressMode: EgressMode;
  /** The namespace of the cluster DNS pods: a step's policy allows DNS to k8s-app=kube-dns there only. */
  readonly dnsNamespace: string;
  readonly receive: ReceiveLimits;
  readonly verify: VerifyOptions;
  readonly profile: RestrictedProfile;
  /** The audit budget of refusals before verification at HTTP intake (audit.refusals; docs/adr/0008). */
  readonly refusals: RefusalLimits;
}

/** What the pipeline tells the outside (metrics, logs) besides the audit log; all optional. */
export interface PipelineObserver {
  recorded(record: AuditRecord, context: { readonly image?: string | undefined; readonly namespace: string }): void;
  /**
   * A refusal before verification that the audit log's refusal budget leaves out of the log one by
   * one (src/pipeline/refusals.ts): counted as `recorded` would count it, never logged one by one.
   */
  unrecorded?(stage: AuditStage, outcome: AuditOutcome, code: ErrorCode): void;
  /** The number of runs executing now (set after every reconcile pass). */
  workflowsRunning(count: number): void;
  workflowFinished(status: 'success' | 'failed'): void;
  stepFinished(step: string, seconds: number): void;
  /** A chunk of a finished step's log, for the control plane (never the audit log). */
  stepLog?(log: StepLog): void;
  /** Something the operator must fix that is not a bug and not a step's outcome (logged as a warning, with its code). */
  problem?(error: RunnerError): void;
  /** A bug: an unexpected exception stopped an assignment (reported as INTERNAL). */
  internalError(error: unknown): void;
}

export interface StepLog {
  readonly run: string;
  readonly workflow: { readonly id: string; readonly runId: string };
  readonly step: string;
  readonly pod: string;
  /** 0, 1, ...: the chunk's place in the step's log. */
  readonly chunk: number;
  readonly text: string;
  /** True on the last chunk when the log was longer than the runner ships. */
  readonly truncated: boolean;
}

/** Everything the pipeline touches, as ports: tests pass in-memory ones, `serve` passes adapters. */
export interface PipelineDeps {
  readonly config: PipelineConfig;
  /** The control plane's keys as published now (JWKS file or URL): admission verifies with these. */
  readonly keys: JWTVerifyGetKey;
  /**
   * The keys this runner has trusted, durably (DESIGN §2b): admission records the key that
   * verified each run here before the run exists; re-verification uses only these.
   */
  readonly trust: TrustedKeyStore;
  /** The current policy (hot reload swaps what this returns). */
  readonly policy: () => PolicyEngine | undefined;
  readonly audit: AuditSink;
  /** The step pods: created, observed, deleted. */
  readonly pods: Pods;
  /** What steps need besides their pods (volume claims, egress policies); what a run owns. */
  readonly objects: StepObjects;
  /** A finished step's container log, for the control plane. */
  readonly logs: PodLogs;
  /** The WorkflowRuns: exactly-once intake, durable state, status. */
  readonly runs: RunStore;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly observer?: PipelineObserver | undefined;
}
