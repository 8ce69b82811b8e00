/**
 * One signature verification per admission (issue #20, src/pipeline/verified-cache.ts): the
 * reconcile pass reuses intake's verification of a run's token only when the full
 * re-verification would accept it too.
 *
 * The class: a reused verification that the full path would not give. Variants (what an attacker
 * or a clumsy operator changes between intake and the pass): the run (same token, another UID:
 * a hand-made WorkflowRun holding a copied token), the token (same UID, other bytes), the time
 * (the token expires, the entry outlives its TTL, the run's creation is outside the token's
 * validity), the keys (removed from the trusted-key store, dropped from the JWKS or the JWKS
 * refreshed, the store unreachable), the verify options; and the cache itself (its size bound, a
 * restarted process with no cache). Each is a miss, and the full path then decides as before.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { admit } from '../../src/admission/admit.ts';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { auditor } from '../../src/pipeline/auditor.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import {
  MAX_ENTRIES,
  MAX_PENDING,
  TTL_MS,
  timesHold,
  verifiedRuns,
  VerifiedRuns,
} from '../../src/pipeline/verified-cache.ts';
import { reverified } from '../../src/pipeline/verified.ts';
import type { RunObject } from '../../src/ports/runs.ts';
import { verifyAssignment, type AssignmentClaims } from '../../src/verify/verify.ts';
import { memoryAdmissionDeps } from '../support/admission-deps.ts';
import { MemoryAudit, MemoryTrustedKeys } from '../support/memory.ts';
import { claimsAt, ISSUER, NOW, RUNNER, signBytes, verifyOptions, workflow } from '../support/tokens.ts';

let jti = 0;
const signWith = (key: SigningKey, at: Date, ttlSeconds = 300, wf = workflow()) =>
  signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: wf,
    now: at,
    jti: `vc-${++jti}`,
    ttlSeconds,
  });

async function setup() {
  const { key, clock, runs, deps } = await memoryAdmissionDeps();
  /** Admits a token (intake: verify, validate, trust, create the run) and returns its WorkflowRun. */
  const admitted = async (token: string): Promise<RunObject> => {
    const r = await admit({ body: token }, deps);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    return runs.get(r.value.name) ?? assert.fail('no run');
  };
  const recall = (obj: RunObject, over: Partial<PipelineDeps> = {}) =>
    verifiedRuns(deps.trust).recall(obj, { ...deps, ...over }, deps.config.verify);
  return { key, clock, deps, runs, admitted, recall, cache: verifiedRuns(deps.trust) };
}

