/**
 * The pipeline, in order (DESIGN §1):
 *
 *   admit:   receive → verify → validate → claim (the WorkflowRun named from jti: exactly once)
 *   execute: for each step: evaluate → mutate → (audit, durable) → create → watch → report
 *
 * Every stage is a function returning a Result; every outcome, allow or deny, is one audit record;
 * the record that authorises a side effect is durable before the side effect happens. Anything
 * that fails stops the assignment (or the step) with a coded error and no pod.
 */
import { maskInput } from './audit/mask.ts';
import { evaluate, policyInput } from './evaluate/evaluate.ts';
import { fail, ok, type Result, type RunnerError } from './errors/result.ts';
import { mutate } from './mutate/restricted.ts';
import { AuditUnavailable, auditor, type Auditor, type Fields } from './pipeline/auditor.ts';
import type { AdmittedRun, AssignmentReport, PipelineDeps, StepReport } from './pipeline/types.ts';
import { buildPod } from './pod/build.ts';
import { buildClaims } from './pod/volumes.ts';
import { dnsSafeName } from './pod/names.ts';
import { receive, type RawAssignment } from './receive/receive.ts';
import type { Step } from './validate/schema.ts';
import { validate } from './validate/validate.ts';
import { verify } from './verify/verify.ts';

export type { AdmittedRun, AssignmentReport, PipelineConfig, PipelineDeps, PipelineObserver, StepReport } from './pipeline/types.ts';

/** Seconds a watch waits beyond the pod's own deadline before giving up on it. */
const WATCH_GRACE_SECONDS = 60;

/** admit + execute: one assignment from bytes to the end of its last step. */
export async function processAssignment(raw: RawAssignment, deps: PipelineDeps): Promise<AssignmentReport> {
  const run = await admit(raw, deps);
  if (!run.ok) return { accepted: false, code: run.error.code, message: run.error.message, steps: [] };
  return execute(run.value, deps);
}

/** receive → verify → validate; each outcome audited. Nothing here touches the cluster. */
export async function admit(raw: RawAssignment, deps: PipelineDeps): Promise<Result<AdmittedRun>> {
  const audit = auditor(deps);
  return guarded(deps, async () => {
    const token = receive(raw, deps.config.receive);
    if (!token.ok) return rejected(await audit.denied('receive', token.error), token.error);

    const claims = await verify(token.value, deps.config.verify, { keys: deps.keys, now: deps.now });
    if (!claims.ok) return rejected(await audit.denied('verify', claims.error), claims.error);
    const ref = { id: claims.value.sub, runId: claims.value.jti, jti: claims.value.jti };
    await audit.passed('verify', 'token verified', { workflow: ref });

    const workflow = validate(claims.value.workflow);
    if (!workflow.ok) return rejected(await audit.denied('validate', workflow.error, { workflow: ref, result: workflow.error.details }), workflow.error);
    const run = { id: workflow.value.id, runId: workflow.value.runId, jti: claims.value.jti };
    await audit.passed('validate', `workflow ${workflow.value.id} is valid (${workflow.value.steps.length} steps)`, { workflow: run });

    const admitted: AdmittedRun = { name: dnsSafeName(`wr-${claims.value.jti}`), ref: run, workflow: workflow.value };
    const claimed = await deps.runs.claim(admitted, token.value);
    if (!claimed.ok) return rejected(await (claimed.error.code === 'ASSIGNMENT_REPLAYED' ? audit.denied : audit.errored)('claim', claimed.error, { workflow: run }), claimed.error);
    await audit.passed('claim', `run ${claimed.value.name} accepted`, { workflow: run });
    return ok({ ...admitted, uid: claimed.value.uid });
  });
}

/** The steps of an admitted run, in order; stops at the first step that does not succeed. */
export async function execute(run: AdmittedRun, deps: PipelineDeps): Promise<AssignmentReport> {
  const audit = auditor(deps);
  deps.observer?.workflowStarted();
  const steps: StepReport[] = [];
  const result = await guarded(deps, async () => {
    // The run's volumes, once, before its first step (owned by the WorkflowRun, like its pods).
    const claims = buildClaims(run, run.workflow, { namespace: deps.config.namespace, runner: deps.config.runner, storageClass: deps.config.storageClass });
    if (claims.length > 0) {
      const created = await deps.pods.createClaims(claims);
      if (!created.ok) {
        await audit.errored('create', created.error, { workflow: run.ref });
        return created;
      }
      await audit.passed('create', `volumes ${created.value.join(', ')} ready`, { workflow: run.ref });
    }
    for (const step of run.workflow.steps) {
      steps.push(steps.some((s) => s.status !== 'succeeded') ? skipped(step) : await executeStep(run, step, deps, audit));
    }
    return ok(undefined);
  });
  const failed = steps.find((s) => s.status !== 'succeeded' && s.status !== 'skipped');
  deps.observer?.workflowFinished(result.ok && failed === undefined ? 'success' : 'failed');
  if (!result.ok) return { accepted: true, code: result.error.code, message: result.error.message, workflow: run.ref, steps };
  return { accepted: true, message: failed === undefined ? 'all steps succeeded' : `step ${failed.step} ${failed.status}`, workflow: run.ref, steps };
}

