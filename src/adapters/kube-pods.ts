import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  type V1ContainerStatus,
  type V1ObjectMeta,
  type V1Pod,
  type V1PodSpec,
  type V1PodStatus,
  type V1SecurityContext,
} from '@kubernetes/client-node';
import { fail, ok, type Result } from '../errors/result.ts';
import { DECISION_ANNOTATION, LABELS } from '../pod/names.ts';
import type { CreatedPod, Pods } from '../ports/pods.ts';
import { Followed } from './followed.ts';
import { apiCause, refused } from './kube-errors.ts';
import { kubeJson, knownFields, segment } from './kube-json.ts';

/** How long (ms) a created pod the informer has not delivered is trusted without an API read. */
const CONFIRM_AFTER_MS = 10_000;
/** How long (ms) at most such an entry is kept at all (far above any informer delay that is not a loss). */
const KEEP_AT_MOST_MS = 600_000;

/**
 * Step pods through @kubernetes/client-node (the create as plain JSON, kube-json.ts). All of this
 * runner's pods are followed by ONE informer (list + watch) filtered by the kubiya.ai/runner label —
 * never a watch per pod; a change is reported as the name of the run that owns the pod.
 */
export class KubePods extends Followed<V1Pod> implements Pods {
  private readonly core: CoreV1Api;
  private readonly kc: KubeConfig;
  private readonly namespace: string;
  /**
   * Pods this process created that the informer has not delivered yet, with when they were kept
   * (ms since the epoch): dropped at the informer's first event for the name, by `get` once the API
   * server no longer has the pod, and by age. An event may never come — a pod deleted before its
   * create answered, or during a watch's relist gap (red team round 6) — and a kept entry would
   * then stand for the pod until the step's deadline.
   */
  private readonly createdHere = new Map<string, { readonly pod: V1Pod; readonly at: number }>();
  /** After how long (ms) a kept entry is confirmed by an API read in `get` instead of trusted. */
  private readonly confirmAfterMs: number;

  /**
   * `options.confirmAfterMs` (default 10,000): how long a pod this process created is taken as
   * created without the informer having delivered it; after that `get` reads the API server.
   * `options.pageItems`: items per page of the informer's list (default LIST_PAGE_ITEMS, followed.ts).
   */
  constructor(
    kc: KubeConfig,
    namespace: string,
    runner: string,
    options: { readonly confirmAfterMs?: number; readonly pageItems?: number } = {},
  ) {
    const core = kc.makeApiClient(CoreV1Api);
    const labelSelector = `${LABELS.runner}=${runner}`;
    super(kc, {
      kind: 'pods',
      path: `/api/v1/namespaces/${namespace}/pods`,
      list: ({ limit, continue: from }) => core.listNamespacedPod({ namespace, labelSelector, limit, _continue: from }),
      slim,
      pageItems: options.pageItems,
      labelSelector,
    });
    this.core = core;
    this.kc = kc;
    this.namespace = namespace;
    this.confirmAfterMs = options.confirmAfterMs ?? CONFIRM_AFTER_MS;
    // The informer's pods arrive slimmed (its list and its watch: FollowedKind.slim).
    const onPod = (pod: V1Pod, deleted = false): void => {
      this.createdHere.delete(pod.metadata?.name ?? '');
      const run = runOf(pod.metadata);
      const ended = deleted || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
      if (run !== undefined) for (const l of this.listeners) l(run, ended);
    };
    this.informer.on('add', (pod) => onPod(pod));
    this.informer.on('update', (pod) => onPod(pod));
    this.informer.on('delete', (pod) => onPod(pod, true));
  }

  /**
   * The pod by its name as the informer has it, or as this process created it when the informer
   * has not caught up yet: a pass right after the create (the run's status not written yet, hold.ts)
   * finds the pod and adopts it, never creates it (and records its decision) a second time.
   */
  cached(name: string): V1Pod | undefined {
    return this.informer.get(name, this.namespace) ?? this.createdHere.get(name)?.pod;
  }

