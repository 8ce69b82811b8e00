/**
 * Readiness of a freshly started controller, checked the only way that proves the whole chain: one
 * small Workflow through the guard, Argo's pod through restricted Pod Security admission, kwok,
 * and back to Workflow Succeeded. The controller has no other usable readiness signal (its /healthz
 * is on the port we keep it from binding, install.ts). Removed again before the row is measured.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Started } from '../../../src/dev/processes.ts';

const WARMUP = 'argo-warmup';
/** The defaults row waits up to one 10 s requeue after the pod ends; allow for a loaded machine. */
const WARMUP_TIMEOUT_MS = 90_000;

/** The smallest pod the guard admits: pinned image from an allowed registry, requests and memory limit. */
export function warmUpPod(): V1Pod {
  const resources = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '16Mi' } };
  return {
    metadata: { name: WARMUP },
    spec: { containers: [{ name: 'step', image: 'registry.k8s.io/pause:3.10', command: ['/pause'], resources }] },
  };
}

/**
 * Submits the warm-up Workflow, waits for Succeeded (ms taken), then deletes it and its pod.
 * Errors: the controller exited, or Succeeded did not come within WARMUP_TIMEOUT_MS (with the
 * Workflow's phase and message, and the controller log's path).
 */
export async function warmUp(
  kc: KubeConfig,
  namespace: string,
  proc: Started,
  submit: (pod: V1Pod) => Promise<unknown>,
): Promise<number> {
  const t0 = Date.now();
  await submit(warmUpPod());
  const api = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows', namespace, name: WARMUP };
  let last: { phase?: string; message?: string } = {};
  while (Date.now() - t0 < WARMUP_TIMEOUT_MS) {
    if (proc.child.exitCode !== null)
      throw new Error(`workflow-controller exited (${proc.child.exitCode}); see ${proc.log}`);
    last = ((await api.getNamespacedCustomObject(ref)) as { status?: typeof last }).status ?? {};
    if (last.phase === 'Succeeded') break;
    if (last.phase === 'Failed' || last.phase === 'Error')
      throw new Error(`argo warm-up Workflow ${last.phase}: ${last.message ?? ''}; see ${proc.log}`);
    await sleep(100);
  }
  if (last.phase !== 'Succeeded')
    throw new Error(
      `argo warm-up not Succeeded after ${WARMUP_TIMEOUT_MS} ms (phase ${last.phase ?? 'none'}); see ${proc.log}`,
    );
  const ms = Date.now() - t0;
  await api.deleteNamespacedCustomObject(ref);
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespacedPod({ namespace, name: WARMUP, gracePeriodSeconds: 0 })
    .catch(() => undefined);
  return ms;
}
