import { createHash } from 'node:crypto';
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { egressObject } from '../egress/network-policy.ts';
import type { Decision } from '../evaluate/decision.ts';
import { evaluate, policyInput } from '../evaluate/evaluate.ts';
import { ok, type Result, type RunnerError } from '../errors/result.ts';
import { mutate } from '../mutate/restricted.ts';
import { buildPod } from '../pod/build.ts';
import { durationSeconds } from '../pod/duration.ts';
import { adoptable } from '../create/adopt.ts';
import { egressPolicyName, LABELS, podName } from '../pod/names.ts';
import type { StepState } from '../run/status.ts';
import type { Step } from '../validate/schema.ts';
import { judgePod } from '../watch/outcome.ts';
import type { Auditor, Fields } from '../pipeline/auditor.ts';
import type { AdmittedRun, PipelineDeps } from '../pipeline/deps.ts';

/** The ownerReference that ties what a step needs to its WorkflowRun (garbage-collected with it). */
function ownerOf(run: AdmittedRun): V1OwnerReference | undefined {
  return run.uid === undefined
    ? undefined
    : {
        apiVersion: 'kubiya.ai/v1alpha1',
        kind: 'WorkflowRun',
        name: run.name,
        uid: run.uid,
        controller: true,
        blockOwnerDeletion: true,
      };
}

const stepPodName = (run: AdmittedRun, step: string): string => podName(run.workflow.runId, step);

export function stepTimeoutSeconds(step: Step | undefined, deps: PipelineDeps): number {
  return step?.timeout !== undefined ? durationSeconds(step.timeout) : deps.config.defaultTimeoutSeconds;
}

const summarise = (d: Decision): string =>
  `${
    d.allow
      ? 'allow'
      : `deny: ${d.violations
          .filter((v) => v.action === 'deny')
          .map((v) => v.code)
          .join(', ')}`
  } (${d.revision})`;

/**
 * evaluate → mutate → (audit, durable) → egress policy → create: one step from its turn to its
 * pod. Every outcome is recorded; a refusal leaves nothing behind (the egress policy of a pod the
 * API server refused is deleted again at once). A refused step is not retried: its run fails.
 */
export async function startStep(run: AdmittedRun, step: Step, deps: PipelineDeps, audit: Auditor): Promise<StepState> {
  const { config } = deps;
  const owner = ownerOf(run);
  const pod: V1Pod = buildPod(run.workflow, step, {
    runner: config.runner,
    namespace: config.namespace,
    serviceAccount: config.serviceAccount,
    defaultTimeoutSeconds: config.defaultTimeoutSeconds,
    run: run.name,
    workspaceSize: config.workspaceSize,
    defaultResources: config.defaultResources,
  });
  if (owner !== undefined && pod.metadata !== undefined) pod.metadata.ownerReferences = [owner];
  const input = policyInput(config.runner, run.workflow, step, pod);
  const at: Fields = { workflow: run.ref, step: step.name, image: step.image };
  const failed = (phase: 'Denied' | 'Error', error: RunnerError, decision?: Decision): StepState => ({
    name: step.name,
    phase,
    code: error.code,
    message: error.message,
    ...(decision !== undefined ? { decision: summarise(decision) } : {}),
    finishedAt: deps.now().toISOString(),
  });

  const t0 = process.hrtime.bigint();
  const decision = evaluate(input, deps.policy());
  // OPA's decision-log metric name, so existing tooling reads it.
  const metrics = { timer_rego_query_eval_ns: Number(process.hrtime.bigint() - t0) };
  if (!decision.ok) {
    const denied = decision.error.code === 'POLICY_DENIED';
    const details = decision.error.details as { decision?: Decision } | undefined;
    const extra: Fields =
      details?.decision !== undefined
        ? { result: details.decision, bundles: { kubiya: { revision: details.decision.revision } } }
        : {};
    await (denied ? audit.denied : audit.errored)('evaluate', decision.error, {
      ...at,
      path: 'kubiya/main/decision',
      input,
      metrics,
      ...extra,
    });
    return failed(denied ? 'Denied' : 'Error', decision.error, details?.decision);
  }
  const bundles = { kubiya: { revision: decision.value.revision } };
  // Appended now, made durable together with the mutate record below (one group commit).
  const evaluated = audit.passed('evaluate', 'step allowed by policy', {
    ...at,
    path: 'kubiya/main/decision',
    input,
    result: decision.value,
    bundles,
    metrics,
  });

  const hardened = mutate(pod, config.profile);
  const name = hardened.pod.metadata?.name ?? '';
  const podRef = { name, namespace: config.namespace };
  const labels = { ...hardened.pod.metadata?.labels };
  const egress = egressObject(decision.value.egress ?? [], {
    name: egressPolicyName(run.workflow.runId, step.name),
    namespace: config.namespace,
    mode: config.egressMode,
    dnsNamespace: config.dnsNamespace,
    owner,
    podLabels: { [LABELS.run]: run.workflow.runId, [LABELS.step]: step.name, [LABELS.runner]: config.runner },
    labels,
  });
  if (!egress.ok) {
    await Promise.all([evaluated, audit.errored('create', egress.error, { ...at, pod: podRef })]);
    return failed('Error', egress.error, decision.value);
  }
  // Write-ahead: the mutate record (its patch, the egress it grants) authorises the creates and is durable first.
  const mutated = audit.passed(
    'mutate',
    `pod hardened to restricted; egress: DNS${(decision.value.egress ?? []).map((d) => `, ${d.host ?? d.cidr ?? ''}:${d.ports.join('/')}`).join('')}`,
    { ...at, patch: hardened.patch, pod: podRef, bundles },
  );
  await Promise.all([evaluated, mutated]);

  // The egress policy exists, and is this step's, before the pod does (src/create/adopt.ts).
  const fenced = await deps.pods.createEgress(egress.value);
  if (!fenced.ok) {
    await audit.errored('create', fenced.error, { ...at, pod: podRef });
    return failed('Error', fenced.error, decision.value);
  }
  const created = await createOrAdoptPod(hardened.pod, deps);
  if (!created.ok) {
    // Nothing half-created: the egress policy of a pod that is not this step's goes too.
    await deps.pods.deleteObjects([{ kind: egress.value.kind, name: egress.value.metadata?.name ?? '' }]);
    await audit.errored('create', created.error, { ...at, pod: podRef });
    return failed('Error', created.error, decision.value);
  }
  await audit.passed('create', `pod ${name} created`, { ...at, pod: podRef });
  return {
    name: step.name,
    phase: 'Running',
    pod: name,
    decision: summarise(decision.value),
    startedAt: deps.now().toISOString(),
  };
}

