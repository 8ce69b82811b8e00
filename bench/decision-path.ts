/**
 * One decision as the pipeline makes it (src/pipeline.ts: admit, then the reconcile pass's
 * startStep up to the side effect), with the same stage functions and the same audit records and
 * the same durability waits:
 *
 *   intake: verify → validate → [audit verify + validate: one group commit]
 *   pass:   verify again (unrecorded) → buildPod → evaluate → mutate → [audit evaluate + mutate: one group commit]
 *
 * Left out, because they are Kubernetes I/O measured elsewhere (scenario 2): the WorkflowRun
 * claim and its record, the egress policy, the pod create and its record, the status write. The
 * evaluator is a parameter so the OPA sidecar can stand in for WASM.
 */
import type { AuditSink } from '../src/audit/record.ts';
import type { Decision } from '../src/evaluate/decision.ts';
import { policyInput, type PolicyInput } from '../src/evaluate/evaluate.ts';
import type { Evaluation } from '../src/evaluate/evaluate.ts';
import { mutate } from '../src/mutate/restricted.ts';
import { auditor, type Fields } from '../src/pipeline/auditor.ts';
import type { PipelineDeps } from '../src/pipeline/deps.ts';
import { buildPod } from '../src/pod/build.ts';
import { validate } from '../src/validate/validate.ts';
import { verify } from '../src/verify/verify.ts';

export type Evaluator = (input: PolicyInput) => Evaluation | Promise<Evaluation>;

/**
 * What a decision needs; `pods` and `runs` are never touched here. `policy` (optional) is the
 * engine whose settings the auditor masks with, as in the runner (its credential patterns on top
 * of the built-in ones); the decision itself is made by the Evaluator.
 */
export type DecisionDeps = Omit<PipelineDeps, 'pods' | 'objects' | 'logs' | 'runs' | 'policy' | 'trust'> & {
  readonly audit: AuditSink;
  readonly policy?: PipelineDeps['policy'];
};

/** Resolves once the mutate record (which would authorise the pod create) is durable. */
export async function decide(token: string, deps: DecisionDeps, evaluateStep: Evaluator): Promise<Decision> {
  const { config } = deps;
  const audit = auditor({ policy: () => undefined, ...deps } as PipelineDeps);
  const claims = await verify(token, config.verify, { keys: deps.keys, now: deps.now });
  if (!claims.ok) throw new Error(`verify: ${claims.error.code}`);
  const ref = { id: claims.value.sub, runId: claims.value.jti, jti: claims.value.jti };
  const verified = audit.passed('verify', 'token verified', { workflow: ref });

  const workflow = validate(claims.value.workflow);
  if (!workflow.ok) throw new Error(`validate: ${workflow.error.code}`);
  const run = { id: workflow.value.id, runId: workflow.value.runId, jti: claims.value.jti };
  await Promise.all([
    verified,
    audit.passed('validate', `workflow ${workflow.value.id} is valid (${workflow.value.steps.length} steps)`, {
      workflow: run,
    }),
  ]);

  // The reconcile pass verifies the stored token again before the pod.
  const again = await verify(token, config.verify, { keys: deps.keys, now: deps.now });
  if (!again.ok) throw new Error(`re-verify: ${again.error.code}`);

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
