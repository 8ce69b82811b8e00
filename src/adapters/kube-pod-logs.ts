import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { fail, ok, type Result } from '../errors/result.ts';
import type { PodLogs } from '../ports/pod-logs.ts';
import { apiCause } from './kube-errors.ts';

/** A step container's log through pods/log. */
export class KubePodLogs implements PodLogs {
  private readonly core: CoreV1Api;
  private readonly namespace: string;

  constructor(kc: KubeConfig, namespace: string) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.namespace = namespace;
  }

  async read(name: string, container: string, limitBytes: number): Promise<Result<string>> {
    try {
      return ok(await this.core.readNamespacedPodLog({ name, namespace: this.namespace, container, limitBytes }));
    } catch (thrown) {
      return fail('LOG_READ_FAILED', `could not read the log of pod ${name}: ${apiCause(thrown)}`);
    }
  }
}
