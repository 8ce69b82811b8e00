/**
 * The checks of conditions and output references against the workflow
 * (src/validate/condition-check.ts, src/validate/output-refs.ts), asserted issue by issue: the path
 * (which step, which env variable, which argument) and the whole message (issue 15 item 6: the
 * mutants `when.test.ts` and `outputs.test.ts` let live, which match a message by a fragment).
 *
 * The class of fault: a reference that passes validation but cannot be resolved when its step
 * runs (it names a step that has not finished, an output nobody declared), a secret output that
 * lands where it is not masked (an argument, a condition), or an issue reported at the wrong path.
 * Variants: each kind of ref (phase, output; condition, env, argument) × each relation to the
 * referring step (itself, a later step, a parallel branch, a direct or a transitive prerequisite),
 * declared or not, secret or not; malformed references; the 50-issue cap of each check.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { conditionIssues, referenceIssues } from '../../src/validate/condition-check.ts';
import { refsIn, referenceSites } from '../../src/validate/output-refs.ts';
import { workflowSchema, type Step, type Workflow } from '../../src/validate/schema.ts';
import { workflow } from '../support/tokens.ts';

/** The schema's parse of a workflow with these steps (the checks run on a schema-valid workflow). */
const wf = (steps: Record<string, unknown>[]): Workflow => workflowSchema.parse(workflow(steps));
const producer = { name: 'a', image: 'x:1', outputs: [{ name: 'result' }, { name: 'token', secret: true }] };
const PHASES = 'Pending, Running, Succeeded, Failed, Denied, Error, Skipped, Cancelled';

describe('conditionIssues: every issue with its path and message', () => {
  test('a chain a ← b ← c: c may name a (through b) and b; nothing is reported', () => {
    const w = wf([
      producer,
      { name: 'b', image: 'x:1' },
      { name: 'c', image: 'x:1', when: "steps.a.outputs.result == 'x' && steps.b.phase in ['Failed', 'Cancelled']" },
    ]);
    assert.deepEqual(conditionIssues(w), []);
  });

  test('a diamond: d waits for b and c, each for a; d may name all three', () => {
    const w = wf([
      producer,
      { name: 'b', image: 'x:1', dependsOn: ['a'] },
      { name: 'c', image: 'x:1', dependsOn: ['a'] },
      {
        name: 'd',
        image: 'x:1',
        dependsOn: ['b', 'c'],
        when: "steps.a.phase == 'Succeeded' && steps.b.phase == 'Skipped' && steps.c.phase == 'Denied'",
      },
    ]);
    assert.deepEqual(conditionIssues(w), []);
  });

  test('a ladder of 64 steps, each waiting for the two before it: every step is an ancestor of the last, found at once', () => {
    // Without the memo the walk is exponential (Fibonacci in the depth): this test would not end.
    const steps = Array.from({ length: 64 }, (_, i) => ({
      name: `s${i}`,
      image: 'x:1',
      dependsOn: i === 0 ? [] : i === 1 ? ['s0'] : [`s${i - 1}`, `s${i - 2}`],
      ...(i === 63 ? { when: "steps.s0.phase == 'Succeeded' && steps.s31.phase != 'Failed'" } : {}),
    }));
    assert.deepEqual(conditionIssues(wf(steps)), []);
    assert.deepEqual(referenceIssues(wf(steps)), []);
  });

  test('each wrong ref and phase is one issue, in order, at its step', () => {
    const w = wf([
      producer,
      { name: 'b', image: 'x:1', dependsOn: [], when: "steps.a.phase == 'Succeeded'" },
      {
        name: 'c',
        image: 'x:1',
        dependsOn: ['a'],
        when: "steps.c.phase == 'Failed' || steps.a.outputs.nope == 'x' || steps.a.phase in ['Done', 'Error', 'failed']",
      },
      { name: 'd', image: 'x:1', when: "steps.zz.outputs.k == 'x' || steps.e.phase == 'Running'" },
      { name: 'e', image: 'x:1' },
    ]);
    assert.deepEqual(conditionIssues(w), [
      { path: 'workflow.steps.1.when', message: 'steps.a is not a step that b waits for (dependsOn)' },
      { path: 'workflow.steps.2.when', message: 'steps.c is not a step that c waits for (dependsOn)' },
      { path: 'workflow.steps.2.when', message: 'step a declares no output "nope"' },
      { path: 'workflow.steps.2.when', message: `"Done" is not a step phase (${PHASES})` },
      { path: 'workflow.steps.2.when', message: `"failed" is not a step phase (${PHASES})` },
      // An undeclared output of a step that is not a prerequisite: the first problem only.
      { path: 'workflow.steps.3.when', message: 'steps.zz is not a step that d waits for (dependsOn)' },
      { path: 'workflow.steps.3.when', message: 'steps.e is not a step that d waits for (dependsOn)' },
    ]);
  });

  test('every step phase may be compared with; a literal beside an output is not a phase', () => {
    const w = wf([
      producer,
      {
        name: 'b',
        image: 'x:1',
        when: `steps.a.phase in [${PHASES.split(', ')
          .map((p) => `'${p}'`)
          .join(', ')}] && steps.a.outputs.result == 'Done'`,
      },
    ]);
    assert.deepEqual(conditionIssues(w), []);
  });

  test('a condition that does not parse (only reachable past the schema) is one issue with the parser message', () => {
    const w = { ...wf([{ name: 'a', image: 'x:1' }]) };
    const steps = [{ name: 'a', image: 'x:1', when: 'steps.a.phase' }] as Step[];
    assert.deepEqual(conditionIssues({ ...w, steps }), [
      { path: 'workflow.steps.0.when', message: 'expected ==, !=, in or notin at the end' },
    ]);
  });

  test('at most 50 issues, the first 50', () => {
    const steps = Array.from({ length: 30 }, (_, i) => ({
      name: `s${i}`,
      image: 'x:1',
      dependsOn: [],
      when: "steps.zz.phase == 'X' || steps.yy.phase == 'Y'",
    }));
    const issues = conditionIssues(wf(steps));
    assert.equal(issues.length, 50);
    assert.deepEqual(issues.at(-1), {
      path: 'workflow.steps.12.when',
      message: 'steps.yy is not a step that s12 waits for (dependsOn)',
    });
  });
});

