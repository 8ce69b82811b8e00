/**
 * kubiya.main gathers each rule package's violations document alone (`data.kubiya.rules[name].violations`,
 * issue 20 §2, branch h-floor-5) and decides exactly as when it iterated the packages' whole
 * documents (`some rules in data.kubiya.rules; some v in rules.violations`), which made the
 * compiled WASM evaluate every rule of every package on each evaluation.
 *
 * The class: a narrower reference into data.kubiya.rules can gather fewer (or other) violations
 * than the whole documents did: a package left out, a base document under data.kubiya.rules
 * (data, not Rego) seen by one form and not the other, a rule outside `violations` whose error
 * (a conflict) failed the evaluation before. The variants: generated pods and settings, with and
 * without the settings derived once per loaded data; data carrying its own kubiya.rules entries
 * at a name no package has (a package-shaped object with violations, one without, a non-object,
 * violations that are not a set); and a policy directory with a package added beside the shipped
 * ones. One difference is intended and asserted: data at a shipped package's path replaced that
 * package's violations in the old form (data could clear a deny); it changes nothing now.
 *
 * lib.has_key is one lookup instead of a scan of every key (the same answer for any value: a false
 * or null one included; policies/kubiya/lib/lib_test.rego compares it with the scan on a table).
 *
 * The oracle: test/policies/rego-before-rewrite/h-floor-5/ holds main.rego and lib.rego as they
 * were at 6f4c0d4; the test builds policies/ once as it is and once with those files in place, and compares the two
 * bundles' decisions (allow, every violation's code, path, message and action, egress, or the
 * same thrown error).
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import fc from 'fast-check';
import { CLEAN, dataOf, input, outcome, settingsOf } from './decision-generators.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { readBundle, setPolicyData } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
const ORACLE = join(REPO_ROOT, 'test', 'policies', 'rego-before-rewrite', 'h-floor-5');
/** The files the oracle holds as they were (same paths as under policies/). */
const REPLACED = [join('kubiya', 'main', 'main.rego'), join('kubiya', 'lib', 'lib.rego')];

/** A violation written as data, not computed by any rule. */
const FORGED = { code: 'DATA_VIOLATION', action: 'deny', path: '', message: 'from data', policy: 'data' };

/** A step from a registry the bundle's settings do not list (the images package denies it). */
const EVIL = {
  ...CLEAN,
  step: { ...CLEAN.step, image: 'evil.example/x:1' },
  pod: { spec: { containers: [{ ...CLEAN.pod.spec.containers[0], image: 'evil.example/x:1' }], initContainers: [] } },
};

/** A package an operator adds beside the shipped ones: a deny, a warn, and rules outside violations. */
const EXTRA = `package kubiya.rules.extra

import data.kubiya.lib

marker := "m"

helper contains input.step.name

violations contains lib.violation("extra", "EXTRA_DENY", "step.image", "extra deny") if contains(input.step.image, "x")

violations contains lib.violation("extra", "EXTRA_WARN", "step", "extra warn") if {
	count(helper) > 0
	marker == "m"
}
`;

/** Two compiled bundles of one policy directory: main.rego and lib.rego as they are, and as they were. */
async function pair(
  work: string,
  dir: string,
  name: string,
): Promise<{ now: LoadedPolicy; was: LoadedPolicy; data: Record<string, unknown> }> {
  const old = join(work, `${name}-old`);
  await cp(dir, old, { recursive: true });
  for (const f of REPLACED) await cp(join(ORACLE, f), join(old, f));
  const bundleNow = await readBundle((await buildBundle(opa, dir, join(work, `${name}-now.tar.gz`))).file);
  const bundleWas = await readBundle((await buildBundle(opa, old, join(work, `${name}-was.tar.gz`))).file);
  return {
    now: await loadPolicy(bundleNow.wasm),
    was: await loadPolicy(bundleWas.wasm),
    data: bundleNow.data as Record<string, unknown>,
  };
}

