/**
 * The checks of `when` conditions against the workflow (issue 19 §6), run once the step graph is
 * known to be acyclic: a condition names only steps that finish before its own starts (its
 * prerequisites, directly or through others), compares a phase only with a phase that exists, and
 * names only outputs that step declares.
 */
import { CONDITION_PHASES, parseCondition, phaseLiterals, revealCondition } from './condition.ts';
import { prerequisites } from './graph.ts';
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

/** The output keys a step declares (none until it has `outputs`). */
function outputKeys(step: Workflow['steps'][number]): string[] {
  return (step as { outputs?: readonly { name: string }[] }).outputs?.map((o) => o.name) ?? [];
}
