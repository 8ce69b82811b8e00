/**
 * The settings-only values the policy derives once per loaded data (issue 20 §2:
 * policies/kubiya/main/derived.rego, put at data.kubiya.derived by src/adapters/opa-wasm.ts
 * setPolicyData) decide exactly as computing them on every evaluation.
 *
 * The class: a value cached across evaluations can differ from the one an evaluation would
 * compute — computed from other data than the evaluation sees (stale), put there by someone else
 * (forged: a bundle's data.json or a settings file carrying kubiya.derived), changed by its trip
 * through JSON, or missing where the packages expect it. The variants: generated pods and settings
 * (image allow/deny entries valid and not, egress entries of every kind, credential patterns with
 * and without keywords, anchored, invalid) evaluated with and without the derived document; a
 * forged document in the data, through setPolicyData and loadEngine; data whose kubiya is not an
 * object, or absent; data replaced on the same engine (the document follows it); and a bundle
 * built without the derived rule (an operator's older policy directory).
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import fc from 'fast-check';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { loadEngine, readBundle, setPolicyData, type BundleFiles } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { DECISION_ENTRYPOINT, DERIVED_ENTRYPOINT } from '../../src/evaluate/policy-engine.ts';
import { CLEAN, dataOf, input, outcome, settingsOf } from './decision-generators.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

/** A document that would let in what the settings do not: never to be read. */
const FORGED = {
  images: { allowed: [{ registry: 'evil.example', path: '' }], denied: [] },
  egress: { allowed: [{ host: 'evil.example', ports: [443] }] },
  secrets: { anchored: false, keywords: {} },
};
const EVIL = {
  ...CLEAN,
  step: { ...CLEAN.step, image: 'evil.example/x:1', egress: [{ host: 'evil.example', ports: [443] }] },
  pod: { spec: { containers: [{ ...CLEAN.pod.spec.containers[0], image: 'evil.example/x:1' }], initContainers: [] } },
};

const codes = (o: unknown): string[] =>
  ((o as { violations?: string[] }).violations ?? []).map((v) => (JSON.parse(v) as { code: string }).code);

describe('settings derived once per loaded data decide as settings read on every evaluation', () => {
  let work: string;
  let bundle: BundleFiles;
  let derived: LoadedPolicy;
  let computed: LoadedPolicy;
  let data: Record<string, unknown>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-derived-'));
    bundle = await readBundle((await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'b.tar.gz'))).file);
    derived = await loadPolicy(bundle.wasm);
    computed = await loadPolicy(bundle.wasm);
    data = bundle.data as Record<string, unknown>;
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('the bundle has the derived entrypoint, and it holds values', () => {
    assert.ok(Object.hasOwn(derived.entrypoints as object, DERIVED_ENTRYPOINT));
    assert.equal(setPolicyData(derived, data), true);
  });

  test('generated pods and settings: the same decision, message for message', () => {
    const settings = [undefined, ...fc.sample(settingsOf, { numRuns: 39, seed: 2030 })];
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 1199, seed: 2031 })];
    let set = 0;
    let allowed = 0;
    for (const [i, s] of settings.entries()) {
      const d = dataOf(data, s);
      if (setPolicyData(derived, d)) set++;
      computed.setData(d);
      for (const x of inputs.slice(i * 30, i * 30 + 30)) {
        const a = outcome(derived, x);
        assert.deepEqual(a, outcome(computed, x), JSON.stringify({ settings: s, input: x }));
        if ((a as { allow?: boolean }).allow === true) allowed++;
      }
    }
    // The document is in use (an evaluation that throws on some settings leaves it out) and allows are reached.
    assert.ok(set >= settings.length / 2, `derived for ${set} of ${settings.length} settings`);
    assert.ok(allowed > 0, 'no input was allowed');
  });

  test('a forged data.kubiya.derived is dropped: setPolicyData and loadEngine decide from the settings', async () => {
    const kubiya = data['kubiya'] as Record<string, unknown>;
    const forged = { ...data, kubiya: { ...kubiya, derived: FORGED } };
    computed.setData(forged);
    // The forged document is what a policy reading it unchecked would obey.
    assert.deepEqual(codes(outcome(computed, EVIL)), []);
    assert.equal(setPolicyData(derived, forged), true);
    const denied = codes(outcome(derived, EVIL)).sort();
    assert.deepEqual(denied, ['EGRESS_NOT_ALLOWED', 'IMAGE_REGISTRY_NOT_ALLOWED']);
    const engine = await loadEngine({ ...bundle, data: forged });
    const r = (engine.evaluate(EVIL, DECISION_ENTRYPOINT) as { result: { allow: boolean } }[])[0]?.result;
    assert.equal(r?.allow, false);
  });

  test('data replaced on one engine: the derived document follows the data', () => {
    const open = dataOf(data, undefined);
    const settings = (open.kubiya as { settings: Record<string, unknown> }).settings;
    const widened = {
      kubiya: {
        ...open.kubiya,
        settings: { ...settings, images: { ...(settings['images'] as object), allowedRegistries: ['evil.example'] } },
      },
    };
    setPolicyData(derived, widened);
    assert.ok(!codes(outcome(derived, EVIL)).includes('IMAGE_REGISTRY_NOT_ALLOWED'));
    setPolicyData(derived, open);
    assert.ok(codes(outcome(derived, EVIL)).includes('IMAGE_REGISTRY_NOT_ALLOWED'));
  });

  test('data without a kubiya object: set as given, nothing derived, the same decision', () => {
    for (const d of [{}, { kubiya: 'x' }, { kubiya: [] }, { kubiya: null }, { other: 1 }]) {
      assert.equal(setPolicyData(derived, d), false, JSON.stringify(d));
      computed.setData(d);
      assert.deepEqual(outcome(derived, CLEAN), outcome(computed, CLEAN), JSON.stringify(d));
      assert.ok(codes(outcome(derived, CLEAN)).includes('POLICY_SETTINGS_MISSING'));
    }
  });

  test('a policy directory without the derived rule builds as before and decides the same', async () => {
    const dir = join(work, 'without');
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    await rm(join(dir, 'kubiya', 'main', 'derived.rego'));
    await rm(join(dir, 'kubiya', 'main', 'derived_test.rego'));
    const old = await readBundle((await buildBundle(opa, dir, join(work, 'without.tar.gz'))).file);
    const plain = await loadPolicy(old.wasm);
    assert.ok(!Object.hasOwn(plain.entrypoints as object, DERIVED_ENTRYPOINT));
    assert.equal(setPolicyData(plain, data), false);
    setPolicyData(derived, data);
    for (const x of [CLEAN, EVIL, ...fc.sample(input, { numRuns: 60, seed: 2032 })])
      assert.deepEqual(outcome(plain, x), outcome(derived, x), JSON.stringify(x));
  });
});