describe('referenceIssues: every issue with its path and message', () => {
  test('env values and args of a prerequisite’s declared outputs; a secret in env; a Secret reference is no site', () => {
    const w = wf([
      producer,
      {
        name: 'b',
        image: 'x:1',
        env: {
          R: 'v=${steps.a.outputs.result}',
          T: '${steps.a.outputs.token}',
          S: { secretRef: { secret: 's', key: '${steps.a.outputs.token}' } },
        },
        args: ['${steps.a.outputs.result}${steps.a.outputs.result}'],
        when: "steps.a.outputs.result == 'x'",
      },
    ]);
    // A Secret reference is not substituted: a reference there is refused (red team 8, finding 3).
    assert.deepEqual(referenceIssues(w), [
      {
        path: 'workflow.steps.1.env.S.secretRef.key',
        message:
          'an output reference stands only in a plain env value or an argument of the step (it is substituted nowhere else)',
      },
    ]);
  });

  test('each wrong reference is one issue at its env variable or argument, in order', () => {
    const w = wf([
      producer,
      {
        name: 'b',
        image: 'x:1',
        env: { X: 'a ${steps.a.outputs.nope} b', Y: '${steps.c.outputs.k}' },
        args: [
          'ok',
          '${steps.a.outputs.token}',
          '${steps.a.outputs}',
          '${steps.A.outputs.k}${steps.a.outputs.result}',
          '${steps.zz.outputs.k}',
        ],
        when: "steps.a.outputs.token == 'x' || steps.a.outputs.result == 'y' || steps.a.phase == 'Failed' || steps.zz.outputs.k == 'q' || steps.a.outputs.nope == 'z'",
      },
      { name: 'c', image: 'x:1', outputs: [{ name: 'k' }] },
    ]);
    assert.deepEqual(referenceIssues(w), [
      { path: 'workflow.steps.1.env.X', message: 'step a declares no output "nope"' },
      { path: 'workflow.steps.1.env.Y', message: 'steps.c is not a step that b waits for (dependsOn)' },
      { path: 'workflow.steps.1.args.1', message: 'output a.token is secret: use it in an env value only' },
      { path: 'workflow.steps.1.args.2', message: 'a reference must be ${steps.<step>.outputs.<name>}' },
      { path: 'workflow.steps.1.args.3', message: 'a reference must be ${steps.<step>.outputs.<name>}' },
      { path: 'workflow.steps.1.args.4', message: 'steps.zz is not a step that b waits for (dependsOn)' },
      { path: 'workflow.steps.1.when', message: 'output a.token is secret: not in a condition' },
    ]);
  });

  test('a condition that does not parse (only reachable past the schema) holds no reference', () => {
    const w = wf([producer]);
    const steps = [...w.steps, { name: 'b', image: 'x:1', when: 'steps.a.outputs.token' }] as Step[];
    assert.deepEqual(referenceIssues({ ...w, steps }), []);
  });

  test('a secret output of a step that is not a prerequisite, in an argument: the first problem only', () => {
    const w = wf([
      { name: 'b', image: 'x:1', args: ['${steps.a.outputs.token}'] },
      { ...producer, dependsOn: [] },
    ]);
    assert.deepEqual(referenceIssues(w), [
      { path: 'workflow.steps.0.args.0', message: 'steps.a is not a step that b waits for (dependsOn)' },
    ]);
  });

  test('at most 50 issues, the first 50', () => {
    const steps = [
      producer,
      { name: 'b', image: 'x:1', args: Array.from({ length: 60 }, (_, i) => `\${steps.a.outputs.n${i}}`) },
    ];
    const issues = referenceIssues(wf(steps));
    assert.equal(issues.length, 50);
    assert.deepEqual(issues.at(-1), { path: 'workflow.steps.1.args.49', message: 'step a declares no output "n49"' });
  });
});