  /**
   * The pod by its name: the informer's copy; a pod this process created less than
   * `confirmAfterMs` ago that the informer has not delivered; otherwise the API server's answer
   * (undefined on 404, which also drops a kept entry: the pod is gone and the step's pod is lost).
   * Throws the client's error on any other failure.
   */
  async get(name: string): Promise<V1Pod | undefined> {
    const informed = this.informer.get(name, this.namespace);
    if (informed !== undefined) return informed;
    const kept = this.createdHere.get(name);
    if (kept !== undefined && performance.now() - kept.at < this.confirmAfterMs) return kept.pod;
    try {
      const pod = await this.core.readNamespacedPod({ name, namespace: this.namespace });
      if (kept === undefined) return pod;
      const slimmed = slim(pod);
      this.createdHere.set(name, { pod: slimmed, at: performance.now() });
      return slimmed;
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) {
        this.createdHere.delete(name);
        return undefined;
      }
      throw e;
    }
  }

  /**
   * The pod as the API server holds it now, whole (spec included; the caches keep pods slimmed),
   * or undefined on 404. Returns a Result, never throws: any other failure is CREATE_FAILED.
   */
  async getWhole(name: string): Promise<Result<V1Pod | undefined>> {
    try {
      return ok(await this.core.readNamespacedPod({ name, namespace: this.namespace }));
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return ok(undefined);
      return fail('CREATE_FAILED', `could not read Pod ${name}: ${apiCause(e)}`);
    }
  }

  /**
   * Creates the pod. Sent and answered as plain JSON (kube-json.ts: ~0.8 ms less client CPU per
   * step than client-node's fetch and ObjectSerializer, issue 20): the answer's timestamps are
   * strings, as in every pod the informer's watch delivers, and every reader takes both
   * (`new Date(...)`, watch/outcome.ts, reconcile/observe.ts). `admitted` is compared with the
   * decided pod (create/admitted.ts) on the fields client-node's model has, as before (`modelled`).
   */
  async create(pod: V1Pod): Promise<Result<CreatedPod>> {
    try {
      const created = modelled(await kubeJson<V1Pod>(this.kc, { method: 'POST', path: this.podsPath(), body: pod }));
      const name = created.metadata?.name ?? '';
      this.forgetOld();
      // slim() makes a copy: `admitted` stays whole.
      if (this.informer.get(name, this.namespace) === undefined)
        this.createdHere.set(name, { pod: slim(created), at: performance.now() });
      return ok({
        name: created.metadata?.name ?? '',
        namespace: this.namespace,
        uid: created.metadata?.uid ?? '',
        admitted: created,
      });
    } catch (thrown) {
      return refused(thrown, 'the pod');
    }
  }

  /** `/api/v1/namespaces/<ns>/pods`, the namespace URI-encoded. */
  private podsPath(): string {
    return `/api/v1/namespaces/${segment(this.namespace)}/pods`;
  }

  /** Drops kept entries older than KEEP_AT_MOST_MS: one that no event and no `get` cleared is a leak. */
  private forgetOld(): void {
    const oldest = performance.now() - KEEP_AT_MOST_MS;
    for (const [name, kept] of this.createdHere) if (kept.at < oldest) this.createdHere.delete(name);
  }

  async delete(name: string): Promise<Result<void>> {
    try {
      await this.core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 });
      return ok(undefined);
    } catch (thrown) {
      if (thrown instanceof ApiException && thrown.code === 404) return ok(undefined);
      return fail('DELETE_FAILED', `could not delete Pod ${name}: ${apiCause(thrown)}`);
    }
  }
}

/**
 * What the cache keeps of a pod: the reconciler reads its metadata (name, owner, creation time,
 * labels, the decision annotation) and the parts of its status that judge it and carry its
 * outputs (src/watch/outcome.ts, src/run/outputs.ts): phase, reason, message, the PodScheduled
 * condition, and each container status's name and state (every container status is kept: their
 * count bounds the termination message). The spec, managedFields, other annotations, the other
 * conditions, IPs, times and each container's image, resources and mounts are most of a pod's
 * bytes; with thousands of step pods cached they would be most of the runner's memory (issue 20
 * §2, peak RSS). Returns a new object (fields whose value is undefined are left out) and leaves
 * `pod` as it was: built, not stripped with `delete`, so that V8 keeps the fast layout shared by
 * every cached pod instead of a dictionary per object (~1 KB more per pod). The informer's cache
 * keeps this copy (FollowedKind.slim).
 */
