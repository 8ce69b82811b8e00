import { evaluate, policyInput, type PolicyInput } from '../evaluate/evaluate.ts';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';
import type { Decision } from '../evaluate/decision.ts';
import { buildPod, type PodContext } from '../pod/build.ts';
import { validate } from '../validate/validate.ts';

/**
 * Policy fixture suites, the way `gator verify` and `kyverno test` work: a directory of workflow
 * files (policy-fixtures/ beside the policy directory by default), each a workflow as signed (`id`, `name`, `steps`, ...)
 * plus an `expect` map giving the decision expected for every step:
 *
 *   expect:
 *     analyze: allow                                  # allowed: no deny violation
 *     scan: { deny: [IMAGE_TAG_NOT_PINNED] }           # denied with exactly these deny codes
 *     build: { warn: [STEP_TIMEOUT_MISSING] }          # allowed, with exactly these warn codes
 *     quiet: { warn: [], audit: [] }                   # allowed, and nothing warned or audited
 *     probe: { deny: [A], warn: [B], audit: [C] }
 *
 * Deny codes always compare as a set (none listed: the step must be allowed); warn and audit
 * codes compare as a set when the key is given and are not checked when it is absent, so a rule
 * rolled out as `warn` does not break every fixture that does not mention it (replay shows that
 * effect). Every step needs an expectation and every expectation a step, so a suite cannot
 * silently stop covering one.
 * Each step is evaluated through the compiled WASM, with its pod built as `serve` builds it.
 */
export interface Expectation {
  readonly deny: readonly string[];
  /** Absent: not checked. */
  readonly warn?: readonly string[];
  /** Absent: not checked. */
  readonly audit?: readonly string[];
}

/** One fixture file, parsed: the workflow's steps as policy inputs with their expectations. */
export interface FixtureCase {
  readonly file: string;
  readonly step: string;
  readonly input: PolicyInput;
  readonly expect: Expectation;
}

/** What the candidate decided for one case; `error` when evaluation failed (a catalogue code and the cause). */
export interface Outcome {
  readonly deny: readonly string[];
  readonly warn: readonly string[];
  readonly audit: readonly string[];
  readonly error?: { readonly code: string; readonly message: string };
}

export interface CaseResult {
  readonly file: string;
  readonly step: string;
  readonly expected: Expectation;
  readonly actual: Outcome;
  readonly ok: boolean;
}

/** A fixture file that is not a fixture (bad YAML, invalid workflow, missing or stray expectations). */
export class FixtureError extends Error {}

const codeList = (v: unknown, where: string): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((c) => typeof c === 'string' && /^[A-Z][A-Z0-9_]*$/.test(c)))
    throw new FixtureError(`${where}: must be a list of codes such as [IMAGE_TAG_NOT_PINNED]`);
  return [...new Set(v as string[])].sort();
};

function expectation(v: unknown, where: string): Expectation {
  if (v === 'allow') return { deny: [] };
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new FixtureError(`${where}: expected "allow" or { deny: [...], warn: [...], audit: [...] }`);
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['deny', 'warn', 'audit'].includes(k));
  if (unknown.length > 0) throw new FixtureError(`${where}: unknown key ${unknown.join(', ')} (deny, warn, audit)`);
  return {
    deny: codeList(o.deny, `${where}.deny`),
    ...(o.warn !== undefined ? { warn: codeList(o.warn, `${where}.warn`) } : {}),
    ...(o.audit !== undefined ? { audit: codeList(o.audit, `${where}.audit`) } : {}),
  };
}

/**
 * The cases of one fixture document (already parsed from YAML): the workflow is validated as the
 * runner validates a signed one, each step becomes the policy input `serve` would build with
 * `ctx`. Throws FixtureError naming the file and what is wrong.
 */