async function executeStep(run: AdmittedRun, step: Step, deps: PipelineDeps, audit: Auditor): Promise<StepReport> {
  const { config } = deps;
  const started = deps.now().getTime();
  const pod = buildPod(run.workflow, step, { runner: config.runner, namespace: config.namespace, serviceAccount: config.serviceAccount, defaultTimeoutSeconds: config.defaultTimeoutSeconds, run: run.name, workspaceSize: config.workspaceSize });
  // Owned by its WorkflowRun: deleting the run garbage-collects its pods.
  if (run.uid !== undefined && pod.metadata !== undefined) pod.metadata.ownerReferences = [{ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: run.name, uid: run.uid, controller: true }];
  const input = policyInput(config.runner, run.workflow, step, pod);
  const masked = maskInput(input);
  const at: Fields = { workflow: run.ref, step: step.name, image: step.image };

  const t0 = process.hrtime.bigint();
  const decision = evaluate(input, deps.policy());
  // OPA's decision-log metric name, so existing tooling reads it.
  const metrics = { timer_rego_query_eval_ns: Number(process.hrtime.bigint() - t0) };
  if (!decision.ok) {
    const denied = decision.error.code === 'POLICY_DENIED';
    const details = decision.error.details as { decision?: StepReport['decision'] } | undefined;
    const extra: Fields = details?.decision !== undefined ? { result: details.decision, bundles: { kubiya: { revision: details.decision.revision } } } : {};
    await (denied ? audit.denied : audit.errored)('evaluate', decision.error, { ...at, path: 'kubiya/main/decision', input: masked.input, masked: masked.masked, metrics, ...extra });
    return { step: step.name, status: denied ? 'denied' : 'error', code: decision.error.code, message: decision.error.message, decision: details?.decision };
  }
  const bundles = { kubiya: { revision: decision.value.revision } };
  await audit.passed('evaluate', 'step allowed by policy', { ...at, path: 'kubiya/main/decision', input: masked.input, masked: masked.masked, result: decision.value, bundles, metrics });

  const hardened = mutate(pod, config.profile);
  const podRef = { name: hardened.pod.metadata?.name ?? '', namespace: config.namespace };
  // Write-ahead: the mutate record (with its patch) authorises the create and is durable first.
  await audit.passed('mutate', 'pod hardened to restricted', { ...at, patch: hardened.patch, pod: podRef, bundles });

  const created = await deps.pods.create(hardened.pod);
  if (!created.ok) {
    await audit.errored('create', created.error, { ...at, pod: podRef });
    return { step: step.name, status: 'error', code: created.error.code, message: created.error.message, pod: podRef.name, decision: decision.value };
  }
  await audit.passed('create', `pod ${created.value.name} created`, { ...at, pod: podRef });

  const deadline = hardened.pod.spec?.activeDeadlineSeconds ?? config.defaultTimeoutSeconds;
  const outcome = await deps.pods.outcome(created.value.name, (deadline + WATCH_GRACE_SECONDS) * 1000);
  if (!outcome.ok) {
    await audit.errored('finish', outcome.error, { ...at, pod: podRef });
    return { step: step.name, status: 'error', code: outcome.error.code, message: outcome.error.message, pod: podRef.name };
  }
  deps.observer?.stepFinished(step.name, (deps.now().getTime() - started) / 1000);
  const { phase, exitCode, reason } = outcome.value;
  const finishedPod = { ...podRef, phase, ...(exitCode !== undefined ? { exitCode } : {}), ...(reason !== undefined ? { reason } : {}) };
  if (phase === 'Succeeded') {
    await audit.finished('success', `step ${step.name} succeeded`, { ...at, pod: finishedPod });
    return { step: step.name, status: 'succeeded', message: 'pod succeeded', pod: podRef.name, exitCode, decision: decision.value };
  }
  const error: RunnerError = reason === 'DeadlineExceeded'
    ? { code: 'STEP_DEADLINE_EXCEEDED', message: `step ${step.name} exceeded its deadline` }
    : { code: 'STEP_FAILED', message: `step ${step.name} failed${exitCode !== undefined ? ` with exit code ${exitCode}` : ''}${reason !== undefined ? ` (${reason})` : ''}` };
  await audit.finished('failure', error.message, { ...at, pod: finishedPod }, error);
  return { step: step.name, status: 'failed', code: error.code, message: error.message, pod: podRef.name, exitCode, decision: decision.value };
}

/** Nothing proceeds without a durable record; any other throw is a bug, and also stops here. */
async function guarded<T>(deps: PipelineDeps, body: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await body();
  } catch (thrown) {
    if (thrown instanceof AuditUnavailable) return fail('AUDIT_UNAVAILABLE', `audit log unavailable: ${thrown.message}`);
    deps.observer?.internalError(thrown);
    return fail('INTERNAL', 'internal error');
  }
}

function rejected(_record: unknown, error: RunnerError): Result<never> {
  return { ok: false, error };
}

function skipped(step: Step): StepReport {
  return { step: step.name, status: 'skipped', message: 'an earlier step did not succeed' };
}
