/**
 * Text that reaches a pod through an output reference gets the checks literal text gets
 * (red-team round 4, finding 3).
 *
 * The class of fault: a value reaches a step's env or args by a second path (substitution of
 * `${steps.<step>.outputs.<key>}`, after validate()), and skips the text rule its field has, so
 * the policy input, the decision's audit record and the pod spec read differently from what runs.
 * Variants, each × site (argument, env value) × where the value comes from (the producing pod's
 * termination message, or the run's status, which anyone allowed to patch it can edit):
 * - bidirectional overrides and embeddings (U+202A–U+202E), isolates (U+2066–U+2069), marks
 *   (U+200E, U+200F, U+061C);
 * - zero-width and other format characters (U+200B–U+200D, U+2060, U+FEFF, U+00AD, tags U+E00xx);
 * - C0 controls (NUL, ESC, CR, LF, …, but the tab), DEL, C1 controls (U+0080–U+009F, NEL, CSI);
 * - line and paragraph separators (U+2028, U+2029), Hangul fillers, lone surrogates;
 * - a value over 1024 characters put into the status.
 * The control: ordinary text (tab, accents, CJK, emoji, shell metacharacters) passes unchanged.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { auditor } from '../../src/pipeline/auditor.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { startOrSkip } from '../../src/reconcile/condition.ts';
import { resolveOutputs } from '../../src/reconcile/outputs.ts';
import type { AdmittedRun } from '../../src/run/admitted.ts';
import { literalForKubelet, readOutputs } from '../../src/run/outputs.ts';
import type { StepState } from '../../src/run/status.ts';
import type { Step } from '../../src/validate/schema.ts';
import { validate } from '../../src/validate/validate.ts';
import { testPipelineConfig } from '../support/config.ts';
import { engineReturning, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { NOW, testKeys } from '../support/tokens.ts';

const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

/** Every class of hidden or control character, with representatives at each end of each range. */
export const HIDDEN_CLASSES: Readonly<Record<string, readonly string[]>> = {
  'bidi embedding/override': ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e'],
  'bidi isolate': ['\u2066', '\u2067', '\u2068', '\u2069'],
  'bidi mark': ['\u200e', '\u200f', '\u061c'],
  'zero-width': ['\u200b', '\u200c', '\u200d', '\u2060', '\u2064', '\ufeff'],
  'other format': ['\u00ad', '\u180e', '\ufff9', '\u{e0001}', '\u{e0041}', '\u{e007f}'],
  C0: ['\u0000', '\u0001', '\u0007', '\u0008', '\u000a', '\u000b', '\u000c', '\u000d', '\u001b', '\u001f'],
  DEL: ['\u007f'],
  C1: ['\u0080', '\u0085', '\u008d', '\u009b', '\u009d', '\u009f'],
  'line/paragraph separator': ['\u2028', '\u2029'],
  'Hangul filler': ['\u115f', '\u1160', '\u3164', '\uffa0'],
  'lone surrogate': ['\ud800', '\udbff', '\udc00', '\udfff'],
};
const ALL_HIDDEN = Object.values(HIDDEN_CLASSES).flat();
const hex = (ch: string): string => `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/** A producer `a` with a public output `tag`, and `b` using it in `site`. */
function workflowUsing(site: 'arg' | 'env'): { run: AdmittedRun; consumer: Step } {
  const consumer =
    site === 'arg'
      ? {
          name: 'b',
          image: 'alpine:3.19.1',
          resources: R,
          dependsOn: ['a'],
          command: ['sh', '-c', 'deploy "$0"'],
          args: ['${steps.a.outputs.tag}'],
        }
      : { name: 'b', image: 'alpine:3.19.1', resources: R, dependsOn: ['a'], env: { TAG: 'v=${steps.a.outputs.tag}' } };
  const wf = validate({
    id: 'w',
    name: 'w',
    runId: 'r1',
    steps: [{ name: 'a', image: 'alpine:3.19.1', resources: R, outputs: [{ name: 'tag' }] }, consumer],
  });
  assert.ok(wf.ok, JSON.stringify(wf));
  const run = { name: 'wr', uid: 'u', ref: { id: 'w', runId: 'r1' }, workflow: wf.value } as unknown as AdmittedRun;
  const step = wf.value.steps[1];
  assert.ok(step !== undefined);
  return { run, consumer: step };
}

/** The consumer resolved against a producer whose status (as stored) holds `value`. */
async function resolveWith(site: 'arg' | 'env', value: string) {
  const { run, consumer } = workflowUsing(site);
  const states: StepState[] = [{ name: 'a', phase: 'Succeeded', pod: 'p', outputs: { tag: value } }];
  return resolveOutputs(run, consumer, states, {} as PipelineDeps);
}

/** A pod whose step container wrote `message` to its termination log. */
const podWith = (message: string) =>
  ({ status: { containerStatuses: [{ name: 'step', state: { terminated: { exitCode: 0, message } } }] } }) as never;

describe('outputs text: the reviewer’s example', () => {
  test('a public output holding U+202E is refused before the policy, naming the character, not the value', async () => {
    // /tmp/rt4/resolve.ts printed `ACCEPTED: args=["prod‮; rm -rf / #"]` on the old code.
    const r = await resolveWith('arg', 'prod\u202e; rm -rf / #');
    assert.equal(r.ok, false, r.ok ? `ACCEPTED: args=${JSON.stringify(r.value.args)}` : '');
    if (r.ok) return;
    assert.equal(r.error.code, 'STEP_OUTPUT_UNSAFE_TEXT');
    assert.match(r.error.message, /output tag of step a holds U\+202E/);
    assert.doesNotMatch(r.error.message, /rm -rf|\u202e/);
  });
  test('the producing pod writing it is refused at the reader (STEP_OUTPUT_INVALID)', () => {
    const r = readOutputs(podWith('tag=prod\u202e; rm -rf / #\n'), {
      name: 'a',
      image: 'x:1',
      outputs: [{ name: 'tag' }],
    });
    assert.equal(r.ok ? 'accepted' : r.error.code, 'STEP_OUTPUT_INVALID');
  });
});

describe('outputs text: every hidden or control character class × site × source', () => {
  for (const [cls, chars] of Object.entries(HIDDEN_CLASSES))
    for (const ch of chars)
      for (const site of ['arg', 'env'] as const)
        test(`${cls} ${hex(ch)} in an ${site} via the run's status: STEP_OUTPUT_UNSAFE_TEXT`, async () => {
          const r = await resolveWith(site, `v1${ch}2`);
          assert.equal(r.ok ? 'accepted' : r.error.code, 'STEP_OUTPUT_UNSAFE_TEXT');
          if (!r.ok) {
            assert.ok(r.error.message.includes(hex(ch)), r.error.message);
            assert.ok(r.error.message.isWellFormed() && !r.error.message.includes(ch), 'the value is never repeated');
          }
        });
  for (const [cls, chars] of Object.entries(HIDDEN_CLASSES))
    for (const ch of chars.filter((c) => c !== '\n'))
      // a LF ends the `name=value` line
      test(`${cls} ${hex(ch)} written by the producing pod: STEP_OUTPUT_INVALID`, () => {
        const r = readOutputs(podWith(`tag=v1${ch}2\n`), { name: 'a', image: 'x:1', outputs: [{ name: 'tag' }] });
        assert.equal(r.ok ? 'accepted' : r.error.code, 'STEP_OUTPUT_INVALID');
        if (!r.ok) assert.ok(r.error.message.includes(hex(ch)), r.error.message);
      });
  test('a value over 1024 characters put into the status: STEP_OUTPUT_UNSAFE_TEXT', async () => {
    const r = await resolveWith('env', 'x'.repeat(1025));
    assert.equal(r.ok ? 'accepted' : r.error.code, 'STEP_OUTPUT_UNSAFE_TEXT');
  });
});

