/**
 * The Rego rewritten in h-wasm-7 (issue 20 §2: the policy evaluation's CPU) decides exactly as
 * before. The rewrites, none moving a check out of Rego or dropping one:
 * - secrets: the prefilter's texts (value_text, name_text) built straight from the containers, not
 *   from the path-carrying sets `literals` and `command_lines` (built now only when the prefilter
 *   finds a candidate match); the same strings as many times, in another order; the referenced
 *   secrets (env secretRef, envFrom) checked without a set of {secret, path}, the path built for a
 *   violation only;
 * - resources: each container's quantities parsed inside `sized` (no object keyed by path); a pod
 *   total of a resource no container has a parsed quantity of is 0 without the sums;
 * - lib.decimal: digits alone answered without the split (an else chain before the whole test);
 * - lib (image.rego, net.rego): the character sets of the trim_left tests written most frequent
 *   first (the same sets: WASM scans a set for each character).
 *
 * The class: a prefilter text that loses or adds a string (an env value of another type, an array
 * env, an exec handler word, a command line of one word), an order that changes the prefilter's
 * answer (a pattern matching across two joined literals, a literal holding a newline), a referenced
 * secret reported at another path or not at all (envFrom, a secretRef that is not a string), a
 * total that is not 0 when it should be (a zero quantity, an unparseable one) and the reverse, a
 * quantity with a dot or none. The variants: the shared generated pods × settings (derived once
 * per data and computed), and hand-built pods for what the generator leaves out: exec probes in
 * every container kind, env as an array, envFrom, non-string secrets, values with newlines,
 * credentials patterns that match across lines or only with several literals joined.
 *
 * The oracle: test/policies/rego-before-rewrite/h-wasm-7/ holds the files as they were at 1657bdc;
 * the test builds policies/ once as it is and once with those files in place and compares the two
 * bundles' decisions (allow, every violation's code, path, message and action, egress, or the
 * same thrown error).
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
import { readBundle, setPolicyData } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { AWS_KEY_ID, GITHUB_TOKEN } from '../support/credentials.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
const ORACLE = join(REPO_ROOT, 'test', 'policies', 'rego-before-rewrite', 'h-wasm-7');

/** Every file under dir, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/** Two compiled bundles: policies/ as it is, and with the oracle's files in place. */
async function pair(work: string): Promise<{ now: LoadedPolicy; was: LoadedPolicy; data: Record<string, unknown> }> {
  const dir = join(REPO_ROOT, 'policies');
  const old = join(work, 'old');
  await cp(dir, old, { recursive: true });
  const replaced = await filesUnder(ORACLE);
  assert.ok(replaced.length >= 5, `the oracle holds ${replaced.length} files`);
  for (const f of replaced) await cp(join(ORACLE, f), join(old, f));
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

const exec = (command: unknown) => ({ exec: { command } });
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

/** Pod containers with exec handlers (probes, lifecycle hooks, nested deeper), words of every kind. */
const POD_EXTRAS: readonly Record<string, unknown>[] = [
  {},
  { readinessProbe: exec(['pg_isready', '-U', 'app']) },
  { readinessProbe: exec(['sh', '-c', `curl -u admin:hunter2 http://x`]), startupProbe: exec(['true']) },
  { livenessProbe: exec([`--password`, 'hunter2']) },
  { lifecycle: { preStop: exec(['sh', '-c', `echo ${GITHUB_TOKEN}`]) } },
  { lifecycle: { postStart: exec([AWS_KEY_ID]) }, readinessProbe: exec('not an array') },
  { readinessProbe: exec([1, null, 'x', '', 'y']) },
  { deep: { deeper: [exec(['mysql', '-u', 'root', '-phunter2'])] } },
  { readinessProbe: exec(['one\ntwo', 'up']) },
];

/** Step containers' env of every shape: an object, an array (pod style), strings with newlines, secretRefs. */
const ENVS: readonly unknown[] = [
  {},
  { MODE: 'up', DB_PASSWORD: 'hunter2' },
  { MODE: 'up\nDB_PASSWORD', OTHER: 'x' },
  [{ name: 'A', value: 'hunter2' }, 'plain', ''],
  ['password=hunter2'],
  { S: { secretRef: { secret: 'aws-credentials', key: 'k' } }, T: { secretRef: { secret: 'other', key: 'k' } } },
  { S: { secretRef: { secret: 7, key: 'k' } }, U: { secretRef: { key: 'k' } }, V: { other: 1 } },
  { '': 'hunter2', TOKEN: '' },
  'not an env',
];
const ENV_FROM: readonly unknown[] = [
  undefined,
  [],
  [{ secret: 'aws-credentials' }, { secret: 'other' }],
  [{ secret: 5 }, { config: 'x' }],
  'x',
];
const WORDS: readonly unknown[] = [[], ['up'], ['migrate', 'up'], ['a\nb', 'c'], ['--password'], [1, 'hunter2']];

/** Value patterns that match across joined literals or only inside one holding a newline, valid and not. */
const SPANNING: readonly unknown[] = [
  [],
  [{ id: 'span', pattern: '[a-z]\\n[a-z]' }],
  [{ id: 'dotall', pattern: '(?s:up.+x)' }],
  [{ id: 'lines', pattern: '^up$' }],
  [{ id: 'class', pattern: '[^=]+=hunter' }],
  [{ id: 'bad', pattern: '(' }],
];

/** Hand-built inputs: every combination of the shapes above the generator leaves out. */
function handBuilt(): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  for (const extra of POD_EXTRAS)
    for (const env of ENVS) {
      const envFrom = ENV_FROM[i % ENV_FROM.length];
      const command = WORDS[i % WORDS.length];
      const args = WORDS[(i * 5 + 1) % WORDS.length];
      i++;
      const main = { name: 'main', image: 'python:3.11-slim', resources: R, env, command, args };
      const side = { ...main, name: 'side', restartPolicy: 'Always', env: ENVS[i % ENVS.length] };
      out.push({
        ...CLEAN,
        step: {
          ...CLEAN.step,
          env,
          command,
          args,
          ...(envFrom !== undefined ? { envFrom } : {}),
          sidecars: i % 2 === 0 ? [side] : [],
        },
        pod: {
          spec: {
            containers: [{ ...main, ...extra }],
            initContainers: i % 2 === 0 ? [{ ...side, ...POD_EXTRAS[i % POD_EXTRAS.length] }] : [],
          },
        },
      });
    }
  return out;
}