describe('output references in a text', () => {
  const rows: [string, { step: string; key: string }[], boolean][] = [
    ['plain text', [], false],
    ['$steps.a.outputs.k and {steps.a.outputs.k}', [], false],
    ['${steps.a.outputs.k}', [{ step: 'a', key: 'k' }], false],
    [
      'x${steps.a-1.outputs._K9}y${steps.b.outputs.k}z',
      [
        { step: 'a-1', key: '_K9' },
        { step: 'b', key: 'k' },
      ],
      false,
    ],
    [`\${steps.${'a'.repeat(63)}.outputs.${'K'.repeat(63)}}`, [{ step: 'a'.repeat(63), key: 'K'.repeat(63) }], false],
    [`\${steps.${'a'.repeat(64)}.outputs.k}`, [], true],
    [`\${steps.a.outputs.${'K'.repeat(64)}}`, [], true],
    ['${steps.a.outputs.k', [], true],
    ['${steps.a.phase}', [], true],
    ['${steps.a-.outputs.k}', [], true],
    ['${steps.a.outputs.1k}', [], true],
    ['${steps.a.outputs.k}${steps.', [{ step: 'a', key: 'k' }], true],
    ['${ steps.a.outputs.k}', [], false],
  ];
  for (const [text, refs, malformed] of rows)
    test(`${text.slice(0, 50)}: ${refs.length} ref(s)${malformed ? ', malformed' : ''}`, () => {
      assert.deepEqual(refsIn(text), { refs, malformed });
      assert.deepEqual(refsIn(text), { refs, malformed }, 'the same on a second call (no regex state kept)');
    });

  test('the sites are the plain env values, in order, and the args; a step without either has none', () => {
    const step = {
      name: 'b',
      image: 'x:1',
      env: { A: '1', S: { secretRef: { secret: 's', key: 'k' } }, B: '2' },
      args: ['x', 'y'],
    } as Step;
    assert.deepEqual(referenceSites(step), {
      env: [
        ['A', '1'],
        ['B', '2'],
      ],
      args: ['x', 'y'],
    });
    assert.deepEqual(referenceSites({ name: 'b', image: 'x:1' }), { env: [], args: [] });
  });
});
