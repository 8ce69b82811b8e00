// The class (red team 17, finding 8): a member of the signed workflow that a JavaScript reader drops
// without a word. JSON.parse makes `"__proto__"` an own key; zod's record schemas (env,
// nodeSelector) skip it before the key schema runs, so `env: {"__proto__": {secretRef: ...}}` was
// admitted and the policy input, the audit record and the pod all lacked it. Now refused, at its
// path, wherever it is: generated here over every object position of every example workflow.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { admit } from '../../src/admission/admit.ts';
import { prototypeKeyIssues } from '../../src/validate/prototype-keys.ts';
import { validate } from '../../src/validate/validate.ts';
import { memoryAdmissionDeps } from '../support/admission-deps.ts';
import { claimsAt, signBytes } from '../support/tokens.ts';

/** Every example workflow of the repository that validates (the controls). */
async function examples(): Promise<{ file: string; workflow: Record<string, unknown> }[]> {
  const out: { file: string; workflow: Record<string, unknown> }[] = [];
  for (const dir of ['examples', join('examples', 'features')])
    for (const f of (await readdir(join(REPO_ROOT, dir))).filter((n) => n.endsWith('.yaml')).sort()) {
      // a claim is the workflow file with the run id the control plane adds when it signs
      const workflow = { runId: 'run-proto', ...(parse(await readFile(join(REPO_ROOT, dir, f), 'utf8')) as object) };
      if (validate(workflow).ok) out.push({ file: join(dir, f), workflow });
    }
  return out;
}

/** The dotted paths (from `workflow`) of every object (not array) in `v`. */
function objectPaths(v: unknown, at = 'workflow'): string[] {
  if (typeof v !== 'object' || v === null) return [];
  if (Array.isArray(v)) return v.flatMap((x, i) => objectPaths(x, `${at}.${i}`));
  return [at, ...Object.entries(v).flatMap(([k, x]) => objectPaths(x, `${at}.${k}`))];
}

/** `workflow` as JSON.parse gives it with a `"__proto__"` member added to the object at `path`. */
function withProtoAt(workflow: unknown, path: string, value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(workflow)) as unknown;
  let node = copy as Record<string, unknown>;
  for (const seg of path.split('.').slice(1)) node = node[seg] as Record<string, unknown>;
  Object.defineProperty(node, '__proto__', { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

describe('a "__proto__" key anywhere in the workflow claim → VALIDATE_SCHEMA at its path', () => {
  test('the reported examples: env (a string, a Secret reference) and nodeSelector', () => {
    const claim = (step: string): unknown =>
      JSON.parse(`{"name":"x","steps":[{"name":"a","image":"python:3.11-slim",${step}}]}`) as unknown;
    for (const [step, path] of [
      ['"env":{"__proto__":"x","B":"y"}', 'workflow.steps.0.env.__proto__'],
      ['"env":{"__proto__":{"secretRef":{"secret":"forbidden-secret","key":"k"}}}', 'workflow.steps.0.env.__proto__'],
      [
        '"nodeSelector":{"__proto__":{"kubernetes.io/hostname":"node-7"},"kubernetes.io/arch":"amd64"}',
        'workflow.steps.0.nodeSelector.__proto__',
      ],
    ] as const) {
      const r = validate(claim(step));
      assert.equal(r.ok, false, step);
      if (r.ok) continue;
      assert.equal(r.error.code, 'VALIDATE_SCHEMA');
      assert.match(r.error.message, new RegExp(`first at ${path.replace(/\./g, '\\.')}:`));
    }
  });

  test('every object position of every example workflow (generated)', async () => {
    const all = await examples();
    assert.ok(all.length >= 8, `examples that validate: ${all.length}`);
    const cases = all.flatMap(({ file, workflow }) => objectPaths(workflow).map((path) => ({ file, workflow, path })));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...cases),
        fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.string()), fc.constant(null), fc.integer()),
        async ({ workflow, path }, value) => {
          const r = validate(withProtoAt(workflow, path, value));
          assert.equal(r.ok, false);
          if (r.ok) return;
          assert.equal(r.error.code, 'VALIDATE_SCHEMA');
          const issues = (r.error.details as { readonly issues: readonly { readonly path: string }[] }).issues;
          assert.ok(
            issues.some((i) => i.path === `${path}.__proto__`),
            JSON.stringify(issues),
          );
          await Promise.resolve();
        },
      ),
      { numRuns: 500 },
    );
  });

  test('controls: the examples validate; "constructor" and "prototype" stay ordinary env names', async () => {
    for (const { workflow } of await examples()) assert.equal(validate(workflow).ok, true);
    const r = validate(
      JSON.parse(
        '{"runId":"r","id":"w","name":"x","steps":[{"name":"a","image":"python:3.11-slim","env":{"constructor":"c","prototype":"p"}}]}',
      ),
    );
    assert.equal(r.ok, true, JSON.stringify(r));
    if (r.ok) assert.deepEqual(Object.keys(r.value.steps[0]?.env ?? {}), ['constructor', 'prototype']);
  });

  test('prototypeKeyIssues: nested in arrays, at most `max`, none in plain data', () => {
    const v = JSON.parse('{"a":[{"b":{"__proto__":1}},{"__proto__":2}],"__proto__":3}') as unknown;
    assert.deepEqual(
      prototypeKeyIssues(v, 'r').map((i) => i.path),
      ['r.a.0.b.__proto__', 'r.a.1.__proto__', 'r.__proto__'],
    );
    assert.equal(prototypeKeyIssues(v, 'r', 2).length, 2);
    assert.deepEqual(prototypeKeyIssues({ a: [1, 'x', { b: null }] }, 'r'), []);
  });

  test('through admission: a signed token whose step env holds "__proto__" → VALIDATE_SCHEMA, recorded, no run', async () => {
    const { key, runs, deps } = await memoryAdmissionDeps();
    const claims = JSON.stringify(claimsAt({ jti: 'proto-1' })).replace(
      '"image":"python:3.11-slim"',
      '"image":"python:3.11-slim","env":{"__proto__":{"secretRef":{"secret":"forbidden-secret","key":"k"}}}',
    );
    assert.ok(claims.includes('__proto__'));
    const body = await signBytes(
      key,
      JSON.stringify({ alg: 'EdDSA', kid: 'k1', typ: 'kubiya-assignment+jwt' }),
      claims,
    );
    const r = await admit({ body, contentType: 'application/jwt' }, deps);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'VALIDATE_SCHEMA');
    assert.match(r.error.message, /workflow\.steps\.0\.env\.__proto__/);
    assert.equal(runs.list().length, 0);
  });
});
