import assert from 'node:assert/strict';
import { test } from 'node:test';
import { denial, evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { engineReturning } from '../support/memory.ts';

const input = policyInput(
  'r',
  { id: 'wf', name: 'n', runId: 'run', steps: [{ name: 's', image: 'python:3.11' }] },
  { name: 's', image: 'python:3.11' },
  { spec: { containers: [] } },
);
const deny = { code: 'IMAGE_DENIED', message: 'no', path: 'step.image', policy: 'images', action: 'deny' };
const warn = { ...deny, code: 'IMAGE_TAG_NOT_PINNED', action: 'warn' };

const cases: [string, PolicyEngine | undefined, string][] = [
  ['no engine loaded', undefined, 'POLICY_NOT_LOADED'],
  ['unknown entrypoint', engineReturning(() => [], ['other/entry']), 'POLICY_ENTRYPOINT_UNKNOWN'],
  ['result set is null', engineReturning(() => null), 'POLICY_UNDEFINED'],
  ['result set is []', engineReturning(() => []), 'POLICY_UNDEFINED'],
  ['result is null', engineReturning(() => [{ result: null }]), 'POLICY_UNDEFINED'],
  ['result missing', engineReturning(() => [{}]), 'POLICY_UNDEFINED'],
  [
    'throws an Error',
    engineReturning(() => {
      throw new Error('boom');
    }),
    'POLICY_EVAL_ERROR',
  ],
  [
    'throws a string',
    engineReturning(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a policy runtime may throw anything; that is the case under test
      throw 'boom';
    }),
    'POLICY_EVAL_ERROR',
  ],
  [
    'throws undefined',
    engineReturning(() => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- as above
      throw undefined;
    }),
    'POLICY_EVAL_ERROR',
  ],
  ['returns true instead of a document', engineReturning(() => [{ result: true }]), 'POLICY_MALFORMED_DECISION'],
  [
    'allow is a string',
    engineReturning(() => [{ result: { allow: 'true', violations: [] } }]),
    'POLICY_MALFORMED_DECISION',
  ],
  [
    'violation without code',
    engineReturning(() => [{ result: { allow: false, violations: [{ message: 'x' }] } }]),
    'POLICY_MALFORMED_DECISION',
  ],
  [
    'unknown action',
    engineReturning(() => [{ result: { allow: false, violations: [{ ...deny, action: 'block' }] } }]),
    'POLICY_MALFORMED_DECISION',
  ],
  [
    'extra keys in the document',
    engineReturning(() => [{ result: { allow: true, violations: [], sneaky: 1 } }]),
    'POLICY_MALFORMED_DECISION',
  ],
  [
    'allow true with a deny violation',
    engineReturning(() => [{ result: { allow: true, violations: [deny] } }]),
    'POLICY_MALFORMED_DECISION',
  ],
  [
    'allow false without a deny violation',
    engineReturning(() => [{ result: { allow: false, violations: [warn] } }]),
    'POLICY_MALFORMED_DECISION',
  ],
];

for (const [name, engine, code] of cases) {
  test(`evaluate fails closed: ${name} → ${code}`, () => {
    const r = evaluate(input, engine);
    assert.equal(r.kind, 'error', 'no usable decision is an error, never an allow or a deny');
    if (r.kind === 'error') assert.equal(r.error.code, code);
  });
}

test('a well-formed deny is a decision (kind deny, with the document), not an error; its error is POLICY_DENIED', () => {
  const r = evaluate(
    input,
    engineReturning(() => [{ result: { allow: false, violations: [deny, warn] } }], undefined, 'rev-3'),
  );
  assert.equal(r.kind, 'deny');
  if (r.kind !== 'deny') return;
  assert.equal(r.decision.revision, 'rev-3');
  assert.deepEqual(
    r.decision.violations.map((v) => v.action),
    ['deny', 'warn'],
  );
  const error = denial(r.decision);
  assert.equal(error.code, 'POLICY_DENIED');
  assert.match(error.message, new RegExp(deny.code));
});

test('evaluate allows with warn violations and stamps the bundle revision', () => {
  const r = evaluate(
    input,
    engineReturning(() => [{ result: { allow: true, violations: [warn] } }], undefined, 'rev-7'),
  );
  assert.equal(r.kind, 'allow');
  if (r.kind !== 'allow') return;
  assert.equal(r.decision.revision, 'rev-7');
  assert.equal(r.decision.violations[0]?.action, 'warn');
});
