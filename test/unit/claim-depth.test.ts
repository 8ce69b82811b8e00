// The class (red team 18, finding 6): a reader that recurses where the input's depth is unbounded.
// JSON.parse is iterative, so a signed claim nested 5,000 deep verified; then textIssues (and
// prototypeKeyIssues, and the verification cache's deepFreeze for a claim outside `workflow`)
// recursed once per level and threw RangeError: admission answered INTERNAL, and the audit log
// held `verify/allow` with no validate record. Now the claims' depth is bounded first, without
// recursion (src/validate/depth.ts, MAX_CLAIM_DEPTH = 256 as the audit records' bound): a deeper
// claim is VALIDATE_SCHEMA at the path of its first container past the bound, with a validate
// deny record, through the real admission path and the reconcile pass's re-verification.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { admit } from '../../src/admission/admit.ts';
import { MAX_RECORD_DEPTH } from '../../src/audit/limits.ts';
import { auditor } from '../../src/pipeline/auditor.ts';
import { reverified } from '../../src/pipeline/verified.ts';
import { MAX_CLAIM_DEPTH, TOO_DEEP } from '../../src/validate/claim-limits.ts';
import { depthIssue } from '../../src/validate/depth.ts';
import { prototypeKeyIssues } from '../../src/validate/prototype-keys.ts';
import { textIssues } from '../../src/validate/unicode.ts';
import { validate } from '../../src/validate/validate.ts';
import { memoryAdmissionDeps } from '../support/admission-deps.ts';
import { testPipelineConfig } from '../support/config.ts';
import type { MemoryAudit } from '../support/memory.ts';
import { claimsAt, ISSUER, RUNNER, signBytes, workflow } from '../support/tokens.ts';

const HEADER = JSON.stringify({ alg: 'EdDSA', kid: 'k1', typ: 'kubiya-assignment+jwt' });

/**
 * Where the nest goes: the JSON text `"DEEP"` in the claims is replaced by it; `level` is the
 * level of the nest's outer container (the claims set is level 1), `path` its dotted path.
 */
interface Position {
  readonly name: string;
  readonly claims: (jti: string) => Record<string, unknown>;
  readonly level: number;
  readonly path: string;
  /** A nest this deep in place is admitted (nothing else refuses it). */
  readonly admittedWhenShallow: boolean;
}

/** A workflow claim whose run id is `jti` (each admitted token its own run), its step holding `extra`. */
const stepWith = (jti: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...workflow([{ name: 'analyze', image: 'python:3.11-slim', ...extra }]),
  runId: jti,
});

const POSITIONS: readonly Position[] = [
  {
    name: 'a step argument',
    claims: (jti) => claimsAt({ jti, workflow: stepWith(jti, { args: 'DEEP' }) }),
    level: 5,
    path: 'workflow.steps.0.args',
    admittedWhenShallow: false,
  },
  {
    name: 'a step env value',
    claims: (jti) => claimsAt({ jti, workflow: stepWith(jti, { env: { A: 'DEEP' } }) }),
    level: 6,
    path: 'workflow.steps.0.env.A',
    admittedWhenShallow: false,
  },
  {
    name: 'a member of the workflow claim',
    claims: (jti) => claimsAt({ jti, workflow: { ...stepWith(jti), extra: 'DEEP' } }),
    level: 3,
    path: 'workflow.extra',
    admittedWhenShallow: false,
  },
  {
    name: 'a claim other than workflow',
    claims: (jti) => claimsAt({ jti, workflow: stepWith(jti), ext: 'DEEP' }),
    level: 2,
    path: 'ext',
    admittedWhenShallow: true,
  },
];

const KINDS = {
  arrays: { open: '[', close: ']', segment: '0' },
  objects: { open: '{"k":', close: '}', segment: 'k' },
} as const;

/** The claims' JSON with `"DEEP"` replaced by `n` nested containers of `kind` around `"x"`. */
function nested(position: Position, jti: string, kind: keyof typeof KINDS, n: number): string {
  const { open, close } = KINDS[kind];
  const text = JSON.stringify(position.claims(jti));
  assert.ok(text.includes('"DEEP"'));
  return text.replace('"DEEP"', `${open.repeat(n)}"x"${close.repeat(n)}`);
}

