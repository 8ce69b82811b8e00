import { ok, type Result, type RunnerError } from '../errors/result.ts';
import { auditor, type RefusalRecording } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { cancelTarget, rejected } from '../pipeline/verified.ts';
import { receive, type RawAssignment } from '../receive/receive.ts';
import { quoted } from '../verify/claims.ts';
import { verifyCancellation } from '../verify/verify.ts';
import { guarded } from './guarded.ts';

/**
 * A cancellation from the control plane: receive → verify (its own token type, same keys) →
 * find the run → record the request (durable) → mark the run. The leader's reconcile pass deletes
 * its running pods and records each step. Never throws (src/admission/guarded.ts). `refusals`: as
 * admit's (src/admission/admit.ts) — the refusals before verification within the refusal budget
 * for HTTP intake.
 */
export async function cancelRun(
  raw: RawAssignment,
  deps: PipelineDeps,
  refusals: RefusalRecording = 'each',
): Promise<Result<{ readonly run: string }>> {
  const audit = auditor(deps, refusals);
  return guarded(deps, async () => {
    const token = receive(raw, deps.config.receive);
    if (!token.ok) return rejected(await audit.refused('receive', token.error), token.error);
    const claims = await verifyCancellation(token.value, deps.config.verify, { keys: deps.keys, now: deps.now });
    if (!claims.ok) return rejected(await audit.refused('cancel', claims.error), claims.error);
    const target = cancelTarget(claims.value.cancel, deps);
    if (target === undefined) {
      const error: RunnerError = {
        code: 'RUN_NOT_FOUND',
        message: `no run holds assignment ${quoted(claims.value.cancel)}`,
      };
      return rejected(await audit.errored('cancel', error), error);
    }
    const { found, name: run } = target;
    const ref =
      found === undefined ? undefined : { id: found.workflowId, jti: claims.value.cancel, runId: found.runId };
    // Durable first: the record of the request authorises the change.
    await audit.passed('cancel', `cancellation of run ${run} verified`, ref === undefined ? {} : { workflow: ref });
    const marked = await deps.runs.requestCancel(run);
    if (!marked.ok) return rejected(await audit.errored('cancel', marked.error), marked.error);
    return ok({ run });
  });
}
