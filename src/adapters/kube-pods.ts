import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  type KubeConfig,
  type V1ObjectMeta,
  type V1PersistentVolumeClaim,
  type V1Pod,
} from '@kubernetes/client-node';
import { Followed } from './followed.ts';
import { adoptable, sameSpec } from '../create/adopt.ts';
import type { CreatedPod, OwnedObject, PodGateway } from '../ports/pods.ts';
import type { EgressMode, EgressObject } from '../egress/network-policy.ts';
import { describeThrown, fail, ok, type Result } from '../errors/result.ts';
import { LABELS } from '../pod/names.ts';

const CILIUM = Object.freeze({ group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies' });

/**
 * Step pods and what they need (PVCs, egress policies) through @kubernetes/client-node. All of
 * this runner's pods are followed by ONE informer (list + watch) filtered by the kubiya.ai/runner
 * label — never a watch per pod; a change is reported as the name of the run that owns the pod.
 */
export class KubePodGateway extends Followed<V1Pod> implements PodGateway {
  private readonly core: CoreV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly namespace: string;
  private readonly selector: string;
  private readonly egressMode: EgressMode;

  constructor(kc: KubeConfig, namespace: string, runner: string, egressMode: EgressMode = 'networkpolicy') {
    const core = kc.makeApiClient(CoreV1Api);
    const labelSelector = `${LABELS.runner}=${runner}`;
    super(kc, {
      kind: 'pods',
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: () => core.listNamespacedPod({ namespace, labelSelector }),
      labelSelector,
    });
    this.core = core;
    this.namespace = namespace;
    this.egressMode = egressMode;
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.selector = labelSelector;
    const onPod = (pod: V1Pod): void => {
      slim(pod);
      const run = runOf(pod.metadata);
      if (run !== undefined) for (const l of this.listeners) l(run);
    };
    this.informer.on('add', onPod);
    this.informer.on('update', onPod);
    this.informer.on('delete', onPod);
  }

  cached(name: string): V1Pod | undefined {
    return this.informer.get(name, this.namespace);
  }

  async get(name: string): Promise<V1Pod | undefined> {
    const cached = this.cached(name);
    if (cached !== undefined) return cached;
    try {
      return await this.core.readNamespacedPod({ name, namespace: this.namespace });
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return undefined;
      throw e;
    }
  }

  async create(pod: V1Pod): Promise<Result<CreatedPod>> {
    try {
      const created = await this.core.createNamespacedPod({ namespace: this.namespace, body: pod });
      return ok({ name: created.metadata?.name ?? '', namespace: this.namespace, uid: created.metadata?.uid ?? '' });
    } catch (thrown) {
      return refused(thrown, 'the pod');
    }
  }

  async logs(name: string, container: string, limitBytes: number): Promise<Result<string>> {
    try {
      return ok(await this.core.readNamespacedPodLog({ name, namespace: this.namespace, container, limitBytes }));
    } catch (thrown) {
      return fail(
        'WATCH_FAILED',
        `could not read the log of pod ${name}: ${thrown instanceof ApiException ? String(thrown.code) : describeThrown(thrown)}`,
      );
    }
  }

  async delete(name: string): Promise<Result<void>> {
    return this.deleteObjects([{ kind: 'Pod', name }]).then((r) => (r.ok ? ok(undefined) : r));
  }

  async createClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>> {
    const names: string[] = [];
    for (const body of claims) {
      const made = await this.createOrAdoptClaim(body);
      if (!made.ok) return made;
      names.push(body.metadata?.name ?? '');
    }
    return ok(names);
  }

  /** One PVC: created, or (AlreadyExists) adopted only when it is this run's (src/create/adopt.ts). */
  private async createOrAdoptClaim(body: V1PersistentVolumeClaim): Promise<Result<void>> {
    const name = body.metadata?.name ?? '';
    try {
      await this.core.createNamespacedPersistentVolumeClaim({ namespace: this.namespace, body });
      return ok(undefined);
    } catch (thrown) {
      if (!(thrown instanceof ApiException && thrown.code === 409)) return refused(thrown, `volume ${name}`);
    }
    try {
      const existing = await this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.namespace });
      return adoptable('PersistentVolumeClaim', existing.metadata, body.metadata);
    } catch (thrown) {
      return refused(thrown, `the existing volume ${name}`);
    }
  }

  /**
   * A step's egress policy, in force and this step's before its pod is created: created; or, when
   * one by its name exists, adopted only if it is this run's and step's (STEP_OBJECT_CONFLICT
   * otherwise) and replaced (delete, create) if its spec is not this pass's — never updated in place
   * (the runner's Role has no update verb) and never widened: between the delete and the create the
   * namespace's default-deny is all that applies.
   */
  async createEgress(policy: EgressObject): Promise<Result<void>> {
    const name = policy.metadata?.name ?? '';
    const created = await this.createEgressOnce(policy);
    if (created.ok || created.error.code !== 'CREATE_EXISTS') return created;
    const existing = await this.readEgress(policy.kind, name);
    if (!existing.ok) return existing;
    if (existing.value === undefined) return this.createEgressOnce(policy); // deleted meanwhile: create it now
    const ours = adoptable(policy.kind, existing.value.metadata, policy.metadata);
    if (!ours.ok) return ours;
    if (sameSpec(existing.value.spec, policy.spec)) return ok(undefined);
    const dropped = await this.deleteObjects([{ kind: policy.kind, name }]);
    if (!dropped.ok) return dropped;
    return this.createEgressOnce(policy);
  }

  private async createEgressOnce(policy: EgressObject): Promise<Result<void>> {
    try {
      if (policy.kind === 'NetworkPolicy')
        await this.networking.createNamespacedNetworkPolicy({ namespace: this.namespace, body: policy as never });
      else await this.custom.createNamespacedCustomObject({ ...CILIUM, namespace: this.namespace, body: policy });
      return ok(undefined);
    } catch (thrown) {
      return refused(thrown, `the egress policy ${policy.metadata?.name ?? ''}`);
    }
  }

  /** An egress policy's metadata and spec as the API server has them; undefined when there is none. */
  private async readEgress(
    kind: EgressObject['kind'],
    name: string,
  ): Promise<Result<{ metadata?: V1ObjectMeta; spec?: unknown } | undefined>> {
    try {
      if (kind === 'NetworkPolicy')
        return ok(await this.networking.readNamespacedNetworkPolicy({ name, namespace: this.namespace }));
      return ok(
        (await this.custom.getNamespacedCustomObject({ ...CILIUM, namespace: this.namespace, name })) as {
          metadata?: V1ObjectMeta;
          spec?: unknown;
        },
      );
    } catch (thrown) {
      if (thrown instanceof ApiException && thrown.code === 404) return ok(undefined);
      return refused(thrown, `the existing egress policy ${name}`);
    }
  }

  async owned(runId?: string): Promise<Result<readonly OwnedObject[]>> {
    const namespace = this.namespace;
    const labelSelector = runId === undefined ? this.selector : `${this.selector},${LABELS.run}=${runId}`;
    try {
      const [pods, claims, policies] = await Promise.all([
        this.core.listNamespacedPod({ namespace, labelSelector }),
        this.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }),
        this.egressMode === 'networkpolicy'
          ? this.networking.listNamespacedNetworkPolicy({ namespace, labelSelector })
          : (this.custom.listNamespacedCustomObject({ ...CILIUM, namespace, labelSelector }) as Promise<{
              items: { metadata?: V1ObjectMeta }[];
            }>),
      ]);
      const policyKind = this.egressMode === 'networkpolicy' ? 'NetworkPolicy' : 'CiliumNetworkPolicy';
      const of = (kind: OwnedObject['kind'], items: readonly { metadata?: V1ObjectMeta }[]): OwnedObject[] =>
        items.map((i) => ({
          kind,
          name: i.metadata?.name ?? '',
          owner: i.metadata?.ownerReferences?.find((o) => o.kind === 'WorkflowRun')?.uid,
        }));
      return ok([
        ...of('Pod', pods.items),
        ...of('PersistentVolumeClaim', claims.items),
        ...of(policyKind, policies.items),
      ]);
    } catch (thrown) {
      return fail(
        'CREATE_FAILED',
        `could not list the runner's objects: ${thrown instanceof ApiException ? String(thrown.code) : describeThrown(thrown)}`,
      );
    }
  }

  async deleteObjects(objects: readonly OwnedObject[]): Promise<Result<number>> {
    const namespace = this.namespace;
    let deleted = 0;
    for (const { kind, name } of objects) {
      try {
        if (kind === 'Pod') await this.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
        else if (kind === 'PersistentVolumeClaim')
          await this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace });
        else if (kind === 'NetworkPolicy') await this.networking.deleteNamespacedNetworkPolicy({ name, namespace });
        else await this.custom.deleteNamespacedCustomObject({ ...CILIUM, namespace, name });
        deleted++;
      } catch (thrown) {
        if (!(thrown instanceof ApiException && thrown.code === 404))
          return fail(
            'CREATE_FAILED',
            `could not delete ${kind} ${name}: ${thrown instanceof ApiException ? String(thrown.code) : describeThrown(thrown)}`,
          );
      }
    }
    return ok(deleted);
  }
}

