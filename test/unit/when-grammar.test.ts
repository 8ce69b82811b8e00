/**
 * The `when` grammar (src/validate/condition.ts) at the level of what it returns, not only whether
 * it accepts: the tree, the refs, the phase literals, every refusal's message with its offset, and
 * each bound one step either side of its edge (issue 15 item 6: the mutants of the parser that
 * `when.test.ts` let live).
 *
 * The class of fault: a parser that accepts the right texts but builds another tree (an `in` read
 * as `notin`, `&&` binding looser than `||`, a ref to the wrong step), lets a bound slip by one,
 * or refuses with a message that points the operator at the wrong place. Variants: each rule of
 * the grammar as a table row with its tree; each bound at and one past its edge; each refusal's
 * message with its offset; where a ref or a keyword ends (the character that may not follow it).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CONDITION_LIMITS,
  CONDITION_PHASES,
  parseCondition,
  phaseLiterals,
  refsOf,
  revealCondition,
  type Condition,
} from '../../src/validate/condition.ts';

const phase = (step: string) => ({ kind: 'phase', step }) as const;
const output = (step: string, key: string) => ({ kind: 'output', step, key }) as const;
const str = (value: string) => ({ kind: 'string', value }) as const;

/** The tree of `text`, or a failed assertion with the parser's message. */
function tree(text: string): Condition {
  const parsed = parseCondition(text);
  assert.ok(parsed.ok, `${text}: ${parsed.ok ? '' : parsed.message}`);
  return parsed.condition;
}

/** The message of a refusal of `text`, or a failed assertion. */
function refusal(text: string): string {
  const parsed = parseCondition(text);
  assert.ok(!parsed.ok, `accepted: ${text}`);
  return parsed.message;
}

describe('when grammar: the tree of each rule', () => {
  const rows: [string, Condition][] = [
    ['true', { kind: 'bool', value: true }],
    ['false', { kind: 'bool', value: false }],
    ["steps.a.phase == 'Failed'", { kind: 'eq', left: phase('a'), right: str('Failed') }],
    ['steps.a.phase != "Failed"', { kind: 'ne', left: phase('a'), right: str('Failed') }],
    ["'x' == steps.b-2.outputs.K_1", { kind: 'eq', left: str('x'), right: output('b-2', 'K_1') }],
    ["steps.a.outputs.x in ['p']", { kind: 'in', left: output('a', 'x'), values: [str('p')] }],
    [
      'steps.a.outputs.x notin [\'p\', "q", steps.b.phase]',
      { kind: 'notin', left: output('a', 'x'), values: [str('p'), str('q'), phase('b')] },
    ],
    ['!true', { kind: 'not', of: { kind: 'bool', value: true } }],
    ['!!false', { kind: 'not', of: { kind: 'not', of: { kind: 'bool', value: false } } }],
    ['(true)', { kind: 'bool', value: true }],
    ["''==''", { kind: 'eq', left: str(''), right: str('') }],
    ["'a b'\t==\t' '", { kind: 'eq', left: str('a b'), right: str(' ') }],
    ['"it\'s" == \'say "x"\'', { kind: 'eq', left: str("it's"), right: str('say "x"') }],
    // && binds tighter than ||, both associate to the left, ! binds tighter than both.
    [
      'true || false && true',
      {
        kind: 'or',
        left: { kind: 'bool', value: true },
        right: { kind: 'and', left: { kind: 'bool', value: false }, right: { kind: 'bool', value: true } },
      },
    ],
    [
      'true && false || true',
      {
        kind: 'or',
        left: { kind: 'and', left: { kind: 'bool', value: true }, right: { kind: 'bool', value: false } },
        right: { kind: 'bool', value: true },
      },
    ],
    [
      'true && false && true',
      {
        kind: 'and',
        left: { kind: 'and', left: { kind: 'bool', value: true }, right: { kind: 'bool', value: false } },
        right: { kind: 'bool', value: true },
      },
    ],
    [
      'false || true || false',
      {
        kind: 'or',
        left: { kind: 'or', left: { kind: 'bool', value: false }, right: { kind: 'bool', value: true } },
        right: { kind: 'bool', value: false },
      },
    ],
    [
      '!true && false',
      { kind: 'and', left: { kind: 'not', of: { kind: 'bool', value: true } }, right: { kind: 'bool', value: false } },
    ],
    [
      '!(true && false)',
      { kind: 'not', of: { kind: 'and', left: { kind: 'bool', value: true }, right: { kind: 'bool', value: false } } },
    ],
  ];
  for (const [text, want] of rows) test(text, () => assert.deepEqual(tree(text), want));

  test('refs: every ref of the condition in order, strings left out; phase literals only beside a phase ref', () => {
    const text =
      "steps.a.phase == 'Failed' || !(steps.b.outputs.k in ['x', steps.c.phase]) && 'y' != steps.d.outputs.z || true";
    const parsed = parseCondition(text);
    assert.ok(parsed.ok);
    const want = [phase('a'), output('b', 'k'), phase('c'), output('d', 'z')];
    assert.deepEqual(parsed.refs, want);
    assert.deepEqual(refsOf(parsed.condition), want);
    // 'Failed' is beside steps.a.phase; 'x' is in a list that holds steps.c.phase; 'y' is beside an output.
    assert.deepEqual(phaseLiterals(parsed.condition), ['Failed', 'x']);
  });

  test('refs of each comparison kind, left side first', () => {
    for (const op of ['==', '!=']) {
      const parsed = parseCondition(`steps.a.phase ${op} steps.b.outputs.k`);
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.refs, [phase('a'), output('b', 'k')]);
    }
    for (const op of ['in', 'notin']) {
      const parsed = parseCondition(`steps.a.outputs.k ${op} ['x', steps.b.phase, steps.c.outputs.j]`);
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.refs, [output('a', 'k'), phase('b'), output('c', 'j')]);
    }
  });

  const literals: [string, string[]][] = [
    ['true', []],
    ["'Failed' == 'Failed'", []],
    ["steps.a.outputs.k == 'Failed'", []],
    ["'Failed' != steps.a.phase", ['Failed']],
    ["!(steps.a.phase == 'Skipped')", ['Skipped']],
    ["steps.a.phase notin ['Failed', 'Error']", ['Failed', 'Error']],
    ["steps.a.outputs.k in ['Failed', 'Error']", []],
    ["steps.a.phase == 'Failed' && steps.b.phase == 'Error'", ['Failed', 'Error']],
    ['steps.a.phase == steps.b.phase', []],
  ];
  for (const [text, want] of literals)
    test(`phase literals of ${text}`, () => assert.deepEqual(phaseLiterals(tree(text)), want));

  test('the phases a condition may compare with are the step phases, no more', () => {
    assert.deepEqual(
      [...CONDITION_PHASES],
      ['Pending', 'Running', 'Succeeded', 'Failed', 'Denied', 'Error', 'Skipped', 'Cancelled'],
    );
    assert.deepEqual({ ...CONDITION_LIMITS }, { length: 1024, tokens: 128, depth: 16, string: 256 });
  });
});

