/**
 * One decision as the pipeline makes it (src/pipeline.ts: admit, then the reconcile pass's
 * startStep up to the side effect), with the same stage functions and the same audit records and
 * the same durability waits:
 *
 *   intake: verify → validate → [audit verify + validate: one group commit] → trust the key
 *           (src/pipeline/verified.ts `verified`, the run's UID then bound as admit does)
 *   pass:   re-verify (`reverified`, a pass after the first: unrecorded; intake's verification
 *           reused when it still holds, src/pipeline/verified-cache.ts) and validate again →
 *           buildPod → evaluate → mutate → [audit evaluate + mutate: one group commit]
 *
 * Left out, because they are Kubernetes I/O measured elsewhere (scenario 2): the WorkflowRun
 * claim and its record, the egress policy, the pod create and its record, the status write. The
 * trusted-key store is in memory (the runner's is a ConfigMap, written only when a key is new).
 * The evaluator is a parameter so the OPA sidecar can stand in for WASM.
 */
import type { AuditSink } from '../src/audit/record.ts';
import type { Decision } from '../src/evaluate/decision.ts';
import { policyInput, type PolicyInput } from '../src/evaluate/evaluate.ts';
import type { Evaluation } from '../src/evaluate/evaluate.ts';
import { mutate } from '../src/mutate/restricted.ts';
import { auditor, type Fields } from '../src/pipeline/auditor.ts';
import type { PipelineDeps } from '../src/pipeline/deps.ts';
import { buildPod } from '../src/pod/build.ts';
import { verifiedRuns } from '../src/pipeline/verified-cache.ts';
import { reverified, verified } from '../src/pipeline/verified.ts';
import type { RunObject } from '../src/ports/runs.ts';

export type Evaluator = (input: PolicyInput) => Evaluation | Promise<Evaluation>;

/**
 * What a decision needs; `pods` and `runs` are never touched here. `policy` (optional) is the
 * engine whose settings the auditor masks with, as in the runner (its credential patterns on top
 * of the built-in ones); the decision itself is made by the Evaluator.
 */
export type DecisionDeps = Omit<PipelineDeps, 'pods' | 'objects' | 'logs' | 'runs' | 'policy'> & {
  readonly audit: AuditSink;
  readonly policy?: PipelineDeps['policy'];
};

/** Resolves once the mutate record (which would authorise the pod create) is durable. */
export async function decide(token: string, deps: DecisionDeps, evaluateStep: Evaluator): Promise<Decision> {
  const { config } = deps;
  const pipeline = { policy: () => undefined, ...deps } as PipelineDeps;
  const audit = auditor(pipeline);
  const admitted = await verified(token, pipeline, audit);
  if (!admitted.ok) throw new Error(`verify: ${admitted.error.code}`);
  const uid = deps.newId();
  verifiedRuns(deps.trust).bind(token, uid);

  // The reconcile pass verifies the stored token again before the pod (a pass after the first).
  const obj: RunObject = {
    name: admitted.value.name,
    uid,
    createdAt: deps.now(),
    workflowId: admitted.value.ref.id,
    runId: admitted.value.ref.runId,
    token,
    cancelRequested: false,
    status: { phase: 'Pending', steps: [] } as unknown as NonNullable<RunObject['status']>,
  };
  const again = await reverified(obj, pipeline, audit);
  if (!again.ok) throw new Error(`re-verify: ${again.error.code}`);
  const workflow = { value: again.value.workflow };
  const run = again.value.ref;

  const step = workflow.value.steps[0];
  if (step === undefined) throw new Error('bench workflow has no step');
  const pod = buildPod(workflow.value, step, {
    runner: config.runner,
    namespace: config.namespace,
    serviceAccount: config.serviceAccount,
    defaultTimeoutSeconds: config.defaultTimeoutSeconds,
    workspaceSize: config.workspaceSize,
    defaultResources: config.defaultResources,
  });
  const input = policyInput(config.runner, workflow.value, step, pod);
  const at: Fields = { workflow: run, step: step.name, image: step.image };
  const t0 = process.hrtime.bigint();
  const evaluation = await evaluateStep(input);
  const metrics = { timer_rego_query_eval_ns: Number(process.hrtime.bigint() - t0) };
  if (evaluation.kind !== 'allow')
    throw new Error(`evaluate: ${evaluation.kind === 'deny' ? 'POLICY_DENIED' : evaluation.error.code}`);
  const decision = { value: evaluation.decision };
  const bundles = { kubiya: { revision: decision.value.revision } };
  const evaluated = audit.passed('evaluate', 'step allowed by policy', {
    ...at,
    path: 'kubiya/main/decision',
    input,
    result: decision.value,
    bundles,
    metrics,
  });

  const hardened = mutate(pod, config.profile);
  const podRef = { name: hardened.pod.metadata?.name ?? '', namespace: config.namespace };
  await Promise.all([
    evaluated,
    audit.passed('mutate', 'pod hardened to restricted', { ...at, patch: hardened.patch, pod: podRef, bundles }),
  ]);
  return decision.value;
}
