import { ApiException, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { ClaimedRun, RunStore } from '../create/run-store.ts';
import { describeThrown, fail, ok, type Result } from '../errors/result.ts';
import type { AdmittedRun } from '../pipeline/types.ts';
import { LABELS } from '../pod/names.ts';

export const WORKFLOWRUN = Object.freeze({ group: 'kubiya.ai', version: 'v1alpha1', plural: 'workflowruns', kind: 'WorkflowRun' });

/** WorkflowRuns in the workflows namespace, through the API server (which arbitrates duplicates). */
export class KubeRunStore implements RunStore {
  private readonly api: CustomObjectsApi;
  private readonly namespace: string;
  private readonly runner: string;

  constructor(kc: KubeConfig, namespace: string, runner: string) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.namespace = namespace;
    this.runner = runner;
  }

  async claim(run: AdmittedRun, token: string): Promise<Result<ClaimedRun>> {
    const body = {
      apiVersion: `${WORKFLOWRUN.group}/${WORKFLOWRUN.version}`,
      kind: WORKFLOWRUN.kind,
      metadata: { name: run.name, labels: { [LABELS.runner]: this.runner, [LABELS.workflow]: run.ref.id, [LABELS.run]: run.ref.runId } },
      spec: { token, workflowId: run.ref.id, runner: this.runner },
    };
    try {
      const created = (await this.api.createNamespacedCustomObject({ group: WORKFLOWRUN.group, version: WORKFLOWRUN.version, namespace: this.namespace, plural: WORKFLOWRUN.plural, body })) as { metadata?: { uid?: string } };
      return ok({ name: run.name, uid: created.metadata?.uid ?? '' });
    } catch (e) {
      if (e instanceof ApiException && e.code === 409) return fail('ASSIGNMENT_REPLAYED', `assignment ${run.ref.jti} was already accepted (WorkflowRun ${run.name} exists)`);
      if (e instanceof ApiException) return fail('CREATE_FAILED', `could not record the run (${e.code})`);
      return fail('CREATE_FAILED', `API server unreachable: ${describeThrown(e)}`);
    }
  }
}