/**
 * The step's pod: created; or, when one by its name exists (a pass that crashed after its create),
 * adopted only when it is this run's and step's — anything else is STEP_OBJECT_CONFLICT.
 */
async function createOrAdoptPod(pod: V1Pod, deps: PipelineDeps): Promise<Result<void>> {
  const created = await deps.pods.create(pod);
  if (created.ok) return ok(undefined);
  if (created.error.code !== 'CREATE_EXISTS') return created;
  const existing = await deps.pods.get(pod.metadata?.name ?? '');
  return adoptable('pod', existing?.metadata, pod.metadata);
}

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
  const name = s.pod ?? stepPodName(run, s.name);
  const pod = s.phase === 'Pending' ? deps.pods.cached(name) : await deps.pods.get(name);
  const ours = pod?.metadata?.ownerReferences?.some((o) => o.uid === run.uid) === true;
  if (s.phase === 'Pending') {
    if (pod === undefined || !ours) return s;
    s = {
      ...s,
      phase: 'Running',
      pod: name,
      decision: 'allow (adopted after restart)',
      startedAt:
        pod.metadata?.creationTimestamp !== undefined
          ? new Date(pod.metadata.creationTimestamp).toISOString()
          : deps.now().toISOString(),
    };
  }
  if (pod === undefined || !ours)
    return finishStep(
      run,
      s,
      {
        phase: 'Failed',
        reason: 'PodDeleted',
        error: { code: 'STEP_POD_LOST', message: `pod ${name} of step ${s.name} disappeared before it finished` },
      },
      deps,
      audit,
    );
  const step = run.workflow.steps.find((x) => x.name === s.name);
  const seen = judgePod(pod, {
    now: deps.now(),
    deadlineSeconds: stepTimeoutSeconds(step, deps),
    failFastGraceSeconds: deps.config.failFastGraceSeconds,
  });
  switch (seen.kind) {
    case 'running':
      return seen.reason === s.reason ? s : { ...s, reason: seen.reason, message: seen.message };
    case 'finished': {
      const { phase, exitCode, reason } = seen.outcome;
      const error: RunnerError | undefined =
        phase === 'Succeeded'
          ? undefined
          : reason === 'DeadlineExceeded'
            ? { code: 'STEP_DEADLINE_EXCEEDED', message: `step ${s.name} exceeded its deadline` }
            : {
                code: 'STEP_FAILED',
                message: `step ${s.name} failed${exitCode !== undefined ? ` with exit code ${exitCode}` : ''}${reason !== undefined ? ` (${reason})` : ''}`,
              };
      // Recorded first (the end is what matters), then the log (the pod stays for the TTL).
      const ended = await finishStep(run, s, { phase, exitCode, reason, error }, deps, audit);
      await shipLogs(run, s.name, name, deps);
      return ended;
    }
    case 'stuck':
      await deps.pods.delete(name);
      return finishStep(
        run,
        s,
        {
          phase: 'Failed',
          reason: seen.reason,
          error: { code: 'STEP_START_FAILED', message: `step ${s.name} could not start: ${seen.message}` },
        },
        deps,
        audit,
      );
    case 'deadline':
      await shipLogs(run, s.name, name, deps);
      await deps.pods.delete(name);
      return finishStep(
        run,
        s,
        {
          phase: 'Failed',
          reason: 'DeadlineExceeded',
          error: {
            code: 'STEP_DEADLINE_EXCEEDED',
            message: `step ${s.name} exceeded its deadline of ${seen.seconds}s; its pod was deleted`,
          },
        },
        deps,
        audit,
      );
  }
}

