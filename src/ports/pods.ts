import type { V1Pod } from '@kubernetes/client-node';
import type { Result } from '../errors/result.ts';

export interface CreatedPod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  /** The pod as the API server created it: after its admission (defaults, plugins, webhooks). */
  readonly admitted: V1Pod;
}

/**
 * The step pods: created, observed (one informer for all of this runner's pods), deleted. The
 * adapter is src/adapters/kube-pods.ts; the in-memory twin MemoryPods in test/support/memory.ts.
 */
export interface Pods {
  /**
   * Creates a pod. Returns a Result, never throws: AlreadyExists is CREATE_EXISTS (the caller
   * decides whether to adopt it), a refusal CREATE_REJECTED, an unreachable API server CREATE_FAILED.
   */
  create(pod: V1Pod): Promise<Result<CreatedPod>>;
  /**
   * The pod as last observed (cache first, then the API server); undefined when it does not exist.
   * Throws when the API server cannot be read (the reconcile pass is retried).
   */
  get(name: string): Promise<V1Pod | undefined>;
  /**
   * The pod as the API server holds it now, whole (never from a cache: cached pods may be kept
   * without their spec); undefined when it does not exist. Returns a Result (CREATE_FAILED), never throws.
   */
  getWhole(name: string): Promise<Result<V1Pod | undefined>>;
  /** The pod as last observed, from the cache only (no API call). Never throws. */
  cached(name: string): V1Pod | undefined;
  /** Deletes a pod (gone already is fine). Returns a Result (DELETE_FAILED), never throws. */
  delete(name: string): Promise<Result<void>>;
  /**
   * Called with the owning run's name whenever one of its pods changes; `ended` is true when the
   * pod has just been seen Succeeded, Failed or deleted (the reconciler passes such a run first).
   */
  onChange(listener: (run: string, ended?: boolean) => void): void;
}
