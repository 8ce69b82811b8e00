/**
 * The text rule of a step output's value and the literal-text rule applied again after
 * substitution (src/validate/output-text.ts), asserted value by value (issue 15 item 6: the
 * function-level contract under `outputs-text.test.ts`, which goes through the reconcile path).
 *
 * The class of fault: a value one character past the bound accepted (or one at it refused), a
 * length counted in code points where the bound is in UTF-16 units, a hidden character accepted
 * because it is not the first, the tab refused, a refusal that names the wrong character (or
 * repeats the value, which may be a secret), a substituted step's issue reported at a path that is
 * not the step's. Variants: lengths at and one past 1024 in ASCII and in astral characters; one
 * character of each hidden kind first, last and after ordinary text; each site of a step.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  codePoint,
  hiddenIn,
  MAX_OUTPUT_VALUE,
  outputValueProblem,
  stepTextIssue,
} from '../../src/validate/output-text.ts';
import type { Step } from '../../src/validate/schema.ts';

const HIDDEN = 'a control, format (bidirectional, zero-width, tag), line-separator or lone-surrogate character';
const BIDI =
  'must not contain bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C): the command would read differently from what runs';

describe('outputValueProblem', () => {
  const rows: [string, string, string | undefined][] = [
    ['empty', '', undefined],
    ['ordinary text with a tab', 'v1.2.3\té日本🚀 $(id)', undefined],
    ['1024 ASCII characters', 'x'.repeat(1024), undefined],
    ['1025 ASCII characters', 'x'.repeat(1025), 'is 1025 characters, over 1024'],
    ['512 astral characters (1024 UTF-16 units)', '🚀'.repeat(512), undefined],
    ['513 astral characters (1026 UTF-16 units)', '🚀'.repeat(513), 'is 1026 characters, over 1024'],
    [
      'a long value with a hidden character: the length is named',
      `${'x'.repeat(1025)}\u202e`,
      'is 1026 characters, over 1024',
    ],
    ['U+202E after text', 'prod\u202e; rm', `holds U+202E, ${HIDDEN}`],
    ['NUL first', '\u0000x', `holds U+0000, ${HIDDEN}`],
    ['a line feed last', 'x\n', `holds U+000A, ${HIDDEN}`],
    ['DEL', '\u007f', `holds U+007F, ${HIDDEN}`],
    ['C1 NEL after a tab', '\t\u0085', `holds U+0085, ${HIDDEN}`],
    ['a tag character (astral)', 'x\u{e0041}', `holds U+E0041, ${HIDDEN}`],
    ['a lone surrogate', 'x\ud800y', `holds U+D800, ${HIDDEN}`],
    ['the first of two', 'a\u200bb\u202ec', `holds U+200B, ${HIDDEN}`],
  ];
  for (const [what, value, problem] of rows)
    test(`${what} → ${problem ?? 'accepted'}`, () => {
      assert.equal(outputValueProblem(value), problem);
      if (problem !== undefined && value.length <= MAX_OUTPUT_VALUE) assert.ok(!problem.includes(value));
    });

  test('the bound is 1024 UTF-16 units', () => assert.equal(MAX_OUTPUT_VALUE, 1024));
});

describe('hiddenIn and codePoint', () => {
  for (const [value, want] of [
    ['', undefined],
    ['\t\t', undefined],
    ['plain', undefined],
    ['\t\u0009\u000b', 'U+000B'],
    ['\ufeff', 'U+FEFF'],
    ['ok\u2028', 'U+2028'],
  ] as const)
    test(`hiddenIn(${JSON.stringify(value)}) → ${want ?? 'none'}`, () => assert.equal(hiddenIn(value), want));

  for (const [ch, want] of [
    ['a', 'U+0061'],
    ['\u00ad', 'U+00AD'],
    ['\u202e', 'U+202E'],
    ['\u{e007f}', 'U+E007F'],
    ['\u{10ffff}', 'U+10FFFF'],
    ['', 'U+0000'],
  ] as const)
    test(`codePoint(${JSON.stringify(ch)}) → ${want}`, () => assert.equal(codePoint(ch), want));
});

describe('stepTextIssue: the literal rules again, the path relative to the step', () => {
  const step = (fields: Partial<Step>): Step => ({ name: 's', image: 'x:1', ...fields });
  const rows: [string, Step, { path: string; message: string } | undefined][] = [
    ['ordinary args and env', step({ args: ['a', 'é\t日本'], env: { A: 'x y' } }), undefined],
    ['a zero-width space (not a rule of the literal text)', step({ args: ['\u200b'] }), undefined],
    ['U+202E in the second argument', step({ args: ['ok', 'a\u202eb'] }), { path: 'args.1', message: BIDI }],
    [
      'NUL in an env value',
      step({ env: { TAG: 'x\u0000' } }),
      { path: 'env.TAG', message: 'must not contain a NUL character' },
    ],
    [
      'a lone surrogate in an env value',
      step({ env: { TAG: '\ud800' } }),
      { path: 'env.TAG', message: 'is not well-formed Unicode (a lone UTF-16 surrogate)' },
    ],
    ['the first issue only', step({ command: ['\u202e'], args: ['\u0000'] }), { path: 'command.0', message: BIDI }],
  ];
  for (const [what, s, want] of rows) test(what, () => assert.deepEqual(stepTextIssue(s), want));
});
