import type { V1Pod } from '@kubernetes/client-node';
import type { z } from 'zod';
import { describeThrown, type RunnerError } from '../errors/result.ts';
import type { Step, Workflow } from '../validate/schema.ts';
import { decisionSchema, type Decision } from './decision.ts';
import { DECISION_ENTRYPOINT, type PolicyEngine } from './policy-engine.ts';
import { kubeletView } from './kubelet-view.ts';

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
  /** Which attempt of the step this is (issue 19 §5): 1, then 2, 3, ... for each retry. */
  readonly attempt: number;
}

export function policyInput(runner: string, workflow: Workflow, step: Step, pod: V1Pod, attempt = 1): PolicyInput {
  // Members in code-unit order: the evaluate record carries the input, and canonical JSON (RFC 8785)
  // copies every object whose members are not in that order before hashing it.
  return {
    attempt,
    pod,
    runner,
    // What the processes will get: the kubelet's $(VAR) expansion of command, args and env.
    step: kubeletView(step),
    workflow: { id: workflow.id, name: workflow.name, runId: workflow.runId, volumes: workflow.volumes ?? [] },
  };
}

/**
 * What evaluate decides. An allow and a deny are the policy's decision (a deny is a value, not a
 * failure); `error` means there is no usable decision, and fails closed like a deny (no pod).
 */
export type Evaluation =
  | { readonly kind: 'allow'; readonly decision: Decision }
  | { readonly kind: 'deny'; readonly decision: Decision }
  | {
      readonly kind: 'error';
      readonly error: RunnerError;
      /** The bundle's revision when one was loaded: every evaluate record names it, an error's too. */
      readonly revision?: string | undefined;
    };

const error = (e: RunnerError, revision?: string): Evaluation =>
  revision === undefined ? { kind: 'error', error: e } : { kind: 'error', error: e, revision };

/**
 * evaluate: one step against the current policy. Fails closed: no engine, an unknown entrypoint,
 * a throw, an undefined result or a malformed document are each an `error` (with their own code),
 * never an allow. A well-formed deny is a `deny` with the decision (its error: {@link denial}).
 * Never throws.
 */
export function evaluate(input: PolicyInput, engine: PolicyEngine | undefined): Evaluation {
  if (engine === undefined) return error({ code: 'POLICY_NOT_LOADED', message: 'no policy bundle is loaded' });
  if (!engine.entrypoints.includes(DECISION_ENTRYPOINT)) {
    return error(
      {
        code: 'POLICY_ENTRYPOINT_UNKNOWN',
        message: `policy bundle ${engine.revision} has no entrypoint ${DECISION_ENTRYPOINT}`,
      },
      engine.revision,
    );
  }
  let resultSet: unknown;
  try {
    resultSet = engine.evaluate(input, DECISION_ENTRYPOINT);
  } catch (thrown) {
    return error(
      { code: 'POLICY_EVAL_ERROR', message: `policy evaluation failed: ${describeThrown(thrown)}` },
      engine.revision,
    );
  }
  const first: unknown = Array.isArray(resultSet) ? resultSet[0] : undefined;
  const result = typeof first === 'object' && first !== null && 'result' in first ? first.result : undefined;
  if (result === undefined || result === null) {
    return error(
      { code: 'POLICY_UNDEFINED', message: `policy ${DECISION_ENTRYPOINT} returned no decision` },
      engine.revision,
    );
  }
  const parsed = decisionSchema.safeParse(result);
  if (!parsed.success) {
    return error(
      {
        code: 'POLICY_MALFORMED_DECISION',
        message: 'policy returned a malformed decision document',
        details: {
          issues: parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
        },
      },
      engine.revision,
    );
  }
  const decision = decisionOf(parsed.data, engine.revision);
  if (decision.allow !== (decision.violations.filter((v) => v.action === 'deny').length === 0)) {
    return error(
      {
        code: 'POLICY_MALFORMED_DECISION',
        message: 'policy decision is inconsistent: "allow" disagrees with its deny violations',
      },
      engine.revision,
    );
  }
  return { kind: decision.allow ? 'allow' : 'deny', decision };
}

/**
 * The decision with the bundle's revision, its members in code-unit order (allow, egress, patches,
 * revision, violations): the evaluate record carries it, and canonical JSON (RFC 8785) copies every
 * object whose members are not in that order before hashing it. Absent optional members stay absent.
 */
function decisionOf(d: z.infer<typeof decisionSchema>, revision: string): Decision {
  if (d.egress === undefined && d.patches === undefined) return { allow: d.allow, revision, violations: d.violations };
  return {
    allow: d.allow,
    ...(d.egress !== undefined ? { egress: d.egress } : {}),
    ...(d.patches !== undefined ? { patches: d.patches } : {}),
    revision,
    violations: d.violations,
  };
}

/** A deny as the step's error (POLICY_DENIED, 403): its deny codes in the message. */
export function denial(decision: Decision): RunnerError {
  const codes = decision.violations.filter((v) => v.action === 'deny').map((v) => v.code);
  return { code: 'POLICY_DENIED', message: `step denied by policy: ${codes.join(', ')}` };
}