describe('Rego rewritten in h-floor-5 (main gathers each package violations document, has_key looks up) decides as before', () => {
  let work: string;
  let shipped: Awaited<ReturnType<typeof pair>>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-main-violations-'));
    shipped = await pair(work, join(REPO_ROOT, 'policies'), 'shipped');
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('generated pods and settings, derived once per data and computed: the same decision', () => {
    const { now, was, data } = shipped;
    const settings = [undefined, ...fc.sample(settingsOf, { numRuns: 39, seed: 2050 })];
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 1199, seed: 2051 })];
    const seen = new Set<string>();
    let allowed = 0;
    for (const [i, s] of settings.entries()) {
      const d = dataOf(data, s);
      for (const derive of [true, false]) {
        if (derive) {
          setPolicyData(now, d);
          setPolicyData(was, d);
        } else {
          now.setData(d);
          was.setData(d);
        }
        for (const x of inputs.slice(i * 30, i * 30 + 30)) {
          const a = outcome(now, x);
          assert.deepEqual(a, outcome(was, x), JSON.stringify({ derive, settings: s, input: x }));
          const r = a as { allow?: boolean; violations?: string[] };
          if (r.allow === true) allowed++;
          for (const v of r.violations ?? []) seen.add((JSON.parse(v) as { code: string }).code);
        }
      }
    }
    assert.ok(allowed > 0, 'no input was allowed');
    // Every shipped package that the generator reaches contributes through the new reference.
    for (const code of [
      'IMAGE_REGISTRY_NOT_ALLOWED',
      'EGRESS_NOT_ALLOWED',
      'SECRET_LITERAL',
      'RESOURCES_LIMIT_MISSING',
    ])
      assert.ok(seen.has(code), `no decision had ${code}: ${[...seen].join(', ')}`);
  });

  test('data carrying kubiya.rules entries no package has: the same decision', () => {
    const { now, was, data } = shipped;
    const kubiya = data['kubiya'] as Record<string, unknown>;
    const variants: unknown[] = [
      { data: { violations: [FORGED] } },
      { data: { violations: { a: FORGED } } },
      { data: { other: 1 } },
      { data: 'x' },
      { data: [FORGED] },
      'x',
      [],
    ];
    for (const rules of variants)
      for (const x of [CLEAN, EVIL, ...fc.sample(input, { numRuns: 20, seed: 2052 })]) {
        const d = { ...data, kubiya: { ...kubiya, rules } };
        setPolicyData(now, d);
        setPolicyData(was, d);
        assert.deepEqual(outcome(now, x), outcome(was, x), JSON.stringify({ rules, input: x }));
      }
  });

  // The one difference, on purpose: data at a shipped package's path (kubiya.rules.images.violations)
  // replaced that package's violations in the whole-document form, so data could clear a deny
  // (an unlisted registry allowed). Each package's own violations document is read now: such data
  // changes nothing.
  test('data at a package path cannot replace its violations (the old form let it clear a deny)', () => {
    const { now, was, data } = shipped;
    const kubiya = data['kubiya'] as Record<string, unknown>;
    setPolicyData(now, data);
    const plain = outcome(now, EVIL);
    assert.equal((plain as { allow: boolean }).allow, false);
    for (const rules of [
      { images: { violations: [] } },
      { images: { violations: [FORGED] } },
      { images: { other: 1 } },
      { images: 'x' },
      { egress: { violations: [] }, images: { violations: [] } },
    ]) {
      const d = { ...data, kubiya: { ...kubiya, rules } };
      setPolicyData(now, d);
      assert.deepEqual(outcome(now, EVIL), plain, JSON.stringify(rules));
    }
    // The form it replaced, for the record: the same data cleared the images package's deny.
    setPolicyData(was, { ...data, kubiya: { ...kubiya, rules: { images: { violations: [] } } } });
    assert.equal((outcome(was, EVIL) as { allow: boolean }).allow, true);
  });

  test('a package added under kubiya.rules is gathered: the same decision', async () => {
    const dir = join(work, 'extra');
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    await mkdir(join(dir, 'kubiya', 'rules', 'extra'), { recursive: true });
    await writeFile(join(dir, 'kubiya', 'rules', 'extra', 'extra.rego'), EXTRA);
    const { now, was, data } = await pair(work, dir, 'extra');
    setPolicyData(now, data);
    setPolicyData(was, data);
    const codes = new Set<string>();
    for (const x of [CLEAN, ...fc.sample(input, { numRuns: 200, seed: 2053 })]) {
      const a = outcome(now, x);
      assert.deepEqual(a, outcome(was, x), JSON.stringify(x));
      for (const v of (a as { violations?: string[] }).violations ?? [])
        codes.add((JSON.parse(v) as { code: string }).code);
    }
    assert.ok(codes.has('EXTRA_DENY') && codes.has('EXTRA_WARN'), [...codes].join(', '));
  });
});
