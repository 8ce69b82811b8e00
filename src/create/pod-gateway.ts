import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { EgressObject } from '../egress/network-policy.ts';
import type { Result } from '../errors/result.ts';

export interface CreatedPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

/** What a run owns in the cluster, by kind (for cleanup and orphan collection). */
export interface OwnedObject {
  readonly kind: 'Pod' | 'PersistentVolumeClaim' | 'NetworkPolicy' | 'CiliumNetworkPolicy';
  readonly name: string;
  /** The owning WorkflowRun's uid; undefined when the object has no such owner. */
  readonly owner?: string | undefined;
}

/** The port through which step pods and what they need reach the API server, and are observed. */
export interface PodGateway {
  /** Creates a pod; AlreadyExists is CREATE_EXISTS (the caller decides whether to adopt it). */
  create(pod: V1Pod): Promise<Result<CreatedPod>>;
  /** The pod as last observed (cache first, then the API server); undefined when it does not exist. */
  get(name: string): Promise<V1Pod | undefined>;
  /** The pod as last observed, from the cache only (no API call). */
  cached(name: string): V1Pod | undefined;
  /** The first `limitBytes` of a container's log (pods/log). */
  logs(name: string, container: string, limitBytes: number): Promise<Result<string>>;
  /** Deletes a pod (gone already is fine). */
  delete(name: string): Promise<Result<void>>;
  /** Creates the run's PVCs (an existing one is fine: a retried run reuses it). */
  createClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>>;
  /** Creates a step's egress policy (an existing one is replaced by nothing: it is kept). */
  createEgress(policy: EgressObject): Promise<Result<void>>;
  /** Every pod, PVC and egress policy of this runner (by the runner label), or of one workflow run id. */
  owned(runId?: string): Promise<Result<readonly OwnedObject[]>>;
  /** Deletes the listed objects (gone already is fine). */
  deleteObjects(objects: readonly OwnedObject[]): Promise<Result<number>>;
  /** Called with the owning run's name whenever one of its pods changes. */
  onChange(listener: (run: string) => void): void;
}