describe('when grammar: where a ref and a keyword end', () => {
  const name63 = `a${'b'.repeat(61)}c`;
  const key63 = `K${'_'.repeat(62)}`;
  const accepted = [
    `steps.${name63}.phase == 'x'`,
    `steps.${name63}.outputs.${key63} == 'x'`,
    "steps.0.outputs._ == 'x'",
    "steps.a-b.phase=='x'",
    'steps.a.phase==steps.b.phase',
    "(steps.a.phase=='x')",
  ];
  for (const text of accepted)
    test(`accepts ${text.slice(0, 60)}`, () => {
      tree(text);
    });

  const refused: [string, string][] = [
    [`steps.${name63}d.phase == 'x'`, 'a step name of 64 characters'],
    [`steps.${name63}.outputs.${key63}x == 'x'`, 'an output key of 64 characters'],
    ["steps.a-.phase == 'x'", 'a step name ending in "-"'],
    ["steps.-a.phase == 'x'", 'a step name starting with "-"'],
    ["steps.a.phasex == 'x'", 'a letter after phase'],
    ["steps.a.phase0 == 'x'", 'a digit after phase'],
    ["steps.a.phase_ == 'x'", 'an underscore after phase'],
    ["steps.a.phase.x == 'x'", 'a dot after phase'],
    ["steps.a.phase- == 'x'", 'a dash after phase'],
    ["steps.a.outputs.k.x == 'x'", 'a dot after an output key'],
    ["steps.a.outputs.k-x == 'x'", 'a dash after an output key'],
    ["steps.a.outputs. == 'x'", 'no output key'],
    ['truex', 'a letter after true'],
    ['true.x', 'a dot after true'],
    ['true_', 'an underscore after true'],
    ['true-', 'a dash after true'],
    ['true1', 'a digit after true'],
    ["steps.a.phase in1 ['x']", 'a digit after in'],
    ['null', 'a word that is not a keyword'],
  ];
  for (const [text, what] of refused)
    test(`refuses ${what}`, () => {
      refusal(text);
    });
});

