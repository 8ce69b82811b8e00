/**
 * References to step outputs (issue 19 §4): `${steps.<step>.outputs.<key>}` in a later step's plain
 * env values and args. Parsed here for validation (src/validate/condition-check.ts); substituted by
 * the runner (src/run/outputs.ts) before the step's policy evaluation.
 */
import type { Step } from './schema.ts';

/** `${steps.<step>.outputs.<key>}`: a reference in an env value or an argument. */
export const OUTPUT_REF =
  /\$\{steps\.([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\.outputs\.([A-Za-z_][A-Za-z0-9_]{0,62})\}/g;
/** Anything that starts like a reference: each must be a whole, well-formed one. */
export const REF_START = /\$\{steps\./g;

export interface OutputRef {
  readonly step: string;
  readonly key: string;
}

/** The references in a text, in order; `malformed` when a `${steps.` does not open a well-formed one. */
export function refsIn(text: string): { refs: OutputRef[]; malformed: boolean } {
  // Both patterns start with `${steps.`: a text without it has neither (most texts; issue 20).
  if (!text.includes('${steps.')) return { refs: [], malformed: false };
  const refs = [...text.matchAll(OUTPUT_REF)].map((m) => ({ step: m[1] ?? '', key: m[2] ?? '' }));
  const starts = [...text.matchAll(REF_START)].length;
  return { refs, malformed: starts !== refs.length };
}

/** The texts of a step where references may stand: its plain env values and its args. */
export function referenceSites(step: Step): { env: [string, string][]; args: string[] } {
  const env = Object.entries(step.env ?? {}).flatMap(([k, v]): [string, string][] =>
    typeof v === 'string' ? [[k, v]] : [],
  );
  return { env, args: [...(step.args ?? [])] };
}

/**
 * The paths (relative to the step, e.g. `command.1`, `sidecars.0.readinessProbe.exec.command.2`)
 * of every string of `step` that starts a reference outside `referenceSites`: the runner
 * substitutes nowhere else, so such text would reach the container literally (red team 8,
 * finding 3). Every string is walked (the main container's command, sidecars, init containers,
 * probes, volumes, names), so a field added later is covered; `when` is not a site of `${…}`
 * references (a condition names an output as `steps.<step>.outputs.<name>`, without `${`).
 */
export function strayReferences(step: Step): string[] {
  const out: string[] = [];
  // The path as segments, joined only for a string that starts a reference (issue 20: a new array
  // per value was most of validate's allocation).
  const path: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.includes('${steps.') && !isReferenceSite(path)) out.push(path.join('.'));
    } else if (Array.isArray(value)) {
      // As forEach: indices present only, up to the length at the start.
      for (let j = 0, n = value.length; j < n; j++) {
        if (!(j in value)) continue;
        path.push(String(j));
        walk(value[j]);
        path.pop();
      }
    } else if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>;
      for (const k of Object.keys(record)) {
        path.push(k);
        walk(record[k]);
        path.pop();
      }
    }
  };
  walk(step);
  return out;
}

/** `env.<name>` (a plain value) and `args.<n>` of the step itself: where references are substituted. */
const isReferenceSite = (path: readonly string[]): boolean =>
  path.length === 2 && (path[0] === 'env' || path[0] === 'args');