export function slim(pod: V1Pod): V1Pod {
  const out: V1Pod = {};
  if (pod.apiVersion !== undefined) out.apiVersion = pod.apiVersion;
  if (pod.kind !== undefined) out.kind = pod.kind;
  if (pod.metadata !== undefined) out.metadata = slimMetadata(pod.metadata);
  if (pod.status !== undefined) out.status = slimStatus(pod.status);
  return out;
}

/** Metadata fields the cache never keeps (the annotations: the decision's alone is kept). */
const DROPPED_METADATA = new Set(['managedFields', 'generation', 'annotations']);

/** A pod's metadata without managedFields, generation, and any annotation but the decision's. */
function slimMetadata(meta: V1ObjectMeta): V1ObjectMeta {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta))
    if (value !== undefined && !DROPPED_METADATA.has(key)) out[key] = value;
  const decision = meta.annotations?.[DECISION_ANNOTATION];
  if (decision !== undefined) out.annotations = { [DECISION_ANNOTATION]: decision };
  return out;
}

/** A pod status with only what is read (see slim); keys absent from `s` stay absent. */
function slimStatus(s: V1PodStatus): V1PodStatus {
  const out: V1PodStatus = {};
  if (s.phase !== undefined) out.phase = s.phase;
  if (s.reason !== undefined) out.reason = s.reason;
  if (s.message !== undefined) out.message = s.message;
  const scheduled = s.conditions?.filter((c) => c.type === 'PodScheduled');
  if (scheduled !== undefined && scheduled.length > 0) out.conditions = scheduled;
  if (s.containerStatuses !== undefined) out.containerStatuses = s.containerStatuses.map(slimContainer);
  if (s.initContainerStatuses !== undefined) out.initContainerStatuses = s.initContainerStatuses.map(slimContainer);
  if (s.ephemeralContainerStatuses !== undefined)
    out.ephemeralContainerStatuses = s.ephemeralContainerStatuses.map(slimContainer);
  return out;
}

/** A container status's name and state, and the fields the type requires (image, ready, restarts). */
function slimContainer(c: V1ContainerStatus): V1ContainerStatus {
  const out: V1ContainerStatus = {
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    ready: c.ready,
    restartCount: c.restartCount,
  };
  if (c.state !== undefined) out.state = c.state;
  return out;
}

/**
 * A pod as the API server answered it in plain JSON, with its spec's security contexts and volumes
 * reduced to the fields client-node's model knows (`knownFields`): the parts `alteredFields`
 * (create/admitted.ts) compares whole — a security context as an object, a volume by its keys —
 * read as the typed client read them, so that a field a newer API server defaults and the model
 * does not know never makes a pod "altered". Every other compared field is read by name. Returns a
 * new pod object; `pod` is left as it was.
 */
function modelled(pod: V1Pod): V1Pod {
  const spec = pod.spec;
  if (spec === undefined) return pod;
  const out: V1PodSpec = { ...spec };
  if (spec.securityContext !== undefined)
    out.securityContext = knownFields(spec.securityContext, 'V1PodSecurityContext') as V1PodSpec['securityContext'];
  if (spec.volumes !== undefined) out.volumes = knownFields(spec.volumes, 'Array<V1Volume>') as V1PodSpec['volumes'];
  out.containers = withKnownContext(spec.containers);
  if (spec.initContainers !== undefined) out.initContainers = withKnownContext(spec.initContainers);
  if (spec.ephemeralContainers !== undefined) out.ephemeralContainers = withKnownContext(spec.ephemeralContainers);
  return { ...pod, spec: out };
}

/** Each container with its security context reduced to the fields of V1SecurityContext. */
function withKnownContext<C extends { securityContext?: V1SecurityContext }>(list: readonly C[]): C[] {
  // A list the type requires need not be there in whatever answered: kept as it came.
  const answered: unknown = list;
  if (!Array.isArray(answered)) return list as C[];
  return list.map((c) =>
    c.securityContext === undefined
      ? c
      : { ...c, securityContext: knownFields(c.securityContext, 'V1SecurityContext') as V1SecurityContext },
  );
}

/** The WorkflowRun that owns an object, by its ownerReference. */
function runOf(meta: V1ObjectMeta | undefined): string | undefined {
  return meta?.ownerReferences?.find((o) => o.kind === 'WorkflowRun')?.name;
}
