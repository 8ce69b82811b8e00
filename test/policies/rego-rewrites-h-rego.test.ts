/**
 * The Rego rewritten for speed in issue #20's third round (branch h-rego) decides exactly as the
 * Rego it replaced: the whole decision (allow, every violation's code, path, message and action,
 * egress), through the compiled WASM, on generated pods and settings.
 *
 * The class: a rewrite that computes a value once per evaluation instead of once per use, or turns
 * a function's bodies into an `else` chain (WASM evaluates every body of a function on each call),
 * can change what a rule sees: an unparseable or zero quantity, a container that is both an init
 * container and a sidecar, a cap that does not parse or is absent, a requirement list that is not
 * an array or names a resource no cap has, an image or entry one body of a chain refused. The
 * variants: quantities of every kind (zero spellings, suffixes, numbers, garbage, null, objects,
 * huge counts), resources that are not objects, restartPolicy values, caps of every type,
 * requirement lists with numbers and unknown names; image references and allow/deny entries with
 * registries, ports, case, separators, docker.io aliases and non-ASCII; egress destinations and
 * allowed entries (hosts, globs, CIDRs of both families, ports, malformed entries); env values,
 * names and command words with and without credentials (the secrets prefilter's keywords, their
 * folded spellings, split over two words), with the default patterns, an operator's pattern, an
 * anchored one and an invalid one.
 *
 * The oracle: test/policies/rego-before-rewrite/h-rego/ holds the files as they were at 9fd7f51
 * (same paths as under policies/); the test builds policies/ once as it is and once with those
 * files in place, and compares the two bundles' decisions.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import fc from 'fast-check';
import { CLEAN, dataOf, input, outcome, settingsOf } from './decision-generators.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
const ORACLE = join(REPO_ROOT, 'test', 'policies', 'rego-before-rewrite', 'h-rego');

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

describe('Rego rewritten in h-rego decides as the Rego it replaced (whole decisions, compiled WASM)', () => {
  let work: string;
  let now: LoadedPolicy;
  let was: LoadedPolicy;
  let data: Record<string, unknown>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-rego-h-rego-'));
    const old = join(work, 'old');
    await cp(join(REPO_ROOT, 'policies'), old, { recursive: true });
    for (const f of await files(ORACLE)) await cp(f, join(old, relative(ORACLE, f)));
    const bundleNow = await readBundle(
      (await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'now.tar.gz'))).file,
    );
    const bundleWas = await readBundle((await buildBundle(opa, old, join(work, 'was.tar.gz'))).file);
    now = await loadPolicy(bundleNow.wasm);
    was = await loadPolicy(bundleWas.wasm);
    data = bundleNow.data as Record<string, unknown>;
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('the oracle differs from the policy (the rewritten files were replaced)', async () => {
    const oracle = await files(ORACLE);
    assert.ok(oracle.length >= 2, oracle.join(', '));
  });

  test('generated pods and settings: the same decision, message for message', () => {
    // The bundle's own settings first, with a step they allow among its inputs: an allow is compared too.
    const settings = [undefined, ...fc.sample(settingsOf, { numRuns: 39, seed: 2020 })];
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 1199, seed: 2021 })];
    const seen = new Set<string>();
    let allowed = 0;
    let errors = 0;
    for (const [i, s] of settings.entries()) {
      const d = dataOf(data, s);
      now.setData(d);
      was.setData(d);
      for (const x of inputs.slice(i * 30, i * 30 + 30)) {
        const a = outcome(now, x);
        assert.deepEqual(a, outcome(was, x), JSON.stringify({ settings: s, input: x }));
        const r = a as { allow?: boolean; violations?: string[] };
        if (r.allow === true) allowed++;
        if (r.violations === undefined) errors++;
        for (const v of r.violations ?? []) seen.add((JSON.parse(v) as { code: string }).code);
      }
    }
    // The generator reaches allows, and each code the rewritten rules decide.
    assert.ok(allowed > 0, 'no input was allowed');
    assert.ok(errors < inputs.length / 4, `${errors} evaluations threw`);
    for (const code of [
      'RESOURCES_REQUEST_MISSING',
      'RESOURCES_LIMIT_MISSING',
      'RESOURCES_CPU_OVER_CAP',
      'RESOURCES_MEMORY_OVER_CAP',
      'RESOURCES_EPHEMERAL_STORAGE_OVER_CAP',
      'IMAGE_REGISTRY_NOT_ALLOWED',
      'IMAGE_REFERENCE_INVALID',
      'IMAGE_DENIED',
      'POLICY_SETTINGS_INVALID',
      'EGRESS_NOT_ALLOWED',
      'EGRESS_ANY_DESTINATION',
      'EGRESS_WILDCARD_HOST',
      'SECRET_LITERAL',
      'SECRET_NOT_ALLOWED',
    ])
      assert.ok(seen.has(code), `no decision had ${code}: ${[...seen].join(', ')}`);
  });
});
