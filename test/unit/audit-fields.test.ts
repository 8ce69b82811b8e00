/**
 * The read-only accessors `audit query` and `audit report` share (src/audit/fields.ts), row by row,
 * with exact results. The class: "a record's loosely typed member in any shape a signed workflow or
 * a decision can give it → the value picked out, or nothing, never a throw": violations that are
 * not objects or whose members are not strings, images of the step, its sidecars and init
 * containers (missing, null, not strings), codes and policies once each, the reasons of a refusal
 * (deny violations, or the record's own code), the revision (the bundle's, else the decision's),
 * the violation texts, which outcomes are refusals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  codesOf,
  imagesOf,
  isRefusal,
  policiesOf,
  reasonsOf,
  revisionOf,
  violationsOf,
  violationTexts,
} from '../../src/audit/fields.ts';
import type { AuditRecord } from '../../src/audit/record.ts';

const base: AuditRecord = {
  decision_id: 'd',
  timestamp: 't',
  stage: 'evaluate',
  outcome: 'deny',
  message: 'refused',
  runner: 'r',
  labels: {},
  seq: 1,
  prev: 'p',
  hash: 'h',
};
const rec = (over: Partial<AuditRecord> & Record<string, unknown>): AuditRecord => ({ ...base, ...over });
const v = (code: string, action: string, policy = 'p1', message = `m-${code}`): unknown => ({
  code,
  message,
  policy,
  action,
});

describe('violationsOf', () => {
  const ROWS: [string, unknown, unknown][] = [
    ['no result', undefined, []],
    ['a result without violations', {}, []],
    ['violations that are not a list', { violations: { code: 'X' } }, []],
    [
      'entries that are not objects are dropped; members that are not strings read as ""',
      { violations: [null, 'x', 3, { code: 'A', message: 1, policy: null, action: 'deny' }, v('B', 'warn')] },
      [
        { code: 'A', message: '', policy: '', action: 'deny' },
        { code: 'B', message: 'm-B', policy: 'p1', action: 'warn' },
      ],
    ],
  ];
  for (const [name, result, want] of ROWS) test(name, () => assert.deepEqual(violationsOf(rec({ result })), want));
});

describe('imagesOf', () => {
  const ROWS: [string, unknown, string[]][] = [
    ['no input', undefined, []],
    ['no step', {}, []],
    ['a step that is null', { step: null }, []],
    ['a step that is a string', { step: 'x' }, []],
    [
      'the step, its sidecars, its init containers, in order; entries without a string image skipped',
      {
        step: {
          image: 'a:1',
          sidecars: [{ image: 'b:1' }, null, { image: 2 }, {}],
          initContainers: [{ image: 'c:1' }, { image: 'd:1' }],
        },
      },
      ['a:1', 'b:1', 'c:1', 'd:1'],
    ],
    ['sidecars and init containers that are not lists', { step: { image: 5, sidecars: {}, initContainers: 'x' } }, []],
  ];
  for (const [name, input, want] of ROWS) test(name, () => assert.deepEqual(imagesOf(rec({ input })), want));
});

describe('codes, policies, reasons, revision and texts', () => {
  const denyAndWarn = {
    violations: [v('A', 'deny', 'p1'), v('B', 'warn', 'p2'), v('A', 'deny', 'p1'), v('C', 'deny', 'p2')],
  };

  test('policiesOf: each policy once, in order', () => {
    assert.deepEqual(policiesOf(rec({ result: denyAndWarn })), ['p1', 'p2']);
    assert.deepEqual(policiesOf(rec({})), []);
  });

  test("codesOf: the record's own code first, then every violation code, once each", () => {
    assert.deepEqual(codesOf(rec({ code: 'POLICY_DENIED', result: denyAndWarn })), ['POLICY_DENIED', 'A', 'B', 'C']);
    assert.deepEqual(codesOf(rec({ result: denyAndWarn })), ['A', 'B', 'C']);
    assert.deepEqual(codesOf(rec({ code: 'A' as never, result: denyAndWarn })), ['A', 'B', 'C']);
    assert.deepEqual(codesOf(rec({})), []);
  });

  test("reasonsOf: the deny violations' codes once each, else the record's own code, else nothing", () => {
    assert.deepEqual(reasonsOf(rec({ code: 'POLICY_DENIED', result: denyAndWarn })), ['A', 'C']);
    assert.deepEqual(reasonsOf(rec({ code: 'VALIDATE_SCHEMA', result: { violations: [v('B', 'warn')] } })), [
      'VALIDATE_SCHEMA',
    ]);
    assert.deepEqual(reasonsOf(rec({ result: { violations: [v('B', 'warn')] } })), []);
  });

  test("revisionOf: the kubiya bundle's revision, else the decision's, else empty", () => {
    assert.equal(revisionOf(rec({ bundles: { kubiya: { revision: 'r1' } }, result: { revision: 'r2' } })), 'r1');
    assert.equal(revisionOf(rec({ bundles: { kubiya: { revision: '' } }, result: { revision: 'r2' } })), 'r2');
    assert.equal(revisionOf(rec({ bundles: { other: { revision: 'x' } }, result: { revision: 'r2' } })), 'r2');
    assert.equal(revisionOf(rec({ result: { revision: 3 } })), '');
    assert.equal(revisionOf(rec({})), '');
  });

  test("violationTexts: 'code: message' of each violation, else the record's code and message, else nothing", () => {
    assert.deepEqual(
      violationTexts(rec({ code: 'POLICY_DENIED', result: { violations: [v('A', 'deny'), v('B', 'warn')] } })),
      ['A: m-A', 'B: m-B'],
    );
    assert.deepEqual(violationTexts(rec({ code: 'VALIDATE_SCHEMA' })), ['VALIDATE_SCHEMA: refused']);
    assert.deepEqual(violationTexts(rec({})), []);
  });

  test('isRefusal: deny and error only', () => {
    const want = { allow: false, deny: true, error: true, success: false, failure: false } as const;
    for (const [outcome, refusal] of Object.entries(want))
      assert.equal(isRefusal(rec({ outcome: outcome as AuditRecord['outcome'] })), refusal, outcome);
  });
});
