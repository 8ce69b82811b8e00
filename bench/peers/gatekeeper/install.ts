import {
  AdmissionregistrationV1Api,
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROW_LABEL, WEBHOOK_NAMES, type KubeObject } from './manifests.ts';

/**
 * The Gatekeeper row's cluster objects: created in order, removed best-effort (a missing object
 * is already removed), so stop() leaves the shared API server as the next row expects it.
 */

async function ignoreStatus<T>(p: Promise<T>, ...codes: number[]): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException && codes.includes(e.code))) throw e;
  }
}

/**
 * Creates custom objects in order, each retried (on "no such kind": a Constraint's CRD appears only
 * after Gatekeeper has compiled its template) until timeoutMs.
 */
export async function createAll(kc: KubeConfig, objects: readonly KubeObject[], timeoutMs: number): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const deadline = Date.now() + timeoutMs;
  for (const o of objects) {
    for (;;) {
      try {
        await ignoreStatus(api.create(o as KubernetesObject), 409);
        break;
      } catch (e) {
        if (Date.now() > deadline)
          throw new Error(`gatekeeper: cannot create ${o.kind} ${o.metadata.name}: ${String(e)}`, { cause: e });
        await sleep(250);
      }
    }
  }
}

/** Deletes custom objects (missing ones and missing kinds are fine). */
export async function deleteAll(kc: KubeConfig, objects: readonly KubeObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects) {
    try {
      await api.delete(o);
    } catch {
      // gone already, or its CRD is
    }
  }
}

/** The namespace Gatekeeper reports its per-pod status objects in, and a pod object standing for
 * the process (Gatekeeper owns its status objects by that pod, as in a cluster; kwok "runs" it). */
export async function createSystemNamespace(kc: KubeConfig, namespace: string, podName: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await ignoreStatus(
    core.createNamespace({ body: { metadata: { name: namespace, labels: { [ROW_LABEL]: 'gatekeeper' } } } }),
    409,
  );
  const container = {
    name: 'gatekeeper',
    image: 'registry.k8s.io/pause:3.10',
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  };
  const body = {
    metadata: { name: podName },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [container],
    },
  };
  await ignoreStatus(core.createNamespacedPod({ namespace, body }), 409);
}

/** Removes the webhook configurations first (so nothing calls a stopped Gatekeeper), by name. */
export async function deleteWebhooks(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  await ignoreStatus(api.deleteValidatingWebhookConfiguration({ name: WEBHOOK_NAMES.validating }), 404);
  await ignoreStatus(api.deleteMutatingWebhookConfiguration({ name: WEBHOOK_NAMES.mutating }), 404);
}

const isGatekeeperCrd = (group: string): boolean => group === 'gatekeeper.sh' || group.endsWith('.gatekeeper.sh');

/**
 * Deletes every *.gatekeeper.sh CRD (the installed ones and the Constraint CRDs Gatekeeper
 * generated) and the system namespace; waits (at most timeoutMs) until the CRDs are gone, so the
 * next row's API server serves none of Gatekeeper's kinds. Returns the names still there.
 */
export async function deleteCrdsAndNamespace(kc: KubeConfig, namespace: string, timeoutMs: number): Promise<string[]> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const remaining = async (): Promise<string[]> =>
    (await ext.listCustomResourceDefinition()).items
      .filter((c) => isGatekeeperCrd(c.spec.group))
      .map((c) => c.metadata?.name ?? '');
  for (const name of await remaining()) await ignoreStatus(ext.deleteCustomResourceDefinition({ name }), 404);
  const core = kc.makeApiClient(CoreV1Api);
  await ignoreStatus(core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 }), 404);
  await ignoreStatus(core.deleteNamespace({ name: namespace }), 404);
  const deadline = Date.now() + timeoutMs;
  let left = await remaining();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(250);
    left = await remaining();
  }
  return left;
}
