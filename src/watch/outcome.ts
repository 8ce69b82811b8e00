import type { V1Pod } from '@kubernetes/client-node';

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
