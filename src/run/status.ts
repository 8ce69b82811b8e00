import type { ErrorCode } from '../errors/codes.ts';

/** A WorkflowRun's phase (status.phase; the CRD's printer column). */
export type RunPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';

/** A step's phase in status.steps[]. Pending until its pod is created; terminal after that. */
export type StepPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Denied' | 'Error' | 'Skipped' | 'Cancelled';

export interface StepState {
  readonly name: string;
  readonly phase: StepPhase;
  /** "allow" or "deny: CODE, CODE" with the policy revision: what decided this step. */
  readonly decision?: string | undefined;
  readonly pod?: string | undefined;
  readonly exitCode?: number | undefined;
  /** Kubernetes' reason (Completed, OOMKilled, DeadlineExceeded, ImagePullBackOff, Unschedulable, ...). */
  readonly reason?: string | undefined;
  readonly code?: ErrorCode | undefined;
  readonly message?: string | undefined;
  readonly startedAt?: string | undefined;
  readonly finishedAt?: string | undefined;
  // --- retries (issue 19 §5) ---
  /** The attempt this state is about (absent: 1). Its pod is `attemptPodName(run, step, attempt)`. */
  readonly attempt?: number | undefined;
  /** A Pending step on a retry: not started before this time (the backoff). */
  readonly retryAt?: string | undefined;
  /** The attempts that ended and were retried, oldest first (at most the step's retries.limit). */
  readonly attempts?: readonly AttemptState[] | undefined;
  // --- outputs (issue 19 §4) ---
  /** The named outputs the step wrote (values of outputs marked secret are not kept here). */
  readonly outputs?: Readonly<Record<string, string>> | undefined;
}

/** One ended attempt of a retried step, as status.steps[].attempts[] keeps it. */
export interface AttemptState {
  readonly attempt: number;
  readonly phase: StepPhase;
  readonly pod?: string;
  readonly decision?: string;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly code?: ErrorCode;
  readonly message?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
}

export interface RunStatus {
  readonly phase: RunPhase;
  readonly code?: ErrorCode | undefined;
  readonly message?: string | undefined;
  /** For `kubectl get workflowruns`: "2/5 succeeded, 1 running". */
  readonly summary: string;
  readonly steps: readonly StepState[];
  readonly startedAt?: string | undefined;
  readonly finishedAt?: string | undefined;
  /** Set once the finished run's pods, NetworkPolicies and PVCs are deleted (after the TTL). */
  readonly cleanedAt?: string | undefined;
}

const TERMINAL_STEP: ReadonlySet<StepPhase> = new Set([
  'Succeeded',
  'Failed',
  'Denied',
  'Error',
  'Skipped',
  'Cancelled',
]);
const TERMINAL_RUN: ReadonlySet<RunPhase> = new Set(['Succeeded', 'Failed', 'Cancelled']);

export const stepDone = (s: StepState): boolean => TERMINAL_STEP.has(s.phase);
export const runDone = (phase: RunPhase): boolean => TERMINAL_RUN.has(phase);
/** A step that ended other than Succeeded (Skipped is a consequence, not a cause). */
export const stepFailed = (s: StepState): boolean => stepDone(s) && s.phase !== 'Succeeded' && s.phase !== 'Skipped';

export function summary(steps: readonly StepState[]): string {
  const count = (p: StepPhase): number => steps.filter((s) => s.phase === p).length;
  const parts = [`${count('Succeeded')}/${steps.length} succeeded`];
  for (const p of ['Running', 'Failed', 'Denied', 'Error', 'Cancelled', 'Skipped'] as const)
    if (count(p) > 0) parts.push(`${count(p)} ${p.toLowerCase()}`);
  return parts.join(', ');
}

/** The initial status of a run whose steps are known: everything Pending. */
export function pendingStatus(stepNames: readonly string[]): RunStatus {
  const steps = stepNames.map((name) => ({ name, phase: 'Pending' as const }));
  return { phase: 'Pending', summary: summary(steps), steps };
}
