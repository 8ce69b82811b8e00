import { ApiException, CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

/** A client for the local control plane from its kubeconfig file. */
export function kubeClient(kubeconfig: string): { kc: KubeConfig; core: CoreV1Api; objects: KubernetesObjectApi } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api), objects: KubernetesObjectApi.makeApiClient(kc) };
}

/**
 * Creates an object; an existing one is left as it is. "Exists" is 409, or any refusal while a read
 * finds the object: the API server validates some fields before it looks at the name (a Service with a
 * fixed clusterIP that is taken answers 422 "provided IP is already allocated"), as on a control plane
 * a node was started on before (a node left by a dead run, then cleared). Throws the create's error
 * otherwise.
 */
export async function ensure(objects: KubernetesObjectApi, body: object): Promise<void> {
  try {
    await objects.create(body);
  } catch (e) {
    if (e instanceof ApiException && e.code === 409) return;
    const exists = await objects.read(body as Parameters<KubernetesObjectApi['read']>[0]).then(
      () => true,
      () => false,
    );
    if (!exists) throw e;
  }
}

/** Polls until `probe` gives a value (not undefined), or throws `what` after timeoutMs. */
export async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`${what}: not done after ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}`);
}
