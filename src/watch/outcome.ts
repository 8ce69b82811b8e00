import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

export interface PodOutcome {
  readonly phase: 'Succeeded' | 'Failed';
  readonly exitCode?: number | undefined;
  /** Kubernetes' reason: Completed, Error, OOMKilled, DeadlineExceeded, ... */
  readonly reason?: string | undefined;
}

/**
 * Level-based: decides from the pod as observed now, never from an event delta. Returns undefined
 * while the pod has not finished.
 */
export function podOutcome(pod: V1Pod): PodOutcome | undefined {
  const phase = pod.status?.phase;
  if (phase !== 'Succeeded' && phase !== 'Failed') return undefined;
  const step = pod.status?.containerStatuses?.find((c) => c.name === 'step');
  const terminated = step?.state?.terminated;
  return {
    phase,
    exitCode: terminated?.exitCode,
    reason: pod.status?.reason ?? terminated?.reason,
  };
}

/** Waiting reasons that never resolve by themselves: the step fails once the grace period is over. */
const FAIL_FAST_REASONS: ReadonlySet<string> = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
]);

export type PodJudgement =
  | { readonly kind: 'finished'; readonly outcome: PodOutcome }
  | { readonly kind: 'running'; readonly reason?: string | undefined; readonly message?: string | undefined }
  | { readonly kind: 'stuck'; readonly reason: string; readonly message: string }
  | { readonly kind: 'deadline'; readonly seconds: number };

export interface JudgeOptions {
  readonly now: Date;
  /** The step's timeout, counted from the pod's creation (pending time included). */
  readonly deadlineSeconds: number;
  /** How long a fail-fast waiting reason is tolerated (an image pull may recover). */
  readonly failFastGraceSeconds: number;
}

/**
 * The reconciler's view of one step pod: finished (with its outcome), stuck (a waiting reason
 * that will not resolve, past the grace period), over its deadline (the runner's own, enforced
 * even where nothing enforces activeDeadlineSeconds), or still running — with the reason to
 * report while it waits (Unschedulable, ImagePullBackOff during the grace period, ...).
 */
export function judgePod(pod: V1Pod, o: JudgeOptions): PodJudgement {
  const outcome = podOutcome(pod);
  if (outcome !== undefined) return { kind: 'finished', outcome };
  const created =
    pod.metadata?.creationTimestamp !== undefined
      ? new Date(pod.metadata.creationTimestamp).getTime()
      : o.now.getTime();
  const age = (o.now.getTime() - created) / 1000;
  if (age >= o.deadlineSeconds) return { kind: 'deadline', seconds: o.deadlineSeconds };
  const statuses: V1ContainerStatus[] = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  const waiting = statuses
    .map((c) => ({ name: c.name, ...c.state?.waiting }))
    .find((w) => w.reason !== undefined && FAIL_FAST_REASONS.has(w.reason));
  if (waiting?.reason !== undefined) {
    const message = `container ${waiting.name}: ${waiting.reason}${waiting.message !== undefined ? `: ${waiting.message.slice(0, 300)}` : ''}`;
    return age >= o.failFastGraceSeconds
      ? { kind: 'stuck', reason: waiting.reason, message }
      : { kind: 'running', reason: waiting.reason, message };
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable')
    return { kind: 'running', reason: 'Unschedulable', message: scheduled.message?.slice(0, 300) };
  return { kind: 'running' };
}
