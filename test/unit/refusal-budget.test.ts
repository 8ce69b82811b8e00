// The audit budget of refusals before verification (docs/adr/0008; red team 17, finding 6): what
// it records one by one, what it sums, and that the two always account for every refusal.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { admit } from '../../src/admission/admit.ts';
import { cancelRun } from '../../src/admission/cancel.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { ReportTally } from '../../src/audit/report-tally.ts';
import { newSigningKey, signAssignment } from '../../src/dev/sign.ts';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/errors/codes.ts';
import { auditor } from '../../src/pipeline/auditor.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { RefusalStage } from '../../src/pipeline/refusal-budget.ts';
import { refusalsOf } from '../../src/pipeline/refusals.ts';
import type { RawAssignment } from '../../src/receive/receive.ts';
import { testConfig, testPipelineConfig } from '../support/config.ts';
import {
  Clock,
  engineReturning,
  MemoryAudit,
  MemoryPods,
  MemoryRuns,
  MemoryTrustedKeys,
  memoryCluster,
} from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, stranger, keys } = await testKeys();
const unknownKid = await newSigningKey('EdDSA', 'k-unknown');

function depsWith(refusals: { perCode?: number; window?: number }, clock = new Clock(NOW)) {
  const audit = new MemoryAudit();
  const counted: string[] = [];
  let ids = 0;
  const deps: PipelineDeps = {
    config: testPipelineConfig({ audit: { refusals } }),
    keys,
    audit,
    ...memoryCluster(new MemoryPods()),
    runs: new MemoryRuns(),
    trust: new MemoryTrustedKeys(),
    policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
    now: clock.now,
    newId: () => `id-${++ids}`,
    observer: {
      recorded: (r) => counted.push(`${r.stage} ${r.code ?? ''}`),
      unrecorded: (stage, _outcome, code) => counted.push(`${stage} ${code}`),
      workflowsRunning: () => undefined,
      workflowFinished: () => undefined,
      stepFinished: () => undefined,
      internalError: (e) => assert.fail(String(e)),
    },
  };
  return { deps, audit, clock, counted };
}

/** Per `stage code`: refusals recorded one by one + those the summaries count. */
function accounting(records: readonly AuditRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, n: number) => out.set(k, (out.get(k) ?? 0) + n);
  for (const r of records) {
    if (r.code === 'AUDIT_REFUSALS_AGGREGATED')
      for (const [code, n] of Object.entries((r.result as { unrecorded: Record<string, number> }).unrecorded))
        add(`${r.stage} ${code}`, n);
    else add(`${r.stage} ${r.code ?? ''}`, 1);
  }
  return out;
}

const signed = (over: Partial<Parameters<typeof signAssignment>[1]> = {}, k = key) =>
  signAssignment(k, { issuer: ISSUER, audience: RUNNER, workflow: workflow(), now: NOW, ...over });

