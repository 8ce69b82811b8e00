import type { V1Pod } from '@kubernetes/client-node';
import { describeThrown, fail, ok, type Result } from '../errors/result.ts';
import type { Step, Workflow } from '../validate/schema.ts';
import { decisionSchema, type Decision } from './decision.ts';
import { DECISION_ENTRYPOINT, type PolicyEngine } from './policy-engine.ts';

/**
 * What a policy sees: the step as signed, the workflow's identity and volumes, and the pod as the
 * runner built it from the step (before hardening), so privilege and volume rules read a pod spec.
 */
export interface PolicyInput {
  readonly runner: string;
  readonly workflow: {
    readonly id: string;
    readonly name: string;
    readonly runId: string;
    readonly volumes: NonNullable<Workflow['volumes']>;
  };
  readonly step: Step;
  readonly pod: V1Pod;
}

export function policyInput(runner: string, workflow: Workflow, step: Step, pod: V1Pod): PolicyInput {
  return {
    runner,
    workflow: { id: workflow.id, name: workflow.name, runId: workflow.runId, volumes: workflow.volumes ?? [] },
    step,
    pod,
  };
}

/**
 * evaluate: one step against the current policy. Fails closed: no engine, an unknown entrypoint,
 * a throw, an undefined result or a malformed document are each an error (with their own code),
 * never an allow. A well-formed deny is POLICY_DENIED carrying the decision.
 */
export function evaluate(input: PolicyInput, engine: PolicyEngine | undefined): Result<Decision> {
  if (engine === undefined) return fail('POLICY_NOT_LOADED', 'no policy bundle is loaded');
  if (!engine.entrypoints.includes(DECISION_ENTRYPOINT)) {
    return fail(
      'POLICY_ENTRYPOINT_UNKNOWN',
      `policy bundle ${engine.revision} has no entrypoint ${DECISION_ENTRYPOINT}`,
    );
  }
  let resultSet: unknown;
  try {
    resultSet = engine.evaluate(input, DECISION_ENTRYPOINT);
  } catch (thrown) {
    return fail('POLICY_EVAL_ERROR', `policy evaluation failed: ${describeThrown(thrown)}`, {
      revision: engine.revision,
    });
  }
  const first: unknown = Array.isArray(resultSet) ? resultSet[0] : undefined;
  const result = typeof first === 'object' && first !== null && 'result' in first ? first.result : undefined;
  if (result === undefined || result === null) {
    return fail('POLICY_UNDEFINED', `policy ${DECISION_ENTRYPOINT} returned no decision`, {
      revision: engine.revision,
    });
  }
  const parsed = decisionSchema.safeParse(result);
  if (!parsed.success) {
    return fail('POLICY_MALFORMED_DECISION', 'policy returned a malformed decision document', {
      revision: engine.revision,
      issues: parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  const decision: Decision = { ...parsed.data, revision: engine.revision };
  const denies = decision.violations.filter((v) => v.action === 'deny');
  if (decision.allow !== (denies.length === 0)) {
    return fail(
      'POLICY_MALFORMED_DECISION',
      'policy decision is inconsistent: "allow" disagrees with its deny violations',
      { revision: engine.revision },
    );
  }
  if (!decision.allow) {
    const summary = denies.map((v) => v.code).join(', ');
    return fail('POLICY_DENIED', `step denied by policy: ${summary}`, { decision });
  }
  return ok(decision);
}
