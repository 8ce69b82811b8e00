/**
 * Key rotation, JWKS outages and admitted runs (issue 13 §2, DESIGN §2b), over in-memory ports.
 *
 * The class: anything that changes the control plane's keys *after* a run was admitted — the JWKS
 * URL failing, a routine rotation that drops the signing kid, a rotation that reuses the kid for
 * a new key, the runner's clock passing the token's `exp` — must not touch the run. And the
 * converse: a WorkflowRun the runner did not admit (hand-made, or carrying a token signed by a
 * key never trusted, or trusted only at another time) gets nowhere. Whatever stops a run, each
 * unfinished step's pod is deleted, each gets a `finish` record with a code, and every record of
 * the run names it.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import { admit } from '../../src/admission/admit.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { publicJwk, thumbprintOf, TRUST_RESOLUTION_SECONDS } from '../../src/verify/trusted-keys.ts';
import { Clock, endedStatus } from '../support/memory.ts';
import { podName, runName } from '../../src/pod/names.ts';
import { memoryRunner, type MemoryDeps } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, workflow } from '../support/tokens.ts';
import { waitFor } from '../support/wait.ts';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

/** The JWKS as the runner sees it now; tests swap it (rotation) or break it (outage). */
class Jwks {
  current: JWTVerifyGetKey;
  constructor(keys: readonly SigningKey[]) {
    this.current = createLocalJWKSet(jwks(keys));
  }
  serve(keys: readonly SigningKey[]): void {
    this.current = createLocalJWKSet(jwks(keys));
  }
  /** What RemoteJwks answers once the URL has failed past the stale-if-error bound. */
  fail(): void {
    this.current = () =>
      Promise.reject(
        new errors.JWKSNoMatchingKey(
          'no usable keys: the JWKS URL has failed for longer than the stale-if-error bound',
        ),
      );
  }
  readonly keys: JWTVerifyGetKey = (h, t) => this.current(h, t);
}

const twoSteps = workflow([
  { name: 'a', image: 'x:1' },
  { name: 'b', image: 'x:1' },
]);
let jti = 0;
const signWith = (key: SigningKey, at: Date, ttlSeconds = 300, wf = twoSteps) =>
  signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: wf, now: at, jti: `rot-${++jti}`, ttlSeconds });

async function runner(clock: Clock, source: Jwks, over: Partial<PipelineDeps> = {}) {
  const r = await memoryRunner({ keys: source.keys, now: clock.now, ...over });
  closers.push(r.close);
  r.deps.pods.outcomeFor = () => undefined; // pods run until the test ends them
  return r;
}

function succeed(d: MemoryDeps, pod: string): void {
  const p = d.pods.pods.get(pod) ?? assert.fail(`no pod ${pod}`);
  p.status = endedStatus({ phase: 'Succeeded', exitCode: 0, reason: 'Completed' });
  for (const r of d.runs.list()) d.runs.put(r);
}

const podOf = (step: string) => podName('run-1', step);