/** Every refusal before verification that admission or cancellation records: the raw request and its stage and code. */
const KINDS: readonly {
  readonly name: string;
  readonly raw: () => Promise<RawAssignment>;
  readonly cancel?: true;
  readonly stage: RefusalStage;
  readonly code: string;
}[] = [
  {
    name: 'too large',
    raw: () => Promise.resolve({ body: 'x', over: { declared: 1e6 } }),
    stage: 'receive',
    code: 'RECEIVE_TOO_LARGE',
  },
  {
    name: 'content type',
    raw: () => Promise.resolve({ body: 'a.b.c', contentType: 'text/html' }),
    stage: 'receive',
    code: 'RECEIVE_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'content coding',
    raw: () => Promise.resolve({ body: 'a.b.c', contentEncoding: 'gzip' }),
    stage: 'receive',
    code: 'RECEIVE_UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'whitespace', raw: () => Promise.resolve({ body: 'a.b.c\n' }), stage: 'receive', code: 'RECEIVE_MALFORMED' },
  { name: 'not a JWS', raw: () => Promise.resolve({ body: 'a.b' }), stage: 'receive', code: 'RECEIVE_MALFORMED' },
  {
    name: 'abc.def.ghi',
    raw: () => Promise.resolve({ body: 'abc.def.ghi' }),
    stage: 'verify',
    code: 'VERIFY_MALFORMED',
  },
  {
    name: 'stranger',
    raw: async () => ({ body: await signed({}, stranger) }),
    stage: 'verify',
    code: 'VERIFY_SIGNATURE_INVALID',
  },
  {
    name: 'unknown kid',
    raw: async () => ({ body: await signed({}, unknownKid) }),
    stage: 'verify',
    code: 'VERIFY_KEY_NOT_FOUND',
  },
  {
    name: 'expired',
    raw: async () => ({ body: await signed({ now: new Date(NOW.getTime() - 400_000), ttlSeconds: 60 }) }),
    stage: 'verify',
    code: 'VERIFY_EXPIRED',
  },
  {
    name: 'too old',
    raw: async () => ({ body: await signed({ now: new Date(NOW.getTime() - 3_600_000), ttlSeconds: 7200 }) }),
    stage: 'verify',
    code: 'VERIFY_TOO_OLD',
  },
  {
    name: 'not yet valid',
    raw: async () => ({ body: await signed({ now: new Date(NOW.getTime() + 3_600_000) }) }),
    stage: 'verify',
    code: 'VERIFY_NOT_YET_VALID',
  },
  {
    name: 'audience',
    raw: async () => ({ body: await signed({ audience: 'other' }) }),
    stage: 'verify',
    code: 'VERIFY_CLAIM_INVALID',
  },
  {
    name: 'cancel: receive',
    raw: () => Promise.resolve({ body: ' a.b.c' }),
    cancel: true,
    stage: 'receive',
    code: 'RECEIVE_MALFORMED',
  },
  {
    name: 'cancel: not a JWS',
    raw: () => Promise.resolve({ body: 'abc.def.ghi' }),
    cancel: true,
    stage: 'cancel',
    code: 'VERIFY_MALFORMED',
  },
  {
    name: 'cancel: an assignment',
    raw: async () => ({ body: await signed() }),
    cancel: true,
    stage: 'cancel',
    code: 'VERIFY_TYPE_INVALID',
  },
];

describe('refusals before verification, budgeted (HTTP intake)', () => {
  for (const kind of KINDS)
    test(`${kind.name}: ${kind.stage} ${kind.code} — 3 recorded, 9 summed, 12 counted, every answer the same`, async () => {
      const { deps, audit, counted } = depsWith({ perCode: 3 });
      const raw = await kind.raw();
      for (let i = 0; i < 12; i++) {
        const r = kind.cancel ? await cancelRun(raw, deps, 'budgeted') : await admit(raw, deps, 'budgeted');
        assert.equal(r.ok ? 'ok' : r.error.code, kind.code, `#${i + 1}`);
      }
      assert.equal(audit.records.length, 3, 'the first 3 recorded one by one');
      assert.equal(counted.length, 12, 'every refusal counted (kubiya_decisions_total)');
      assert.equal(refusalsOf(deps).pending(), true);
      await refusalsOf(deps).flush(deps, true);
      assert.equal(refusalsOf(deps).pending(), false);
      assert.equal(audit.records.length, 4);
      const summary = audit.records[3]!;
      assert.equal(summary.code, 'AUDIT_REFUSALS_AGGREGATED');
      assert.deepEqual(summary.result, {
        from: NOW.toISOString(),
        to: NOW.toISOString(),
        recorded: { [kind.code]: 3 },
        unrecorded: { [kind.code]: 9 },
      });
      assert.deepEqual(accounting(audit.records), new Map([[`${kind.stage} ${kind.code}`, 12]]));
      assert.equal(
        ERROR_CATALOGUE[kind.code as keyof typeof ERROR_CATALOGUE].stage,
        kind.stage === 'cancel' ? 'verify' : kind.stage,
      );
    });

  test('the same refusals unbudgeted (the control plane\u2019s pulled assignments, the CLI): every one recorded', async () => {
    const { deps, audit } = depsWith({ perCode: 1 });
    for (let i = 0; i < 5; i++) await admit({ body: 'abc.def.ghi' }, deps);
    await refusalsOf(deps).flush(deps, true);
    assert.equal(audit.records.length, 5);
  });

  test('verified but refused stays one by one: 12 schema refusals and 12 replays are 12 records each', async () => {
    const { deps, audit } = depsWith({ perCode: 1 });
    const bad = await signed({ workflow: { id: 'wf-1', runId: 'run-1', steps: [] } });
    const good = await signed({ jti: 'jti-good' });
    assert.equal((await admit({ body: good }, deps, 'budgeted')).ok, true);
    for (let i = 0; i < 12; i++) {
      assert.equal(
        ((await admit({ body: bad }, deps, 'budgeted')) as { error: { code: string } }).error.code,
        'VALIDATE_SCHEMA',
      );
      assert.equal(
        ((await admit({ body: good }, deps, 'budgeted')) as { error: { code: string } }).error.code,
        'ASSIGNMENT_REPLAYED',
      );
    }
    await refusalsOf(deps).flush(deps, true);
    const count = (stage: string, code: string) =>
      audit.records.filter((r) => r.stage === stage && r.code === code).length;
    assert.equal(count('validate', 'VALIDATE_SCHEMA'), 12);
    assert.equal(count('claim', 'ASSIGNMENT_REPLAYED'), 12);
    assert.equal(count('verify', 'AUDIT_REFUSALS_AGGREGATED'), 0);
  });

  test('a window that ends: the next refusal writes its summary first and counts in the new window', async () => {
    const { deps, audit, clock } = depsWith({ perCode: 2, window: 10 });
    for (let i = 0; i < 5; i++) await admit({ body: 'abc.def.ghi' }, deps, 'budgeted');
    clock.advance(10);
    await admit({ body: 'abc.def.ghi' }, deps, 'budgeted');
    const codes = audit.records.map((r) => r.code);
    assert.deepEqual(codes, ['VERIFY_MALFORMED', 'VERIFY_MALFORMED', 'AUDIT_REFUSALS_AGGREGATED', 'VERIFY_MALFORMED']);
    assert.deepEqual((audit.records[2]!.result as { unrecorded: unknown }).unrecorded, { VERIFY_MALFORMED: 3 });
    assert.equal(audit.records[2]!.timestamp, new Date(NOW.getTime() + 10_000).toISOString());
  });

  for (const back of [1, 3600, 86_400])
    test(`the wall clock steps back ${back} s: the window ends at the next refusal, its summary never ends before it began (red team 19, finding 5)`, async () => {
      const { deps, audit, clock } = depsWith({ perCode: 2, window: 60 });
      for (let i = 0; i < 5; i++) await admit({ body: 'abc.def.ghi' }, deps, 'budgeted');
      clock.advance(-back);
      await admit({ body: 'abc.def.ghi' }, deps, 'budgeted');
      const summary = audit.records.find((r) => r.code === 'AUDIT_REFUSALS_AGGREGATED');
      assert.ok(summary !== undefined, 'the window ended at once, not after the clock caught up');
      const { from, to, unrecorded } = summary.result as { from: string; to: string; unrecorded: unknown };
      assert.deepEqual(unrecorded, { VERIFY_MALFORMED: 3 });
      assert.ok(Date.parse(from) <= Date.parse(to), `${from} .. ${to}`);
    });

  test('a summary the log cannot take is kept and written with the next one, merged: nothing is lost', async () => {
    const { deps, audit, clock } = depsWith({ perCode: 1, window: 10 });
    const problems: string[] = [];
    const withProblems = {
      ...deps,
      observer: { ...deps.observer!, problem: (e: { code: string }) => problems.push(e.code) },
    };
    for (let i = 0; i < 4; i++)
      await auditor(withProblems, 'budgeted')
        .refused('verify', { code: 'VERIFY_MALFORMED', message: 'm' })
        .catch(() => undefined);
    audit.failing = true;
    clock.advance(10);
    await refusalsOf(withProblems).flush(withProblems);
    assert.ok(problems.includes('AUDIT_UNAVAILABLE'));
    assert.equal(refusalsOf(withProblems).pending(), true);
    audit.failing = false;
    await auditor(withProblems, 'budgeted').refused('verify', { code: 'VERIFY_MALFORMED', message: 'm' });
    await auditor(withProblems, 'budgeted').refused('verify', { code: 'VERIFY_MALFORMED', message: 'm' });
    clock.advance(10);
    await refusalsOf(withProblems).flush(withProblems);
    assert.deepEqual(accounting(audit.records), new Map([['verify VERIFY_MALFORMED', 6]]));
    const summaries = audit.records.filter((r) => r.code === 'AUDIT_REFUSALS_AGGREGATED');
    assert.equal(summaries.length, 1, 'the kept summary merged into the next');
    assert.equal((summaries[0]!.result as { from: string }).from, NOW.toISOString());
  });

  test('property: for any refusals over any time, records one by one + summaries = refusals, and at most perCode of a code per window', () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 10, max: 60 }),
        fc.array(
          fc.record({
            stage: fc.constantFrom<RefusalStage>('receive', 'verify', 'cancel'),
            code: fc.constantFrom<ErrorCode>(
              'RECEIVE_MALFORMED',
              'VERIFY_MALFORMED',
              'VERIFY_EXPIRED',
              'VERIFY_KEY_NOT_FOUND',
            ),
            after: fc.integer({ min: 0, max: 30 }),
          }),
          { maxLength: 120 },
        ),
        async (perCode, window, events) => {
          const { deps, audit, clock, counted } = depsWith({ perCode, window });
          const sent = new Map<string, number>();
          for (const e of events) {
            clock.advance(e.after);
            sent.set(`${e.stage} ${e.code}`, (sent.get(`${e.stage} ${e.code}`) ?? 0) + 1);
            await auditor(deps, 'budgeted').refused(e.stage, { code: e.code, message: 'm' });
          }
          await refusalsOf(deps).flush(deps, true);
          assert.deepEqual(accounting(audit.records), sent);
          assert.equal(counted.length, events.length);
          // An oracle of the windows: one opens at the first refusal's clock, the next at the first
          // refusal once it is `window` old; in each, min(n, perCode) of each code recorded one by one.
          const expected = new Map<string, number>();
          let from: number | undefined;
          let inWindow = new Map<string, number>();
          let at = NOW.getTime();
          for (const e of events) {
            at += e.after * 1000;
            from ??= at;
            if (at - from >= window * 1000) {
              from = at;
              inWindow = new Map<string, number>();
            }
            const k = `${e.stage} ${e.code}`;
            inWindow.set(k, (inWindow.get(k) ?? 0) + 1);
            if (inWindow.get(k)! <= perCode) expected.set(k, (expected.get(k) ?? 0) + 1);
          }
          const each = new Map<string, number>();
          for (const r of audit.records)
            if (r.code !== 'AUDIT_REFUSALS_AGGREGATED')
              each.set(`${r.stage} ${r.code ?? ''}`, (each.get(`${r.stage} ${r.code ?? ''}`) ?? 0) + 1);
          assert.deepEqual(each, expected);
        },
      ),
      { numRuns: 200 },
    ));
});