/**
 * What the cache keeps of a pod: the reconciler reads its metadata (name, owner, creation time)
 * and status only. The spec and managedFields are most of a pod's bytes; with thousands of step
 * pods cached they would be most of the runner's memory. Done in place: the informer caches this
 * very object.
 */
function slim(pod: V1Pod): void {
  if (pod.metadata !== undefined) {
    delete pod.metadata.managedFields;
    delete pod.metadata.annotations;
  }
  delete pod.spec;
}

/** The WorkflowRun that owns an object, by its ownerReference. */
function runOf(meta: V1ObjectMeta | undefined): string | undefined {
  return meta?.ownerReferences?.find((o) => o.kind === 'WorkflowRun')?.name;
}

function refused(thrown: unknown, what: string): Result<never> {
  if (thrown instanceof ApiException) {
    const message = apiMessage(thrown);
    if (thrown.code === 409) return fail('CREATE_EXISTS', `${what} already exists: ${message}`);
    if (thrown.code === 403 || thrown.code === 422 || thrown.code === 400 || thrown.code === 404)
      return fail('CREATE_REJECTED', `API server rejected ${what} (${thrown.code}): ${message}`);
    return fail('CREATE_FAILED', `API server error on ${what} (${thrown.code}): ${message}`);
  }
  return fail('CREATE_FAILED', `API server unreachable: ${describeThrown(thrown)}`);
}

function apiMessage(e: ApiException<unknown>): string {
  const body: unknown = typeof e.body === 'string' ? safeJson(e.body) : e.body;
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string')
    return body.message.slice(0, 1000);
  return 'no message';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
