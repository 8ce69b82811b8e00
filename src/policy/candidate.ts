import type { PolicyInput } from '../evaluate/evaluate.ts';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';
import { outcomeOf } from './fixtures.ts';
import { describeProblem, wasmProblems } from './wasm-compat.ts';

/** The bundle file that carries the fixture inputs `policy build` evaluated, for the runner to re-check. */
export const BUNDLE_FIXTURES_FILE = 'fixtures.json';

/** One fixture input as a bundle carries it: "file#step" and the policy input. */
export interface BundleFixture {
  readonly name: string;
  readonly input: PolicyInput;
}

/**
 * Why a candidate bundle must not decide, or [] when it may: every Rego source the WASM host
 * cannot run (src/policy/wasm-compat.ts, naming file:line, rule and builtin), and every fixture
 * input whose evaluation fails — throws, returns nothing or a malformed document (its catalogue
 * code and cause). A deny is not a failure: what is expected is `policy test`'s question, since
 * settings from Helm values change it; a throw is wrong under any settings. Used by
 * `policy build` (which refuses to write the bundle) and by the runner at start and on every
 * reload (last-known-good kept).
 */
export function candidateProblems(
  engine: PolicyEngine,
  fixtures: readonly BundleFixture[],
  sources: readonly { file: string; text: string }[],
): string[] {
  const problems = wasmProblems(sources).map(describeProblem);
  for (const f of fixtures) {
    const outcome = outcomeOf(f.input, engine);
    if (outcome.error !== undefined)
      problems.push(`fixture ${f.name}: ${outcome.error.code}: ${outcome.error.message}`);
  }
  return problems;
}

/** The fixture inputs a bundle carries (its fixtures.json), or [] when it has none or they are malformed. */
export function bundleFixtures(raw: Uint8Array | undefined): BundleFixture[] {
  if (raw === undefined) return [];
  const parsed: unknown = JSON.parse(Buffer.from(raw).toString('utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${BUNDLE_FIXTURES_FILE} is not a list`);
  return parsed.filter(
    (f): f is BundleFixture => typeof f === 'object' && f !== null && typeof (f as BundleFixture).name === 'string',
  );
}
