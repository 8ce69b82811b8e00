// The evaluate stage's contract beyond "which code": the decision document's bounds, one past each
// edge; the result-set shapes a policy runtime may return (evaluate never throws); the bundle
// revision on every error record; the operator-facing message and detail of each failure; and what
// a policy is shown (policyInput). Written to kill the mutants that survived evaluate.test.ts
// (docs/mutation.md): each table row names the class it guards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { denial, evaluate, policyInput, type Evaluation } from '../../src/evaluate/evaluate.ts';
import { engineReturning } from '../support/memory.ts';

const input = policyInput(
  'r',
  { id: 'wf', name: 'n', runId: 'run', steps: [{ name: 's', image: 'python:3.11' }] },
  { name: 's', image: 'python:3.11' },
  { spec: { containers: [] } },
);
const deny = { code: 'IMAGE_DENIED', message: 'no', path: 'step.image', policy: 'images', action: 'deny' };
const warn = { ...deny, code: 'IMAGE_TAG_NOT_PINNED', action: 'warn' };
const dest = { host: 'pypi.org', ports: [443] };

const decide = (result: unknown, revision = 'rev-1'): Evaluation =>
  evaluate(
    input,
    engineReturning(() => [{ result }], undefined, revision),
  );
const s = (n: number): string => 'x'.repeat(n);
const withViolation = (patch: Record<string, unknown>): unknown => ({
  allow: false,
  violations: [{ ...deny, ...patch }],
});
const withEgress = (egress: unknown): unknown => ({ allow: true, violations: [], egress });
const withDest = (patch: Record<string, unknown>): unknown => withEgress([{ ...dest, ...patch }]);
const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

/**
 * Class: every bound of the decision schema (src/evaluate/decision.ts) holds at its edge and
 * refuses one past it. A policy is code the security team ships; a bound the runner does not
 * enforce lets a buggy or hostile bundle push unbounded text into the audit log and NetworkPolicy.
 * Each row: [bound, a document exactly at the bound (accepted), one just past it (refused)].
 */
const bounds: [string, unknown, unknown][] = [
  ['violation code min 1', withViolation({ code: 'X' }), withViolation({ code: '' })],
  ['violation code max 128', withViolation({ code: s(128) }), withViolation({ code: s(129) })],
  ['violation message max 2048', withViolation({ message: s(2048) }), withViolation({ message: s(2049) })],
  ['violation path max 512', withViolation({ path: s(512) }), withViolation({ path: s(513) })],
  ['violation policy min 1', withViolation({ policy: 'p' }), withViolation({ policy: '' })],
  ['violation policy max 128', withViolation({ policy: s(128) }), withViolation({ policy: s(129) })],
  [
    'violations max 1000',
    { allow: false, violations: many(1000, () => deny) },
    { allow: false, violations: many(1001, () => deny) },
  ],
  [
    'patches max 1000',
    { allow: true, violations: [], patches: many(1000, () => ({})) },
    { allow: true, violations: [], patches: many(1001, () => ({})) },
  ],
  ['egress max 64', withEgress(many(64, () => dest)), withEgress(many(65, () => dest))],
  ['host min 1', withDest({ host: 'h' }), withDest({ host: '' })],
  ['host max 253 (a DNS name)', withDest({ host: s(253) }), withDest({ host: s(254) })],
  ['cidr min 1', withDest({ cidr: '1' }), withDest({ cidr: '' })],
  ['cidr max 64', withDest({ cidr: s(64) }), withDest({ cidr: s(65) })],
  ['cidrs item min 1', withDest({ cidrs: ['1'] }), withDest({ cidrs: [''] })],
  ['cidrs item max 64', withDest({ cidrs: [s(64)] }), withDest({ cidrs: [s(65)] })],
  [
    'cidrs max 64',
    withDest({ cidrs: many(64, (i) => `10.0.${i}.0/24`) }),
    withDest({ cidrs: many(65, (i) => `10.0.${i}.0/24`) }),
  ],
  ['port min 1', withDest({ ports: [1] }), withDest({ ports: [0] })],
  ['port max 65535', withDest({ ports: [65535] }), withDest({ ports: [65536] })],
  ['ports min 1', withDest({ ports: [443] }), withDest({ ports: [] })],
  ['ports max 16', withDest({ ports: many(16, (i) => i + 1) }), withDest({ ports: many(17, (i) => i + 1) })],
  ['destination is strict', withDest({}), withDest({ via: 'proxy' })],
];

