import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { Result } from '../errors/result.ts';
import type { PodOutcome } from '../watch/outcome.ts';

export interface CreatedPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

/** The port through which pods reach the API server and their ends are observed. */
export interface PodGateway {
  create(pod: V1Pod): Promise<Result<CreatedPod>>;
  /** Creates the run's PVCs (an existing one is fine: a retried run reuses it). */
  createClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>>;
  /** Resolves when the pod has Succeeded or Failed, or with WATCH_FAILED after timeoutMs. */
  outcome(name: string, timeoutMs: number): Promise<Result<PodOutcome>>;
}
