import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1NetworkPolicy,
  type V1ObjectMeta,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import { adoptable, sameSpec } from '../create/adopt.ts';
import type { EgressMode, EgressObject } from '../egress/network-policy.ts';
import { fail, ok, type Result } from '../errors/result.ts';
import { LABELS } from '../pod/names.ts';
import type { OwnedObject, StepObjects } from '../ports/step-objects.ts';
import { apiCause, refused } from './kube-errors.ts';
import { FreshReads } from './kube-fresh.ts';
import { kubeJson, knownFields, segment } from './kube-json.ts';
import { listAllPages, METADATA_ONLY, type ListPage } from './followed.ts';

const CILIUM = Object.freeze({ group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies' });

/**
 * What steps need besides their pods (volume claims, egress policies), and the listing and deletion
 * of everything a run owns, through @kubernetes/client-node. Every method returns a Result.
 */
export class KubeStepObjects implements StepObjects {
  private readonly core: CoreV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly kc: KubeConfig;
  private readonly namespace: string;
  private readonly selector: string;
  private readonly egressMode: EgressMode;
  /** One FreshReads per DNS policy asked for (in practice one: the runner's), keyed by its name, labels and spec. */
  private readonly dnsReads = new Map<string, FreshReads<Result<void>>>();

  constructor(kc: KubeConfig, namespace: string, runner: string, egressMode: EgressMode = 'networkpolicy') {
    this.core = kc.makeApiClient(CoreV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.kc = kc;
    this.namespace = namespace;
    this.egressMode = egressMode;
    this.selector = `${LABELS.runner}=${runner}`;
  }

  async createVolumeClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>> {
    const names: string[] = [];
    for (const body of claims) {
      const made = await this.createOrAdoptVolumeClaim(body);
      if (!made.ok) return made;
      names.push(body.metadata?.name ?? '');
    }
    return ok(names);
  }

  /** One PVC: created, or (AlreadyExists) adopted only when it is this run's (src/create/adopt.ts). */
  private async createOrAdoptVolumeClaim(body: V1PersistentVolumeClaim): Promise<Result<void>> {
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

  /**
   * An egress policy's metadata and spec as the API server has them; undefined when there is none.
   * A NetworkPolicy is read as plain JSON (kube-json.ts: the runner's DNS policy is read before
   * every step, ~0.5 ms less client CPU per read than client-node's fetch and ObjectSerializer,
   * issue 20), its spec reduced to the fields client-node's model of it knows (`knownFields`), so
   * that `sameSpec` compares what it compared when the typed client read it: a field a newer API
   * server defaults and the model does not know never makes the policy differ (and be replaced,
   * with no DNS between the delete and the create). The metadata is read for its labels and owner.
   */
  private async readEgress(
    kind: EgressObject['kind'],
    name: string,
  ): Promise<Result<{ metadata?: V1ObjectMeta; spec?: unknown } | undefined>> {
    try {
      if (kind === 'NetworkPolicy') {
        const path = `/apis/networking.k8s.io/v1/namespaces/${segment(this.namespace)}/networkpolicies/${segment(name)}`;
        const read = await kubeJson<{ metadata?: V1ObjectMeta; spec?: unknown }>(this.kc, { method: 'GET', path });
        return ok({ metadata: read.metadata, spec: knownFields(read.spec, 'V1NetworkPolicySpec') });
      }
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

  /**
   * The runner's DNS policy confirmed by a read that starts after this call (never an earlier
   * read's answer: red team 4 finding 2), and made as rendered when it is not (`confirmStepDns`).
   * Calls that wait at the same time share one confirmation (FreshReads, kube-fresh.ts): a call made
   * while one is in flight waits for the next, which starts when that one ends and answers every
   * call made meanwhile; so passes starting steps on several workers at once cost one GET, not one
   * each (issue 20, h-steps-6). Calls for another policy (name, labels or spec) never share.
   */
  ensureStepDns(policy: V1NetworkPolicy): Promise<Result<void>> {
    const key = JSON.stringify([policy.metadata?.name, policy.metadata?.labels, policy.spec]);
    let reads = this.dnsReads.get(key);
    if (reads === undefined) {
      reads = new FreshReads(() => this.confirmStepDns(policy));
      this.dnsReads.set(key, reads);
    }
    return reads.fresh();
  }

  /**
   * The runner's DNS policy read (one GET) every time, never trusted from an earlier read (red team 4
   * finding 2: deleted, widened or replaced after a confirmation): as rendered, confirmed; ours but
   * different (widened, narrowed, labels kept), deleted and created again; absent, created; another's
   * by that name, EGRESS_BASELINE_UNCONFIRMED (left alone). Created by someone else between the read
   * and the create (AlreadyExists): read and judged once more (`again`). A reconcile pass calls it
   * just before it starts a step, so only a change between that read and the pod's create is not seen.
   */
  private async confirmStepDns(policy: V1NetworkPolicy, again = true): Promise<Result<void>> {
    const name = policy.metadata?.name ?? '';
    const unconfirmed = (why: string): Result<void> =>
      fail('EGRESS_BASELINE_UNCONFIRMED', `the runner's DNS policy ${name} could not be confirmed: ${why}`);
    const existing = await this.readEgress('NetworkPolicy', name);
    if (!existing.ok) return unconfirmed(existing.error.message);
    if (existing.value !== undefined) {
      const theirs = existing.value.metadata?.labels ?? {};
      const ours = Object.entries(policy.metadata?.labels ?? {}).every(([k, v]) => theirs[k] === v);
      if (!ours) return unconfirmed("an object by its name exists and is not this runner's (left alone)");
      if (!sameSpec(existing.value.spec, policy.spec)) {
        // Between the delete and the create, the namespace's default-deny alone applies: no DNS, never more.
        const dropped = await this.deleteObjects([{ kind: 'NetworkPolicy', name }]);
        if (!dropped.ok) return unconfirmed(dropped.error.message);
      } else return ok(undefined);
    }
    const created = await this.createEgressOnce({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: policy.metadata,
      spec: policy.spec,
    });
    // Made meanwhile (another pass of this process starting a step at the same time, another
    // replica): read again, once, and judged as above.
    if (!created.ok && created.error.code === 'CREATE_EXISTS' && again) return this.confirmStepDns(policy, false);
    if (!created.ok) return unconfirmed(created.error.message);
    return ok(undefined);
  }

  async owned(runId?: string): Promise<Result<readonly OwnedObject[]>> {
    const namespace = this.namespace;
    const labelSelector = runId === undefined ? this.selector : `${this.selector},${LABELS.run}=${runId}`;
    // Metadata only (METADATA_ONLY), paged, each page reduced to names and owners as it arrives: the
    // orphan sweep lists every pod of the runner, and at 5,000 pods one response held ~100 MiB of
    // full pod objects at once, which the typed client then deserialized (issue 20 §2).
    const paged = (kind: OwnedObject['kind'], list: (page: ListPage) => Promise<{ items: Listed[] }>) =>
      listAllPages(list, slimOwned).then((l) => l.items.map((i) => ownedOf(kind, i)));
    const page = (p: ListPage) => ({ namespace, labelSelector, limit: p.limit, _continue: p.continue });
    try {
      const parts = await Promise.all([
        paged('Pod', (p) => this.core.listNamespacedPod(page(p), METADATA_ONLY)),
        paged('PersistentVolumeClaim', (p) => this.core.listNamespacedPersistentVolumeClaim(page(p), METADATA_ONLY)),
        this.egressMode === 'networkpolicy'
          ? paged('NetworkPolicy', (p) => this.networking.listNamespacedNetworkPolicy(page(p), METADATA_ONLY))
          : paged(
              'CiliumNetworkPolicy',
              (p) =>
                this.custom.listNamespacedCustomObject({ ...CILIUM, ...page(p) }, METADATA_ONLY) as Promise<{
                  items: Listed[];
                }>,
            ),
      ]);
      return ok(parts.flat());
    } catch (thrown) {
      return fail('LIST_FAILED', `could not list the runner's objects: ${apiCause(thrown)}`);
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
          return fail('DELETE_FAILED', `could not delete ${kind} ${name}: ${apiCause(thrown)}`);
      }
    }
    return ok(deleted);
  }
}

type Listed = KubernetesObject;

/** What the sweep keeps of a listed object until the list is complete: its name and owner references. */
function slimOwned(item: Listed): void {
  const meta = item.metadata;
  for (const key of Object.keys(item)) if (key !== 'metadata') delete (item as Record<string, unknown>)[key];
  if (meta !== undefined) item.metadata = { name: meta.name, ownerReferences: meta.ownerReferences };
}

function ownedOf(kind: OwnedObject['kind'], item: Listed): OwnedObject {
  return {
    kind,
    name: item.metadata?.name ?? '',
    owner: item.metadata?.ownerReferences?.find((o) => o.kind === 'WorkflowRun')?.uid,
  };
}