describe('audit.refusals in the config: parsed once, bounded', () => {
  test('defaults: 10 of each code per 60 s', () => {
    assert.deepEqual(testConfig().audit.refusals, { perCode: 10, window: 60 });
    assert.deepEqual(testPipelineConfig().refusals, { perCode: 10, windowSeconds: 60 });
    assert.deepEqual(testConfig({ audit: { refusals: { perCode: 100, window: '1h' } } }).audit.refusals, {
      perCode: 100,
      window: 3600,
    });
  });
  for (const refusals of [
    { perCode: 0 },
    { perCode: 101 },
    { perCode: 1.5 },
    { window: 9 },
    { window: '2h' },
    { window: 0 },
  ])
    test(`refused: ${JSON.stringify(refusals)}`, () => {
      assert.throws(() => testConfig({ audit: { refusals } }), /audit\.refusals/);
    });
});

describe('the HTML report counts the refusals a summary stands for', () => {
  test('2 recorded + a summary of 5 = 7 VERIFY_MALFORMED, 7 denials; a hostile count is ignored', async () => {
    const { deps, audit } = depsWith({ perCode: 2 });
    for (let i = 0; i < 7; i++) await admit({ body: 'abc.def.ghi' }, deps, 'budgeted');
    await refusalsOf(deps).flush(deps, true);
    assert.equal(audit.records.length, 3);
    const tallied = (records: readonly AuditRecord[]): ReportTally => {
      const t = new ReportTally(false);
      for (const r of records) t.add(r, 'c');
      return t;
    };
    const counts = tallied(audit.records);
    assert.equal(counts.reasons.map.get('VERIFY_MALFORMED'), 7);
    assert.equal(counts.reasons.map.get('AUDIT_REFUSALS_AGGREGATED'), undefined);
    assert.equal(counts.outcomes.map.get('deny'), 7);
    assert.equal(counts.reasonsByPolicy().get('stage verify')?.get('VERIFY_MALFORMED')?.count, 7);
    const hostile = { ...audit.records[2]!, result: { unrecorded: { VERIFY_MALFORMED: -3, X: 1.5, Y: '9' } } };
    assert.equal(tallied([hostile]).reasons.map.size, 0);
  });
});
