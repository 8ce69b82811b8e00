/**
 * The checks of `when` conditions against the workflow (issue 19 §6), run once the step graph is
 * known to be acyclic: a condition names only steps that finish before its own starts (its
 * prerequisites, directly or through others), compares a phase only with a phase that exists, and
 * names only outputs that step declares.
 */
import { CONDITION_PHASES, parseCondition, phaseLiterals, revealCondition } from './condition.ts';
import { prerequisites } from './graph.ts';
import { referenceSites, refsIn, strayReferences } from './output-refs.ts';
import type { Workflow } from './schema.ts';

/** One problem with a step's condition, with its path under `workflow`. */
export interface ConditionIssue {
  readonly path: string;
  readonly message: string;
}

/** Every step a step waits for, directly or through others (the graph is acyclic here). */
function ancestors(workflow: Workflow): ReadonlyMap<string, ReadonlySet<string>> {
  const direct = prerequisites(workflow);
  const memo = new Map<string, Set<string>>();
  const of = (name: string): Set<string> => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const out = new Set<string>();
    memo.set(name, out);
    for (const d of direct.get(name) ?? []) {
      out.add(d);
      for (const a of of(d)) out.add(a);
    }
    return out;
  };
  return new Map(workflow.steps.map((s) => [s.name, of(s.name)]));
}

/** The issues of every step's `when` (at most 50). */
export function conditionIssues(workflow: Workflow): ConditionIssue[] {
  const before = ancestors(workflow);
  const outputs = new Map(workflow.steps.map((s) => [s.name, new Set(outputKeys(s))]));
  const issues: ConditionIssue[] = [];
  workflow.steps.forEach((step, i) => {
    if (step.when === undefined) return;
    const path = `workflow.steps.${i}.when`;
    const parsed = parseCondition(step.when);
    if (!parsed.ok) return void issues.push({ path, message: parsed.message });
    for (const ref of parsed.refs) {
      if (!(before.get(step.name)?.has(ref.step) ?? false))
        issues.push({ path, message: `steps.${ref.step} is not a step that ${step.name} waits for (dependsOn)` });
      else if (ref.kind === 'output' && !(outputs.get(ref.step)?.has(ref.key) ?? false))
        issues.push({ path, message: `step ${ref.step} declares no output "${ref.key}"` });
    }
    for (const p of phaseLiterals(parsed.condition))
      if (!CONDITION_PHASES.includes(p))
        issues.push({ path, message: `"${revealCondition(p)}" is not a step phase (${CONDITION_PHASES.join(', ')})` });
  });
  return issues.slice(0, 50);
}

/** The output keys a step declares. */
function outputKeys(step: Workflow['steps'][number]): string[] {
  return step.outputs?.map((o) => o.name) ?? [];
}

/**
 * The issues of every output reference in env values and args: well-formed, to a step this one
 * waits for, to an output it declares; a secret output only in an env value (env values are
 * masked whole in the audit log, arguments are not), and never in a condition.
 */
export function referenceIssues(workflow: Workflow): ConditionIssue[] {
  const before = ancestors(workflow);
  const declared = new Map(workflow.steps.map((s) => [s.name, new Map((s.outputs ?? []).map((o) => [o.name, o]))]));
  const issues: ConditionIssue[] = [];
  workflow.steps.forEach((step, i) => {
    const { env, args } = referenceSites(step);
    // Only texts that hold `${steps.` can have a reference or a malformed one (refsIn): the others
    // need no site and no path (issue 20: most texts have none).
    const sites = [
      ...env.flatMap(([k, v]) =>
        v.includes('${steps.') ? [{ path: `workflow.steps.${i}.env.${k}`, text: v, inEnv: true }] : [],
      ),
      ...args.flatMap((v, j) =>
        v.includes('${steps.') ? [{ path: `workflow.steps.${i}.args.${j}`, text: v, inEnv: false }] : [],
      ),
    ];
    for (const { path, text, inEnv } of sites) {
      const { refs, malformed } = refsIn(text);
      if (malformed) issues.push({ path, message: 'a reference must be ${steps.<step>.outputs.<name>}' });
      for (const ref of refs) {
        const output = declared.get(ref.step)?.get(ref.key);
        if (!(before.get(step.name)?.has(ref.step) ?? false))
          issues.push({ path, message: `steps.${ref.step} is not a step that ${step.name} waits for (dependsOn)` });
        else if (output === undefined)
          issues.push({ path, message: `step ${ref.step} declares no output "${ref.key}"` });
        else if (output.secret === true && !inEnv)
          issues.push({ path, message: `output ${ref.step}.${ref.key} is secret: use it in an env value only` });
      }
    }
    for (const at of strayReferences(step))
      issues.push({
        path: `workflow.steps.${i}.${at}`,
        message:
          'an output reference stands only in a plain env value or an argument of the step (it is substituted nowhere else)',
      });
    if (step.when !== undefined) {
      const parsed = parseCondition(step.when);
      for (const ref of parsed.ok ? parsed.refs : [])
        if (ref.kind === 'output' && declared.get(ref.step)?.get(ref.key)?.secret === true)
          issues.push({
            path: `workflow.steps.${i}.when`,
            message: `output ${ref.step}.${ref.key} is secret: not in a condition`,
          });
    }
  });
  return issues.slice(0, 50);
}
