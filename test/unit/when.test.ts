/**
 * `when` conditions (issue 19 §6): the grammar, its bounds, its checks against the workflow, its
 * evaluation, and skipped steps in the reconcile pass.
 *
 * The class of fault: a condition is text from a signed token that decides whether a step runs. It
 * must never execute anything, never throw, never hang, and never name something it cannot see.
 * Variants: JavaScript an attacker tries (calls, member access, template literals, prototype
 * names, comments, escapes), nesting and length past the bounds, refs to steps that run later or
 * not at all, misspelt phases, outputs nobody declared; the reported example is kept as a row.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { admit } from '../../src/admission/admit.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { reconcileRun } from '../../src/reconcile/reconcile.ts';
import type { RunStatus, StepState } from '../../src/run/status.ts';
import { decideWhen } from '../../src/run/when.ts';
import { CONDITION_LIMITS, parseCondition } from '../../src/validate/condition.ts';
import type { Step } from '../../src/validate/schema.ts';
import { validate } from '../../src/validate/validate.ts';
import { testPipelineConfig } from '../support/config.ts';
import { engineReturning, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();

describe('when: the grammar', () => {
  const good = [
    "steps.build.phase == 'Succeeded'",
    'steps.build.phase != "Skipped"',
    "steps.a.outputs.result == 'heads' && steps.b.phase == 'Succeeded'",
    "!(steps.a.outputs.env in ['prod', 'staging']) || false",
    "steps.a.outputs.env notin ['prod']",
    'true',
    "'x' == 'x'",
    "((steps.a.phase == 'Succeeded'))",
  ];
  for (const text of good) test(`parses: ${text}`, () => assert.equal(parseCondition(text).ok, true));

  const bad: [string, string][] = [
    ['a call', 'process.exit(1)'],
    ['a member access outside the refs', "steps.a.phase.constructor == 'x'"],
    ['a ref to something else of a step', "steps.a.image == 'x'"],
    ['a template literal', '`${1}` == "1"'],
    ['a bare ref (truthy)', 'steps.a.outputs.ok'],
    ['an escape in a string', "steps.a.phase == 'a\\'b'"],
    ['a comment', 'true // comment'],
    ['assignment', "steps.a.phase = 'x'"],
    ['JS identity operators', "steps.a.phase === 'Succeeded'"],
    ['a number', 'steps.a.outputs.n == 1'],
    ['an unterminated string', "steps.a.phase == 'Succ"],
    ['a dangling operator', "steps.a.phase == 'Succeeded' &&"],
    ['empty', ''],
    ['an empty list', 'steps.a.phase in []'],
    ['a control character in a string', "steps.a.phase == 'a\u0000'"],
    ['a capitalised keyword', 'TRUE'],
    ['a step name that is not a DNS label', "steps.A_b.phase == 'x'"],
    ['an output key that is not an identifier', "steps.a.outputs.1x == 'x'"],
    ['too deep', `${'!('.repeat(CONDITION_LIMITS.depth + 2)}true${')'.repeat(CONDITION_LIMITS.depth + 2)}`],
    ['too many tokens', Array.from({ length: 70 }, () => 'true').join(' && ')],
    ['too long', `'${'x'.repeat(CONDITION_LIMITS.length)}' == 'x'`],
    ['a string over 256', `'${'x'.repeat(257)}' == 'x'`],
  ];
  for (const [what, text] of bad)
    test(`refuses ${what}`, () => {
      const parsed = parseCondition(text);
      assert.equal(parsed.ok, false, text);
    });

  test('property: any text parses or is refused with a message, never throws', () => {
    const piece = fc.constantFrom(
      'steps.a.phase',
      'steps.b.outputs.k',
      "'Succeeded'",
      '"x"',
      '==',
      '!=',
      '&&',
      '||',
      '!',
      '(',
      ')',
      '[',
      ']',
      ',',
      'in',
      'notin',
      'true',
      'false',
      ' ',
      'constructor',
      '__proto__',
      '${',
      '\\',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.array(piece, { maxLength: 200 }).map((p) => p.join('')),
        ),
        (text) => {
          // Bounded work is proven by the length, token and depth bounds above (a parse past them is
          // refused before it recurses), not by a wall-clock check, which failed under load.
          const parsed = parseCondition(text);
          if (!parsed.ok) assert.ok(parsed.message.length > 0);
          else assert.ok(text.length <= CONDITION_LIMITS.length);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('when: checked against the workflow', () => {
  const wf = (steps: Record<string, unknown>[]) => validate(workflow(steps));
  test('a condition may name the steps its step waits for, directly or through others', () => {
    const r = wf([
      { name: 'a', image: 'x:1' },
      { name: 'b', image: 'x:1' },
      { name: 'c', image: 'x:1', when: "steps.a.phase == 'Succeeded' && steps.b.phase != 'Skipped'" },
    ]);
    assert.equal(r.ok, true, JSON.stringify(r));
  });
  for (const [what, steps, message] of [
    [
      'a later step',
      [
        { name: 'a', image: 'x:1', when: "steps.b.phase == 'Succeeded'" },
        { name: 'b', image: 'x:1' },
      ],
      /steps.b is not a step that a waits for/,
    ],
    [
      'a parallel branch',
      [
        { name: 'a', image: 'x:1', dependsOn: [] },
        { name: 'b', image: 'x:1', dependsOn: [], when: "steps.a.phase == 'Succeeded'" },
      ],
      /not a step that b waits for/,
    ],
    ['itself', [{ name: 'a', image: 'x:1', when: "steps.a.phase == 'Succeeded'" }], /not a step that a waits for/],
    ['an unknown step', [{ name: 'a', image: 'x:1', when: "steps.zz.phase == 'Succeeded'" }], /steps.zz/],
    [
      'a misspelt phase',
      [
        { name: 'a', image: 'x:1' },
        { name: 'b', image: 'x:1', when: "steps.a.phase in ['Succeeded', 'Succeded']" },
      ],
      /"Succeded" is not a step phase/,
    ],
    [
      'an output nobody declared',
      [
        { name: 'a', image: 'x:1' },
        { name: 'b', image: 'x:1', when: "steps.a.outputs.result == 'x'" },
      ],
      /declares no output "result"/,
    ],
    ['a syntax error', [{ name: 'a', image: 'x:1', when: 'steps.a.phase' }], /not a condition/],
  ] as const)
    test(`refuses a condition naming ${what}`, () => {
      const r = wf(steps as unknown as Record<string, unknown>[]);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.code, 'VALIDATE_SCHEMA');
        assert.match(r.error.message, message);
      }
    });
});

describe('when: evaluation', () => {
  const step = (when: string): Step => ({ name: 'z', image: 'x:1', when });
  const states: StepState[] = [
    { name: 'a', phase: 'Succeeded', outputs: { result: 'heads' } },
    { name: 'b', phase: 'Skipped', code: 'STEP_CONDITION_FALSE' },
  ];
  for (const [when, kind] of [
    ["steps.a.phase == 'Succeeded'", 'run'],
    ["steps.a.outputs.result == 'tails'", 'skip'],
    ["steps.a.outputs.result in ['heads', 'tails'] && steps.b.phase == 'Skipped'", 'run'],
    ["steps.a.outputs.result notin ['heads']", 'skip'],
    ["!(steps.b.phase == 'Skipped')", 'skip'],
    ["steps.b.phase == 'Succeeded' && steps.b.outputs.x == 'y'", 'skip'], // short-circuit: b's output is never read
    ["steps.b.outputs.x == 'y'", 'error'],
    ["steps.b.phase == 'Skipped' || steps.b.outputs.x == 'y'", 'run'],
  ] as const)
    test(`${when} → ${kind}`, () => assert.equal(decideWhen(step(when), states).kind, kind));

  test('a skip says why; an error names the missing output', () => {
    const skip = decideWhen(step("steps.a.outputs.result == 'tails'"), states);
    assert.deepEqual(skip, { kind: 'skip', reason: "condition is false: steps.a.outputs.result == 'tails'" });
    const error = decideWhen(step("steps.b.outputs.x == 'y'"), states);
    assert.equal(error.kind, 'error');
    assert.match(error.kind === 'error' ? error.message : '', /step b has no output "x"/);
  });
});

describe('when: in the reconcile pass', () => {
  async function runToEnd(steps: Record<string, unknown>[]) {
    let n = 0;
    const cluster = memoryCluster();
    const runs = new MemoryRuns(() => NOW);
    const deps = {
      config: testPipelineConfig(),
      keys,
      policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
      audit: new MemoryAudit(),
      ...cluster,
      runs,
      trust: new MemoryTrustedKeys(),
      now: () => NOW,
      newId: () => `id-${++n}`,
    } satisfies PipelineDeps;
    const body = await signAssignment(key, {
      issuer: ISSUER,
      audience: RUNNER,
      workflow: workflow(steps),
      now: NOW,
      jti: `when-${Math.random()}`,
    });
    const run = await admit({ body, contentType: 'application/jwt' }, deps);
    assert.ok(run.ok);
    let status: RunStatus | undefined;
    for (let i = 0; i < 20 && !['Succeeded', 'Failed'].includes(status?.phase ?? ''); i++) {
      const obj = runs.get(run.value.name);
      assert.ok(obj !== undefined);
      await reconcileRun(obj, deps, () => true);
      await new Promise((r) => setImmediate(r));
      status = runs.get(run.value.name)?.status;
    }
    return { status, deps, pods: cluster.pods };
  }

  test('a false condition skips its step with the reason, records it, and its dependents still run; the run succeeds', async () => {
    const { status, deps, pods } = await runToEnd([
      { name: 'a', image: 'python:3.11' },
      { name: 'b', image: 'python:3.11', when: "steps.a.phase != 'Succeeded'" },
      { name: 'c', image: 'python:3.11', when: "steps.b.phase == 'Skipped'" },
    ]);
    assert.equal(status?.phase, 'Succeeded');
    assert.deepEqual(
      status?.steps.map((s) => [s.name, s.phase, s.code, s.message]),
      [
        ['a', 'Succeeded', undefined, 'pod succeeded'],
        ['b', 'Skipped', 'STEP_CONDITION_FALSE', "condition is false: steps.a.phase != 'Succeeded'"],
        ['c', 'Succeeded', undefined, 'pod succeeded'],
      ],
    );
    assert.deepEqual(
      pods.created.map((p) => p.metadata?.labels?.['kubiya.ai/step']),
      ['a', 'c'],
    );
    const b = deps.audit.records.filter((r) => r.step === 'b');
    assert.deepEqual(
      b.map((r) => [r.stage, r.outcome, r.code]),
      [['finish', 'success', 'STEP_CONDITION_FALSE']],
      'no decision and no pod for a skipped step: only its end',
    );
    assert.match(b[0]?.message ?? '', /condition is false/);
  });

  test('a constant-false condition on the first step: it is skipped, the next one reads that phase and runs', async () => {
    const { status, pods } = await runToEnd([
      { name: 'a', image: 'python:3.11', when: "'x' == 'y'" },
      { name: 'b', image: 'python:3.11', when: "steps.a.phase == 'Skipped'" },
    ]);
    assert.equal(status?.phase, 'Succeeded');
    assert.equal(pods.created.length, 1);
  });
});
