/**
 * The Rego rewritten in h-wasm-6 (issue 20 §2: the policy evaluation's CPU) decides exactly as
 * before. The rewrites, none moving a check out of Rego or dropping one:
 * - secrets: the patterns in use carry their prefilter keywords ({id, pattern, keywords}, null for
 *   a pattern without), derived once per loaded data with the [kind, index] of each ill-typed
 *   pattern, instead of a lookup by each pattern's text (a hash of the text) on every evaluation
 *   and a type check of every pattern;
 * - egress: the index of each invalid egress.allowed entry, derived once per loaded data, instead
 *   of valid_entry of every entry on every evaluation;
 * - resources: each pod container's role, resources and parsed quantities in one array built once
 *   per evaluation (no lookups by path), the sidecars' sum computed once per total, each listed
 *   quantity looked up among the caps (not each cap looked up in each container), and the caps
 *   that JSON carries exactly (integers up to 2^53) parsed once per loaded data;
 * - volumes: the maxSize cap, when JSON carries it exactly, parsed once per loaded data;
 * - lib/image.rego: name_and_tag splits the reference's last part once, not once per body.
 *
 * The class: a derived value that differs from the one computed (a pattern's keywords lost or
 * given to another pattern, an ill-typed pattern or invalid entry counted differently), a
 * container given another role (a sidecar counted as an init container or not at all), a quantity
 * that does not parse or a resources field that is not an object read differently. The variants:
 * generated pods (quantities of every spelling, resources that are not objects, restartPolicy
 * values) × generated settings (caps, requirements, egress entries valid and not, operator value
 * patterns, ill-typed and invalid), each with the settings derived once per data and computed;
 * credential lists with ill-typed entries of both kinds and a default pattern edited.
 *
 * The oracle: test/policies/rego-before-rewrite/h-wasm-6/ holds secrets.rego, resources.rego,
 * egress.rego, volumes.rego, main/derived.rego and lib/image.rego as they were at 7ff4be7; the test builds policies/ once as it
 * is and once with those files in place and compares the two bundles' decisions (allow, every
 * violation's code, path, message and action, egress, or the same thrown error).
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
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
const ORACLE = join(REPO_ROOT, 'test', 'policies', 'rego-before-rewrite', 'h-wasm-6');
/** The files the oracle holds as they were (same paths as under policies/). */
const REPLACED = [
  join('kubiya', 'rules', 'secrets', 'secrets.rego'),
  join('kubiya', 'rules', 'resources', 'resources.rego'),
  join('kubiya', 'rules', 'egress', 'egress.rego'),
  join('kubiya', 'main', 'derived.rego'),
  join('kubiya', 'lib', 'image.rego'),
  join('kubiya', 'rules', 'volumes', 'volumes.rego'),
];

/** Caps at and around what a JSON number in JavaScript holds exactly (2^53), fractions, huge, garbage. */
const CAPS: readonly unknown[] = [
  '4',
  '500m',
  '1.5',
  '8Gi',
  '9Ei',
  '8Ei',
  '9007199254740992',
  '9007199254740993',
  2 ** 53 + 2,
  1e30,
  4.5,
  0,
  '0',
  'lots',
  null,
  // Red team 11: negative, exponent spellings, a fraction written as an integer, a tiny fraction.
  '-1',
  -1,
  '-9007199254740992',
  -(2 ** 53) - 2,
  '1e3',
  '1E3',
  '2.000',
  0.001,
  true,
  [4],
  { n: 4 },
];

/** Credential lists with ill-typed entries (both kinds), an operator's pattern and a default edited. */
const CREDENTIALS: readonly unknown[] = [
  { envNames: [{ id: 'pw', pattern: '(?i:passw(or)?d)' }, 'x', null], values: [{ id: 1, pattern: 'x' }] },
  { envNames: [{ id: 'token', pattern: '(?i:(token|bearer)([0-9]*$|_)|(^|_)pat([0-9]*$|_))x' }], values: [{}] },
  { envNames: [], values: [{ id: 'hunter', pattern: 'hunter[0-9]' }, { id: 'h2', pattern: ['x'] }, 7] },
  { envNames: [{ id: 'k', pattern: '(?i:key)' }], values: [{ id: 'bad', pattern: '(' }] },
  { envNames: 'x', values: [{ id: 'a', pattern: '\\Ahunter' }] },
  'not an object',
];

/** Two compiled bundles: policies/ as it is, and with the oracle's files in place. */
async function pair(work: string): Promise<{ now: LoadedPolicy; was: LoadedPolicy; data: Record<string, unknown> }> {
  const dir = join(REPO_ROOT, 'policies');
  const old = join(work, 'old');
  await cp(dir, old, { recursive: true });
  for (const f of REPLACED) await cp(join(ORACLE, f), join(old, f));
  const bundleNow = await readBundle((await buildBundle(opa, dir, join(work, 'now.tar.gz'))).file);
  const bundleWas = await readBundle((await buildBundle(opa, old, join(work, 'was.tar.gz'))).file);
  return {
    now: await loadPolicy(bundleNow.wasm),
    was: await loadPolicy(bundleWas.wasm),
    data: bundleNow.data as Record<string, unknown>,
  };
}

/** Sets the same data on both, derived once (as the runner does) or not (as opa eval and the sidecar). */
function setBoth(p: { now: LoadedPolicy; was: LoadedPolicy }, d: unknown, derive: boolean): void {
  if (derive) {
    assert.equal(setPolicyData(p.now, d), setPolicyData(p.was, d));
  } else {
    p.now.setData(d as object);
    p.was.setData(d as object);
  }
}

