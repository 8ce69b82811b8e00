import { ApiException, CoreV1Api, makeInformer, type Informer, type KubeConfig, type ObjectCache, type V1PersistentVolumeClaim, type V1Pod } from '@kubernetes/client-node';
import type { CreatedPod, PodGateway } from '../create/pod-gateway.ts';
import { describeThrown, fail, ok, type Result } from '../errors/result.ts';
import { LABELS } from '../pod/names.ts';
import { podOutcome, type PodOutcome } from '../watch/outcome.ts';

type Waiter = (outcome: PodOutcome) => void;

/**
 * Pods through @kubernetes/client-node: creates them, and follows all of this runner's pods with
 * ONE informer (list + watch) filtered by the kubiya.ai/runner label — never a watch per pod.
 */
export class KubePodGateway implements PodGateway {
  private readonly core: CoreV1Api;
  private readonly informer: Informer<V1Pod> & ObjectCache<V1Pod>;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly namespace: string;
  private started: Promise<void> | undefined;

  constructor(kc: KubeConfig, namespace: string, runner: string) {
    this.namespace = namespace;
    this.core = kc.makeApiClient(CoreV1Api);
    const labelSelector = `${LABELS.runner}=${runner}`;
    this.informer = makeInformer(
      kc,
      `/api/v1/namespaces/${namespace}/pods`,
      () => this.core.listNamespacedPod({ namespace, labelSelector }),
      labelSelector,
    );
    const onPod = (pod: V1Pod): void => this.observe(pod);
    this.informer.on('add', onPod);
    this.informer.on('update', onPod);
    this.informer.on('error', () => {
      // client-node does not restart an informer after an error; do it after a short pause.
      setTimeout(() => void this.informer.start().catch(() => undefined), 500).unref();
    });
  }

  start(): Promise<void> {
    this.started ??= this.informer.start();
    return this.started;
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  private observe(pod: V1Pod): void {
    const name = pod.metadata?.name;
    if (name === undefined) return;
    const outcome = podOutcome(pod);
    const waiting = this.waiters.get(name);
    if (outcome === undefined || waiting === undefined) return;
    this.waiters.delete(name);
    for (const w of waiting) w(outcome);
  }

  async create(pod: V1Pod): Promise<Result<CreatedPod>> {
    try {
      const created = await this.core.createNamespacedPod({ namespace: this.namespace, body: pod });
      return ok({ name: created.metadata?.name ?? '', namespace: this.namespace, uid: created.metadata?.uid ?? '' });
    } catch (thrown) {
      if (thrown instanceof ApiException) {
        const message = apiMessage(thrown);
        if (thrown.code === 403 || thrown.code === 409 || thrown.code === 422 || thrown.code === 400) {
          return fail('CREATE_REJECTED', `API server rejected the pod (${thrown.code}): ${message}`);
        }
        return fail('CREATE_FAILED', `API server error (${thrown.code}): ${message}`);
      }
      return fail('CREATE_FAILED', `API server unreachable: ${describeThrown(thrown)}`);
    }
  }

  async createClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>> {
    const names: string[] = [];
    for (const body of claims) {
      try {
        await this.core.createNamespacedPersistentVolumeClaim({ namespace: this.namespace, body });
      } catch (thrown) {
        if (!(thrown instanceof ApiException && thrown.code === 409)) {
          return fail(thrown instanceof ApiException && thrown.code < 500 ? 'CREATE_REJECTED' : 'CREATE_FAILED', `could not create volume ${body.metadata?.name ?? ''}: ${thrown instanceof ApiException ? apiMessage(thrown) : describeThrown(thrown)}`);
        }
      }
      names.push(body.metadata?.name ?? '');
    }
    return ok(names);
  }

  async outcome(name: string, timeoutMs: number): Promise<Result<PodOutcome>> {
    await this.start();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.get(name)?.delete(waiter);
        resolve(fail('WATCH_FAILED', `pod ${name} did not finish within ${Math.round(timeoutMs / 1000)}s`));
      }, timeoutMs);
      const waiter: Waiter = (outcome) => {
        clearTimeout(timer);
        resolve(ok(outcome));
      };
      const set = this.waiters.get(name) ?? new Set<Waiter>();
      set.add(waiter);
      this.waiters.set(name, set);
      // Level-based: the pod may already be finished in the informer's cache.
      const cached = this.informer.get(name, this.namespace);
      if (cached !== undefined) this.observe(cached);
    });
  }
}

function apiMessage(e: ApiException<unknown>): string {
  const body: unknown = typeof e.body === 'string' ? safeJson(e.body) : e.body;
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return body.message.slice(0, 1000);
  return 'no message';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
