/**
 * The pipeline, in order (DESIGN §1):
 *
 *   admit (any replica):   receive → verify → validate → claim (the WorkflowRun named from jti)
 *   reconcile (the leader), for each WorkflowRun, level-based, as often as it changes:
 *     verify its stored token again → for each step whose turn it is:
 *       evaluate (current policy) → mutate → audit (durable) → egress policy → create pod
 *     → for each running step: watch (finished, stuck, over its deadline) → finish → status
 *
 * Every stage is a function returning a Result; every outcome, allow or deny, is one audit record;
 * the record that authorises a side effect is durable before the side effect happens. Anything
 * that fails stops the assignment (or the step) with a coded error and no pod.
 */
import { evaluate, policyInput } from '../evaluate/evaluate.ts';
import { fail, ok, type Result } from '../errors/result.ts';
import { AuditUnavailable, auditor, type Auditor } from '../pipeline/auditor.ts';
import { observeStep, skipStep, startStep, stepTimeoutSeconds } from './step.ts';
import { stopRun, type Stop } from './stop.ts';
import type { AdmittedRun, PipelineDeps } from '../pipeline/deps.ts';
import { buildClaims } from '../pod/volumes.ts';
import { receive, type RawAssignment } from '../receive/receive.ts';
import { plan, runPhaseOf } from '../run/plan.ts';
import { pendingStatus, runDone, summary, type RunStatus, type StepState } from '../run/status.ts';
import type { RunObject } from '../ports/runs.ts';
import { quoted } from '../verify/claims.ts';
import { verifyCancellation } from '../verify/verify.ts';
import { cancelTarget, rejected, reverified, verified } from '../pipeline/verified.ts';

export type {
  AdmittedRun,
  AssignmentReport,
  PipelineConfig,
  PipelineDeps,
  PipelineObserver,
  StepReport,
} from '../pipeline/deps.ts';
export { evaluate, policyInput };

/** receive → verify → validate → claim; each outcome audited. Creates nothing but the WorkflowRun. */
export async function admit(raw: RawAssignment, deps: PipelineDeps): Promise<Result<AdmittedRun>> {
  const audit = auditor(deps);
  return guarded(deps, async () => {
    const token = receive(raw, deps.config.receive);
    if (!token.ok) return rejected(await audit.denied('receive', token.error), token.error);

    const run = await verified(token.value, deps, audit);
    if (!run.ok) return run;

    const claimed = await deps.runs.claim(run.value, token.value);
    if (!claimed.ok)
      return rejected(
        await (
          claimed.error.code === 'ASSIGNMENT_REPLAYED' || claimed.error.code === 'ASSIGNMENT_RUN_ID_REUSED'
            ? audit.denied
            : audit.errored
        )('claim', claimed.error, { workflow: run.value.ref }),
        claimed.error,
      );
    await audit.passed('claim', `run ${claimed.value.name} accepted`, { workflow: run.value.ref });
    return ok({ ...run.value, uid: claimed.value.uid });
  });
}

/**
 * A cancellation from the control plane: receive → verify (its own token type, same keys) →
 * mark the run. The leader's reconciler deletes its running pods and records each step.
 */
export async function cancelRun(raw: RawAssignment, deps: PipelineDeps): Promise<Result<{ readonly run: string }>> {
  const audit = auditor(deps);
  return guarded(deps, async () => {
    const token = receive(raw, deps.config.receive);
    if (!token.ok) return rejected(await audit.denied('receive', token.error), token.error);
    const claims = await verifyCancellation(token.value, deps.config.verify, { keys: deps.keys, now: deps.now });
    if (!claims.ok) return rejected(await audit.denied('cancel', claims.error), claims.error);
    const target = cancelTarget(claims.value.cancel, deps);
    if (target === undefined) {
      const error = {
        code: 'RUN_NOT_FOUND',
        message: `no run holds assignment ${quoted(claims.value.cancel)}`,
      } as const;
      return rejected(await audit.errored('cancel', error), error);
    }
    const run = target.name;
    const ref =
      target.found === undefined
        ? undefined
        : { id: target.found.workflowId, runId: target.found.runId, jti: claims.value.cancel };
    // Durable first: the record of the request authorises the change.
    await audit.passed('cancel', `cancellation of run ${run} verified`, ref === undefined ? {} : { workflow: ref });
    const marked = await deps.runs.requestCancel(run);
    if (!marked.ok) return rejected(await audit.errored('cancel', marked.error), marked.error);
    return ok({ run });
  });
}

