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
