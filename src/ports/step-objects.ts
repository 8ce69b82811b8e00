import type { V1NetworkPolicy, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { EgressObject } from '../egress/network-policy.ts';
import type { Result } from '../errors/result.ts';

/** What a run owns in the cluster, by kind (for cleanup and orphan collection). */
export interface OwnedObject {
  readonly kind: 'Pod' | 'PersistentVolumeClaim' | 'NetworkPolicy' | 'CiliumNetworkPolicy';
  readonly name: string;
  /** The owning WorkflowRun's uid; undefined when the object has no such owner. */
  readonly owner?: string | undefined;
}

/**
 * What steps need besides their pods — the run's volume claims (PVCs) and each step's egress
 * policy — and the listing and deletion of everything a run owns. Every method returns a Result and
 * never throws. The adapter is src/adapters/kube-step-objects.ts; the in-memory twin MemoryPods in
 * test/support/memory.ts (one in-memory cluster behind all three pod ports).
 */
export interface StepObjects {
  /**
   * Creates the run's volume claims; their names. An existing one is adopted only when it is this
   * run's (a pass interrupted after creating it); one that is not fails with STEP_OBJECT_CONFLICT
   * (src/create/adopt.ts). CREATE_REJECTED, CREATE_FAILED otherwise.
   */
  createVolumeClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>>;
  /**
   * Makes a step's egress policy exist as given before its pod is created: created; an existing one
   * is adopted only when it is this run's and step's (src/create/adopt.ts), and replaced when its
   * spec differs; one that is not ours fails with STEP_OBJECT_CONFLICT and is left alone.
   */
  createEgress(policy: EgressObject): Promise<Result<void>>;
  /**
   * Makes the runner's namespace-wide DNS policy (src/egress/network-policy.ts, stepDnsPolicy)
   * exist exactly as given: read, created when missing, replaced (delete, create) when ours with
   * another spec. Every call is answered by a read begun after it was made; calls made at the same
   * time share one such read (src/adapters/kube-fresh.ts). EGRESS_BASELINE_UNCONFIRMED when it cannot be confirmed (the API server
   * unreachable, RBAC, an object by its name that is not the runner's): no step may start then.
   */
  ensureStepDns(policy: V1NetworkPolicy): Promise<Result<void>>;
  /** Every pod, PVC and egress policy of this runner (by the runner label), or of one workflow run id. LIST_FAILED. */
  owned(runId?: string): Promise<Result<readonly OwnedObject[]>>;
  /** Deletes the listed objects (gone already is fine); how many. DELETE_FAILED at the first that fails. */
  deleteObjects(objects: readonly OwnedObject[]): Promise<Result<number>>;
}
