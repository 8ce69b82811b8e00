import { stepTimeoutSeconds } from '../pod/duration.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import { plan, runPhaseOf } from '../run/plan.ts';
import { due } from '../run/retry.ts';
import { runDone, summary, type RunStatus, type StepState } from '../run/status.ts';
import { skipStep } from './finish.ts';
import { observeStep } from './observe.ts';
import { writeStatus, type Pass, type PassContext } from './pass.ts';
import { startOrSkip } from './condition.ts';
import type { Step } from '../validate/schema.ts';

/** Every running step watched (and a pending one whose pod a crashed pass already created, adopted). */
export function observeSteps(pass: PassContext, run: AdmittedRun, steps: readonly StepState[]): Promise<StepState[]> {
  return Promise.all(
    steps.map(async (s) =>
      s.phase === 'Running' || s.phase === 'Pending' ? observeStep(run, s, pass.deps, pass.audit) : s,
    ),
  );
}

/**
 * The steps whose turn it is (their prerequisites all succeeded or were skipped by their condition;
 * a retried one, its backoff over), started at once, each on its attempt — or skipped by its own
 * condition (`when`).
 */
export async function startReadySteps(
  pass: PassContext,
  run: AdmittedRun,
  steps: readonly StepState[],
): Promise<StepState[]> {
  const ready = readySteps(pass, run, steps);
  const started = await Promise.all(ready.map((step) => startOrSkip(run, step, steps, pass.deps, pass.audit)));
  return started.reduce(replace, [...steps]);
}

/** The steps whose turn it is now (prerequisites done; a retried one, its backoff over). */
export function readySteps(pass: PassContext, run: AdmittedRun, steps: readonly StepState[]): Step[] {
  const now = pass.deps.now();
  const state = (name: string): StepState | undefined => steps.find((s) => s.name === name);
  return plan(run.workflow, steps).start.filter((step) => due(state(step.name), now));
}

/**
 * The steps that will never run, recorded and Skipped: those blocked before this pass started
 * steps (`before`) and those blocked by a step that failed to start now.
 */
export async function skipBlockedSteps(
  pass: PassContext,
  run: AdmittedRun,
  before: readonly StepState[],
  steps: readonly StepState[],
): Promise<StepState[]> {
  let out = [...steps];
  for (const name of new Set([...plan(run.workflow, before).skip, ...plan(run.workflow, steps).skip]))
    out = replace(out, await skipStep(run, name, pass.deps, pass.audit));
  return out;
}

/**
 * The run's status from its steps, written; and when to look again (the next deadline or grace
 * period, or `soonMs` when the pass had to leave something undone: a finite `soonMs` also stands
 * for a retry already due, which the pass could not start — its wait, not at once).
 */
export async function writeProgress(
  pass: PassContext,
  run: AdmittedRun,
  steps: readonly StepState[],
  soonMs = Infinity,
): Promise<Pass> {
  const now = pass.deps.now().toISOString();
  const phase = runPhaseOf(steps);
  const failed = steps.find((s) => s.code !== undefined && s.phase !== 'Skipped');
  const status: RunStatus = {
    phase,
    ...(phase === 'Failed' && failed !== undefined
      ? { code: failed.code, message: `step ${failed.name}: ${failed.message ?? failed.phase}` }
      : {}),
    summary: summary(steps),
    steps,
    startedAt: pass.known?.startedAt ?? now,
    ...(runDone(phase) ? { finishedAt: now } : {}),
  };
  const written = await writeStatus(pass, status);
  if (runDone(phase)) return written;
  const next = nextCheckMs(pass, run, steps, soonMs !== Infinity);
  return { requeueAfterMs: Math.min(written.requeueAfterMs ?? Infinity, soonMs, next) };
}

/**
 * The soonest moment something changes without an event: a deadline, a fail-fast grace period, a
 * retry's backoff ending. A retry already due counts as now (it became due during the pass), unless
 * `waiting`: the pass left it waiting (its precondition refused), and the wait decides when.
 */
function nextCheckMs(pass: PassContext, run: AdmittedRun, steps: readonly StepState[], waiting: boolean): number {
  const { config } = pass.deps;
  const now = pass.deps.now().getTime();
  const waits = steps
    .filter((s) => s.phase === 'Running' && s.startedAt !== undefined)
    .flatMap((s) => {
      const started = new Date(s.startedAt ?? now).getTime();
      const step = run.workflow.steps.find((x) => x.name === s.name);
      const timeout = stepTimeoutSeconds(step, config.defaultTimeoutSeconds);
      return [started + config.failFastGraceSeconds * 1000 - now, started + timeout * 1000 - now];
    })
    .filter((ms) => ms > 0);
  const retries = steps
    .flatMap((s) => (s.phase === 'Pending' && s.retryAt !== undefined ? [new Date(s.retryAt).getTime() - now] : []))
    .filter((ms) => !waiting || ms > 0);
  return Math.min(30_000, ...[...waits, ...retries.map((ms) => Math.max(0, ms))].map((ms) => ms + 50));
}

function replace(steps: StepState[], next: StepState): StepState[] {
  return steps.map((s) => (s.name === next.name ? next : s));
}
