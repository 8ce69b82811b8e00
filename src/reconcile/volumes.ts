import { ok, type Result } from '../errors/result.ts';
import type { Auditor } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { buildVolumeClaims } from '../pod/volumes.ts';
import type { AdmittedRun } from '../run/admitted.ts';

/** The run's volumes, once, before its first step (owned by the WorkflowRun, like its pods); recorded as `create`. */
export async function createVolumes(run: AdmittedRun, deps: PipelineDeps, audit: Auditor): Promise<Result<void>> {
  const claims = buildVolumeClaims(run, run.workflow, {
    namespace: deps.config.namespace,
    runner: deps.config.runner,
    storageClass: deps.config.storageClass,
  });
  if (claims.length === 0) return ok(undefined);
  const created = await deps.objects.createVolumeClaims(claims);
  if (!created.ok) {
    await audit.errored('create', created.error, { workflow: run.ref });
    return created;
  }
  await audit.passed('create', `volumes ${created.value.join(', ')} ready`, { workflow: run.ref });
  return ok(undefined);
}
