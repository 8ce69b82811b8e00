/**
 * The create stage: what a step needs, in the cluster, in its order — its egress policy in force
 * before its pod exists — through the ports. An object that already exists is adopted only when it
 * is this run's and step's (src/create/adopt.ts). Recording the outcome is the caller's.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { EgressObject } from '../egress/network-policy.ts';
import { ok, type Result } from '../errors/result.ts';
import type { Pods } from '../ports/pods.ts';
import type { StepObjects } from '../ports/step-objects.ts';
import { adoptable } from './adopt.ts';

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
 * adopted only when it is this run's and step's — anything else is STEP_OBJECT_CONFLICT.
 */
async function createOrAdoptPod(pod: V1Pod, pods: Pods): Promise<Result<void>> {
  const created = await pods.create(pod);
  if (created.ok) return ok(undefined);
  if (created.error.code !== 'CREATE_EXISTS') return created;
  const existing = await pods.get(pod.metadata?.name ?? '');
  return adoptable('pod', existing?.metadata, pod.metadata);
}
