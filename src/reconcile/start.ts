/**
 * A step from its turn to its pod, as named steps:
 *
 *   build the pod → evaluate (current policy) → harden (mutate) → render its egress policy (only
 *   when granted more than DNS) → record evaluate + mutate (durable) → create the egress policy,
 *   then the pod → record create
 *
 * Every outcome is recorded; a refusal leaves nothing behind (src/create/step.ts). A refused step
 * is not retried (retries are for pods that failed): its run fails — except a create refusal
 * that says the cluster cannot take the pod now and came before any API call for it
 * (src/errors/waits.ts: the PodSecurity gate): the step stays Pending on the same attempt, and a
 * later pass decides it again with the policy of then (red team 12, finding 3).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { createStepObjects } from '../create/step.ts';
import { waitsAtCreate } from '../errors/waits.ts';
import { EGRESS_LABEL, egressLabel, egressObject, type EgressObject } from '../egress/network-policy.ts';
import type { Decision } from '../evaluate/decision.ts';
import { denial, evaluate, policyInput, type PolicyInput } from '../evaluate/evaluate.ts';
import { ok, type Result, type RunnerError } from '../errors/result.ts';
import { mutate, type Mutation } from '../mutate/restricted.ts';
import type { Auditor, Fields } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { buildPod } from '../pod/build.ts';
import { ATTEMPT_ANNOTATION, attemptPodName, DECISION_ANNOTATION, egressPolicyName, LABELS } from '../pod/names.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import { runOwner } from '../run/owner.ts';
import { OUTPUTS_ENV, OUTPUTS_FILE } from '../run/outputs.ts';
import { attemptOf } from '../run/retry.ts';
import type { StepState } from '../run/status.ts';
import type { Step } from '../validate/schema.ts';

/** The policy's decision path, as OPA names it in its decision log. */
const DECISION_PATH = 'kubiya/main/decision';

/**
 * evaluate → mutate → (audit, durable) → egress policy → create: one step from its turn to its pod.
 * `prior` is the step's state before (a retried step's: its attempt number and ended attempts,
 * which the new state keeps); each attempt is its own pod, decision and records. A step whose
 * create was refused with a wait code (src/errors/waits.ts) comes back Pending, on the same
 * attempt, with a `message` saying why and no `code` (it has not ended); its `retryAt`, already
 * due, is dropped, so the pass requeues it after the wait (5 s) and not at once.
 */
export async function startStep(
  run: AdmittedRun,
  step: Step,
  deps: PipelineDeps,
  audit: Auditor,
  prior?: StepState,
): Promise<StepState> {
  const attempt = prior !== undefined ? attemptOf(prior) : 1;
  const started = await startAttempt(run, step, deps, audit, attempt);
  return attempt > 1 ? { ...started, attempt, attempts: prior?.attempts } : started;
}

async function startAttempt(
  run: AdmittedRun,
  step: Step,
  deps: PipelineDeps,
  audit: Auditor,
  attempt: number,
): Promise<StepState> {
  const at: Fields = { workflow: run.ref, step: step.name, image: step.image };
  const pod = stepPod(run, step, deps, attempt);
  const input = policyInput(deps.config.runner, run.workflow, step, pod, attempt);
  const decided = await decide(input, deps, audit, at);
  if (!decided.ok) return refusedStep(step, decided.error, deps, decided.decision);
  const allowed = decided.value;
  const hardened = mutate(pod, deps.config.profile);
  const podRef = { name: hardened.pod.metadata?.name ?? '', namespace: deps.config.namespace };
  markDecision(hardened.pod, run, step, allowed.decision);
  const egress = stepEgress(run, step, allowed.decision, hardened, deps);
  if (!egress.ok) {
    await Promise.all([allowed.recorded, audit.errored('create', egress.error, { ...at, pod: podRef })]);
    return refusedStep(step, egress.error, deps, allowed.decision);
  }
  await Promise.all([allowed.recorded, recordMutate(allowed, hardened, { ...at, pod: podRef }, audit)]);
  const created = await createStepObjects(egress.value, hardened.pod, deps);
  if (!created.ok && waitsAtCreate(created.error.code)) {
    await audit.errored('create', notCreated(created.error, podRef.name), { ...at, pod: podRef });
    return waitingStep(step, created.error);
  }
  if (!created.ok) {
    await audit.errored('create', created.error, { ...at, pod: podRef });
    return refusedStep(step, created.error, deps, allowed.decision);
  }
  await audit.passed('create', `pod ${podRef.name} created`, { ...at, pod: podRef });
  return runningStep(step, podRef.name, allowed.decision, deps);
}