/** The most of a step's log that goes to the control plane, and the size of each event's chunk. */
const LOG_LIMIT_BYTES = 256 * 1024;
const LOG_CHUNK_BYTES = 16 * 1024;

/**
 * The step container's log, once it ended, to the observer (which sends it to the control plane
 * as Log events). Best effort: a log that cannot be read never changes the step's outcome.
 */
async function shipLogs(run: AdmittedRun, step: string, pod: string, deps: PipelineDeps): Promise<void> {
  const sink = deps.observer?.stepLog?.bind(deps.observer);
  if (sink === undefined) return;
  const log = await deps.pods.logs(pod, 'step', LOG_LIMIT_BYTES + 1);
  if (!log.ok) return;
  const bytes = Buffer.from(log.value, 'utf8');
  const truncated = bytes.length > LOG_LIMIT_BYTES;
  const kept = bytes.subarray(0, LOG_LIMIT_BYTES);
  for (let i = 0, chunk = 0; i < kept.length; i += LOG_CHUNK_BYTES, chunk++) {
    const last = i + LOG_CHUNK_BYTES >= kept.length;
    sink({
      run: run.name,
      workflow: { id: run.ref.id, runId: run.ref.runId },
      step,
      pod,
      chunk,
      text: kept.subarray(i, i + LOG_CHUNK_BYTES).toString('utf8'),
      truncated: last && truncated,
    });
  }
}

/** The decision_id of a step's end: UUID-shaped, derived from the run's uid and the step's name. */
function endId(run: AdmittedRun, step: string): string {
  const h = createHash('sha256')
    .update(`${run.uid ?? run.name}\0${step}\0end`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface StepEnd {
  readonly phase: 'Succeeded' | 'Failed' | 'Cancelled';
  readonly exitCode?: number | undefined;
  readonly reason?: string | undefined;
  readonly error?: RunnerError | undefined;
}

/**
 * A step that will never run because an earlier step did not succeed: its end is recorded like any
 * other (a `finish` record with code STEP_SKIPPED and the id fixed per run and step, so a repeated
 * pass writes the same end), then it is Skipped in status. No pod exists for it.
 */
export async function skipStep(run: AdmittedRun, name: string, deps: PipelineDeps, audit: Auditor): Promise<StepState> {
  const error = { code: 'STEP_SKIPPED', message: `step ${name} skipped: an earlier step did not succeed` } as const;
  await audit.finished('failure', error.message, { workflow: run.ref, step: name }, error, endId(run, name));
  return {
    name,
    phase: 'Skipped',
    code: error.code,
    message: 'an earlier step did not succeed',
    finishedAt: deps.now().toISOString(),
  };
}

/** The end of a step, recorded (finish) and reported. */
export async function finishStep(
  run: AdmittedRun,
  s: StepState,
  end: StepEnd,
  deps: PipelineDeps,
  audit: Auditor,
): Promise<StepState> {
  const now = deps.now();
  const pod = {
    name: s.pod ?? stepPodName(run, s.name),
    namespace: deps.config.namespace,
    phase: end.phase,
    ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
    ...(end.reason !== undefined ? { reason: end.reason } : {}),
  };
  const at: Fields = { workflow: run.ref, step: s.name, pod };
  // A pass killed after this record and before the status write records the end again on the next
  // pass; with the same decision_id, so the control plane (which de-duplicates events by id) and an
  // auditor see one end.
  const id = endId(run, s.name);
  if (end.phase === 'Succeeded') await audit.finished('success', `step ${s.name} succeeded`, at, undefined, id);
  else
    await audit.finished(
      'failure',
      end.error?.message ?? `step ${s.name} ${end.phase.toLowerCase()}`,
      at,
      end.error,
      id,
    );
  if (s.startedAt !== undefined)
    deps.observer?.stepFinished(s.name, Math.max(0, (now.getTime() - new Date(s.startedAt).getTime()) / 1000));
  return {
    ...s,
    phase: end.phase,
    exitCode: end.exitCode,
    reason: end.reason,
    code: end.error?.code,
    message: end.phase === 'Succeeded' ? 'pod succeeded' : end.error?.message,
    finishedAt: now.toISOString(),
  };
}
