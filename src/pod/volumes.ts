import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { Workflow } from '../validate/schema.ts';
import { LABELS, volumeClaimName } from './names.ts';

/**
 * The PVCs of a run (`workflow.create_volume(...)` in the SDK): one per workflow volume, created
 * once before the first step, owned by the WorkflowRun so they go when it goes.
 */
export function buildVolumeClaims(
  run: { name: string; uid?: string | undefined; ref: { id: string; runId: string } },
  workflow: Workflow,
  o: { namespace: string; runner: string; storageClass?: string | undefined },
): V1PersistentVolumeClaim[] {
  return (workflow.volumes ?? []).map((v) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: volumeClaimName(run.name, v.name),
      namespace: o.namespace,
      labels: { [LABELS.runner]: o.runner, [LABELS.workflow]: run.ref.id, [LABELS.run]: run.ref.runId },
      ...(run.uid !== undefined
        ? {
            ownerReferences: [
              { apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: run.name, uid: run.uid, controller: true },
            ],
          }
        : {}),
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: v.size } },
      ...(o.storageClass !== undefined ? { storageClassName: o.storageClass } : {}),
    },
  }));
}
