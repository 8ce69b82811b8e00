import type { Workflow } from './schema.ts';

/**
 * What each step waits for. The SDK's order is the default: a step without `dependsOn` runs after
 * the step before it. `dependsOn: [a, b]` runs after a and b (parallel branches); `dependsOn: []`
 * starts with the run.
 */
export function prerequisites(workflow: Workflow): ReadonlyMap<string, readonly string[]> {
  return new Map(
    workflow.steps.map((s, i) => [s.name, s.dependsOn ?? (i === 0 ? [] : [workflow.steps[i - 1]?.name ?? ''])]),
  );
}

/** The first cycle among dependsOn edges, as the step names around it; undefined when acyclic. */
export function findCycle(workflow: Workflow): readonly string[] | undefined {
  const deps = prerequisites(workflow);
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): readonly string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...path.slice(path.indexOf(name)), name];
    state.set(name, 'visiting');
    path.push(name);
    for (const d of deps.get(name) ?? []) {
      const cycle = visit(d);
      if (cycle !== undefined) return cycle;
    }
    path.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const s of workflow.steps) {
    const cycle = visit(s.name);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}
