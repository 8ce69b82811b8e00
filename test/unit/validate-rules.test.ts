/**
 * The helpers under validate, at their edges (src/validate/graph.ts, layout.ts, unicode.ts) and
 * the summaries validate.ts builds from them.
 *
 * Classes, each a table:
 * - the step order: the default (after the step before; the first starts with the run), an
 *   explicit `dependsOn` (empty or not) kept as written;
 * - mount paths: every spelling of one directory is one path (repeated, trailing and leading
 *   slashes, `.`), `/` stays `/`, a prefix that is not a parent (`/a` and `/ab`) is no conflict;
 * - `printable`: each lone surrogate half and NUL escaped, at the start, middle and end, pairs kept;
 * - `runsText`: which dotted paths hold text a container executes, anchored at both ends;
 * - `textIssues`: the message per rule, the display name's stricter rule, keys, the 50-issue cap.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prerequisites } from '../../src/validate/graph.ts';
import { mountConflicts, normaliseMountPath, samePath } from '../../src/validate/layout.ts';
import { printable, runsText, textIssues } from '../../src/validate/unicode.ts';
import { validate } from '../../src/validate/validate.ts';
import type { Workflow } from '../../src/validate/schema.ts';
import { workflow } from '../support/tokens.ts';

const step = (name: string, dependsOn?: string[]) => ({
  name,
  image: 'alpine:3.20',
  ...(dependsOn ? { dependsOn } : {}),
});

describe('the step order', () => {
  const table: [string, ReturnType<typeof step>[], Record<string, string[]>][] = [
    ['one step starts with the run', [step('a')], { a: [] }],
    ['the default: after the step before', [step('a'), step('b'), step('c')], { a: [], b: ['a'], c: ['b'] }],
    ['dependsOn [] starts with the run', [step('a'), step('b', [])], { a: [], b: [] }],
    ['dependsOn kept as written', [step('a'), step('b'), step('c', ['a', 'b'])], { a: [], b: ['a'], c: ['a', 'b'] }],
    ['a first step may wait for a later one', [step('a', ['b']), step('b', [])], { a: ['b'], b: [] }],
  ];
  for (const [name, steps, expected] of table) {
    test(name, () => {
      assert.deepEqual(Object.fromEntries(prerequisites(workflow(steps) as unknown as Workflow)), expected);
    });
  }
});

describe('mount paths', () => {
  const spellings: [string, string][] = [
    ['/data', '/data'],
    ['//data', '/data'],
    ['///data', '/data'],
    ['/data/', '/data'],
    ['/data//', '/data'],
    ['/data/.', '/data'],
    ['/a//b/./c/', '/a/b/c'],
    ['/', '/'],
    ['//', '/'],
    ['/.', '/'],
  ];
  for (const [path, normal] of spellings) {
    test(`${path} is ${normal}`, () => assert.equal(normaliseMountPath(path), normal));
  }
  const pairs: [string, string, boolean, boolean][] = [
    // a, b, the same directory, a conflict (same, or one inside the other)
    ['/data', '//data/', true, true],
    ['/data', '/data/x', false, true],
    ['/data/x', '/data', false, true],
    ['/data', '/database', false, false],
    ['/database', '/data', false, false],
    ['/', '/anything', false, true],
    ['/anything', '/', false, true],
    ['/a/b', '/a/c', false, false],
  ];
  for (const [a, b, same, conflict] of pairs) {
    test(`${a} and ${b}: same ${same}, conflict ${conflict}`, () => {
      assert.equal(samePath(a, b), same);
      assert.equal(mountConflicts(a, b), conflict);
    });
  }
});

describe('printable: what a message shows of a string', () => {
  const table: [string, string, string][] = [
    ['plain', 'abc', 'abc'],
    ['a pair (an emoji) is kept', 'a\ud83d\ude00b', 'a\ud83d\ude00b'],
    ['a lone high half in the middle', 'a\ud800b', 'a\\ud800b'],
    ['a lone high half at the end', 'ab\udbff', 'ab\\udbff'],
    ['a lone low half at the start', '\udc00ab', '\\udc00ab'],
    ['a lone low half after a letter', 'a\udfffb', 'a\\udfffb'],
    ['low then high: both lone', '\udc00\ud800', '\\udc00\\ud800'],
    ['two highs then a low: the first is lone', '\ud800\ud800\udc00', '\\ud800\ud800\udc00'],
    ['NUL', 'a\u0000b', 'a\\u0000b'],
    ['other controls are kept', 'a\nb\u0001', 'a\nb\u0001'],
  ];
  for (const [name, value, expected] of table) {
    test(`${name} → ${JSON.stringify(expected)}`, () => assert.equal(printable(value), expected));
  }
});

describe('runsText: the paths whose text a container executes', () => {
  const table: [string, boolean][] = [
    ['workflow.steps.0.command.0', true],
    ['workflow.steps.12.args.3', true],
    ['workflow.steps.0.env.FOO', true],
    ['workflow.steps.0.sidecars.1.env.FOO', true],
    ['workflow.steps.0.initContainers.0.args.0', true],
    ['workflow.steps.0.sidecars.0.readinessProbe.exec.command.0', true],
    ['workflow.steps.0.command', false],
    ['workflow.steps.0.env.FOO.secretRef.key', false],
    ['workflow.steps.0.env', false],
    ['workflow.steps.0.image', false],
    ['workflow.steps.0.name', false],
    ['workflow.steps.x.command.0', false],
    ['workflow.steps..command.0', false],
    ['workflow.name', false],
    ['xworkflow.steps.0.command.0', false],
    ['workflow.steps.0.commands.0', false],
    ['workflow.steps.0.mycommand.0', false],
  ];
  for (const [path, runs] of table) test(`${path} → ${runs}`, () => assert.equal(runsText(path), runs));
});

describe('textIssues: one message per rule', () => {
  const RUN_BIDI =
    'must not contain bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C): the command would read differently from what runs';
  const table: [string, unknown, { path: string; message: string }[]][] = [
    ['clean', { name: 'ok', steps: [{ command: ['a\nb'] }] }, []],
    [
      'a lone surrogate anywhere',
      { x: { y: ['ok', 'a\ud800'] } },
      [{ path: 'workflow.x.y.1', message: 'is not well-formed Unicode (a lone UTF-16 surrogate)' }],
    ],
    ['a NUL anywhere', { image: 'a\u0000' }, [{ path: 'workflow.image', message: 'must not contain a NUL character' }]],
    [
      'a key with a NUL: the key is escaped in the path',
      { env: { 'A\u0000': 'v' } },
      [{ path: 'workflow.env.A\\u0000', message: 'key must not contain a NUL character' }],
    ],
    [
      'a control character in the display name',
      { name: 'a\tb' },
      [{ path: 'workflow.name', message: 'must not contain control or bidirectional formatting characters' }],
    ],
    [
      'bidi in the display name',
      { name: 'a\u202eb' },
      [{ path: 'workflow.name', message: 'must not contain control or bidirectional formatting characters' }],
    ],
    ['a control character in another name is left to the schema', { id: 'a\tb', steps: [{ name: 'a\tb' }] }, []],
    ['bidi in an image is left to the grammar', { steps: [{ image: 'a\u202eb' }] }, []],
    [
      'bidi in an argument',
      { steps: [{ args: ['a\u2066b'] }] },
      [{ path: 'workflow.steps.0.args.0', message: RUN_BIDI }],
    ],
    [
      'bidi in an env value',
      { steps: [{ env: { A: '\u200f' } }] },
      [{ path: 'workflow.steps.0.env.A', message: RUN_BIDI }],
    ],
    ['a newline in a command is allowed', { steps: [{ command: ['sh', '-c', 'a\n\tb'] }] }, []],
    ['null, numbers and booleans hold no text', { a: null, b: 1, c: [true, null] }, []],
  ];
  for (const [name, value, expected] of table) {
    test(name, () => assert.deepEqual(textIssues(value), expected));
  }
  test('at most 50 issues, the first ones in order', () => {
    const issues = textIssues({ args: Array.from({ length: 60 }, () => 'a\u0000') });
    assert.equal(issues.length, 50);
    assert.equal(issues[49]?.path, 'workflow.args.49');
  });
  test('at most 50 issues also when keys and values both fail', () => {
    const obj = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}\u0000`, 'v\u0000']));
    assert.equal(textIssues(obj).length, 50);
  });
  test('another set of display names', () => {
    assert.deepEqual(textIssues({ title: 'a\tb', name: 'a\tb' }, new Set(['workflow.title'])), [
      { path: 'workflow.title', message: 'must not contain control or bidirectional formatting characters' },
    ]);
  });
});

describe('validate: the summary of each refusal', () => {
  test('VALIDATE_UNICODE names the count, the first path and its reason; the detail lists them', () => {
    const r = validate({ ...workflow(), name: 'a\u202eb', runId: 'x\u0000' });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'VALIDATE_UNICODE');
    assert.equal(
      r.error.message,
      'workflow claim holds text that cannot be stored faithfully: 2 issue(s), first at workflow.name: must not contain control or bidirectional formatting characters',
    );
    assert.deepEqual(
      r.error.details?.issues.map((i) => i.path),
      ['workflow.name', 'workflow.runId'],
    );
  });
  test('a claim that is not an object: VALIDATE_SCHEMA at workflow', () => {
    const r = validate('wf');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'VALIDATE_SCHEMA');
    assert.match(r.error.message, /^workflow claim is invalid: 1 issue\(s\), first at workflow: /);
    assert.deepEqual(
      r.error.details?.issues.map((i) => i.path),
      ['workflow'],
    );
  });
  test('a schema issue under a key is shown with the key', () => {
    const r = validate(workflow([{ name: 'a', image: 'alpine:3.20', env: { A: { secretRef: { secret: 'S' } } } }]));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.error.code, 'VALIDATE_SCHEMA');
    assert.ok(
      r.error.details?.issues.some((i) => i.path.startsWith('workflow.steps.0.env.A')),
      JSON.stringify(r.error.details),
    );
  });
  test('a valid claim comes back as the workflow', () => {
    const r = validate(workflow());
    assert.ok(r.ok);
    assert.deepEqual(r.value, workflow());
  });
});

describe('validate: the checks on the whole workflow', () => {
  const refusal = (steps: Record<string, unknown>[]): string => {
    const r = validate(workflow(steps));
    return r.ok ? 'OK' : `${r.error.code}: ${r.error.message} ${JSON.stringify(r.error.details?.issues)}`;
  };
  test('a condition on a step it does not wait for: counted, first named, listed', () => {
    const when = "steps.b.phase == 'Succeeded'";
    assert.equal(
      refusal([step('a'), step('b'), { ...step('c', ['a']), when }]),
      'VALIDATE_SCHEMA: workflow claim is invalid: 1 issue(s), first at workflow.steps.2.when: steps.b is not a step that c waits for (dependsOn) ' +
        JSON.stringify([
          { path: 'workflow.steps.2.when', message: 'steps.b is not a step that c waits for (dependsOn)' },
        ]),
    );
  });
  test('at most 50 condition and reference issues are listed, conditions first', () => {
    const when = "steps.s0.phase == 'Succeeded'";
    const ref = '${steps.s0.outputs.x}';
    const steps = [
      step('s0'),
      ...Array.from({ length: 55 }, (_, i) => ({ ...step(`s${i + 1}`, []), when, args: [ref] })),
    ];
    const r = validate(workflow(steps));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.match(r.error.message, /^workflow claim is invalid: 50 issue\(s\), first at workflow\.steps\.1\.when: /);
    assert.equal(r.error.details?.issues.length, 50);
  });
  test('a cycle that the first step does not reach is found', () => {
    assert.match(refusal([step('a', []), step('b', ['c']), step('c', ['b'])]), /dependsOn cycle: b → c → b/);
  });
  test('the cycle starts where it closes, not where the walk began', () => {
    assert.match(refusal([step('a', ['b']), step('b', ['c']), step('c', ['b'])]), /: dependsOn cycle: b → c → b /);
  });
  for (const reserved of ['/workspace', '/tmp']) {
    test(`a mount at the runner's own ${reserved} is refused`, () => {
      const r = validate({
        ...workflow([{ ...step('a'), volumes: [{ name: 'm', mount: reserved, volume: 'v' }] }]),
        volumes: [{ name: 'v', size: '1Gi' }],
      });
      assert.equal(r.ok, false);
      if (!r.ok)
        assert.deepEqual(r.error.details?.issues, [
          {
            path: 'workflow.steps.0.volumes.0.mount',
            message: `must not be at, under or over the runner's own mount ${reserved}`,
          },
        ]);
    });
  }
});
