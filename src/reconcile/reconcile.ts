/**
 * The reconcile pass (the Lease holder only), for each WorkflowRun, level-based, as often as it
 * changes (docs/architecture.md):
 *
 *   finished: after the TTL its pods, egress policies and volumes deleted (cleanUp) → after
 *   workflow.retainFinished, once its token can no longer verify, the WorkflowRun deleted (expire)
 *
 *   verify its stored token again → watch each running step (finished, stuck, over its deadline →
 *   finish) → (not started yet: a slot, its volumes) → the runner's DNS policy confirmed → for each
 *   step whose turn it is: evaluate (current policy) → mutate → audit (durable) → its own egress
 *   policy (granted more than DNS only) → create pod → status (a terminal one at once; progress
 *   held briefly, so that a short run writes its status once); a create the PodSecurity gate
 *   refused leaves its step Pending and the run is looked at again in 5 s (src/errors/waits.ts)
 *
 * Every outcome is one audit record; the record that authorises a side effect is durable before
 * the side effect. The queue that runs passes is src/reconcile/reconciler.ts.
 */
import { stepDnsPolicy } from '../egress/network-policy.ts';
import type { Result, RunnerError } from '../errors/result.ts';
import { AuditUnavailable, auditor } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { reverified } from '../pipeline/verified.ts';
import type { RunObject } from '../ports/runs.ts';
import { pendingStatus, runDone, type StepState } from '../run/status.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { StatusHold } from './hold.ts';
import { expire } from './expire.ts';
import { cleanUp, writeStatus, type Pass, type PassContext } from './pass.ts';
import { observeSteps, readySteps, skipBlockedSteps, startReadySteps, writeProgress } from './steps.ts';
import { stop } from './stop.ts';
import { createVolumes } from './volumes.ts';

export type { Pass } from './pass.ts';

/** Decides whether a Pending run may start now (workflow.maxConcurrent, oldest first). */
export type MayStart = (run: RunObject) => boolean;

/**
 * One reconcile pass over one WorkflowRun: decide from what is observed now (its status, its
 * pods), act, write the status. Safe to repeat and to interrupt anywhere: pod names are fixed per
 * step, so a pass after a crash adopts the pod a previous pass created instead of making another.
 * Never throws: an audit log that cannot write, or a bug, asks for another pass later.
 */
export async function reconcileRun(
  obj: RunObject,
  deps: PipelineDeps,
  mayStart: MayStart,
  hold?: StatusHold,
): Promise<Pass> {
  try {
    const known = hold?.known(obj).status ?? obj.status;
    return await reconcilePass({ obj, deps, audit: auditor(deps), previous: obj.status, known, hold }, mayStart);
  } catch (thrown) {
    // Nothing was authorised without a durable record: try again once the audit log is back.
    // A record with no canonical form fails the same way every time: retry slowly.
    if (thrown instanceof AuditUnavailable)
      return { requeueAfterMs: thrown.code === 'AUDIT_RECORD_INVALID' ? 30_000 : 2000 };
    deps.observer?.internalError(thrown);
    return { requeueAfterMs: 30_000 };
  }
}

