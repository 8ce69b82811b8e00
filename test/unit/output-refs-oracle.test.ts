/**
 * `refsIn` returns at once for a text without `${steps.`, `strayReferences` keeps its path as a
 * stack of segments joined only for a hit, and `referenceIssues` builds a site only for a text
 * that holds `${steps.` (issue 20: the path arrays and strings were most of validate's
 * allocation). The class of fault: a reference, a malformed flag, a stray path or an issue that
 * differs from the walk as it was (commit 7ff4be7), kept verbatim below as the oracle. Variants:
 * any JSON (keys with dots, `__proto__`, digits), texts built from the pieces of a reference (whole,
 * cut, doubled, with bad names), sparse arrays, a step's own env and args among them. The sites of
 * `referenceIssues` are covered by test/unit/when-check.test.ts (each wrong reference, in order).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { OUTPUT_REF, REF_START, refsIn, strayReferences } from '../../src/validate/output-refs.ts';
import type { Step } from '../../src/validate/schema.ts';

function oldRefsIn(text: string): { refs: { step: string; key: string }[]; malformed: boolean } {
  const refs = [...text.matchAll(OUTPUT_REF)].map((m) => ({ step: m[1] ?? '', key: m[2] ?? '' }));
  const starts = [...text.matchAll(REF_START)].length;
  return { refs, malformed: starts !== refs.length };
}

const oldIsReferenceSite = (path: readonly string[]): boolean =>
  path.length === 2 && (path[0] === 'env' || path[0] === 'args');

function oldStrayReferences(step: unknown): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: readonly string[]): void => {
    if (typeof value === 'string') {
      if (value.includes('${steps.') && !oldIsReferenceSite(path)) out.push(path.join('.'));
    } else if (Array.isArray(value)) value.forEach((v, j) => walk(v, [...path, String(j)]));
    else if (typeof value === 'object' && value !== null)
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(step, []);
  return out;
}

/** Texts made of the pieces a reference is made of, so that whole, cut and malformed ones are common. */
const refText = fc
  .array(
    fc.constantFrom(
      '${steps.',
      '${steps.build.outputs.digest}',
      '${steps.a.outputs.X_1}',
      '${steps.Bad.outputs.k}',
      '${steps.a.outputs.}',
      'steps.',
      '.outputs.',
      '}',
      '${',
      'x',
      ' ',
      '$',
      '-',
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));
const text = fc.oneof(refText, fc.string(), fc.string({ unit: 'grapheme' }));
const key = fc.oneof(
  fc.constantFrom('env', 'args', 'command', '__proto__', 'a.b', '0', 'readinessProbe', 'exec'),
  fc.string({ maxLength: 6 }),
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.sparseArray(tie('tree'), { maxLength: 4 }),
    fc.dictionary(key, tie('tree'), { maxKeys: 4 }),
  ),
}));
/** JSON.parse'd as the claim is: a `__proto__` key is an own member. */
const parsed = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null');

test('refsIn: equal to the old walk for any text; a text without `${steps.` has no reference and is not malformed', () => {
  fc.assert(
    fc.property(text, (t) => {
      assert.deepStrictEqual(refsIn(t), oldRefsIn(t));
      if (!t.includes('${steps.')) assert.deepStrictEqual(refsIn(t), { refs: [], malformed: false });
    }),
    { numRuns: 3000 },
  );
});

test('strayReferences: the same paths in the same order as the old walk, for any value (parsed or with holes)', () => {
  fc.assert(
    fc.property(tree, fc.array(refText, { maxLength: 3 }), fc.dictionary(key, refText), (t, args, env) => {
      const step = { ...(typeof t === 'object' && t !== null && !Array.isArray(t) ? t : { other: t }), args, env };
      assert.deepStrictEqual(strayReferences(step as unknown as Step), oldStrayReferences(step));
      const json = parsed(step);
      assert.deepStrictEqual(strayReferences(json as Step), oldStrayReferences(json));
    }),
    { numRuns: 2000 },
  );
});

test('a table: the walk finds a reference outside env and args, skips holes, and names dotted keys as they are', () => {
  const sparse: unknown[] = ['${steps.a.outputs.b}'];
  sparse[3] = '${steps.a.outputs.c}';
  const step = {
    env: { A: '${steps.a.outputs.b}' },
    args: ['${steps.a.outputs.b}'],
    command: ['sh', '${steps.a.outputs.b}'],
    'a.b': { c: '${steps.' },
    sparse,
    sidecars: [{ env: { B: '${steps.x.outputs.y}' } }],
  };
  const expected = ['command.1', 'a.b.c', 'sparse.0', 'sparse.3', 'sidecars.0.env.B'];
  assert.deepStrictEqual(strayReferences(step as unknown as Step), expected);
  assert.deepStrictEqual(oldStrayReferences(step), expected);
});