/**
 * The step's pod as the runner builds it from the signed step, owned by the run (before hardening);
 * after the first attempt named per attempt and annotated with it.
 */
function stepPod(run: AdmittedRun, step: Step, deps: PipelineDeps, attempt: number): V1Pod {
  const { config } = deps;
  const pod = buildPod(run.workflow, step, {
    runner: config.runner,
    namespace: config.namespace,
    serviceAccount: config.serviceAccount,
    defaultTimeoutSeconds: config.defaultTimeoutSeconds,
    run: run.name,
    workspaceSize: config.workspaceSize,
    defaultResources: config.defaultResources,
  });
  const owner = runOwner(run);
  if (owner !== undefined && pod.metadata !== undefined) pod.metadata.ownerReferences = [owner];
  withOutputsFile(pod, step);
  if (attempt > 1 && pod.metadata !== undefined) {
    pod.metadata.name = attemptPodName(run.workflow.runId, step.name, attempt);
    pod.metadata.annotations = { ...pod.metadata.annotations, [ATTEMPT_ANNOTATION]: String(attempt) };
  }
  return pod;
}

/**
 * A step that declares outputs gets $KUBIYA_OUTPUTS in its own container: the termination message
 * file, which the kubelet returns in the pod's status (issue 19 §4; src/run/outputs.ts).
 */
function withOutputsFile(pod: V1Pod, step: Step): void {
  const main = pod.spec?.containers.find((c) => c.name === 'step');
  if ((step.outputs?.length ?? 0) === 0 || main === undefined) return;
  main.terminationMessagePath = OUTPUTS_FILE;
  main.terminationMessagePolicy = 'File';
  main.env = [...(main.env ?? []).filter((e) => e.name !== OUTPUTS_ENV), { name: OUTPUTS_ENV, value: OUTPUTS_FILE }];
}

/** An allowed step: its decision, and its evaluate record (appended, not awaited: it is made durable with mutate's). */
interface Allowed {
  readonly decision: Decision;
  /** The bundle that decided (revision, and the key that verified it): the mutate record names it too. */
  readonly bundles: Bundles;
  readonly recorded: Promise<unknown>;
}

/** A refused step: why, and the policy's decision when there was one (a deny). */
type Decided =
  | { readonly ok: true; readonly value: Allowed }
  | { readonly ok: false; readonly error: RunnerError; readonly decision?: Decision | undefined };

/**
 * evaluate, recorded: a deny or an error is recorded and awaited now (nothing follows it); an
 * allow is appended and made durable together with the mutate record (one group commit).
 */
async function decide(input: PolicyInput, deps: PipelineDeps, audit: Auditor, at: Fields): Promise<Decided> {
  const t0 = process.hrtime.bigint();
  const engine = deps.policy();
  const evaluated = evaluate(input, engine);
  // OPA's decision-log metric name, so existing tooling reads it.
  const metrics = { timer_rego_query_eval_ns: Number(process.hrtime.bigint() - t0) };
  const fields: Fields = { ...at, path: DECISION_PATH, input, metrics };
  switch (evaluated.kind) {
    case 'error': {
      // Every evaluate record names the bundle revision, an evaluation error's too (its cause is the message).
      const { revision } = evaluated;
      await audit.errored(
        'evaluate',
        evaluated.error,
        revision === undefined ? fields : { ...fields, bundles: bundlesOf(revision, engine?.keyid) },
      );
      return { ok: false, error: evaluated.error };
    }
    case 'deny': {
      const { decision } = evaluated;
      const error = denial(decision);
      await audit.denied('evaluate', error, {
        ...fields,
        result: decision,
        bundles: bundlesOf(decision.revision, engine?.keyid),
      });
      return { ok: false, error, decision };
    }
    case 'allow': {
      const { decision } = evaluated;
      const bundles = bundlesOf(decision.revision, engine?.keyid);
      const recorded = audit.passed('evaluate', 'step allowed by policy', { ...fields, result: decision, bundles });
      return { ok: true, value: { decision, bundles, recorded } };
    }
  }
}

/** OPA's decision-log `bundles` member, with the key that verified the bundle when one did. */
type Bundles = { readonly kubiya: { readonly revision: string; readonly keyid?: string } };

const bundlesOf = (revision: string, keyid: string | undefined): Bundles => ({
  kubiya: keyid === undefined ? { revision } : { revision, keyid },
});

