import { ApiException, CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

/** A client for the local control plane from its kubeconfig file. */
export function kubeClient(kubeconfig: string): { kc: KubeConfig; core: CoreV1Api; objects: KubernetesObjectApi } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api), objects: KubernetesObjectApi.makeApiClient(kc) };
}

/** Creates an object; an existing one (409) is left as it is. */
export async function ensure(objects: KubernetesObjectApi, body: object): Promise<void> {
  try {
    await objects.create(body);
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  }
}

/** Polls until `probe` gives a value (not undefined), or throws `what` after timeoutMs. */
export async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
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
