import type { V1Pod } from '@kubernetes/client-node';
import type { RunnerError } from '../errors/result.ts';
import type { Auditor } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { stepTimeoutSeconds } from '../pod/duration.ts';
import { attemptPodName, DECISION_ANNOTATION } from '../pod/names.ts';
import { readOutputs } from '../run/outputs.ts';
import type { Result } from '../errors/result.ts';
import { attemptOf } from '../run/retry.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { StepState } from '../run/status.ts';
import { judgePod, type PodJudgement, type PodOutcome } from '../watch/outcome.ts';
import { finishStep, type StepEnd } from './finish.ts';
import { shipLogs, shipLogsLater } from './logs.ts';

/**
 * Level-based watch of one step: its pod as observed now decides. A pending step whose pod exists
 * (a pass crashed after creating it) is adopted, never created twice.
 */
export async function observeStep(
  run: AdmittedRun,
  s: StepState,
  deps: PipelineDeps,
  audit: Auditor,
): Promise<StepState> {
  const name = s.pod ?? attemptPodName(run.workflow.runId, s.name, attemptOf(s));
  const seen = s.phase === 'Pending' ? deps.pods.cached(name) : await deps.pods.get(name);
  const pod = seen?.metadata?.ownerReferences?.some((o) => o.uid === run.uid) === true ? seen : undefined;
  if (s.phase === 'Pending') {
    if (pod === undefined) return s;
    s = adopted(s, name, pod, deps);
  }
  if (pod === undefined) return finishStep(run, s, podLost(s.name, name), deps, audit);
  const step = run.workflow.steps.find((x) => x.name === s.name);
  const judged = judgePod(pod, {
    now: deps.now(),
    deadlineSeconds: stepTimeoutSeconds(step, deps.config.defaultTimeoutSeconds),
    failFastGraceSeconds: deps.config.failFastGraceSeconds,
  });
  return act(run, s, name, judged, deps, audit, readOutputs(pod, step));
}

/**
 * A pending step whose pod exists (an earlier pass created it; its Running status was held, or the
 * pass crashed): Running since the pod's creation, with the decision the pod was created under.
 */
function adopted(s: StepState, name: string, pod: V1Pod, deps: PipelineDeps): StepState {
  const created = pod.metadata?.creationTimestamp;
  return {
    ...s,
    phase: 'Running',
    pod: name,
    decision: decisionOf(pod),
    startedAt: created !== undefined ? new Date(created).toISOString() : deps.now().toISOString(),
  };
}

/**
 * What the step's pod as judged now asks for: nothing, or its end (after a delete, for a stuck or
 * late pod); a finished pod's end carries the outputs it wrote (kept only when it succeeded).
 */
async function act(
  run: AdmittedRun,
  s: StepState,
  pod: string,
  judged: PodJudgement,
  deps: PipelineDeps,
  audit: Auditor,
  outputs: Result<Readonly<Record<string, string>>>,
): Promise<StepState> {
  switch (judged.kind) {
    case 'running':
      return judged.reason === s.reason ? s : { ...s, reason: judged.reason, message: judged.message };
    case 'finished': {
      // Recorded first (the end is what matters); the log is read off the pass (the pod stays for the TTL).
      const ended = await finishStep(run, s, withOutputs(podEnded(s.name, judged.outcome), outputs), deps, audit);
      shipLogsLater(run, s.name, pod, deps);
      return ended;
    }
    case 'stuck':
      await deps.pods.delete(pod);
      return finishStep(run, s, stuck(s.name, judged.reason, judged.message), deps, audit);
    case 'deadline':
      await shipLogs(run, s.name, pod, deps);
      await deps.pods.delete(pod);
      return finishStep(run, s, late(s.name, judged.seconds), deps, audit);
  }
}

/**
 * A succeeded pod's end with its outputs; one whose outputs were refused (cut by the kubelet, over
 * the bound, not UTF-8: src/run/outputs.ts) is Failed with that code, so no dependent runs on a
 * partial or forged value.
 */
function withOutputs(end: StepEnd, outputs: Result<Readonly<Record<string, string>>>): StepEnd {
  if (outputs.ok) return { ...end, outputs: outputs.value };
  if (end.phase !== 'Succeeded') return end;
  return { phase: 'Failed', exitCode: end.exitCode, reason: 'OutputsRefused', error: outputs.error };
}

/**
 * The decision a pod was created under, from its annotation — only in the form the runner writes
 * ("allow (<revision>)", at most 200 characters): the pod is an object in the cluster, and what
 * it says reaches the run's status. Anything else: "allow (adopted after restart)".
 */
function decisionOf(pod: V1Pod): string {
  const said = pod.metadata?.annotations?.[DECISION_ANNOTATION];
  return said !== undefined && DECISION_FORM.test(said) ? said : 'allow (adopted after restart)';
}

const DECISION_FORM = /^allow \([\x21-\x7e]{1,192}\)$/;

function podLost(step: string, pod: string): StepEnd {
  const error: RunnerError = {
    code: 'STEP_POD_LOST',
    message: `pod ${pod} of step ${step} disappeared before it finished`,
  };
  return { phase: 'Failed', reason: 'PodDeleted', error };
}

function podEnded(step: string, { phase, exitCode, reason }: PodOutcome): StepEnd {
  const exit = exitCode !== undefined ? ` with exit code ${exitCode}` : '';
  const why = reason !== undefined ? ` (${reason})` : '';
  const error: RunnerError | undefined =
    phase === 'Succeeded'
      ? undefined
      : reason === 'DeadlineExceeded'
        ? { code: 'STEP_DEADLINE_EXCEEDED', message: `step ${step} exceeded its deadline` }
        : { code: 'STEP_FAILED', message: `step ${step} failed${exit}${why}` };
  return { phase, exitCode, reason, error };
}

function stuck(step: string, reason: string, message: string): StepEnd {
  const error: RunnerError = { code: 'STEP_START_FAILED', message: `step ${step} could not start: ${message}` };
  return { phase: 'Failed', reason, error };
}

function late(step: string, seconds: number): StepEnd {
  const error: RunnerError = {
    code: 'STEP_DEADLINE_EXCEEDED',
    message: `step ${step} exceeded its deadline of ${seconds}s; its pod was deleted`,
  };
  return { phase: 'Failed', reason: 'DeadlineExceeded', error };
}