/** What a reconcile pass asks of the loop that runs it. */
export interface Pass {
  /** Look at this run again after this long even if nothing changes (a deadline, a TTL). */
  readonly requeueAfterMs?: number | undefined;
}

/** Decides whether a Pending run may start now (workflow.maxConcurrent, oldest first). */
export type MayStart = (run: RunObject) => boolean;

/**
 * One reconcile pass over one WorkflowRun: decide from what is observed now (its status, its
 * pods), act, write the status. Safe to repeat and to interrupt anywhere: pod names are fixed per
 * step, so a pass after a crash adopts the pod a previous pass created instead of making another.
 */
export async function reconcileRun(obj: RunObject, deps: PipelineDeps, mayStart: MayStart): Promise<Pass> {
  try {
    return await reconcilePass(obj, deps, mayStart);
  } catch (thrown) {
    // Nothing was authorised without a durable record: try again once the audit log is back.
    // A record with no canonical form fails the same way every time: retry slowly.
    if (thrown instanceof AuditUnavailable)
      return { requeueAfterMs: thrown.code === 'AUDIT_RECORD_INVALID' ? 30_000 : 2000 };
    deps.observer?.internalError(thrown);
    return { requeueAfterMs: 30_000 };
  }
}

async function reconcilePass(obj: RunObject, deps: PipelineDeps, mayStart: MayStart): Promise<Pass> {
  const audit = auditor(deps);
  const status = obj.status;
  if (status !== undefined && runDone(status.phase)) return cleanUp(obj, status, deps);
  const now = (): string => deps.now().toISOString();

  // The stored token, verified again as of the run's creation, with the keys this runner trusted
  // then (DESIGN §2b): JWKS outages and rotations never touch an admitted run; a hand-made one gets nowhere.
  const run = await reverified(obj, deps, audit);
  if (!run.ok && run.error.code === 'TRUSTED_KEYS_UNAVAILABLE') return { requeueAfterMs: 5000 };
  if (!run.ok)
    return stop(
      obj,
      status?.steps ?? [],
      {
        phase: 'Failed',
        summary: run.error.code === 'ASSIGNMENT_RUN_ID_REUSED' ? 'run id already used' : 'token rejected',
        cause: run.error,
        stepError: run.error,
      },
      deps,
      audit,
      status,
    );

  let steps: StepState[] = [...(status?.steps ?? pendingStatus(run.value.workflow.steps.map((s) => s.name)).steps)];
  if (obj.cancelRequested)
    return stop(
      obj,
      steps,
      { phase: 'Cancelled', cause: CANCELLED, stepError: CANCELLED },
      deps,
      audit,
      status,
      run.value,
    );

  if ((status?.phase ?? 'Pending') === 'Pending') {
    if (!mayStart(obj))
      return write(
        obj,
        deps,
        { ...pendingStatus(steps.map((s) => s.name)), message: 'waiting for a free slot (workflow.maxConcurrent)' },
        status,
      );
    const volumes = await createVolumes(run.value, deps, audit);
    if (!volumes.ok)
      return stop(
        obj,
        steps,
        {
          phase: 'Failed',
          cause: volumes.error,
          stepError: {
            code: volumes.error.code,
            message: `the run's volumes could not be created: ${volumes.error.message}`,
          },
        },
        deps,
        audit,
        status,
        run.value,
      );
  }

  // Watch every running step (and adopt a pending one whose pod a crashed pass already created);
  // then start what may start now and skip what never will.
  steps = await Promise.all(
    steps.map(async (s) =>
      s.phase === 'Running' || s.phase === 'Pending' ? observeStep(run.value, s, deps, audit) : s,
    ),
  );
  const next = plan(run.value.workflow, steps);
  for (const s of await Promise.all(next.start.map((step) => startStep(run.value, step, deps, audit))))
    steps = replace(steps, s);
  for (const name of new Set([...next.skip, ...plan(run.value.workflow, steps).skip]))
    steps = replace(steps, await skipStep(run.value, name, deps, audit));

  const phase = runPhaseOf(steps);
  const failed = steps.find((s) => s.code !== undefined && s.phase !== 'Skipped');
  const pass = await write(
    obj,
    deps,
    {
      phase,
      ...(phase === 'Failed' && failed !== undefined
        ? { code: failed.code, message: `step ${failed.name}: ${failed.message ?? failed.phase}` }
        : {}),
      summary: summary(steps),
      steps,
      startedAt: status?.startedAt ?? now(),
      ...(runDone(phase) ? { finishedAt: now() } : {}),
    },
    status,
  );
  return runDone(phase)
    ? pass
    : { requeueAfterMs: Math.min(pass.requeueAfterMs ?? Infinity, nextCheckMs(run.value, steps, deps)) };
}