describe('outputs text: the control (ordinary text passes unchanged)', () => {
  // As written for the process: each `$` doubled, the kubelet's escape (literalForKubelet).
  for (const value of ['v1.2.3', 'a\tb', 'é日本🚀', '$(id); `x` | & > <', ' spaced ', ''])
    test(`${JSON.stringify(value)} reaches the step as written`, async () => {
      const arg = await resolveWith('arg', value);
      assert.deepEqual(arg.ok ? arg.value.args : arg.error, [literalForKubelet(value)]);
      const env = await resolveWith('env', value);
      assert.deepEqual(env.ok ? env.value.env : env.error, { TAG: `v=${literalForKubelet(value)}` });
      const read = readOutputs(podWith(`tag=${value}\n`), { name: 'a', image: 'x:1', outputs: [{ name: 'tag' }] });
      assert.deepEqual(read.ok ? read.value : read.error, { tag: value });
    });
});

describe('outputs text: property', () => {
  const printable = fc
    .string({ unit: 'grapheme', maxLength: 40 })
    .filter((s) => !/[\p{C}\p{Zl}\p{Zp}\u115f\u1160\u3164\uffa0]/u.test(s));
  test('any value with one hidden character anywhere is refused in args and env, and read from no pod', async () => {
    await fc.assert(
      fc.asyncProperty(
        printable,
        fc.constantFrom(...ALL_HIDDEN),
        printable,
        fc.constantFrom('arg', 'env'),
        async (pre, ch, post, site) => {
          const value = `${pre}${ch}${post}`;
          const r = await resolveWith(site, value);
          assert.equal(r.ok ? 'accepted' : r.error.code, 'STEP_OUTPUT_UNSAFE_TEXT');
          if (ch !== '\n' && !value.endsWith('\r')) {
            // a LF ends the line; a CR before it is a CRLF line end, taken off
            const read = readOutputs(podWith(`tag=${value}\n`), {
              name: 'a',
              image: 'x:1',
              outputs: [{ name: 'tag' }],
            });
            assert.equal(read.ok ? 'accepted' : read.error.code, 'STEP_OUTPUT_INVALID');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  test('a value with no hidden character is substituted as written', async () => {
    await fc.assert(
      fc.asyncProperty(printable, async (value) => {
        const r = await resolveWith('arg', value);
        assert.deepEqual(r.ok ? r.value.args : r.error, [literalForKubelet(value)]);
      }),
      { numRuns: 200 },
    );
  });
});

describe('outputs text: in the step’s turn (startOrSkip), against the in-memory twins', () => {
  /** The consumer's turn after a producer whose stored status says its output is `value`. */
  async function turnWith(value: string) {
    let n = 0;
    const cluster = memoryCluster();
    let evaluations = 0;
    const deps = {
      config: testPipelineConfig(),
      keys: (await testKeys()).keys,
      policy: () => ({
        ...engineReturning(() => [{ result: { allow: true, violations: [] } }]),
        evaluate: () => {
          evaluations++;
          return [{ result: { allow: true, violations: [] } }];
        },
      }),
      audit: new MemoryAudit(),
      ...cluster,
      runs: new MemoryRuns(() => NOW),
      trust: new MemoryTrustedKeys(),
      now: () => NOW,
      newId: () => `id-${String(++n)}`,
    } satisfies PipelineDeps;
    const { run, consumer } = workflowUsing('arg');
    const states: StepState[] = [{ name: 'a', phase: 'Succeeded', pod: 'p', outputs: { tag: value } }];
    const state = await startOrSkip(run, consumer, states, deps, auditor(deps));
    return { state, records: deps.audit.records, created: cluster.pods.created.length, evaluations: () => evaluations };
  }

  test('the reviewer’s value: Error STEP_OUTPUT_UNSAFE_TEXT, a finish failure record, no policy decision, no pod', async () => {
    const { state, records, created, evaluations } = await turnWith('prod\u202e; rm -rf / #');
    assert.deepEqual([state.phase, state.code], ['Error', 'STEP_OUTPUT_UNSAFE_TEXT']);
    const finish = records.find((r) => r.stage === 'finish' && r.step === 'b');
    assert.equal(finish?.outcome, 'failure');
    assert.ok(finish !== undefined);
    assert.equal(finish.code, 'STEP_OUTPUT_UNSAFE_TEXT');
    assert.deepEqual(
      records.map((r) => r.stage),
      ['finish'],
      'no evaluate, mutate or create record',
    );
    assert.equal(evaluations(), 0);
    assert.equal(created, 0);
    assert.ok(!JSON.stringify(records).includes('\u202e'), 'the character is not in the audit log');
  });

  test('the control: a clean value starts the step (a pod is created)', async () => {
    const { state, created } = await turnWith('prod');
    assert.notEqual(state.phase, 'Error', JSON.stringify(state));
    assert.equal(created, 1);
  });
});