for (const [bound, atEdge, pastEdge] of bounds) {
  test(`decision schema bound ${bound}: the edge is a decision, one past it is POLICY_MALFORMED_DECISION`, () => {
    const ok = decide(atEdge);
    assert.notEqual(ok.kind, 'error', `at the edge: ${ok.kind === 'error' ? ok.error.message : ''}`);
    const bad = decide(pastEdge);
    assert.equal(bad.kind, 'error');
    if (bad.kind === 'error') assert.equal(bad.error.code, 'POLICY_MALFORMED_DECISION');
  });
}

test('each of the three violation actions is accepted; deny alone makes the decision a deny', () => {
  for (const action of ['deny', 'warn', 'audit']) {
    const r = decide({ allow: action !== 'deny', violations: [{ ...deny, action }] });
    assert.equal(r.kind, action === 'deny' ? 'deny' : 'allow', action);
  }
});

test('the egress destinations of an allow reach the decision unchanged (the NetworkPolicy is rendered from them)', () => {
  const egress = [
    { host: 'pypi.org', ports: [443] },
    { cidr: '10.1.0.0/16', ports: [5432, 6432] },
    { cidrs: ['192.0.2.0/24'], ports: [53] },
  ];
  const r = decide({ allow: true, violations: [], egress });
  assert.equal(r.kind, 'allow');
  if (r.kind === 'allow') assert.deepEqual(r.decision.egress, egress);
});

/**
 * Class: evaluate never throws, whatever the runtime returns. A result set is meant to be
 * `[{ result }]`; every other shape is POLICY_UNDEFINED (no decision), never a TypeError that would
 * escape the stage. `'result' in x` throws on null and on primitives, so each is a row.
 */
const resultSets: [string, unknown][] = [
  ['undefined', undefined],
  ['a number', 7],
  ['a string', 'result'],
  ['an object that is not an array', { result: { allow: true, violations: [] } }],
  ['[null]', [null]],
  ['[undefined]', [undefined]],
  ['[a number]', [1]],
  ['[a string]', ['result']],
  ['[true]', [true]],
  ['[{ result: undefined }]', [{ result: undefined }]],
];
for (const [name, set] of resultSets) {
  test(`evaluate does not throw on the result set ${name}: POLICY_UNDEFINED`, () => {
    const r = evaluate(
      input,
      engineReturning(() => set),
    );
    assert.equal(r.kind, 'error');
    if (r.kind === 'error') assert.equal(r.error.code, 'POLICY_UNDEFINED');
  });
}

/**
 * Class: each failure tells the operator what went wrong (docs/errors.md: "read the message"), and
 * every error after a bundle is loaded names its revision (the evaluate audit record carries it);
 * with no bundle there is no revision key at all.
 */