describe('admitted runs survive key changes (the JWKS is not consulted again)', () => {
  const changes: [string, (source: Jwks, next: SigningKey) => void][] = [
    ['the JWKS URL fails (past stale-if-error: no keys at all)', (source) => source.fail()],
    ['a routine rotation drops the signing kid', (source, next) => source.serve([next])],
    ['a rotation reuses the kid for a new key', (source) => source.serve([reused])],
    ['the JWKS is empty', (source) => source.serve([])],
  ];
  let reused: SigningKey;
  for (const [name, change] of changes) {
    test(`${name}: the run continues and its next step starts`, async () => {
      const [k1, k2] = [await newSigningKey('EdDSA', 'k1'), await newSigningKey('ES256', 'k2')];
      reused = await newSigningKey('EdDSA', 'k1');
      const clock = new Clock(NOW);
      const source = new Jwks([k1]);
      const { deps: d, reconciler } = await runner(clock, source);
      const admitted = await admit({ body: await signWith(k1, clock.at) }, d);
      assert.ok(admitted.ok);
      reconciler.enqueue(admitted.value.name);
      await waitFor('step a running', () => d.pods.pods.get(podOf('a'))?.status?.phase === 'Running');

      change(source, k2);
      clock.advance(120);
      succeed(d, podOf('a'));
      await waitFor('step b started', () => d.pods.pods.has(podOf('b')));
      clock.advance(120);
      succeed(d, podOf('b'));
      const done = await reconciler.whenDone(admitted.value.name, 5000);
      assert.equal(done?.status?.phase, 'Succeeded', JSON.stringify(done?.status));
      assert.ok(!d.audit.records.some((r) => r.outcome === 'deny'), 'nothing denied');
    });
  }

  test('the trusted-key store being unreachable makes the run wait, never fail; it goes on when the store is back', async () => {
    const k1 = await newSigningKey('EdDSA', 'k1');
    const clock = new Clock(NOW);
    const { deps: d, reconciler } = await runner(clock, new Jwks([k1]));
    const admitted = await admit({ body: await signWith(k1, clock.at) }, d);
    assert.ok(admitted.ok);
    await waitFor('step a running', () => d.pods.pods.get(podOf('a'))?.status?.phase === 'Running');
    // Settle first: a pass already past its re-verification would otherwise start b (a test race, not a fault).
    await waitFor(
      'the run settled',
      () =>
        reconciler.idle() &&
        d.runs.get(admitted.value.name)?.status?.steps.find((s) => s.name === 'a')?.phase === 'Running',
    );
    d.trust.failing = true;
    succeed(d, podOf('a'));
    await sleep(50);
    assert.equal(d.runs.get(admitted.value.name)?.status?.phase, 'Running');
    assert.ok(!d.pods.pods.has(podOf('b')), 'nothing starts while the run cannot be re-verified');
    d.trust.failing = false;
    reconciler.enqueue(admitted.value.name);
    await waitFor('step b started', () => d.pods.pods.has(podOf('b')));
  });

  test("the clock passes the token's exp between admission and the next pass: still judged at the run's creation", async () => {
    // Must fail if re-verification judged the time claims at the current time.
    const k1 = await newSigningKey('EdDSA', 'k1');
    const clock = new Clock(NOW);
    const { deps: d, reconciler } = await runner(clock, new Jwks([k1]));
    const admitted = await admit({ body: await signWith(k1, clock.at, 60) }, d);
    assert.ok(admitted.ok);
    await waitFor('step a running', () => d.pods.pods.get(podOf('a'))?.status?.phase === 'Running');
    clock.advance(60 + d.config.verify.clockToleranceSeconds + 3600); // past exp, tolerance and maxTokenAge
    succeed(d, podOf('a'));
    await waitFor('step b started', () => d.pods.pods.has(podOf('b')));
    succeed(d, podOf('b'));
    assert.equal((await reconciler.whenDone(admitted.value.name, 5000))?.status?.phase, 'Succeeded');
  });

  test('admission records the verifying key as trusted before the run exists; a busy runner does not write on every admission', async () => {
    const k1 = await newSigningKey('EdDSA', 'k1');
    const clock = new Clock(NOW);
    const { deps: d } = await runner(clock, new Jwks([k1]));
    const create = d.runs.create.bind(d.runs);
    const trustedAtClaim: number[] = [];
    d.runs.create = (run, token) => {
      trustedAtClaim.push(d.trust.keys.length);
      return create(run, token);
    };
    assert.ok((await admit({ body: await signWith(k1, clock.at, 300, { ...twoSteps, runId: 'busy-1' }) }, d)).ok);
    assert.deepEqual(trustedAtClaim, [1]);
    assert.equal(d.trust.keys[0]?.thumbprint, await thumbprintOf(publicJwk(k1.publicJwk)));
    assert.equal(d.trust.keys[0]?.jwk.kid, 'k1');
    assert.ok(
      d.audit.records.some((r) => r.stage === 'verify' && r.message.includes(d.trust.keys[0]?.thumbprint ?? '?')),
      'the verify record names the key',
    );
    clock.advance(TRUST_RESOLUTION_SECONDS - 1);
    assert.ok((await admit({ body: await signWith(k1, clock.at, 300, { ...twoSteps, runId: 'busy-2' }) }, d)).ok);
    assert.equal(d.trust.writes, 1, 'within the resolution: no write');
    clock.advance(1);
    assert.ok((await admit({ body: await signWith(k1, clock.at, 300, { ...twoSteps, runId: 'busy-3' }) }, d)).ok);
    assert.equal(d.trust.writes, 2);
    assert.equal(d.trust.keys[0]?.lastSeen, clock.at.toISOString());
  });

  test('no durable trust, no run: the store failing at admission is TRUSTED_KEYS_UNAVAILABLE, audited, nothing created', async () => {
    const k1 = await newSigningKey('EdDSA', 'k1');
    const clock = new Clock(NOW);
    const { deps: d } = await runner(clock, new Jwks([k1]));
    d.trust.failing = true;
    const r = await admit({ body: await signWith(k1, clock.at) }, d);
    assert.equal(r.ok ? 'ok' : r.error.code, 'TRUSTED_KEYS_UNAVAILABLE');
    assert.equal(d.runs.list().length, 0);
    assert.equal(d.audit.records.at(-1)?.code, 'TRUSTED_KEYS_UNAVAILABLE');
    assert.equal(d.audit.records.at(-1)?.workflow?.runId, 'run-1');
  });
});

