import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HIDDEN_TEXT } from '../../src/units/text.ts';
import { parseCondition } from '../../src/validate/condition.ts';
import { validate } from '../../src/validate/validate.ts';
import { workflow } from '../support/tokens.ts';

/**
 * REDTEAM-3 finding 8, as a class: a `when` condition holds no hidden or look-alike character
 * anywhere (inside a literal, between tokens, in a ref, at either end), its white space is ASCII
 * space and tab only, and no message echoes a refused character raw: it is shown as `\u{hex}`.
 * Variants: one character of each kind of src/units/text.ts HIDDEN_TEXT (bidi, zero-width, tag,
 * lone surrogates, C0/C1 controls, line separators, Hangul fillers) and every non-ASCII space, in
 * every position; fast-check over any text with one planted. The reported example is the first test.
 */
const HIDDEN: readonly string[] = [
  '\u202e',
  '\u202a',
  '\u2066',
  '\u2069',
  '\u200e',
  '\u200f',
  '\u061c', // bidi
  '\u200b',
  '\u200c',
  '\u200d',
  '\u2060',
  '\ufeff',
  '\u00ad',
  '\u180e', // zero-width, soft hyphen
  '\u{e0041}',
  '\u{e007f}', // tag characters
  '\ud800',
  '\udc00', // lone surrogates
  '\u0001',
  '\n',
  '\r',
  '\u000b',
  '\u000c',
  '\u007f',
  '\u0085', // controls (the tab is white space)
  '\u2028',
  '\u2029',
  '\u3164',
  '\u115f',
  '\uffa0', // line separators, Hangul fillers
  '\u00a0',
  '\u2000',
  '\u2003',
  '\u200a',
  '\u202f',
  '\u205f',
  '\u3000',
  '\u1680', // non-ASCII spaces
];
const hex = (c: string): string => `\\u{${c.codePointAt(0)!.toString(16)}}`;
/** Where a character can be put in an otherwise valid condition. */
const PLACES: readonly [string, (c: string) => string][] = [
  ['inside a literal', (c) => `steps.a.phase == 'Failed${c}'`],
  ['as white space', (c) => `steps.a.phase${c}== 'Failed'`],
  ['at the start', (c) => `${c}steps.a.phase == 'Failed'`],
  ['at the end', (c) => `steps.a.phase == 'Failed'${c}`],
  ['inside a ref', (c) => `steps.a${c}.phase == 'Failed'`],
  ['in a list', (c) => `steps.a.phase in ['Succeeded',${c}'Failed']`],
];
/** A message shows a character raw that it should escape: a hidden one, or a non-ASCII space. */
const raw = (message: string): boolean =>
  new RegExp(HIDDEN_TEXT.source, 'u').test(message) || /(?! )\p{Zs}/u.test(message);

test('the reported example: U+202E in a phase literal is refused and shown escaped, in the parser and through validate', () => {
  const when = "steps.a.phase in ['Succeeded', 'Failed\u202e']";
  const parsed = parseCondition(when);
  assert.ok(!parsed.ok);
  assert.ok(parsed.message.includes('\\u{202e}'), parsed.message);
  assert.ok(!raw(parsed.message), parsed.message);
  const r = validate(
    workflow([
      { name: 'a', image: 'x:1' },
      { name: 'b', image: 'x:1', dependsOn: ['a'], when },
    ]),
  );
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'VALIDATE_SCHEMA');
  assert.ok(r.error.message.includes('\\u{202e}') && !r.error.message.includes('\u202e'), r.error.message);
});

test(`${HIDDEN.length} hidden or look-alike characters × ${PLACES.length} places: refused, named as \\u{hex}, never echoed raw`, () => {
  for (const c of HIDDEN)
    for (const [place, make] of PLACES) {
      const p = parseCondition(make(c));
      assert.ok(!p.ok, `${hex(c)} ${place}`);
      assert.ok(p.message.includes(hex(c)), `${hex(c)} ${place}: ${p.message}`);
      assert.ok(!raw(p.message), `${hex(c)} ${place}: ${p.message}`);
    }
});

test('white space is ASCII space and tab: both still separate tokens', () => {
  for (const ws of [' ', '\t', '  \t '])
    assert.ok(parseCondition(`steps.a.phase${ws}==${ws}'Failed'${ws}&&${ws}true`).ok, JSON.stringify(ws));
});

test('property: any text with a hidden character planted anywhere is refused, and no message of any text is raw', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.constantFrom(...HIDDEN), fc.nat(), (text, c, at) => {
      const i = at % (text.length + 1);
      const planted = parseCondition(`${text.slice(0, i)}${c}${text.slice(i)}`);
      assert.ok(!planted.ok);
      assert.ok(!raw(planted.message), planted.message);
      const any = parseCondition(text);
      if (!any.ok) assert.ok(!raw(any.message), any.message);
    }),
    { numRuns: 2000, seed: 8 },
  );
});
