/**
 * The text checks a step gets again once its output references are substituted, before its policy
 * evaluation (red-team round 4, finding 3). A literal argument or env value is checked by
 * validate(); a value that arrives through `${steps.<step>.outputs.<key>}` must not skip that. The
 * values come from the run's status (public outputs) or the producing pod (secret ones): the
 * status can be written by anyone allowed to patch the WorkflowRun, so they are checked here, not
 * only when the runner first reads them from the pod (`readOutputs`).
 */
import { fail, ok, type Result } from '../errors/result.ts';
import type { OutputRef } from '../validate/output-refs.ts';
import { outputValueProblem, stepTextIssue } from '../validate/output-text.ts';
import type { Step } from '../validate/schema.ts';

/**
 * `resolved` (the step after substitution) when every value used holds nothing an output may not
 * (`outputValueProblem`: hidden and control characters, C0 but the tab, DEL, C1; over 1024
 * characters) and the step passes the literal text rules (`stepTextIssue`); otherwise
 * STEP_OUTPUT_UNSAFE_TEXT naming the output and the character's code point, never the value.
 * `lookup` is the one the substitution used; an unwritten value is not this check's concern.
 */
export function checkResolvedText(
  step: Step,
  refs: readonly OutputRef[],
  lookup: (ref: OutputRef) => string | undefined,
  resolved: Step,
): Result<Step> {
  for (const ref of refs) {
    const value = lookup(ref);
    const problem = value === undefined ? undefined : outputValueProblem(value);
    if (problem !== undefined)
      return fail(
        'STEP_OUTPUT_UNSAFE_TEXT',
        `step ${step.name}: output ${ref.key} of step ${ref.step} ${problem}; the step is not run`,
      );
  }
  const issue = stepTextIssue(resolved);
  if (issue !== undefined)
    return fail(
      'STEP_OUTPUT_UNSAFE_TEXT',
      `step ${step.name}: with its outputs substituted, ${issue.path} ${issue.message}; the step is not run`,
    );
  return ok(resolved);
}