describe('runs the runner did not admit get nowhere', () => {
  test('a hand-made run whose token is signed by a key never trusted (even one in the JWKS now): VERIFY_KEY_NOT_TRUSTED', async () => {
    const k1 = await newSigningKey('EdDSA', 'k1');
    const clock = new Clock(NOW);
    const { deps: d, reconciler } = await runner(clock, new Jwks([k1]));
    d.runs.put({
      name: runName('rot-hand'),
      uid: 'u-hand',
      createdAt: clock.at,
      workflowId: 'wf-1',
      runId: 'run-1',
      token: await signAssignment(k1, {
        issuer: ISSUER,
        audience: RUNNER,
        workflow: twoSteps,
        now: clock.at,
        jti: 'rot-hand',
      }),
      cancelRequested: false,
    });
    const done = await reconciler.whenDone(runName('rot-hand'), 5000);
    assert.equal(done?.status?.code, 'VERIFY_KEY_NOT_TRUSTED');
    assert.equal(done?.status?.phase, 'Failed');
    assert.equal(d.pods.created.length, 0);
  });

  for (const [name, firstSeen, lastSeen] of [
    ['retired before the run was made', -7200, -3600],
    ['trusted only after the run was made', 3600, 7200],
  ] as const) {
    test(`a key trusted, but ${name}: VERIFY_KEY_NOT_TRUSTED`, async () => {
      const old = await newSigningKey('EdDSA', 'k-old');
      const clock = new Clock(NOW);
      const { deps: d, reconciler } = await runner(clock, new Jwks([]));
      const at = (s: number) => new Date(NOW.getTime() + s * 1000).toISOString();
      const jwk = publicJwk(old.publicJwk);
      d.trust.keys = [{ thumbprint: await thumbprintOf(jwk), jwk, firstSeen: at(firstSeen), lastSeen: at(lastSeen) }];
      d.runs.put({
        name: runName('rot-late'),
        uid: 'u-late',
        createdAt: clock.at,
        workflowId: 'wf-1',
        runId: 'run-1',
        token: await signAssignment(old, {
          issuer: ISSUER,
          audience: RUNNER,
          workflow: twoSteps,
          now: clock.at,
          jti: 'rot-late',
        }),
        cancelRequested: false,
      });
      const done = await reconciler.whenDone(runName('rot-late'), 5000);
      assert.equal(done?.status?.code, 'VERIFY_KEY_NOT_TRUSTED');
      assert.equal(d.pods.created.length, 0);
    });
  }
});