describe('a reused verification is exactly one the full re-verification would give', () => {
  test('the run intake admitted in this process: a hit, and reverified decides as with a full verification', async () => {
    const s = await setup();
    const obj = await s.admitted(await signWith(s.key, s.clock.at));
    const hit = await s.recall(obj);
    assert.ok(hit, 'a hit');
    assert.equal(hit.claims.jti, `vc-${jti}`);
    const viaCache = await reverified(obj, s.deps, auditor(s.deps));
    // A process restart: a new store object has no cache, so the full verification runs.
    const restarted = { ...s.deps, trust: Object.assign(new MemoryTrustedKeys(), { keys: s.deps.trust.keys }) };
    assert.equal(await verifiedRuns(restarted.trust).recall(obj, restarted, s.deps.config.verify), undefined);
    const full = await reverified(obj, restarted, auditor(restarted));
    assert.deepEqual(viaCache, full);
  });

  test('the cached claims cannot be changed by whoever reads them', async () => {
    const s = await setup();
    const obj = await s.admitted(await signWith(s.key, s.clock.at));
    const hit = (await s.recall(obj)) ?? assert.fail('a hit');
    assert.throws(() => ((hit.claims as { jti: string }).jti = 'other'));
    assert.throws(() => ((hit.claims.workflow as { id: string }).id = 'other'));
  });

  /*
   * Intake's validation is reused too (validate is a pure function of the frozen claims). The class:
   * a reused workflow that differs from what validate() would return now. Variants: a pass that
   * changed the copy it was given (the next pass must not see it), two runs (each its own
   * workflow), an entry stored without a workflow (validated again), a miss (the full path).
   */
  test("the pass reuses intake's validation as a fresh copy each time: equal to a full re-verification's", async () => {
    const s = await setup();
    const obj = await s.admitted(await signWith(s.key, s.clock.at));
    const otherWorkflow = { ...workflow([{ name: 'other', image: 'ghcr.io/acme/tool:1.2' }]), runId: 'run-2' };
    const other = await s.admitted(await signWith(s.key, s.clock.at, 300, otherWorkflow));
    const hit = (await s.recall(obj)) ?? assert.fail('a hit');
    assert.ok(s.cache.workflowOf(hit), "intake's validation is kept with the verification");
    const restarted = { ...s.deps, trust: Object.assign(new MemoryTrustedKeys(), { keys: s.deps.trust.keys }) };
    const full = await reverified(obj, restarted, auditor(restarted));
    const first = await reverified(obj, s.deps, auditor(s.deps));
    assert.deepEqual(first, full);
    assert.ok(first.ok && full.ok);
    const step = first.value.workflow.steps[0] ?? assert.fail('a step');
    (step as { name: string }).name = 'changed-by-a-pass';
    (first.value.workflow.steps as unknown[]).push({});
    const second = await reverified(obj, s.deps, auditor(s.deps));
    assert.deepEqual(second, full, "a change to one pass's copy is not seen by the next");
    assert.notEqual(second.ok && second.value.workflow, first.value.workflow);
    const otherFull = await reverified(other, restarted, auditor(restarted));
    assert.deepEqual(await reverified(other, s.deps, auditor(s.deps)), otherFull);
    assert.notDeepEqual(otherFull, full);
  });

  test('an entry kept without a workflow: the pass validates again and decides as the full path', async () => {
    const s = await setup();
    const token = await signWith(s.key, s.clock.at);
    const obj = await s.admitted(token);
    const v = (await s.recall(obj)) ?? assert.fail('a hit');
    const bare = { ...v, claims: structuredClone(v.claims) };
    const [protectedHeader = '', payload = '', signature = ''] = token.split('.');
    const resolved = await s.deps.keys(decodeProtectedHeader(token), {
      protected: protectedHeader,
      payload,
      signature,
    });
    const thumbprint = s.deps.trust.keys[0]?.thumbprint ?? assert.fail('a trusted key');
    s.cache.admitted(token, { verification: bare, thumbprint, resolved, options: s.deps.config.verify }, s.clock.at);
    s.cache.bind(token, obj.uid);
    assert.equal(await s.recall(obj), bare, 'the new entry is the one recalled');
    assert.equal(s.cache.workflowOf(bare), undefined);
    const restarted = { ...s.deps, trust: Object.assign(new MemoryTrustedKeys(), { keys: s.deps.trust.keys }) };
    assert.deepEqual(
      await reverified(obj, s.deps, auditor(s.deps)),
      await reverified(obj, restarted, auditor(restarted)),
    );
  });

  const misses: [
    string,
    (s: Awaited<ReturnType<typeof setup>>, obj: RunObject) => RunObject | Promise<RunObject>,
    number?,
  ][] = [
    ['the same token in another run (another UID: a hand-made copy)', (_s, obj) => ({ ...obj, uid: 'other-uid' })],
    [
      'another token in the same run (same UID, other bytes: re-signed)',
      async (s, obj) => ({ ...obj, token: await signWith(s.key, s.clock.at) }),
    ],
    [
      'the token expired between intake and the pass',
      (s, obj) => {
        s.clock.advance(301);
        return obj;
      },
    ],
    [
      'the run was created after the token expired (time claims judged at creation; the key was trusted then)',
      (_s, obj) => ({ ...obj, createdAt: new Date(NOW.getTime() + 50_000) }),
      10,
    ],
    [
      'the key was removed from the trusted-key store (revoked by the operator)',
      (s, obj) => {
        s.deps.trust.keys = [];
        return obj;
      },
    ],
    [
      'the trusted-key store cannot be read',
      (s, obj) => {
        s.deps.trust.failing = true;
        return obj;
      },
    ],
    [
      'the key was dropped from the JWKS',
      async (s, obj) => {
        Object.assign(s.deps, { keys: createLocalJWKSet(jwks([await newSigningKey('EdDSA', 'k2')])) });
        return obj;
      },
    ],
    [
      'the JWKS was refreshed (the same key, another object: re-checked once)',
      (s, obj) => {
        Object.assign(s.deps, { keys: createLocalJWKSet(jwks([s.key])) });
        return obj;
      },
    ],
  ];
  for (const [name, change, ttlSeconds] of misses)
    test(`a miss: ${name}; reverified decides as a fresh process would`, async () => {
      const s = await setup();
      const obj = await s.admitted(await signWith(s.key, s.clock.at, ttlSeconds));
      const changed = await change(s, obj);
      assert.equal(await s.recall(changed), undefined);
      const fresh = { ...s.deps, trust: Object.assign(new MemoryTrustedKeys(), s.deps.trust) };
      const audits = [new MemoryAudit(), new MemoryAudit()];
      const viaCache = await reverified(
        changed,
        { ...s.deps, audit: audits[0]! },
        auditor({ ...s.deps, audit: audits[0]! }),
      );
      const full = await reverified(changed, { ...fresh, audit: audits[1]! }, auditor({ ...fresh, audit: audits[1]! }));
      assert.deepEqual(viaCache, full);
      assert.deepEqual(
        audits[0]!.records.map((r) => [r.stage, r.outcome, r.code]),
        audits[1]!.records.map((r) => [r.stage, r.outcome, r.code]),
      );
    });

  test('a miss: other verify options than the token was verified with', async () => {
    const s = await setup();
    const obj = await s.admitted(await signWith(s.key, s.clock.at));
    assert.equal(await s.cache.recall(obj, s.deps, { ...s.deps.config.verify }), undefined);
  });

  test('entries live at most TTL_MS, whatever the token’s exp', async () => {
    const s = await setup();
    const obj = await s.admitted(await signWith(s.key, s.clock.at, 3600));
    s.clock.advance(TTL_MS / 1000 - 1);
    assert.ok(await s.recall(obj), 'within the TTL');
    s.clock.advance(2);
    assert.equal(await s.recall(obj), undefined);
  });

  test(`the cache keeps at most ${MAX_ENTRIES} runs and ${MAX_PENDING} verifications awaiting their run, oldest out`, async () => {
    const s = await setup();
    const first = await s.admitted(await signWith(s.key, s.clock.at));
    const cache = s.cache;
    const v = (await s.recall(first)) ?? assert.fail('a hit');
    const entry = { verification: v, thumbprint: 'x', resolved: undefined, options: s.deps.config.verify };
    for (let i = 0; i < MAX_ENTRIES + 10; i++) {
      cache.admitted(`token-${i}`, entry, s.clock.at);
      cache.bind(`token-${i}`, `uid-${i}`);
    }
    for (let i = 0; i < MAX_PENDING + 10; i++) cache.admitted(`unbound-${i}`, entry, s.clock.at);
    assert.deepEqual(cache.sizes, { pending: MAX_PENDING, bound: MAX_ENTRIES });
    assert.equal(await s.recall(first), undefined, 'the oldest entry was evicted');
  });

  test('bind without an intake verification in this process binds nothing', () => {
    const cache = new VerifiedRuns();
    cache.bind('never-verified', 'uid-1');
    assert.deepEqual(cache.sizes, { pending: 0, bound: 0 });
  });
});

