import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chain, GENESIS } from '../../src/audit/chain.ts';
import {
  decisionLogEvent,
  matches,
  QUERY_COLUMNS,
  queryPredicate,
  row,
  TABLE_COLUMNS,
  toCsv,
  toTable,
} from '../../src/audit/query.ts';
import type { AuditEntry, AuditRecord } from '../../src/audit/record.ts';

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

/**
 * Issue 17: `--image` matched the exact string only. The class: every spelling of one image that
 * the policy treats as the same (Docker Hub's implied registry and `library/`, its host aliases, an
 * implied `latest`, a digest beside a tag) must be found by any other spelling of it; a prefix
 * must stop at a "/" boundary; a filter that is not a reference is refused, not silently empty.
 */
const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER_DIGEST = `sha256:${'b'.repeat(64)}`;
const IMAGE_CASES: { filter: string; hits: string[]; misses: string[] }[] = [
  {
    filter: 'nginx',
    hits: [
      'nginx',
      'nginx:1.25',
      'docker.io/library/nginx:latest',
      `index.docker.io/library/nginx@${DIGEST}`,
      'registry-1.docker.io/nginx:1',
      'library/nginx:1',
    ],
    misses: ['nginx-evil', 'acme/nginx', 'ghcr.io/library/nginx', 'docker.io/library/nginx2'],
  },
  {
    filter: 'docker.io/library/nginx:latest',
    hits: ['nginx', 'nginx:latest', 'registry.hub.docker.com/library/nginx'],
    misses: ['nginx:1.25', `nginx@${DIGEST}`],
  },
  {
    filter: 'nginx:1.25',
    hits: [`docker.io/library/nginx:1.25@${DIGEST}`, 'nginx:1.25'],
    misses: ['nginx:1.25.1', 'nginx'],
  },
  { filter: `nginx@${DIGEST}`, hits: [`nginx:1.25@${DIGEST}`], misses: [`nginx@${OTHER_DIGEST}`, 'nginx:1.25'] },
  { filter: 'aquasec/trivy:latest', hits: ['docker.io/aquasec/trivy', 'aquasec/trivy:latest'], misses: ['trivy'] },
  { filter: 'GHCR.io/acme/tool', hits: ['ghcr.io/acme/tool:1'], misses: ['ghcr.io/acme/tool2:1'] },
];
const REPOSITORY_CASES: { filter: string; hits: string[]; misses: string[] }[] = [
  {
    filter: 'docker.io/library',
    hits: ['nginx', 'python:3.11', 'index.docker.io/library/redis'],
    misses: ['aquasec/trivy'],
  },
  {
    filter: 'ghcr.io/acme',
    hits: ['ghcr.io/acme/x:1', 'GHCR.IO/acme/y/z'],
    misses: ['ghcr.io/acme-evil/x', 'ghcr.io/acmex'],
  },
  { filter: 'ghcr.io', hits: ['ghcr.io/a/b'], misses: ['ghcr.io.evil.com/a/b', 'nginx'] },
  { filter: 'nginx', hits: ['nginx:1', 'docker.io/library/nginx'], misses: ['nginx-evil'] },
];
const withImage = (image: string): AuditRecord => ({ ...denied, input: { step: { image } } });

test('--image matches every spelling of the normalised reference, and nothing else', () => {
  for (const c of IMAGE_CASES) {
    for (const h of c.hits) assert.ok(matches(withImage(h), { image: c.filter }), `${c.filter} finds ${h}`);
    for (const m of c.misses) assert.ok(!matches(withImage(m), { image: c.filter }), `${c.filter} misses ${m}`);
  }
});

test('--repository matches a registry, namespace or repository prefix on a "/" boundary', () => {
  for (const c of REPOSITORY_CASES) {
    for (const h of c.hits) assert.ok(matches(withImage(h), { repository: c.filter }), `${c.filter} finds ${h}`);
    for (const m of c.misses) assert.ok(!matches(withImage(m), { repository: c.filter }), `${c.filter} misses ${m}`);
  }
});

