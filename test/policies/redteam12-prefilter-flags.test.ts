/**
 * Red team 12, finding 2: the secrets prefilter tests ONE alternation of the candidate patterns
 * against every literal joined by newlines, wrapped in `(?m:…)` so that `^` and `$` match at each
 * literal's start and end. A pattern that turns multi-line mode off inside itself (`(?-m:^x$)`,
 * `(?i-m:^x)`, `(?s-m:x$)`, `(?-sm:…)`: valid RE2, and accepted by the settings schema because
 * JavaScript's regex modifiers take them) anchors to the whole joined text again, so a literal it
 * matches alone was missed whenever another literal came before (or after) it: the step was allowed
 * with a credential the operator's pattern names. The class: any flag group whose negated part
 * holds `m`, in every flag combination, for a literal at every position among other literals, with
 * and without the derived document (data.kubiya.derived, computed once per loaded data). The
 * oracle: the same literal alone is denied (its exact per-literal check); among others it must be
 * too. Through the compiled WASM bundle.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import fc from 'fast-check';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { readBundle, setPolicyData, type BundleFiles } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { PATTERN_KEYWORDS } from '../../src/credentials/keywords.ts';
import { coreSettingsSchema } from '../../src/policy/settings.ts';
import { CLEAN, dataOf, outcome } from './decision-generators.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

let work: string;
let bundle: BundleFiles;
let derived: LoadedPolicy;
let computed: LoadedPolicy;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-rt12-'));
  bundle = await readBundle((await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'b.tar.gz'))).file);
  derived = await loadPolicy(bundle.wasm);
  computed = await loadPolicy(bundle.wasm);
});
after(() => rm(work, { recursive: true, force: true }));

const SECRET = 'zq7hunter2zq';

/** A step whose env holds SECRET at `at` among `others` (other, clean literals). */
function stepWith(others: readonly string[], at: number): unknown {
  const values = [...others.slice(0, at), SECRET, ...others.slice(at)];
  const env = Object.fromEntries(values.map((v, i) => [`E${String(i)}`, v]));
  const main = { ...CLEAN.step, env, command: ['run', 'it'], args: [] };
  return {
    ...CLEAN,
    step: main,
    pod: { spec: { containers: [{ ...CLEAN.pod.spec.containers[0], env }], initContainers: [] } },
  };
}

const denied = (policy: LoadedPolicy, x: unknown): boolean =>
  ((outcome(policy, x) as { violations?: string[] }).violations ?? []).some(
    (v) => (JSON.parse(v) as { code: string; message: string }).code === 'SECRET_LITERAL',
  );

/** Both engines on the settings with `pattern` as an operator's value pattern. */
function withPattern(pattern: string): void {
  const d = dataOf(bundle.data as Record<string, unknown>, { patterns: [{ id: 'mine', pattern }] } as never);
  assert.equal(setPolicyData(derived, d), true);
  computed.setData(d);
}

const TABLE = ['(?-m:^zq7hunter2zq$)', '(?i-m:^ZQ7HUNTER2)', '(?s-m:hunter2zq$)', '(?-sm:^zq7hunter2)', '(?-mi:^zq7h)'];

test('the table: each multi-line-off pattern the settings accept denies its literal at any position', () => {
  for (const pattern of TABLE) {
    const parsed = coreSettingsSchema.safeParse({ secrets: { credentials: { values: [{ id: 'mine', pattern }] } } });
    assert.ok(parsed.success, `${pattern} is accepted by the settings schema (the case is reachable)`);
    withPattern(pattern);
    for (const at of [0, 1, 2])
      for (const policy of [derived, computed])
        assert.ok(denied(policy, stepWith(['alpha', 'beta'], at)), `${pattern}, literal at ${String(at)}`);
  }
});

test('every flag group with a negated m, before either anchor, at any position: denied as the literal alone is', () => {
  const flags = (from: string) => fc.subarray([...from]).map((a) => a.join(''));
  fc.assert(
    fc.property(
      flags('is'),
      fc.shuffledSubarray([...'is'], { minLength: 0 }).map((a) => a.join('')),
      fc.boolean(),
      fc.boolean(),
      fc.array(fc.constantFrom('alpha', 'beta', 'x y', '--flag', 'zq'), { maxLength: 3 }),
      fc.nat(3),
      (on, offRest, mFirst, start, others, pos) => {
        const off = mFirst ? `m${offRest}` : `${offRest}m`;
        const pattern = start ? `(?${on}-${off}:^zq7hunter2)` : `(?${on}-${off}:hunter2zq$)`;
        withPattern(pattern);
        const alone = denied(computed, stepWith([], 0));
        const at = Math.min(pos, others.length);
        for (const policy of [derived, computed])
          assert.equal(
            denied(policy, stepWith(others, at)),
            alone,
            `${pattern} at ${String(at)} of ${JSON.stringify(others)}`,
          );
        return alone;
      },
    ),
    { numRuns: 60, seed: 1212 },
  );
});

test('no default pattern turns multi-line mode off (the policy looks for that in keyword-less patterns only)', async () => {
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: { secrets: { credentials: Record<string, { pattern: string }[]> } } };
  };
  const all = Object.values(data.kubiya.settings.secrets.credentials).flat();
  assert.ok(all.length > 10);
  // Every pattern that has keywords (the policy's keyword table, which prefilter-keywords.test.ts
  // pins to src/credentials/keywords.ts), default or not.
  for (const pattern of [...all.map((p) => p.pattern), ...Object.keys(PATTERN_KEYWORDS)])
    assert.doesNotMatch(pattern, /\(\?[imsU]*-[imsU]*m/, pattern);
});
