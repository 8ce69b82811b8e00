import {
  ApiException,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
} from '@kubernetes/client-node';
import { Followed } from './followed.ts';
import { FreshBatches } from './kube-fresh.ts';
import { kubeJson, segment } from './kube-json.ts';
import { apiCause, notAnswered } from './kube-errors.ts';
import type { CreatedRun, RunObject, RunStore } from '../ports/runs.ts';
import { describeThrown, fail, ok, type Result } from '../errors/result.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import { LABELS } from '../pod/names.ts';
import type { RunStatus } from '../run/status.ts';
import { RunViews, slimRun, type WorkflowRunResource } from './run-views.ts';

export const WORKFLOWRUN = Object.freeze({
  group: 'kubiya.ai',
  version: 'v1alpha1',
  plural: 'workflowruns',
  kind: 'WorkflowRun',
});

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The fields of the WorkflowRun the runner creates, named in a refusal's causes (apiCause). */
const RUN_FIELDS: ReadonlySet<string> = new Set([
  'metadata.name',
  'metadata.labels',
  ...Object.values(LABELS).map((key) => `metadata.labels[${key}]`),
  'spec',
  'spec.token',
  'spec.workflowId',
  'spec.runner',
]);

/** Run ids per shared run-id LIST at most (its selector stays ~3.2 KB: 50 label values of ≤ 63 characters). */
const RUN_IDS_PER_LIST = 50;