test('a filter that is not a reference or prefix is refused with the reason', () => {
  for (const f of [
    { image: 'NGINX' },
    { image: 'nginx:' },
    { image: '' },
    { repository: 'ghcr.io/acme:1' },
    { repository: 'a/*' },
  ]) {
    const p = queryPredicate(f);
    assert.equal(p.ok, false, JSON.stringify(f));
  }
});

test('filters for revision (whole or 8+ leading characters), run and runner', () => {
  const rec: AuditRecord = {
    ...denied,
    runner: 'runner-1',
    workflow: { id: 'wf', runId: 'run-9' },
    bundles: { kubiya: { revision: 'sha256-9131ee5fd535c3a0' } },
  };
  assert.ok(matches(rec, { revision: 'sha256-9131ee5fd535c3a0', run: 'run-9', runner: 'runner-1' }));
  assert.ok(matches(rec, { revision: 'sha256-9131' }));
  assert.ok(!matches(rec, { revision: 'sha256' }), 'too short a prefix is not a revision');
  assert.ok(!matches(rec, { run: 'run-1' }));
  assert.ok(!matches(rec, { runner: 'runner-2' }));
});

test('exports carry runner, run, revision and the violation text', () => {
  const rec: AuditRecord = {
    ...denied,
    runner: 'runner-1',
    workflow: { id: 'wf', runId: 'run-9' },
    bundles: { kubiya: { revision: 'rev-1' } },
    result: {
      allow: false,
      violations: [{ code: 'IMAGE_TAG_NOT_PINNED', policy: 'images', action: 'deny', message: 'pin it' }],
    },
  };
  const r = row(rec, 'audit-0');
  assert.deepEqual(
    [r.chain, r.runner, r.run, r.revision, r.violations],
    ['audit-0', 'runner-1', 'run-9', 'rev-1', 'IMAGE_TAG_NOT_PINNED: pin it'],
  );
  const csv = toCsv([r], QUERY_COLUMNS);
  assert.match(csv, /"runner-1","evaluate","deny","POLICY_DENIED IMAGE_TAG_NOT_PINNED","wf","run-9"/);
  const table = toTable([r], TABLE_COLUMNS);
  assert.match(table[1] ?? '', /runner-1\t.*\trun-9\t.*\trev-1\tIMAGE_TAG_NOT_PINNED: pin it$/);
  const event = decisionLogEvent(rec, 'audit-0');
  assert.equal(event.decision_id, rec.decision_id);
  assert.deepEqual(event.bundles, { kubiya: { revision: 'rev-1' } });
  assert.deepEqual((event.labels as Record<string, string>).id, 'runner-1');
  assert.equal((event.kubiya as { seq: number }).seq, rec.seq);
});

/**
 * CSV injection, as a class: a cell is a formula when, after any blanks and control characters,
 * it starts with = + - @ (or their full-width forms), or when it starts with a tab, CR or LF. Any
 * string put in any column must come out as a cell that is none of these.
 */
