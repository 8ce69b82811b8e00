/**
 * A step's references to earlier steps' outputs, resolved before its policy evaluation (issue 19
 * §4), so the policy decides on the values the pod will get. Public outputs come from the run's
 * status; secret ones are never in status: they are read again from the producing pod's
 * termination message (the pod stays until the run's TTL clean-up). A reference that cannot be
 * resolved fails the step closed (STEP_OUTPUT_UNRESOLVED): nothing runs with a placeholder.
 */
import { fail, ok, type Result } from '../errors/result.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import { outputsOf, outputValue, secretOutputs, substitute } from '../run/outputs.ts';
import { checkResolvedText } from '../run/outputs-text.ts';
import type { StepState } from '../run/status.ts';
import { referenceSites, refsIn, type OutputRef } from '../validate/output-refs.ts';
import { stepSchema, type Step } from '../validate/schema.ts';

/** The step with its output references replaced, checked against the step schema again (bounds). */
export async function resolveOutputs(
  run: AdmittedRun,
  step: Step,
  states: readonly StepState[],
  deps: PipelineDeps,
): Promise<Result<Step>> {
  const { env, args } = referenceSites(step);
  const refs = [...env.map(([, v]) => v), ...args].flatMap((t) => refsIn(t).refs);
  if (refs.length === 0) return ok(step);
  const secrets = await secretValues(run, refs, states, deps);
  // A secret output is read from its pod only: status never holds one, so a value found there was
  // written by someone else.
  const lookup = ({ step: name, key }: OutputRef): string | undefined =>
    secretOutputs(run.workflow.steps.find((s) => s.name === name)).has(key)
      ? outputValue(secrets.get(name), key)
      : outputValue(states.find((s) => s.name === name)?.outputs, key);
  const resolved = substitute(step, lookup);
  if ('missing' in resolved)
    return fail(
      'STEP_OUTPUT_UNRESOLVED',
      `step ${step.name}: output ${resolved.missing.key} of step ${resolved.missing.step} was not written`,
    );
  const text = checkResolvedText(step, refs, lookup, resolved.step);
  if (!text.ok) return text;
  const checked = stepSchema.safeParse(resolved.step);
  if (!checked.success)
    return fail(
      'STEP_OUTPUT_UNRESOLVED',
      `step ${step.name}: with its outputs substituted it is out of bounds (${checked.error.issues[0]?.path.join('.') ?? ''}: ${checked.error.issues[0]?.message ?? ''})`,
    );
  return ok(checked.data);
}

/** The secret outputs the references need, read from the producing pods (by producing step). */
async function secretValues(
  run: AdmittedRun,
  refs: readonly OutputRef[],
  states: readonly StepState[],
  deps: PipelineDeps,
): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const name of new Set(refs.map((r) => r.step))) {
    const producer = run.workflow.steps.find((s) => s.name === name);
    const state = states.find((s) => s.name === name);
    if (secretOutputs(producer).size === 0 || state?.pod === undefined || state.phase !== 'Succeeded') continue;
    const pod = await deps.pods.get(state.pod);
    const owned = pod?.metadata?.ownerReferences?.some((o) => o.uid === run.uid) === true;
    const all = owned ? outputsOf(pod, producer) : {};
    const secret = secretOutputs(producer);
    out.set(name, Object.fromEntries(Object.entries(all).filter(([k]) => secret.has(k))));
  }
  return out;
}
