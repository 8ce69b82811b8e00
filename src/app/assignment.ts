import type { RunObject } from '../ports/runs.ts';
import { admit } from '../admission/admit.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { AssignmentReport, StepReport } from '../run/report.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { RawAssignment } from '../receive/receive.ts';
import type { Reconciler } from '../reconcile/reconciler.ts';
import type { StepPhase } from '../run/status.ts';

const STATUS: Readonly<Record<StepPhase, StepReport['status']>> = {
  Pending: 'error',
  Running: 'error',
  Succeeded: 'succeeded',
  Failed: 'failed',
  Denied: 'denied',
  Error: 'error',
  Skipped: 'skipped',
  Cancelled: 'failed',
};

/**
 * One assignment from bytes to the end of its run: admit, then wait for the reconciler to finish
 * it. What the demo, the docs test and the fuzzer use; `serve` admits and lets the leader's
 * reconciler take it from there.
 */
export async function runAssignment(
  raw: RawAssignment,
  deps: PipelineDeps,
  reconciler: Reconciler,
  timeoutMs = 120_000,
): Promise<AssignmentReport> {
  const run = await admit(raw, deps);
  if (!run.ok) return { accepted: false, code: run.error.code, message: run.error.message, steps: [] };
  reconciler.enqueue(run.value.name);
  const done = await reconciler.whenDone(run.value.name, timeoutMs);
  return reportOf(run.value, done);
}

/** A finished WorkflowRun's status as the per-step report the demo prints. */
function reportOf(run: AdmittedRun, done: RunObject | undefined): AssignmentReport {
  if (done?.status === undefined)
    return {
      accepted: true,
      code: 'WATCH_FAILED',
      message: `run ${run.name} did not finish in time`,
      workflow: run.ref,
      steps: [],
    };
  const { status } = done;
  const steps = status.steps.map((s): StepReport => ({
    step: s.name,
    status: STATUS[s.phase],
    code: s.code,
    message: s.message ?? s.phase.toLowerCase(),
    pod: s.pod,
    exitCode: s.exitCode,
  }));
  return {
    accepted: true,
    ...(status.phase !== 'Succeeded' && status.code !== undefined ? { code: status.code } : {}),
    message: status.phase === 'Succeeded' ? 'all steps succeeded' : (status.message ?? status.phase),
    workflow: run.ref,
    steps,
    phase: status.phase,
  };
}