/** The path of the container at `level` in a nest of `kind` at `position`. */
const pathAt = (position: Position, kind: keyof typeof KINDS, level: number): string =>
  [position.path, ...Array<string>(level - position.level).fill(KINDS[kind].segment)].join('.');

/** Deps over the in-memory twins, taking tokens up to 1 MiB (a 10,000-deep object nest is ~70 KB of base64). */
async function deps() {
  const { key, runs, deps: made } = await memoryAdmissionDeps();
  const d = {
    ...made,
    audit: made.audit as MemoryAudit,
    config: testPipelineConfig({
      runner: { name: RUNNER },
      controlPlane: { issuer: ISSUER, maxTokenBytes: 1024 * 1024 },
    }),
  };
  return { key, runs, deps: d };
}

const stages = (records: readonly object[]): string[] =>
  records.map((r) => {
    const x = r as { stage?: string; outcome?: string; code?: string };
    return `${x.stage}/${x.outcome}${x.code !== undefined ? `/${x.code}` : ''}`;
  });

describe('a signed claim nested past MAX_CLAIM_DEPTH → VALIDATE_SCHEMA with a validate record, never INTERNAL', () => {
  test("the bound is the audit records' 256 levels", () => {
    assert.equal(MAX_CLAIM_DEPTH, 256);
    assert.equal(MAX_CLAIM_DEPTH, MAX_RECORD_DEPTH);
  });

  const DEPTHS = [255, 256, 257, 5000, 10_000] as const;
  for (const position of POSITIONS)
    for (const kind of ['arrays', 'objects'] as const)
      test(`${position.name}, ${kind}: depths ${DEPTHS.join(', ')} through admit`, async () => {
        const { key, runs, deps: d } = await deps();
        for (const depth of DEPTHS) {
          const jti = `deep-${kind}-${depth}`;
          const payload = nested(position, jti, kind, depth - position.level + 1);
          const token = await signBytes(key, HEADER, payload);
          const before = d.audit.records.length;
          const r = await admit({ body: token, contentType: 'application/jwt' }, d);
          const recs = stages(d.audit.records.slice(before));
          const at = `${position.path}, ${kind}, depth ${depth}`;
          if (depth <= MAX_CLAIM_DEPTH) {
            if (position.admittedWhenShallow) {
              assert.equal(r.ok, true, `${at}: ${JSON.stringify(r)}`);
              assert.deepEqual(recs, ['verify/allow', 'validate/allow', 'claim/allow'], at);
            } else {
              // refused by the schema (no free-form nesting there), not by the bound
              assert.equal(r.ok, false, at);
              if (!r.ok) {
                assert.equal(r.error.code, 'VALIDATE_SCHEMA', at);
                assert.ok(!r.error.message.includes(TOO_DEEP), `${at}: ${r.error.message.slice(0, 200)}`);
              }
              assert.deepEqual(recs, ['verify/allow', 'validate/deny/VALIDATE_SCHEMA'], at);
            }
            continue;
          }
          assert.equal(r.ok, false, at);
          if (r.ok) continue;
          assert.equal(r.error.code, 'VALIDATE_SCHEMA', `${at}: ${r.error.message.slice(0, 200)}`);
          const path = pathAt(position, kind, MAX_CLAIM_DEPTH + 1);
          assert.equal(
            r.error.message,
            `${position.level === 2 ? 'token claims are' : 'workflow claim is'} invalid: 1 issue(s), first at ${path}: ${TOO_DEEP}`,
            at,
          );
          assert.deepEqual(recs, ['verify/allow', 'validate/deny/VALIDATE_SCHEMA'], at);
          const record = d.audit.records.at(-1) as unknown as { result?: { issues?: { path: string }[] } };
          assert.deepEqual(
            record.result?.issues?.map((i) => i.path),
            [path],
            at,
          );
          assert.equal(runs.get(`wr-${jti}`), undefined, at);
        }
      });

  test('the reported example: a step argument nested 5,000 deep (a 14 KB token) → VALIDATE_SCHEMA, validate recorded', async () => {
    const { key, deps: d } = await deps();
    const claims = claimsAt({
      jti: 'jti-deep-5000',
      workflow: workflow([{ name: 'analyze', image: 'python:3.11-slim', args: 'DEEP' }]),
    });
    const payload = JSON.stringify(claims).replace('"DEEP"', `${'['.repeat(5000)}"x"${']'.repeat(5000)}`);
    const token = await signBytes(key, HEADER, payload);
    assert.ok(token.length < 64 * 1024);
    const r = await admit({ body: token, contentType: 'application/jwt' }, d);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'VALIDATE_SCHEMA');
    assert.deepEqual(stages(d.audit.records), ['verify/allow', 'validate/deny/VALIDATE_SCHEMA']);
  });

  test('re-verification of a stored token (a WorkflowRun made by hand) refuses it the same way', async () => {
    const { key, runs, deps: d } = await deps();
    // a genuine admission first: the key is trusted, as on a runner that has admitted runs
    const seeded = await admit(
      { body: await signBytes(key, HEADER, JSON.stringify(claimsAt({ jti: 'seed', workflow: stepWith('seed') }))) },
      d,
    );
    assert.equal(seeded.ok, true, JSON.stringify(seeded));
    for (const position of POSITIONS) {
      const jti = `stored-${position.path.replace(/\./g, '-').toLowerCase()}`;
      const token = await signBytes(key, HEADER, nested(position, jti, 'arrays', 10_000));
      const obj = {
        name: `wr-${jti}`,
        uid: `uid-${jti}`,
        createdAt: d.now(),
        workflowId: 'wf-1',
        runId: jti,
        token,
        cancelRequested: false,
      };
      runs.put(obj);
      const before = d.audit.records.length;
      const r = await reverified(obj, d, auditor(d));
      assert.equal(r.ok, false, position.path);
      if (!r.ok) assert.equal(r.error.code, 'VALIDATE_SCHEMA', `${position.path}: ${r.error.message.slice(0, 200)}`);
      assert.deepEqual(stages(d.audit.records.slice(before)), ['verify/allow', 'validate/deny/VALIDATE_SCHEMA']);
    }
  });
});