/**
 * What the pod carries of its decision, set before it is created (no write after): the decision
 * summary (an annotation, read back when a later pass adopts the pod before the run's status names
 * it) and, for a step granted more than DNS, the egress label its own policy selects.
 */
function markDecision(pod: V1Pod, run: AdmittedRun, step: Step, decision: Decision): void {
  if (pod.metadata === undefined) return;
  pod.metadata.annotations = { ...pod.metadata.annotations, [DECISION_ANNOTATION]: decisionSummary(decision) };
  const grant = egressLabel(run.workflow.runId, step.name, decision.egress ?? []);
  if (grant !== undefined) pod.metadata.labels = { ...pod.metadata.labels, [EGRESS_LABEL]: grant };
}

/**
 * The step's own NetworkPolicy (or CiliumNetworkPolicy) from the egress the policy granted; none
 * (undefined) for a step granted nothing beyond DNS, which the runner's namespace-wide DNS policy
 * covers (src/egress/network-policy.ts, stepDnsPolicy). It selects the pod by run, step, runner and
 * the egress label of this very decision, so it never applies to another run's pod, nor to an
 * attempt of this step decided otherwise.
 */
function stepEgress(
  run: AdmittedRun,
  step: Step,
  decision: Decision,
  hardened: Mutation,
  deps: PipelineDeps,
): Result<EgressObject | undefined> {
  const { config } = deps;
  const grant = hardened.pod.metadata?.labels?.[EGRESS_LABEL];
  if (grant === undefined) return ok(undefined);
  return egressObject(decision.egress ?? [], {
    name: egressPolicyName(run.workflow.runId, step.name),
    namespace: config.namespace,
    mode: config.egressMode,
    dnsNamespace: config.dnsNamespace,
    owner: runOwner(run),
    podLabels: {
      [LABELS.run]: run.workflow.runId,
      [LABELS.step]: step.name,
      [LABELS.runner]: config.runner,
      [EGRESS_LABEL]: grant,
    },
    // Its identity labels (runner, workflow, run, step), not the grant: an earlier decision's policy is replaced, not refused.
    labels: Object.fromEntries(Object.entries(hardened.pod.metadata?.labels ?? {}).filter(([k]) => k !== EGRESS_LABEL)),
  });
}

/** Write-ahead: the mutate record (its patch, the egress it grants) authorises the creates. */
function recordMutate(allowed: Allowed, hardened: Mutation, at: Fields, audit: Auditor): Promise<unknown> {
  const { decision, bundles } = allowed;
  const egress = (decision.egress ?? []).map((d) => `, ${d.host ?? d.cidr ?? ''}:${d.ports.join('/')}`).join('');
  return audit.passed('mutate', `pod hardened to restricted; egress: DNS${egress}`, {
    ...at,
    patch: hardened.patch,
    bundles,
  });
}

/** "allow (rev)" or "deny: CODE, CODE (rev)": what decided the step, for its status. */
function decisionSummary(d: Decision): string {
  const denies = d.violations.filter((v) => v.action === 'deny').map((v) => v.code);
  return `${d.allow ? 'allow' : `deny: ${denies.join(', ')}`} (${d.revision})`;
}

/** A step refused before its pod: Denied by policy, or Error; ended now. */
function refusedStep(step: Step, error: RunnerError, deps: PipelineDeps, decision?: Decision): StepState {
  return {
    name: step.name,
    phase: error.code === 'POLICY_DENIED' ? 'Denied' : 'Error',
    code: error.code,
    message: error.message,
    ...(decision !== undefined ? { decision: decisionSummary(decision) } : {}),
    finishedAt: deps.now().toISOString(),
  };
}

/** The create record of a step that waits: the refusal's code, and that no pod was created. */
function notCreated(error: RunnerError, pod: string): RunnerError {
  return { code: error.code, message: `${error.message}; pod ${pod} was not created, the step waits` };
}

/** A step that waits at create (src/errors/waits.ts): Pending, not started, saying why. */
function waitingStep(step: Step, error: RunnerError): StepState {
  return { name: step.name, phase: 'Pending', message: `waiting to start (${error.code}): ${error.message}` };
}

function runningStep(step: Step, pod: string, decision: Decision, deps: PipelineDeps): StepState {
  return {
    name: step.name,
    phase: 'Running',
    pod,
    decision: decisionSummary(decision),
    startedAt: deps.now().toISOString(),
  };
}