/** A label value the API server takes (and a run id that may share a LIST): ≤ 63 characters, alphanumeric at both ends, non-empty. */
const LABEL_VALUE = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** What a list that reads each item as it arrives (liveUids) keeps of it. */
const NOTHING_KEPT: WorkflowRunResource = Object.freeze({});

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
  /** The runs as `get` and `list` answer them: the informer's cache and this process's writes (run-views.ts). */
  private readonly views: RunViews;
  /** The run-id checks of admissions asking at the same time, one LIST between them (runIdTaken). */
  private readonly runIds: FreshBatches<string, readonly string[]>;

  /** `options.pageItems`: items per page of the informer's list (default LIST_PAGE_ITEMS, followed.ts). */
  constructor(kc: KubeConfig, namespace: string, runner: string, options: { readonly pageItems?: number } = {}) {
    const api = kc.makeApiClient(CustomObjectsApi);
    const labelSelector = `${LABELS.runner}=${runner}`;
    const { group, version, plural } = WORKFLOWRUN;
    super(kc, {
      kind: plural,
      path: `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      list: ({ limit, continue: from }, options) =>
        api.listNamespacedCustomObject(
          { group, version, namespace, plural, labelSelector, limit, _continue: from },
          options,
        ) as Promise<KubernetesListObject<WorkflowRunResource>>,
      labelSelector,
      slim: slimRun,
      pageItems: options.pageItems,
    });
    this.api = api;
    this.kc = kc;
    this.path = `/apis/${group}/${version}/namespaces/${segment(namespace)}/${plural}`;
    this.namespace = namespace;
    this.runner = runner;
    this.views = new RunViews((name) => this.informer.get(name, namespace));
    this.runIds = new FreshBatches((ids) => this.runsWithRunIds(ids), RUN_IDS_PER_LIST);
    const onRun = (run: WorkflowRunResource, deleted = false): void => {
      this.views.seen(run, deleted);
      const name = run.metadata?.name;
      if (name !== undefined) for (const l of this.listeners) l(name);
    };
    this.informer.on('add', (run) => onRun(run));
    this.informer.on('update', (run) => onRun(run));
    this.informer.on('delete', (run) => onRun(run, true));
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
      this.views.wrote(run.name, created, true);
      return ok({ name: run.name, uid: created.metadata?.uid ?? '' });
    } catch (e) {
      if (e instanceof ApiException && e.code === 409)
        return fail(
          'ASSIGNMENT_REPLAYED',
          `assignment ${run.ref.jti} was already accepted (WorkflowRun ${run.name} exists)`,
        );
      if (e instanceof ApiException)
        return fail('CREATE_FAILED', `could not record the run: ${apiCause(e, RUN_FIELDS)}`);
      return fail('CREATE_FAILED', notAnswered(e));
    }
  }

  /**
   * Refuses a run id that another WorkflowRun in the namespace (of any runner, live or finished)
   * already has: ASSIGNMENT_RUN_ID_REUSED; the same WorkflowRun is ASSIGNMENT_REPLAYED. Read from
   * the API server (a quorum read, not the cache, which holds this runner's runs only), by a LIST
   * that starts after this call: admissions asking while one such LIST is in flight share the next
   * one (`labelSelector=kubiya.ai/run in (…)`, each given the runs whose label is exactly its run
   * id; FreshBatches, kube-fresh.ts; issue 20, h-steps-6); a run id that is not a label value is
   * listed alone, as before (the API server refuses its selector: CREATE_FAILED for it only). Two
   * claims of one run id racing on two replicas may both pass this check; their step objects still
   * share names, and the second to create one fails with STEP_OBJECT_CONFLICT (src/create/adopt.ts).
   */
  private async runIdTaken(run: AdmittedRun): Promise<Result<void>> {
    const runId = run.workflow.runId;
    try {
      const others = LABEL_VALUE.test(runId) ? await this.runIds.fresh(runId) : await this.runsWithRunId([runId]);
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
      return fail('CREATE_FAILED', `could not check run id ${runId}: ${apiCause(e)}`);
    }
  }

  /**
   * The names of the namespace's WorkflowRuns labelled with one of `runIds` (one LIST, a quorum
   * read), by run id: `kubiya.ai/run=<id>` for one, `kubiya.ai/run in (<ids>)` for several.
   */
  private async runsWithRunIds(runIds: readonly string[]): Promise<ReadonlyMap<string, readonly string[]>> {
    const selector =
      runIds.length === 1 ? `${LABELS.run}=${runIds[0] ?? ''}` : `${LABELS.run} in (${runIds.join(',')})`;
    const found = await kubeJson<KubernetesListObject<WorkflowRunResource>>(this.kc, {
      method: 'GET',
      path: `${this.path}?labelSelector=${segment(selector)}`,
    });
    const byRunId = new Map<string, string[]>(runIds.map((id) => [id, []]));
    for (const r of found.items) {
      const names = byRunId.get(r.metadata?.labels?.[LABELS.run] ?? '');
      // Only an item whose label is exactly a run id asked (a server that answered more is not believed for it).
      if (names !== undefined) names.push(r.metadata?.name ?? '');
    }
    return byRunId;
  }

  /** The names for one run id, listed alone. */
  private async runsWithRunId(runIds: readonly [string]): Promise<readonly string[]> {
    return (await this.runsWithRunIds(runIds)).get(runIds[0]) ?? [];
  }

  /** The uids of a fresh, complete list (RunStore.liveUids), read page by page. */
  async liveUids(): Promise<Result<ReadonlySet<string>>> {
    try {
      const uids = new Set<string>();
      // Metadata only (no tokens, no status), each page reduced to its uids as it arrives: what the
      // list keeps of an item is one empty object (an API server that sends full objects anyway:
      // the tokens are never held for the whole list; neither are the items' managedFields).
      await this.listMetadata((run) => {
        if (run.metadata?.uid !== undefined) uids.add(run.metadata.uid);
        return NOTHING_KEPT;
      });
      return ok(uids);
    } catch (e) {
      return fail(
        'LIST_FAILED',
        `could not list the runner's WorkflowRuns: ${e instanceof ApiException ? String(e.code) : describeThrown(e)}`,
      );
    }
  }

  /** Every run as `get` answers it, with no scan (run-views.ts). */
  list(): readonly RunObject[] {
    return this.views.list();
  }

  get(name: string): RunObject | undefined {
    return this.views.get(name);
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
      this.views.wrote(name, updated);
      return ok(undefined);
    } catch (e) {
      return fail(
        'RUN_UPDATE_FAILED',
        `could not write the status of ${name}: ${e instanceof ApiException ? String(e.code) : describeThrown(e)}`,
      );
    }
  }

  /**
   * DELETE with `preconditions.uid` (RunStore.delete): the API server refuses a run of that name
   * with another uid (409), a run re-created since. 404 and 409: the run this uid named is gone,
   * done. Other failures: DELETE_FAILED. The informer's delete event then drops it from the cache
   * (run-views.ts `seen`).
   */
  async delete(name: string, uid: string): Promise<Result<void>> {
    try {
      await kubeJson(this.kc, {
        method: 'DELETE',
        path: `${this.path}/${segment(name)}`,
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } },
      });
      return ok(undefined);
    } catch (e) {
      if (e instanceof ApiException && (e.code === 404 || e.code === 409)) return ok(undefined);
      return fail('DELETE_FAILED', `could not delete WorkflowRun ${name}: ${apiCause(e)}`);
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
}
