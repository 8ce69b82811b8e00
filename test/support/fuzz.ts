import fc from 'fast-check';
import { ERROR_CODES } from '../../src/errors/codes.ts';
import { defaultPipelineConfig } from '../../src/app/runner.ts';
import { signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import type { PipelineDeps } from '../../src/pipeline.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { engineReturning, MemoryAudit, MemoryPods, MemoryRuns, MemoryTrustedKeys } from './memory.ts';
import { restrictedViolations } from './restricted-check.ts';
import { ISSUER, RUNNER } from './tokens.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Strings an attacker would try in names, paths and values. */
const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('../../etc/passwd', '/a/../../root', 'a=b,c=d', 'kubiya.ai/runner', 'x\u0000y', '\u202eevil', 'ＡＢＣ', 'a'.repeat(300), '', ' ', '-a-', 'A', '$(rm -rf /)', '{{.}}', '\n', 'workflow-x-step-y'),
);
const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, -0, 0.5, Number.MIN_VALUE);

/** Mostly the valid value, sometimes a hostile one: so that many specs get deep into the pipeline. */
const mostly = <T>(valid: T, bad: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: fc.constant(valid), weight: 5 }, { arbitrary: bad, weight: 1 });

/** Usually absent, sometimes present with hostile content. */
const rarely = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: arb, weight: 1 });

/** Workflow claims: mostly almost-valid, with hostile fields mixed in. */
export const workflowClaim = fc.record({
  id: mostly('wf-1', hostile),
  name: mostly('n', hostile),
  runId: mostly('run-1', fc.oneof(hostile, hugeNumber)),
  steps: fc.array(fc.record({
    name: mostly('step', hostile),
    image: mostly('python:3.11', hostile),
    command: rarely(fc.array(hostile, { maxLength: 3 })),
    env: rarely(fc.dictionary(hostile, fc.oneof(hostile, fc.record({ secretRef: fc.record({ secret: hostile, key: hostile }) })), { maxKeys: 3 })),
    timeout: rarely(fc.oneof(hostile, hugeNumber)),
    volumes: rarely(fc.array(fc.record({ name: hostile, mount: hostile, volume: hostile }), { maxLength: 2 })),
    resources: rarely(fc.record({ gpu: fc.oneof(hugeNumber, fc.integer()) })),
    extra: rarely(fc.anything()),
  }, { requiredKeys: ['name', 'image'] }), { minLength: 1, maxLength: 3 }),
}).map((w) => JSON.parse(JSON.stringify(w)) as { id: string } & Record<string, unknown>);

/** Token mutations of a valid token. */
export const tokenMutation = (valid: string) => fc.oneof(
  fc.nat({ max: valid.length * 8 - 1 }).map((bit) => {
    const b = Buffer.from(valid);
    b[bit >> 3] = (b[bit >> 3] as number) ^ (1 << (bit & 7));
    return b.toString('latin1');
  }),
  fc.nat({ max: valid.length }).map((n) => valid.slice(0, n)),
  fc.constant(valid.split('.').reverse().join('.')),
  fc.jsonValue().map((h) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${valid.split('.').slice(1).join('.')}`),
  fc.constantFrom({ alg: 'none' }, { alg: 'HS256', typ: 'kubiya-assignment+jwt' }, { alg: 'EdDSA', jku: 'https://evil' }, { alg: 'EdDSA', kid: '../../x' }, { alg: 'EdDSA', crit: ['b64'], b64: false })
    .map((h) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${valid.split('.').slice(1).join('.')}`),
  fc.string().map((s) => `${valid}${s}`),
  fc.string({ maxLength: 200 }),
);

export interface FuzzOutcome {
  readonly crashed: number;
  readonly internal: number;
  readonly podsFromRejections: number;
  readonly uncoded: number;
  readonly badPods: string[];
  readonly cases: number;
  /** Inputs that got through to at least one pod (the fuzz must reach that far, not only bounce). */
  readonly podsMade: number;
}

/**
 * Runs one input through the whole pipeline (in-memory pods, allow-all policy) and checks the
 * invariants: never a throw or INTERNAL, a rejection has a catalogue code and made no pod, and
 * every pod that was made is restricted with DNS-safe name and labels.
 */
export async function fuzzOne(body: string, keys: PipelineDeps['keys'], out: { -readonly [K in keyof FuzzOutcome]: FuzzOutcome[K] }): Promise<void> {
  out.cases++;
  const pods = new MemoryPods();
  const deps: PipelineDeps = {
    config: defaultPipelineConfig(RUNNER, ISSUER), keys, audit: new MemoryAudit(), pods, runs: new MemoryRuns(), trust: new MemoryTrustedKeys(),
    policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
    now: () => new Date(), newId: () => 'id',
  };
  let report;
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 1, resyncMs: 60_000 });
  reconciler.start();
  try {
    report = await runAssignment({ body, contentType: 'application/jwt' }, deps, reconciler, 5000);
  } catch {
    out.crashed++;
    return;
  } finally {
    await reconciler.stop();
  }
  if (report.code === 'INTERNAL') out.internal++;
  if (!report.accepted) {
    if (report.code === undefined || !(ERROR_CODES as string[]).includes(report.code)) out.uncoded++;
    if (pods.created.length > 0) out.podsFromRejections++;
  }
  if (pods.created.length > 0) out.podsMade++;
  for (const pod of pods.created) {
    const labels = Object.values(pod.metadata?.labels ?? {});
    if (!DNS_LABEL.test(pod.metadata?.name ?? '') || labels.some((l) => !DNS_LABEL.test(l)) || restrictedViolations(pod).length > 0) out.badPods.push(JSON.stringify(pod.metadata));
  }
}

export async function fuzz(runs: number, key: SigningKey, keys: PipelineDeps['keys'], seed?: number): Promise<FuzzOutcome> {
  const out = { crashed: 0, internal: 0, podsFromRejections: 0, uncoded: 0, badPods: [] as string[], cases: 0, podsMade: 0 };
  const valid = await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: { id: 'wf-1', name: 'n', runId: 'r', steps: [{ name: 's', image: 'python:3.11' }] } });
  await fc.assert(fc.asyncProperty(tokenMutation(valid), async (body) => fuzzOne(body, keys, out)), { numRuns: runs, ...(seed !== undefined ? { seed } : {}) });
  await fc.assert(fc.asyncProperty(workflowClaim, async (workflow) => {
    await fuzzOne(await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow }), keys, out);
  }), { numRuns: runs, ...(seed !== undefined ? { seed } : {}) });
  return out;
}