describe('Rego rewritten in h-wasm-7 (prefilter texts from the containers, secrets referenced without paths, quantities in sized, totals of 0, cutsets reordered) decides as before', () => {
  let work: string;
  let shipped: Awaited<ReturnType<typeof pair>>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-h-wasm-7-'));
    shipped = await pair(work);
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('generated pods and settings, derived once per data and computed: the same decision', () => {
    const { data } = shipped;
    const settings = [undefined, ...fc.sample(settingsOf, { numRuns: 39, seed: 2070 })];
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 1199, seed: 2071 })];
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
    for (const code of [
      'RESOURCES_REQUEST_MISSING',
      'RESOURCES_LIMIT_MISSING',
      'RESOURCES_CPU_OVER_CAP',
      'RESOURCES_MEMORY_OVER_CAP',
      'RESOURCES_EPHEMERAL_STORAGE_OVER_CAP',
      'SECRET_LITERAL',
      'SECRET_NOT_ALLOWED',
      'POLICY_SETTINGS_INVALID',
      'IMAGE_REFERENCE_INVALID',
      'EGRESS_NOT_ALLOWED',
    ])
      assert.ok(seen.has(code), `no decision had ${code}: ${[...seen].join(', ')}`);
  });

  test('exec handlers, array env, envFrom, non-string secrets, newlines, patterns spanning literals: the same decision', () => {
    const { data } = shipped;
    const kubiya = data['kubiya'] as { settings: Record<string, unknown> };
    const secrets = kubiya.settings['secrets'] as { credentials: { envNames: unknown[]; values: unknown[] } };
    const inputs = handBuilt();
    const paths = new Set<string>();
    let literal = 0;
    for (const extra of SPANNING) {
      const credentials = { ...secrets.credentials, values: [...secrets.credentials.values, ...(extra as unknown[])] };
      const d = { kubiya: { ...kubiya, settings: { ...kubiya.settings, secrets: { ...secrets, credentials } } } };
      for (const derive of [true, false]) {
        setBoth(shipped, d, derive);
        for (const x of inputs) {
          const a = outcome(shipped.now, x);
          assert.deepEqual(a, outcome(shipped.was, x), JSON.stringify({ derive, extra, input: x }));
          for (const v of (a as { violations?: string[] }).violations ?? []) {
            const { code, path } = JSON.parse(v) as { code: string; path: string };
            if (code === 'SECRET_LITERAL') literal++;
            if (code === 'SECRET_NOT_ALLOWED' || code === 'SECRET_LITERAL') paths.add(path);
          }
        }
      }
    }
    assert.ok(literal > 0, 'no SECRET_LITERAL');
    // The shapes reached: an exec handler word, a secretRef, an envFrom entry, a non-string secret.
    for (const p of [
      'pod.spec.containers[0].readinessProbe.exec.command[2]',
      'step.env.T.secretRef.secret',
      'step.envFrom[1].secret',
      'step.envFrom[0].secret',
      'step.env.S.secretRef.secret',
    ])
      assert.ok(paths.has(p), `no violation at ${p}: ${[...paths].sort().join(', ')}`);
  });
});
