/**
 * Admission (any replica), in order (docs/architecture.md):
 *
 *   receive → verify → validate → create the WorkflowRun (named from the token's jti)
 *
 * Every outcome, allow or deny, is one audit record, durable before the next step. Admission
 * creates nothing but the WorkflowRun: the leader's reconcile pass (src/reconcile/reconcile.ts)
 * makes the pods.
 */
import type { Result } from '../errors/result.ts';
import { auditor, type Auditor, type RefusalRecording } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { rejected, verified } from '../pipeline/verified.ts';
import { verifiedRuns } from '../pipeline/verified-cache.ts';
import { receive, type RawAssignment } from '../receive/receive.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import { guarded } from './guarded.ts';

/**
 * receive → verify → validate → create the run; each outcome audited. Never throws
 * (src/admission/guarded.ts). `refusals`: how the refusals before verification (receive, verify)
 * are recorded — `budgeted` for HTTP intake, whose peers are unauthenticated (docs/adr/0008);
 * everything after verification is recorded one by one either way.
 */
export async function admit(
  raw: RawAssignment,
  deps: PipelineDeps,
  refusals: RefusalRecording = 'each',
): Promise<Result<AdmittedRun>> {
  const audit = auditor(deps, refusals);
  return guarded(deps, async () => {
    const token = receive(raw, deps.config.receive);
    if (!token.ok) return rejected(await audit.refused('receive', token.error), token.error);
    const run = await verified(token.value, deps, audit);
    if (!run.ok) return run;
    return createRun(run.value, token.value, deps, audit);
  });
}

/**
 * The run's WorkflowRun, created exactly once per jti (the API server arbitrates: a replay is
 * ASSIGNMENT_REPLAYED, another token with a used run id ASSIGNMENT_RUN_ID_REUSED, both denials);
 * recorded as the audit stage `claim`.
 */
async function createRun(
  run: AdmittedRun,
  token: string,
  deps: PipelineDeps,
  audit: Auditor,
): Promise<Result<AdmittedRun>> {
  const created = await deps.runs.create(run, token);
  if (!created.ok) {
    const refusal = created.error.code === 'ASSIGNMENT_REPLAYED' || created.error.code === 'ASSIGNMENT_RUN_ID_REUSED';
    const record = (refusal ? audit.denied : audit.errored)('claim', created.error, { workflow: run.ref });
    return rejected(await record, created.error);
  }
  verifiedRuns(deps.trust).bind(token, created.value.uid);
  await audit.passed('claim', `run ${created.value.name} accepted`, { workflow: run.ref });
  return { ok: true, value: { ...run, uid: created.value.uid } };
}