describe('the walks: none throws on a deep value', () => {
  const deepArray = (n: number): unknown => JSON.parse(`${'['.repeat(n)}"x"${']'.repeat(n)}`);

  test('depthIssue: iterative, the first container past the bound in document order, keys escaped', () => {
    assert.equal(depthIssue(deepArray(255), 'workflow'), undefined); // levels 2..256
    assert.deepEqual(depthIssue(deepArray(256), 'workflow'), {
      path: ['workflow', ...Array<string>(255).fill('0')].join('.'),
      message: TOO_DEEP,
    });
    assert.equal(depthIssue(deepArray(1_000_000), 'w')?.message, TOO_DEEP);
    const v = JSON.parse(`{"a":[1,{"b":2}],"\\ud800":[[[]]],"c":[[[[]]]]}`) as unknown;
    assert.deepEqual(depthIssue(v, 'r', 1, 3), { path: 'r.\\ud800.0.0', message: TOO_DEEP });
    assert.equal(depthIssue('x', 'r'), undefined);
    assert.equal(depthIssue(null, 'r'), undefined);
  });

  test('depthIssue agrees with a recursive depth count (fast-check)', () => {
    const depthOf = (v: unknown): number =>
      typeof v !== 'object' || v === null ? 0 : 1 + Math.max(0, ...Object.values(v).map(depthOf));
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (v, max) => {
        assert.equal(depthIssue(v, 'r', 1, max) !== undefined, depthOf(v) > max);
      }),
      { numRuns: 500 },
    );
  });

  for (const depth of [5000, 10_000, 100_000])
    test(`textIssues, prototypeKeyIssues and validate on a value nested ${depth} deep: issues, no throw`, () => {
      const claim = { env: deepArray(depth) };
      assert.ok(textIssues(claim).length > 0);
      assert.ok(prototypeKeyIssues(claim, 'workflow').length > 0);
      const r = validate(claim);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, 'VALIDATE_SCHEMA');
    });
});
