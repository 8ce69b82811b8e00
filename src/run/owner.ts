import type { V1OwnerReference } from '@kubernetes/client-node';
import type { AdmittedRun } from './admitted.ts';

/**
 * The ownerReference that ties what a step needs (pod, egress policy) to its WorkflowRun, so it is
 * garbage-collected with it; undefined before the run has a uid (never: a reconciled run has one).
 */
export function runOwner(run: AdmittedRun): V1OwnerReference | undefined {
  return run.uid === undefined
    ? undefined
    : {
        apiVersion: 'kubiya.ai/v1alpha1',
        kind: 'WorkflowRun',
        name: run.name,
        uid: run.uid,
        controller: true,
        blockOwnerDeletion: true,
      };
}