const thrower = (): never => {
  throw new Error('rego_type_error: boom-17');
};
const failures: [string, Evaluation, string, RegExp, string | undefined][] = [
  ['no bundle', evaluate(input, undefined), 'POLICY_NOT_LOADED', /no policy bundle is loaded/, undefined],
  [
    'unknown entrypoint',
    evaluate(
      input,
      engineReturning(() => [], ['other/entry'], 'rev-e'),
    ),
    'POLICY_ENTRYPOINT_UNKNOWN',
    /bundle rev-e has no entrypoint kubiya\/main\/decision/,
    'rev-e',
  ],
  [
    'a throw',
    evaluate(input, engineReturning(thrower, undefined, 'rev-t')),
    'POLICY_EVAL_ERROR',
    /policy evaluation failed: .*boom-17/,
    'rev-t',
  ],
  [
    'no decision',
    evaluate(
      input,
      engineReturning(() => [], undefined, 'rev-u'),
    ),
    'POLICY_UNDEFINED',
    /kubiya\/main\/decision returned no decision/,
    'rev-u',
  ],
  [
    'a malformed document',
    decide({ allow: 'yes', violations: [] }, 'rev-m'),
    'POLICY_MALFORMED_DECISION',
    /malformed decision document/,
    'rev-m',
  ],
  [
    'allow disagreeing with its denies',
    decide({ allow: true, violations: [deny] }, 'rev-i'),
    'POLICY_MALFORMED_DECISION',
    /inconsistent: "allow" disagrees with its deny violations/,
    'rev-i',
  ],
];
for (const [name, r, code, message, revision] of failures) {
  test(`${name}: ${code}, a message that says why, revision ${revision ?? 'absent'}`, () => {
    assert.equal(r.kind, 'error');
    if (r.kind !== 'error') return;
    assert.equal(r.error.code, code);
    assert.match(r.error.message, message);
    if (revision === undefined) assert.equal('revision' in r, false, 'no bundle: no revision key');
    else assert.equal(r.revision, revision);
  });
}

test('a malformed document lists its issues as {path, message}, at most 10 (the audit record stays bounded)', () => {
  const one = decide({ allow: true, violations: [{ ...deny, action: 'block' }] });
  assert.equal(one.kind, 'error');
  if (one.kind !== 'error') return;
  const issues = one.error.details?.issues ?? [];
  assert.equal(issues.length, 1);
  assert.deepEqual(Object.keys(issues[0] ?? {}).sort(), ['message', 'path']);
  assert.equal(issues[0]?.path, 'violations.0.action');
  assert.ok((issues[0]?.message.length ?? 0) > 0);

  const twelve = decide({ allow: false, violations: many(12, () => ({ ...deny, code: '' })) });
  assert.equal(twelve.kind, 'error');
  if (twelve.kind !== 'error') return;
  const capped = twelve.error.details?.issues ?? [];
  assert.equal(capped.length, 10);
  assert.deepEqual(
    capped.map((i) => i.path),
    many(10, (i) => `violations.${i}.code`),
  );
});

test('denial names the deny codes only, in order, comma-separated (a warn is not a reason for the 403)', () => {
  const r = decide({
    allow: false,
    violations: [deny, warn, { ...deny, code: 'PRIVILEGED' }, { ...warn, code: 'AUDIT_ONLY', action: 'audit' }],
  });
  assert.equal(r.kind, 'deny');
  if (r.kind !== 'deny') return;
  const e = denial(r.decision);
  assert.equal(e.code, 'POLICY_DENIED');
  assert.equal(e.message, 'step denied by policy: IMAGE_DENIED, PRIVILEGED');
});

test('policyInput shows the policy the runner, the workflow identity and volumes, the step, the pod and the attempt', () => {
  const step = { name: 's', image: 'python:3.11' };
  const pod = { spec: { containers: [{ name: 'step', image: 'python:3.11' }] } };
  const volumes = [{ name: 'data', size: '1Gi' }];
  const withVolumes = policyInput(
    'runner-a',
    { id: 'wf', name: 'n', runId: 'run-1', steps: [step], volumes },
    step,
    pod,
  );
  assert.deepEqual(withVolumes, {
    runner: 'runner-a',
    workflow: { id: 'wf', name: 'n', runId: 'run-1', volumes },
    step,
    pod,
    attempt: 1,
  });
  const without = policyInput('runner-a', { id: 'wf', name: 'n', runId: 'run-1', steps: [step] }, step, pod);
  assert.deepEqual(without.workflow.volumes, [], 'no volumes is an empty list, so a rule can iterate it');
});