async function reconcilePass(pass: PassContext, mayStart: MayStart): Promise<Pass> {
  const { obj, previous } = pass;
  // A finished run: its pods, egress policies and volumes deleted after the TTL (cleanUp), then,
  // cleaned, the WorkflowRun itself after workflow.retainFinished once its token is dead (expire).
  if (previous !== undefined && runDone(previous.phase))
    return previous.cleanedAt === undefined ? cleanUp(pass, previous) : expire(pass, previous);
  // The stored token, verified again as of the run's creation, with the keys this runner trusted
  // then (DESIGN §2b): JWKS outages and rotations never touch an admitted run; a hand-made one gets nowhere.
  const run = await reverified({ ...obj, status: pass.known }, pass.deps, pass.audit);
  if (!run.ok) return tokenRefused(pass, run.error);
  const steps = stepsOf(pass, run.value);
  if (obj.cancelRequested)
    return stop(pass, steps, { phase: 'Cancelled', cause: CANCELLED, stepError: CANCELLED }, run.value);
  const observed = await observeSteps(pass, run.value, steps);
  // A run whose status is still Pending may already have pods (its first status write is held, or
  // a pass crashed): it started, its slot and volumes were taken then.
  if ((pass.known?.phase ?? 'Pending') === 'Pending' && !observed.some((s) => s.phase !== 'Pending')) {
    if (!mayStart(obj)) return waitForSlot(pass, steps);
    const volumes = await createVolumes(run.value, pass.deps, pass.audit);
    if (!volumes.ok) return stop(pass, steps, volumesRefused(volumes.error), run.value);
  }
  // No step pod before the runner's DNS policy (every step pod isolated, DNS only) is confirmed by a
  // read that began after this pass asked, never trusted from an earlier one (passes asking at the
  // same time share such a read, kube-step-objects.ts): a pass that starts nothing reads nothing.
  const ready = readySteps(pass, run.value, observed);
  if (ready.length > 0) {
    const fenced = await confirmEgressBaseline(pass);
    if (!fenced.ok) return writeProgress(pass, run.value, observed, BASELINE_RETRY_MS);
  }
  const started = await startReadySteps(pass, run.value, observed);
  const settled = await skipBlockedSteps(pass, run.value, observed, started);
  // A step whose turn it was and that is still Pending waits at create (src/errors/waits.ts, the
  // PodSecurity gate closed after the check above): looked at again as the precondition's wait is.
  const waiting = ready.some((step) => settled.find((s) => s.name === step.name)?.phase === 'Pending');
  return writeProgress(pass, run.value, settled, waiting ? BASELINE_RETRY_MS : Infinity);
}

/** How soon a pass that could not confirm the runner's DNS policy, or whose step waits at create, looks again. */
const BASELINE_RETRY_MS = 5000;

/** The runner's namespace-wide DNS policy, ensured (src/egress/network-policy.ts); logged when it cannot be. */
async function confirmEgressBaseline(pass: PassContext): Promise<Result<void>> {
  const { config } = pass.deps;
  const policy = stepDnsPolicy({
    runner: config.runner,
    namespace: config.namespace,
    dnsNamespace: config.dnsNamespace,
  });
  const confirmed = await pass.deps.objects.ensureStepDns(policy);
  if (!confirmed.ok) pass.deps.observer?.problem?.(confirmed.error);
  return confirmed;
}

const CANCELLED: RunnerError = { code: 'STEP_CANCELLED', message: 'cancelled by the control plane' };

/**
 * The steps as this process knows them (the held status when one is held: a step it started inside
 * the hold is Running, so a pod deleted meanwhile is lost, never created again), or all Pending on
 * the run's first pass.
 */
function stepsOf(pass: PassContext, run: AdmittedRun): StepState[] {
  return [...(pass.known?.steps ?? pendingStatus(run.workflow.steps.map((s) => s.name)).steps)];
}

/** A stored token that no longer verifies fails the run; trusted keys that cannot be read: try again in 5 s. */
async function tokenRefused(pass: PassContext, error: RunnerError): Promise<Pass> {
  if (error.code === 'TRUSTED_KEYS_UNAVAILABLE') return { requeueAfterMs: 5000 };
  const summary = error.code === 'ASSIGNMENT_RUN_ID_REUSED' ? 'run id already used' : 'token rejected';
  return stop(pass, pass.known?.steps ?? [], { phase: 'Failed', summary, cause: error, stepError: error });
}

/** workflow.maxConcurrent is reached: the run stays Pending, saying why. */
function waitForSlot(pass: PassContext, steps: readonly StepState[]): Promise<Pass> {
  const message = 'waiting for a free slot (workflow.maxConcurrent)';
  return writeStatus(pass, { ...pendingStatus(steps.map((s) => s.name)), message });
}

function volumesRefused(error: RunnerError): { phase: 'Failed'; cause: RunnerError; stepError: RunnerError } {
  const stepError = { code: error.code, message: `the run's volumes could not be created: ${error.message}` };
  return { phase: 'Failed', cause: error, stepError };
}
