import {
  ApiException,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { Followed } from './followed.ts';
import { kubeJson, segment } from './kube-json.ts';
import type { CreatedRun, RunObject, RunStore } from '../ports/runs.ts';
import { describeThrown, fail, ok, type Result } from '../errors/result.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import { LABELS } from '../pod/names.ts';
import type { RunStatus } from '../run/status.ts';

export const WORKFLOWRUN = Object.freeze({
  group: 'kubiya.ai',
  version: 'v1alpha1',
  plural: 'workflowruns',
  kind: 'WorkflowRun',
});

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface WorkflowRunResource extends KubernetesObject {
  spec?: { token?: string; workflowId?: string; runner?: string; cancel?: boolean };
  status?: RunStatus;
}

/**
 * WorkflowRuns in the workflows namespace, through the API server (which arbitrates duplicates),
 * followed by ONE informer filtered by the runner label. Status goes through the status
 * subresource; what this process last wrote is kept until the informer catches up, so a pass never
 * decides from a status older than its own.
 */
export class KubeRunStore extends Followed<WorkflowRunResource> implements RunStore {
  private readonly api: CustomObjectsApi;
  private readonly kc: KubeConfig;
  /** The namespace's WorkflowRuns collection path (segments encoded). */
  private readonly path: string;
  private readonly namespace: string;
  private readonly runner: string;
  private readonly written = new Map<string, WorkflowRunResource>();
  private readonly views = new Map<string, { readonly source: WorkflowRunResource; readonly view: RunObject }>();
  /**
   * Every run's current view (what `get` answers), kept from the informer's events and this
   * process's writes, so that `list()` costs no scan of the cache (issue 20 §2: intake's capacity
   * check and a first pass's run-id check list the runs; at 5,000 runs, a scan each was the
   * runner's largest per-run cost that grew with the number of runs).
   */
  private readonly current = new Map<string, RunObject>();
  /** `current`'s values as an array, until the next change (undefined: changed since). */
  private listed: readonly RunObject[] | undefined;

  /** `options.pageItems`: items per page of the informer's list (default LIST_PAGE_ITEMS, followed.ts). */
  constructor(kc: KubeConfig, namespace: string, runner: string, options: { readonly pageItems?: number } = {}) {
    const api = kc.makeApiClient(CustomObjectsApi);
    const labelSelector = `${LABELS.runner}=${runner}`;
    const { group, version, plural } = WORKFLOWRUN;
    super(kc, {
      kind: plural,
      path: `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      list: ({ limit, continue: from }) =>
        api.listNamespacedCustomObject({
          group,
          version,
          namespace,
          plural,
          labelSelector,
          limit,
          _continue: from,
        }) as Promise<KubernetesListObject<WorkflowRunResource>>,
      labelSelector,
      slim: (run) => {
        // The cache keeps this very object: managedFields are bytes nothing here reads.
        if (run.metadata !== undefined) delete run.metadata.managedFields;
      },
      pageItems: options.pageItems,
    });
    this.api = api;
    this.kc = kc;
    this.path = `/apis/${group}/${version}/namespaces/${segment(namespace)}/${plural}`;
    this.namespace = namespace;
    this.runner = runner;
    const onRun = (run: WorkflowRunResource): void => {
      // The cache keeps this very object: managedFields are bytes nothing here reads.
      if (run.metadata !== undefined) delete run.metadata.managedFields;
      const name = run.metadata?.name;
      if (name === undefined) return;
      const mine = this.written.get(name);
      if (mine !== undefined && !newer(mine, run)) this.written.delete(name);
      this.refresh(name);
      for (const l of this.listeners) l(name);
    };
    this.informer.on('add', onRun);
    this.informer.on('update', onRun);
    this.informer.on('delete', (run) => {
      if (run.metadata?.name !== undefined) {
        this.written.delete(run.metadata.name);
        this.views.delete(run.metadata.name);
      }
      onRun(run);
    });
  }

  async create(run: AdmittedRun, token: string): Promise<Result<CreatedRun>> {
    const reused = await this.runIdTaken(run);
    if (!reused.ok) return reused;
    const body = {
      apiVersion: `${WORKFLOWRUN.group}/${WORKFLOWRUN.version}`,
      kind: WORKFLOWRUN.kind,
      metadata: {
        name: run.name,
        labels: { [LABELS.runner]: this.runner, [LABELS.workflow]: run.ref.id, [LABELS.run]: run.workflow.runId },
      },
      spec: { token, workflowId: run.ref.id, runner: this.runner },
    };
    try {
      // Plain JSON, not client-node's fetch + ObjectSerializer: ~0.5 ms less CPU per request (kube-json.ts).
      const created = await kubeJson<WorkflowRunResource>(this.kc, { method: 'POST', path: this.path, body });
      // Known here at once: the reconciler need not wait for the watch to bring it.
      if (this.informer.get(run.name, this.namespace) === undefined) {
        if (created.metadata !== undefined) delete created.metadata.managedFields;
        this.written.set(run.name, created);
        this.refresh(run.name);
      }
      return ok({ name: run.name, uid: created.metadata?.uid ?? '' });
    } catch (e) {
      if (e instanceof ApiException && e.code === 409)
        return fail(
          'ASSIGNMENT_REPLAYED',
          `assignment ${run.ref.jti} was already accepted (WorkflowRun ${run.name} exists)`,
        );
      if (e instanceof ApiException) return fail('CREATE_FAILED', `could not record the run (${e.code})`);
      return fail('CREATE_FAILED', `API server unreachable: ${describeThrown(e)}`);
    }
  }

  /**
   * Refuses a run id that another WorkflowRun in the namespace (of any runner, live or finished)
   * already has: ASSIGNMENT_RUN_ID_REUSED; the same WorkflowRun is ASSIGNMENT_REPLAYED. Read from
   * the API server (a quorum read, not the cache, which holds this runner's runs only). Two claims
   * of one run id racing on two replicas may both pass this check; their step objects still share
   * names, and the second to create one fails with STEP_OBJECT_CONFLICT (src/create/adopt.ts).
   */
  private async runIdTaken(run: AdmittedRun): Promise<Result<void>> {
    const runId = run.workflow.runId;
    try {
      const found = await kubeJson<KubernetesListObject<WorkflowRunResource>>(this.kc, {
        method: 'GET',
        path: `${this.path}?labelSelector=${segment(`${LABELS.run}=${runId}`)}`,
      });
      const others = found.items.map((r) => r.metadata?.name ?? '');
      if (others.includes(run.name))
        return fail(
          'ASSIGNMENT_REPLAYED',
          `assignment ${run.ref.jti} was already accepted (WorkflowRun ${run.name} exists)`,
        );
      const other = others[0];
      if (other !== undefined)
        return fail(
          'ASSIGNMENT_RUN_ID_REUSED',
          `run id ${runId} is already used by WorkflowRun ${other}: a second assignment with one run id is refused`,
        );
      return ok(undefined);
    } catch (e) {
      return fail(
        'CREATE_FAILED',
        `could not check run id ${runId}: ${e instanceof ApiException ? String(e.code) : describeThrown(e)}`,
      );
    }
  }

  /**
   * Every run: the informer's, and those this process created that it has not delivered yet, each
   * as `get` answers. O(1) while nothing changed; one copy of the kept views after a change.
   */
  async liveUids(): Promise<Result<ReadonlySet<string>>> {
    try {
      const uids = new Set<string>();
      // Each page reduced to its uids as it arrives: the tokens are never held for the whole list.
      await this.listFresh((run) => {
        if (run.metadata?.uid !== undefined) uids.add(run.metadata.uid);
        delete (run as { spec?: unknown }).spec;
        delete (run as { status?: unknown }).status;
      });
      return ok(uids);
    } catch (e) {
      return fail(
        'LIST_FAILED',
        `could not list the runner's WorkflowRuns: ${e instanceof ApiException ? String(e.code) : describeThrown(e)}`,
      );
    }
  }

  list(): readonly RunObject[] {
    this.listed ??= Object.freeze([...this.current.values()]);
    return this.listed;
  }

  get(name: string): RunObject | undefined {
    const cached = this.informer.get(name, this.namespace) ?? this.written.get(name);
    return cached === undefined ? undefined : this.view(cached);
  }

  async writeStatus(name: string, status: RunStatus): Promise<Result<void>> {
    try {
      const updated = await kubeJson<WorkflowRunResource>(this.kc, {
        method: 'PATCH',
        path: `${this.path}/${segment(name)}/status`,
        // The whole status, replaced (a merge patch would keep fields the new status dropped).
        body: [{ op: 'add', path: '/status', value: status }],
        patchType: 'application/json-patch+json',
      });
      const cached = this.informer.get(name, this.namespace);
      if (cached === undefined || newer(updated, cached)) {
        if (updated.metadata !== undefined) delete updated.metadata.managedFields;
        this.written.set(name, updated);
        this.refresh(name);
      }
      return ok(undefined);
    } catch (e) {
      return fail(
        'RUN_UPDATE_FAILED',
        `could not write the status of ${name}: ${e instanceof ApiException ? String(e.code) : describeThrown(e)}`,
      );
    }
  }

  async requestCancel(name: string): Promise<Result<void>> {
    const { group, version, plural } = WORKFLOWRUN;
    try {
      await this.api.patchNamespacedCustomObject(
        { group, version, namespace: this.namespace, plural, name, body: { spec: { cancel: true } } },
        MERGE_PATCH,
      );
      return ok(undefined);
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return fail('RUN_NOT_FOUND', `no run ${name}`);
      return fail(
        'RUN_UPDATE_FAILED',
        `could not cancel ${name}: ${e instanceof ApiException ? String(e.code) : describeThrown(e)}`,
      );
    }
  }

  /** The run's entry in `current` made again from the informer's cache and this process's writes. */
  private refresh(name: string): void {
    const known = this.informer.get(name, this.namespace) ?? this.written.get(name);
    const view = known === undefined ? undefined : this.view(known);
    if (view === undefined) {
      this.current.delete(name);
      this.views.delete(name);
    } else this.current.set(name, view);
    this.listed = undefined;
  }

  /** The cached object, or what this process wrote if the informer has not caught up yet. */
  private view(cached: WorkflowRunResource): RunObject | undefined {
    const name = cached.metadata?.name;
    if (name === undefined) return undefined;
    const mine = this.written.get(name);
    const r = mine !== undefined && mine.metadata?.uid === cached.metadata?.uid && newer(mine, cached) ? mine : cached;
    // Views are made once per object version: list() over thousands of runs allocates nothing new.
    const memo = this.views.get(name);
    if (memo?.source === r) return memo.view;
    const view = this.toView(name, r);
    this.views.set(name, { source: r, view });
    return view;
  }

  private toView(name: string, r: WorkflowRunResource): RunObject {
    return {
      name,
      uid: r.metadata?.uid ?? '',
      createdAt: new Date(r.metadata?.creationTimestamp ?? 0),
      workflowId: r.metadata?.labels?.[LABELS.workflow] ?? '',
      runId: r.metadata?.labels?.[LABELS.run] ?? '',
      token: r.spec?.token ?? '',
      cancelRequested: r.spec?.cancel === true,
      status: r.status,
    };
  }
}

/** resourceVersions are opaque, but etcd's are increasing integers; compare them as such. */
function newer(a: KubernetesObject, b: KubernetesObject): boolean {
  const x = Number(a.metadata?.resourceVersion ?? 0);
  const y = Number(b.metadata?.resourceVersion ?? 0);
  return Number.isFinite(x) && Number.isFinite(y) && x > y;
}