export function fixtureCases(file: string, doc: unknown, ctx: PodContext): FixtureCase[] {
  if (typeof doc !== 'object' || doc === null || !('expect' in doc))
    throw new FixtureError(`${file}: a fixture is a workflow with an "expect" map (step name → decision)`);
  const { expect, ...claim } = doc as Record<string, unknown>;
  const workflow = validate({ id: 'fixture', name: 'fixture', runId: 'fixture', ...claim });
  if (!workflow.ok) {
    const issues = (workflow.error.details as { issues?: { path: string; message: string }[] } | undefined)?.issues;
    const text = issues?.map((i) => `${i.path}: ${i.message}`).join('; ') ?? workflow.error.message;
    throw new FixtureError(`${file}: not a valid workflow: ${text}`);
  }
  if (typeof expect !== 'object' || expect === null || Array.isArray(expect))
    throw new FixtureError(`${file}: expect must map step names to decisions`);
  const wanted = expect as Record<string, unknown>;
  const steps = workflow.value.steps.map((s) => s.name);
  const stray = Object.keys(wanted).filter((k) => !steps.includes(k));
  if (stray.length > 0) throw new FixtureError(`${file}: expect names no step of the workflow: ${stray.join(', ')}`);
  return workflow.value.steps.map((step) => {
    if (!Object.hasOwn(wanted, step.name)) throw new FixtureError(`${file}: no expectation for step ${step.name}`);
    const pod = buildPod(workflow.value, step, { ...ctx, run: 'fixture' });
    return {
      file,
      step: step.name,
      input: policyInput(ctx.runner, workflow.value, step, pod),
      expect: expectation(wanted[step.name], `${file}: expect.${step.name}`),
    };
  });
}

const codesOf = (d: Decision | undefined, action: string): string[] =>
  [...new Set((d?.violations ?? []).filter((v) => v.action === action).map((v) => v.code))].sort();

/** What the engine decides for one input, as an Outcome (an evaluation failure keeps its code and message). */
export function outcomeOf(input: PolicyInput, engine: PolicyEngine): Outcome {
  const r = evaluate(input, engine);
  const decision = r.kind === 'error' ? undefined : r.decision;
  const codes = { deny: codesOf(decision, 'deny'), warn: codesOf(decision, 'warn'), audit: codesOf(decision, 'audit') };
  if (r.kind !== 'error') return codes;
  return { ...codes, error: { code: r.error.code, message: r.error.message } };
}

/** Equal sorted lists; an expectation left out (undefined) is not checked. */
const same = (actual: readonly string[], expected: readonly string[] | undefined): boolean =>
  expected === undefined || (actual.length === expected.length && actual.every((x, i) => x === expected[i]));

/** Runs every case against the engine: expected and actual decision per step. */
export function runFixtures(cases: readonly FixtureCase[], engine: PolicyEngine): CaseResult[] {
  return cases.map((c) => {
    const actual = outcomeOf(c.input, engine);
    const ok =
      actual.error === undefined &&
      same(actual.deny, c.expect.deny) &&
      same(actual.warn, c.expect.warn) &&
      same(actual.audit, c.expect.audit);
    return { file: c.file, step: c.step, expected: c.expect, actual, ok };
  });
}

/**
 * "allow", "deny A, B", "allow; warn C" ... : an outcome or (with `expectation`) an expectation in
 * one short line; an expectation's empty warn/audit list reads "no warn".
 */
export function describeOutcome(o: Expectation & { readonly error?: Outcome['error'] }, expectation = false): string {
  if (o.error !== undefined) return `error ${o.error.code}`;
  const parts = [o.deny.length > 0 ? `deny ${o.deny.join(', ')}` : 'allow'];
  for (const action of ['warn', 'audit'] as const) {
    const codes = o[action];
    if (codes !== undefined && codes.length > 0) parts.push(`${action} ${codes.join(', ')}`);
    else if (codes !== undefined && expectation) parts.push(`no ${action}`);
  }
  return parts.join('; ');
}