/** The run's volumes, once, before its first step (owned by the WorkflowRun, like its pods). */
async function createVolumes(run: AdmittedRun, deps: PipelineDeps, audit: Auditor): Promise<Result<void>> {
  const claims = buildClaims(run, run.workflow, {
    namespace: deps.config.namespace,
    runner: deps.config.runner,
    storageClass: deps.config.storageClass,
  });
  if (claims.length === 0) return ok(undefined);
  const created = await deps.pods.createClaims(claims);
  if (!created.ok) {
    await audit.errored('create', created.error, { workflow: run.ref });
    return created;
  }
  await audit.passed('create', `volumes ${created.value.join(', ')} ready`, { workflow: run.ref });
  return ok(undefined);
}

const CANCELLED = { code: 'STEP_CANCELLED', message: 'cancelled by the control plane' } as const;

/** A run stopped for good (src/reconcile/stop.ts), then its status written; repeated when a delete failed. */
async function stop(
  obj: RunObject,
  steps: readonly StepState[],
  why: Stop,
  deps: PipelineDeps,
  audit: Auditor,
  previous: RunStatus | undefined,
  run?: AdmittedRun,
): Promise<Pass> {
  const stopped = await stopRun(obj, steps, why, deps, audit, previous, run);
  return stopped === undefined ? { requeueAfterMs: 2000 } : write(obj, deps, stopped, previous);
}

/** After the TTL, a finished run's pods, egress policies and volumes are deleted (the run stays). */
async function cleanUp(obj: RunObject, status: RunStatus, deps: PipelineDeps): Promise<Pass> {
  if (status.cleanedAt !== undefined) return {};
  const due = new Date(status.finishedAt ?? 0).getTime() + deps.config.ttlAfterFinishedSeconds * 1000;
  const wait = due - deps.now().getTime();
  if (wait > 0) return { requeueAfterMs: wait };
  const owned = await deps.pods.owned(obj.runId);
  if (!owned.ok) return { requeueAfterMs: 5000 };
  const deleted = await deps.pods.deleteObjects(owned.value.filter((o) => o.owner === obj.uid));
  if (!deleted.ok) return { requeueAfterMs: 5000 };
  return write(obj, deps, { ...status, cleanedAt: deps.now().toISOString() }, status);
}

async function write(obj: RunObject, deps: PipelineDeps, status: RunStatus, previous?: RunStatus): Promise<Pass> {
  if (previous === undefined || JSON.stringify(previous) !== JSON.stringify(status)) {
    const written = await deps.runs.writeStatus(obj.name, status);
    if (!written.ok) return { requeueAfterMs: 1000 };
    // Counted once, when the end is written (also for a rejected token or a cancellation).
    if (runDone(status.phase) && (previous === undefined || !runDone(previous.phase)))
      deps.observer?.workflowFinished(status.phase === 'Succeeded' ? 'success' : 'failed');
  }
  return runDone(status.phase)
    ? { requeueAfterMs: deps.config.ttlAfterFinishedSeconds * 1000 }
    : status.phase === 'Pending'
      ? { requeueAfterMs: 5000 }
      : {};
}

/** The soonest moment something changes without an event: a deadline or a fail-fast grace period. */
function nextCheckMs(run: AdmittedRun, steps: readonly StepState[], deps: PipelineDeps): number {
  const now = deps.now().getTime();
  const waits = steps
    .filter((s) => s.phase === 'Running' && s.startedAt !== undefined)
    .flatMap((s) => {
      const started = new Date(s.startedAt ?? now).getTime();
      const timeout = stepTimeoutSeconds(
        run.workflow.steps.find((x) => x.name === s.name),
        deps,
      );
      return [started + deps.config.failFastGraceSeconds * 1000 - now, started + timeout * 1000 - now];
    })
    .filter((ms) => ms > 0);
  return Math.min(30_000, ...waits.map((ms) => ms + 50));
}

function replace(steps: readonly StepState[], next: StepState): StepState[] {
  return steps.map((s) => (s.name === next.name ? next : s));
}

/** Nothing proceeds without a durable record; any other throw is a bug, and also stops here. */
async function guarded<T>(deps: PipelineDeps, body: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await body();
  } catch (thrown) {
    if (thrown instanceof AuditUnavailable)
      return fail(
        thrown.code,
        thrown.code === 'AUDIT_RECORD_INVALID' ? thrown.message : `audit log unavailable: ${thrown.message}`,
      );
    deps.observer?.internalError(thrown);
    return fail('INTERNAL', 'internal error');
  }
}
