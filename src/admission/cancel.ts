import { ok, type Result, type RunnerError } from '../errors/result.ts';
import { auditor, type RefusalRecording } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { cancelTarget, rejected } from '../pipeline/verified.ts';
import { receive, type RawAssignment } from '../receive/receive.ts';
import { quoted } from '../verify/claims.ts';
import { verifyCancellation } from '../verify/verify.ts';
import { runDone } from '../run/status.ts';
import { guarded } from './guarded.ts';

/** What a verified cancellation did: the run it names, and whether it changed anything. */
export interface Cancelled {
  readonly run: string;
  /**
   * False when the run was already cancelled or had finished (the same cancellation delivered
   * again): recorded, nothing marked. The poll loop counts only a change as progress (red team 20,
   * finding 3: a re-delivered cancellation made every poll "progress", asked again at once).
   */
  readonly changed: boolean;
}

/**
 * A cancellation from the control plane: receive → verify (its own token type, same keys) →
 * find the run → record the request (durable) → mark the run, unless it is already cancelled or
 * finished. The leader's reconcile pass deletes its running pods and records each step. Never
 * throws (src/admission/guarded.ts). `refusals`: as admit's (src/admission/admit.ts) — the
 * refusals before verification within the refusal budget for HTTP intake.
 */
export async function cancelRun(
  raw: RawAssignment,
  deps: PipelineDeps,
  refusals: RefusalRecording = 'each',
): Promise<Result<Cancelled>> {
  const audit = auditor(deps, refusals);
  return guarded(deps, async (): Promise<Result<Cancelled>> => {
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
    const phase = found?.status?.phase;
    const already =
      found?.cancelRequested === true
        ? 'already cancelled'
        : phase !== undefined && runDone(phase)
          ? `already ${phase}`
          : undefined;
    // Durable first: the record of the request authorises the change.
    await audit.passed(
      'cancel',
      `cancellation of run ${run} verified${already === undefined ? '' : ` (${already}: nothing to change)`}`,
      ref === undefined ? {} : { workflow: ref },
    );
    if (already !== undefined) return ok({ run, changed: false });
    const marked = await deps.runs.requestCancel(run);
    if (!marked.ok) return rejected(await audit.errored('cancel', marked.error), marked.error);
    return ok({ run, changed: true });
  });
}
