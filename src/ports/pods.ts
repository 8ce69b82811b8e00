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
  /**
   * Creates the run's PVCs. An existing one is adopted only when it is this run's (a pass interrupted
   * after creating it); one that is not fails with STEP_OBJECT_CONFLICT (src/create/adopt.ts).
   */
  createClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>>;
  /**
   * Makes a step's egress policy exist as given before its pod is created: created; an existing one
   * is adopted only when it is this run's and step's (src/create/adopt.ts), and replaced when its
   * spec differs; one that is not ours fails with STEP_OBJECT_CONFLICT and is left alone.
   */
  createEgress(policy: EgressObject): Promise<Result<void>>;
  /** Every pod, PVC and egress policy of this runner (by the runner label), or of one workflow run id. */
  owned(runId?: string): Promise<Result<readonly OwnedObject[]>>;
  /** Deletes the listed objects (gone already is fine). */
  deleteObjects(objects: readonly OwnedObject[]): Promise<Result<number>>;
  /** Called with the owning run's name whenever one of its pods changes. */
  onChange(listener: (run: string) => void): void;
}