describe('a stopped run ends cleanly: pods deleted, a finish record with a code per unfinished step, every record names the run', () => {
  const stops: [string, (d: MemoryDeps, name: string) => Promise<void>, string, string][] = [
    [
      'its token no longer verifies (the stored token was replaced by a copy whose key was never trusted)',
      async (d, name) => {
        const stranger = await newSigningKey('EdDSA', 'k1');
        const run = d.runs.get(name) ?? assert.fail();
        d.runs.put({
          ...run,
          token: await signAssignment(stranger, {
            issuer: ISSUER,
            audience: RUNNER,
            workflow: {
              ...twoSteps,
              steps: [
                { name: 'a', image: 'evil:1' },
                { name: 'b', image: 'x:1' },
              ],
            },
            now: run.createdAt,
            jti: 'x',
          }),
        });
      },
      'Failed',
      'VERIFY_SIGNATURE_INVALID',
    ],
    [
      'the control plane cancels it',
      async (d, name) => {
        assert.ok((await d.runs.requestCancel(name)).ok);
      },
      'Cancelled',
      'STEP_CANCELLED',
    ],
  ];
  for (const [name, stopIt, phase, code] of stops) {
    test(name, async () => {
      const k1 = await newSigningKey('EdDSA', 'k1');
      const clock = new Clock(NOW);
      const { deps: d, reconciler } = await runner(clock, new Jwks([k1]));
      const parallel = workflow([
        { name: 'a', image: 'x:1' },
        { name: 'c', image: 'x:1', dependsOn: [] },
        { name: 'b', image: 'x:1', dependsOn: ['a'] },
      ]);
      const admitted = await admit({ body: await signWith(k1, clock.at, 300, parallel) }, d);
      assert.ok(admitted.ok);
      await waitFor(
        'a and c running',
        () =>
          d.pods.pods.get(podOf('a'))?.status?.phase === 'Running' &&
          d.pods.pods.get(podOf('c'))?.status?.phase === 'Running',
      );
      // A pod created by a pass that crashed before writing status (b still Pending there).
      const stray = structuredClone(d.pods.pods.get(podOf('a')) ?? assert.fail());
      stray.metadata = {
        ...stray.metadata,
        name: podOf('b'),
        labels: { ...stray.metadata?.labels, 'kubiya.ai/step': 'b' },
      };
      await d.pods.create(stray);
      await stopIt(d, admitted.value.name);
      const done = await reconciler.whenDone(admitted.value.name, 5000);
      assert.equal(done?.status?.phase, phase);
      assert.equal(done?.status?.code, code);
      assert.deepEqual(
        done?.status?.steps.map((s) => [s.name, s.phase, s.code]),
        [
          ['a', 'Cancelled', code],
          ['c', 'Cancelled', code],
          ['b', 'Cancelled', code],
        ],
      );
      assert.ok(
        done?.status?.steps.every((s) => s.finishedAt !== undefined),
        'each step shows its end',
      );
      assert.deepEqual([...d.pods.pods.keys()], [], 'every pod of the run is gone');
      const finishes = d.audit.records.filter((r) => r.stage === 'finish');
      assert.deepEqual(finishes.map((r) => [r.step, r.code]).sort(), [
        ['a', code],
        ['b', code],
        ['c', code],
      ]);
      assert.ok(
        d.audit.records.every((r) => r.workflow?.id === 'wf-1' && r.workflow.runId === 'run-1'),
        `every record names the run: ${JSON.stringify(d.audit.records.filter((r) => r.workflow?.runId !== 'run-1').map((r) => [r.stage, r.workflow]))}`,
      );
      await sleep(50);
      assert.equal(d.pods.created.length, 3, 'nothing starts after the stop');
    });
  }
});
