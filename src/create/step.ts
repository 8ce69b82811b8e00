/**
 * The create stage: what a step needs, in the cluster, in its order — its egress policy in force
 * before its pod exists — through the ports. An object that already exists is adopted only when it
 * is this run's and step's (src/create/adopt.ts). Recording the outcome is the caller's.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { EgressObject } from '../egress/network-policy.ts';
import { fail, ok, type Result } from '../errors/result.ts';
import type { Pods } from '../ports/pods.ts';
import type { StepObjects } from '../ports/step-objects.ts';
import { adoptable } from './adopt.ts';
import { alteredFields } from './admitted.ts';

/**
 * The step's own egress policy when it has one (granted more than DNS), then its pod. Nothing
 * half-created: when the pod cannot be created or adopted, the egress policy made for it is deleted
 * again. A step without one is covered by the runner's DNS policy, which the reconcile pass
 * confirmed before it let any step start. Returns a Result, never throws.
 */
export async function createStepObjects(
  egress: EgressObject | undefined,
  pod: V1Pod,
  ports: { readonly pods: Pods; readonly objects: StepObjects },
): Promise<Result<void>> {
  if (egress !== undefined) {
    const fenced = await ports.objects.createEgress(egress);
    if (!fenced.ok) return fenced;
  }
  const created = await createOrAdoptPod(pod, ports.pods);
  if (!created.ok && egress !== undefined)
    await ports.objects.deleteObjects([{ kind: egress.kind, name: egress.metadata?.name ?? '' }]);
  return created;
}

/**
 * The step's pod: created; or, when one by its name exists (a pass that crashed after its create),
 * adopted only when it is this run's and step's — anything else is STEP_OBJECT_CONFLICT. Either way
 * the pod the API server holds must be the pod that was decided on (`alteredFields`): one that
 * admission changed is deleted, STEP_POD_ALTERED naming the fields.
 */
async function createOrAdoptPod(pod: V1Pod, pods: Pods): Promise<Result<void>> {
  const created = await pods.create(pod);
  if (created.ok) return asDecided(pod, created.value.admitted, pods);
  if (created.error.code !== 'CREATE_EXISTS') return created;
  // Read whole from the API server: the decided fields are compared, and caches keep no spec.
  const existing = await pods.getWhole(pod.metadata?.name ?? '');
  if (!existing.ok) return existing;
  const adopted = adoptable('pod', existing.value?.metadata, pod.metadata);
  return adopted.ok ? asDecided(pod, existing.value, pods) : adopted;
}

/** ok when `admitted` is `decided` on every decided field; else the pod is deleted and STEP_POD_ALTERED. */
async function asDecided(decided: V1Pod, admitted: V1Pod | undefined, pods: Pods): Promise<Result<void>> {
  const altered = alteredFields(decided, admitted);
  if (altered.length === 0) return ok(undefined);
  const name = decided.metadata?.name ?? '';
  const deleted = await pods.delete(name);
  return fail(
    'STEP_POD_ALTERED',
    `the API server's admission changed pod ${name} after the policy decided on it (${altered.join(', ')}): ` +
      `it is ${deleted.ok ? 'deleted' : 'being deleted'} and the step is not run (docs/errors.md)`,
  );
}
