import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chain, GENESIS } from '../../src/audit/chain.ts';
import { matches, QUERY_COLUMNS, row, toCsv } from '../../src/audit/query.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const base: AuditEntry = {
  decision_id: 'd',
  timestamp: '2026-06-01T12:00:00.000Z',
  stage: 'evaluate',
  outcome: 'deny',
  code: 'POLICY_DENIED',
  message: 'm',
  runner: 'r',
  labels: {},
};
const denied = chain(
  {
    ...base,
    workflow: { id: 'wf', runId: 'r' },
    step: 'scan',
    input: { step: { image: 'aquasec/trivy:latest', sidecars: [{ image: 'postgres:15' }] } },
    result: { allow: false, violations: [{ code: 'IMAGE_TAG_NOT_PINNED', policy: 'images' }] },
  },
  1,
  GENESIS,
);
const allowed = chain(
  { ...base, outcome: 'allow', code: undefined, timestamp: '2026-06-02T00:00:00.000Z' },
  2,
  denied.hash,
);

test('query filters by time, stage, outcome, code (own or violation), workflow, step, image, policy', () => {
  assert.ok(
    matches(denied, {
      outcome: 'deny',
      code: 'IMAGE_TAG_NOT_PINNED',
      workflow: 'wf',
      step: 'scan',
      policy: 'images',
      stage: 'evaluate',
    }),
  );
  assert.ok(matches(denied, { code: 'POLICY_DENIED', image: 'postgres:15' }));
  assert.ok(!matches(denied, { image: 'python:3.11' }));
  assert.ok(!matches(allowed, { outcome: 'deny' }));
  assert.ok(matches(allowed, { since: '2026-06-01T23:00:00Z' }));
  assert.ok(!matches(denied, { since: '2026-06-01T23:00:00Z' }));
  assert.ok(matches(denied, { until: '2026-06-01T23:00:00Z' }));
});

test('CSV quotes every field and defuses spreadsheet formulas from untrusted strings', () => {
  const evil = chain(
    { ...base, message: '=HYPERLINK("http://evil")', step: '@sum', workflow: { id: '-1+1', runId: 'r' } },
    3,
    allowed.hash,
  );
  const csv = toCsv([row(denied), row(evil)], QUERY_COLUMNS);
  const lines = csv.trimEnd().split('\r\n');
  assert.equal(lines[0], QUERY_COLUMNS.map((c) => `"${c}"`).join(','));
  assert.match(lines[2] ?? '', /"'=HYPERLINK\(""http:\/\/evil""\)"/);
  assert.match(lines[2] ?? '', /"'-1\+1"/);
  assert.match(lines[2] ?? '', /"'@sum"/);
  assert.match(lines[1] ?? '', /"POLICY_DENIED IMAGE_TAG_NOT_PINNED"/);
});