describe('when grammar: each refusal says what and where', () => {
  const rows: [string, string][] = [
    ["steps.a.phase == 'Succ", 'unterminated string at 17'],
    ['steps.a.phase == "x\'', 'unterminated string at 17'],
    ["steps.a.phase == 'a\tb'", 'string at 17: at most 256 printable characters'],
    ['steps.a.phase', 'expected ==, !=, in or notin at the end'],
    ['steps.a.phase true', 'expected ==, !=, in or notin at 14 (found "true")'],
    ["steps.a.phase 'x'", 'expected ==, !=, in or notin at 14 (found "a string")'],
    ['steps.a.phase steps.b.outputs.k', 'expected ==, !=, in or notin at 14 (found "steps.b.outputs")'],
    ['steps.a.phase == steps.b.phase steps.c.phase', 'unexpected "steps.c.phase" at 31'],
    ['steps.a.phase ==', 'expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string at the end'],
    [
      'steps.a.phase == )',
      'expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string at 17 (found ")")',
    ],
    ["steps.a.phase in 'x'", 'expected "[" at 17 (found "a string")'],
    ["steps.a.phase notin ['x' 'y']", 'expected "]" at 25 (found "a string")'],
    ["steps.a.phase in ['x',", 'expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string at the end'],
    ['(true', 'expected ")" at the end'],
    ['(true false', 'expected ")" at 6 (found "false")'],
    ['true)', 'unexpected ")" at 4'],
    ["true 'x'", 'unexpected "a string" at 5'],
    ['true && ', 'expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string at the end'],
    ['process.exit(1)', 'unexpected input at 0: "process.exit(1)"'],
    // A keyword or a ref is read only where the token starts, not found further on.
    ['true && 1true', 'unexpected input at 8: "1true"'],
    ['true && null', 'unexpected input at 8: "null"'],
    ["1steps.a.phase == 'x'", 'unexpected input at 0: "1steps.a.phase ="'],
    ['true && process.exit(1) || true', 'unexpected input at 8: "process.exit(1) "'],
    ['true && `${x}`', 'unexpected input at 8: "`${x}`"'],
    ['true && éèêëēėęě€ok', 'unexpected input at 8: "éèêëēėęě€ok"'],
    ['true && \u{1f600}\u{1f600}abcdefghijklmnopq', 'unexpected input at 8: "\u{1f600}\u{1f600}abcdefghijklmn"'],
    ['', 'expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string at the end'],
    [' \t ', 'expected steps.<name>.phase, steps.<name>.outputs.<key> or a quoted string at the end'],
  ];
  for (const [text, message] of rows)
    test(`${JSON.stringify(text)} → ${message}`, () => assert.equal(refusal(text), message));

  test('a hidden or look-alike character: named as \\u{hex} with its offset, before any parse', () => {
    assert.equal(
      refusal("steps.a.phase == 'x\u202e'"),
      'hidden or look-alike character \\u{202e} at 19: a condition is printable text, spaces and tabs only',
    );
    assert.equal(
      refusal('true\u00a0&& true'),
      'hidden or look-alike character \\u{a0} at 4: a condition is printable text, spaces and tabs only',
    );
    // Past the length bound the length is what is reported, whatever else the text holds.
    assert.equal(refusal(`\u202e${' '.repeat(CONDITION_LIMITS.length)}`), 'at most 1024 characters');
  });

  test('revealCondition: hidden characters and non-ASCII spaces escaped, ASCII space and text kept', () => {
    assert.equal(revealCondition('a b\u00a0c\u3000d\u202ee'), 'a b\\u{a0}c\\u{3000}d\\u{202e}e');
    assert.equal(revealCondition("steps.a.phase == 'é'"), "steps.a.phase == 'é'");
  });
});

describe('when grammar: each bound at its edge and one past it', () => {
  const chain = (n: number): string => Array.from({ length: n }, () => 'true').join(' && ');

  test(`length: ${CONDITION_LIMITS.length} characters accepted, one more refused`, () => {
    const at = `true${' '.repeat(CONDITION_LIMITS.length - 4)}`;
    assert.equal(at.length, CONDITION_LIMITS.length);
    tree(at);
    assert.equal(refusal(`${at} `), 'at most 1024 characters');
  });

  test(`tokens: ${CONDITION_LIMITS.tokens} accepted, one more refused`, () => {
    const at = `!${chain(64)}`; // 1 + 64 + 63 tokens
    tree(at);
    assert.equal(refusal(`!${at}`), 'more than 128 tokens');
    assert.equal(refusal(`${at} )`), 'more than 128 tokens');
  });

  test(`nesting: ${CONDITION_LIMITS.depth} levels of ! or ( accepted, one more refused`, () => {
    const d = CONDITION_LIMITS.depth;
    tree(`${'!'.repeat(d)}true`);
    assert.equal(refusal(`${'!'.repeat(d + 1)}true`), 'nested deeper than 16');
    tree(`${'('.repeat(d)}true${')'.repeat(d)}`);
    assert.equal(refusal(`${'('.repeat(d + 1)}true${')'.repeat(d + 1)}`), 'nested deeper than 16');
    tree(`${'!('.repeat(d / 2)}true${')'.repeat(d / 2)}`);
    assert.equal(refusal(`${'!('.repeat(d / 2)}!true${')'.repeat(d / 2)}`), 'nested deeper than 16');
    // Depth is the nesting, not the count: siblings at the same level do not add up.
    tree(Array.from({ length: 20 }, () => '(true)').join(' || '));
  });

  test(`a string: ${CONDITION_LIMITS.string} characters accepted, one more refused`, () => {
    const s = 'x'.repeat(CONDITION_LIMITS.string);
    assert.deepEqual(tree(`'${s}' == "${s}"`), { kind: 'eq', left: str(s), right: str(s) });
    assert.equal(refusal(`'${s}' == "${s}x"`), 'string at 262: at most 256 printable characters');
  });
});