test('property: timesHold(claims, at) accepts exactly what jose accepts at `at` (nbf, exp, iat, maximum age, tolerance)', async () => {
  const key = await newSigningKey('EdDSA', 'k1');
  const keys = createLocalJWKSet(jwks([key]));
  const header = JSON.stringify({ alg: 'EdDSA', kid: 'k1', typ: 'kubiya-assignment+jwt' });
  const options = verifyOptions();
  const base = Math.floor(NOW.getTime() / 1000);
  // Offsets around every boundary: tolerance 30 s, maximum age 600 s.
  const offset = fc.constantFrom(
    -631,
    -630,
    -629,
    -601,
    -600,
    -599,
    -31,
    -30,
    -29,
    -1,
    0,
    1,
    29,
    30,
    31,
    300,
    599,
    600,
    601,
  );
  const samples = fc.sample(
    fc.record({ iat: offset, nbf: fc.option(offset), exp: offset, at: offset, ms: fc.constantFrom(0, 999) }),
    {
      numRuns: 150,
      seed: 20,
    },
  );
  let accepted = 0;
  for (const c of samples) {
    const claims = claimsAt({ iat: base + c.iat, exp: base + c.exp, nbf: c.nbf === null ? undefined : base + c.nbf });
    const token = await signBytes(key, header, JSON.stringify(claims));
    const at = new Date((base + c.at) * 1000 + c.ms);
    const jose = await verifyAssignment(token, options, { keys, now: () => at });
    const ours = timesHold(claims as AssignmentClaims, at, options);
    assert.equal(ours, jose.ok, `${JSON.stringify(c)}: jose ${jose.ok ? 'ok' : jose.error.code}`);
    if (ours) accepted++;
  }
  assert.ok(accepted > 10 && accepted < samples.length - 10, `${accepted} of ${samples.length} accepted`);
});