describe('Rego rewritten in h-wasm-6 (secrets keywords with the patterns, egress invalid entries derived, resources per container) decides as before', () => {
  let work: string;
  let shipped: Awaited<ReturnType<typeof pair>>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-h-wasm-6-'));
    shipped = await pair(work);
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('generated pods and settings, derived once per data and computed: the same decision', () => {
    const { data } = shipped;
    const settings = [undefined, ...fc.sample(settingsOf, { numRuns: 39, seed: 2060 })];
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 1199, seed: 2061 })];
    const seen = new Set<string>();
    let allowed = 0;
    for (const [i, s] of settings.entries()) {
      const d = dataOf(data, s);
      for (const derive of [true, false]) {
        setBoth(shipped, d, derive);
        for (const x of inputs.slice(i * 30, i * 30 + 30)) {
          const a = outcome(shipped.now, x);
          assert.deepEqual(a, outcome(shipped.was, x), JSON.stringify({ derive, settings: s, input: x }));
          const r = a as { allow?: boolean; violations?: string[] };
          if (r.allow === true) allowed++;
          for (const v of r.violations ?? []) seen.add((JSON.parse(v) as { code: string }).code);
        }
      }
    }
    assert.ok(allowed > 0, 'no input was allowed');
    // Every code the rewritten rules decide is reached.
    for (const code of [
      'RESOURCES_REQUEST_MISSING',
      'RESOURCES_LIMIT_MISSING',
      'RESOURCES_CPU_OVER_CAP',
      'RESOURCES_MEMORY_OVER_CAP',
      'RESOURCES_EPHEMERAL_STORAGE_OVER_CAP',
      'SECRET_LITERAL',
      'SECRET_NOT_ALLOWED',
      'POLICY_SETTINGS_INVALID',
      'EGRESS_NOT_ALLOWED',
    ])
      assert.ok(seen.has(code), `no decision had ${code}: ${[...seen].join(', ')}`);
  });

  test('caps exact in JSON and not (fractions, beyond 2^53, huge), derived and computed: the same decision', () => {
    const { data } = shipped;
    const kubiya = data['kubiya'] as { settings: Record<string, unknown> };
    const resources = kubiya.settings['resources'] as Record<string, unknown>;
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 40, seed: 2063 })];
    const caps = fc.sample(fc.tuple(fc.constantFrom(...CAPS), fc.constantFrom(...CAPS), fc.constantFrom(...CAPS)), {
      numRuns: 20,
      seed: 2064,
    });
    for (const [maxCpu, maxMemory, maxEphemeralStorage] of caps) {
      const r = { ...resources, maxCpu, maxMemory, maxEphemeralStorage };
      const d = { kubiya: { ...kubiya, settings: { ...kubiya.settings, resources: r } } };
      for (const derive of [true, false]) {
        setBoth(shipped, d, derive);
        for (const x of inputs)
          assert.deepEqual(outcome(shipped.now, x), outcome(shipped.was, x), JSON.stringify({ derive, r, input: x }));
      }
    }
  });

  test('workflow volumes of every size under caps exact in JSON and not, derived and computed: the same decision', () => {
    const { data } = shipped;
    const kubiya = data['kubiya'] as { settings: Record<string, unknown> };
    const volumes = kubiya.settings['volumes'] as Record<string, unknown>;
    const sizes = fc.sample(
      fc.array(
        fc.record({ name: fc.constantFrom('a', 'b'), size: fc.constantFrom<unknown>(...CAPS, '50Gi', '51Gi', '1Ti') }),
        { maxLength: 3 },
      ),
      { numRuns: 40, seed: 2065 },
    );
    let tooLarge = 0;
    for (const maxSize of [...CAPS, '50Gi']) {
      const d = { kubiya: { ...kubiya, settings: { ...kubiya.settings, volumes: { ...volumes, maxSize } } } };
      for (const derive of [true, false]) {
        setBoth(shipped, d, derive);
        for (const v of sizes) {
          const x = { ...CLEAN, workflow: { ...CLEAN.workflow, volumes: v } };
          const a = outcome(shipped.now, x);
          assert.deepEqual(a, outcome(shipped.was, x), JSON.stringify({ derive, maxSize, input: x }));
          tooLarge +=
            (a as { violations?: string[] }).violations?.filter((s) => s.includes('VOLUME_TOO_LARGE')).length ?? 0;
        }
      }
    }
    assert.ok(tooLarge > 0, 'no volume was too large');
  });

  test('credential lists with ill-typed entries, an operator pattern and an edited default: the same decision', () => {
    const { data } = shipped;
    const kubiya = data['kubiya'] as { settings: Record<string, unknown> };
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 80, seed: 2062 })];
    let invalid = 0;
    for (const credentials of CREDENTIALS) {
      const d = { kubiya: { ...kubiya, settings: { ...kubiya.settings, secrets: { credentials } } } };
      for (const derive of [true, false]) {
        setBoth(shipped, d, derive);
        for (const x of inputs) {
          const a = outcome(shipped.now, x);
          assert.deepEqual(a, outcome(shipped.was, x), JSON.stringify({ derive, credentials, input: x }));
          invalid +=
            (a as { violations?: string[] }).violations?.filter((v) => v.includes('secrets.credentials')).length ?? 0;
        }
      }
    }
    assert.ok(invalid > 0, 'no ill-typed pattern was reported');
  });
});