test('CSV: no cell, whatever the record holds, is read as a formula (fast-check)', () => {
  // eslint-disable-next-line no-control-regex -- the point is to find control characters
  const FORMULA = /^(?:[\t\r\n]|[\s\u0000-\u001f]*[=+\-@\uff1d\uff0b\uff0d\uff20])/;
  const lead = fc.constantFrom('', ' ', '  ', '\t', '\r', '\n', '\u0000', ' \t');
  const trigger = fc.constantFrom('=', '+', '-', '@', '\uff1d', '\uff0b', '\uff0d', '\uff20', 'a', '"', "'");
  const value = fc.tuple(lead, trigger, fc.string()).map(([a, b, c]) => a + b + c);
  fc.assert(
    fc.property(value, (v) => {
      const csv = toCsv([{ a: v }], ['a']);
      assert.ok(csv.startsWith('"a"\r\n"') && csv.endsWith('"\r\n'));
      const unquoted = csv.slice('"a"\r\n"'.length, -3).replaceAll('""', '"');
      assert.ok(!FORMULA.test(unquoted), JSON.stringify(unquoted));
    }),
    { numRuns: 300 },
  );
  // The reported examples, kept.
  for (const v of ['=HYPERLINK("http://evil")', '+1', '-1+1', '@sum(A1)', ' =1', '\t=1', '\uff1dcmd']) {
    assert.match(toCsv([{ a: v }], ['a']), /\r\n"'/);
  }
});

test('table: hostile strings cannot forge rows or drive the terminal', () => {
  const rec: AuditRecord = {
    ...denied,
    message: 'x\n999\t2026\tevaluate\tallow',
    step: '\u001b[2J\u001b[31mred',
    workflow: { id: '\u202eevil', runId: 'r\r' },
  };
  const lines = toTable([row(rec)], ['seq', 'step', 'workflow', 'run', 'violations']);
  assert.equal(lines.length, 2);
  // eslint-disable-next-line no-control-regex -- the point is to find control characters
  assert.ok(!/[\u0000-\u001f\u007f\u202e]/.test(lines[1]?.replaceAll('\t', '') ?? ''), lines[1]);
  assert.equal(lines[1]?.split('\t').length, 5);
});

/**
 * The class: a filter that silently finds nothing or the wrong records (red-team round 2, finding 3).
 * Time bounds were compared as strings: `--until 2026-11-29T21:46:39Z` kept a record at
 * 21:46:39.606Z and `--since …38Z` dropped 38.330Z (a string with milliseconds sorts after the one
 * without), and the same instant with an offset matched nothing. Now instants are compared, bad
 * times, stages and outcomes are refused with the reason; a date alone covers its UTC day.
 */
test('time bounds compare instants, in any zone spelling; bad times, stages and outcomes are refused', () => {
  const at = (timestamp: string) => ({ ...denied, timestamp });
  const cases: [string, Parameters<typeof matches>[1], boolean][] = [
    ['38.330Z within a whole-second --since', { since: '2026-11-29T21:46:38Z' }, true],
    ['38.330Z within a whole-second --until 39Z', { until: '2026-11-29T21:46:39Z' }, true],
    ['38.330Z within --since +01:00', { since: '2026-11-29T22:46:38+01:00' }, true],
    ['38.330Z within --until -05:00', { until: '2026-11-29T16:46:39-05:00' }, true],
    ['38.330Z after --until 38.000Z', { until: '2026-11-29T21:46:38Z' }, false],
    ['38.330Z before --since 39Z', { since: '2026-11-29T21:46:39Z' }, false],
    ['the day as --since', { since: '2026-11-29' }, true],
    ['the day as --until (its last millisecond)', { until: '2026-11-29' }, true],
    ['the next day as --since', { since: '2026-11-30' }, false],
    ['the day before as --until', { until: '2026-11-28' }, false],
    ['nanoseconds in the bound', { since: '2026-11-29T21:46:38.330000000Z' }, true],
  ];
  for (const [name, f, want] of cases) assert.equal(matches(at('2026-11-29T21:46:38.330Z'), f), want, name);
  const refused: Parameters<typeof queryPredicate>[0][] = [
    { since: 'yesterday' },
    { since: '2026-13-01' },
    { since: '2026-02-30' },
    { until: '2026-02-30T00:00:00Z' },
    { since: '2026-11-29T21:46:38' }, // no zone: which instant?
    { until: '' },
    { stage: 'bogus' },
    { outcome: 'maybe' },
  ];
  for (const f of refused) {
    const p = queryPredicate(f);
    assert.ok(!p.ok, JSON.stringify(f));
    assert.match(p.reason, /^--(since|until|stage|outcome) /);
  }
  for (const stage of ['receive', 'verify', 'validate', 'claim', 'cancel', 'evaluate', 'mutate', 'create', 'finish'])
    assert.ok(queryPredicate({ stage }).ok, stage);
});
