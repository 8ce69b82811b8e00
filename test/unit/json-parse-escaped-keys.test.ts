/**
 * The JSON parser the runner runs on (red team 7, finding 2): Node 24.21.0's V8 misread an escaped
 * object key when an earlier object had a key whose source text is a prefix of it — after `"x\\"`
 * (the key `x\`), the key `"x\""` (`x"`) came back as `x\` (nodejs/node#63785; fixed in the
 * pinned Node 24.22.3). Every reader of an audit record (`audit query`, `policy replay`, the
 * fallback of `audit verify`) and of a token (jose) parses with JSON.parse, so such a record read
 * back as altered and a token's claims could differ from their bytes.
 *
 * The class: a parse whose keys differ from the text's. Variants: the escaped second key (`\"`,
 * `\n`, `\t`, `\u0001`, `\/`, a longer tail), the escaped first key, and the pair nested deeper or in
 * arrays. Each runs in a fresh process (the misread depended on heap state: a fresh `node -e` showed
 * it every time) with the Node that runs the tests, the pinned one.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

/** Pairs of keys: the first parsed before the second; the second must read back as written. */
const PAIRS: readonly [string, string][] = [
  ['x\\', 'x"'],
  ['x\\', 'x\n'],
  ['x\\', 'x\t'],
  ['x\\', 'x\u0001'],
  ['x\\', 'x/'],
  ['x\\', 'x"tail'],
  ['ab\\', 'ab"'],
  ['x"', 'x\\'],
  ['x\n', 'x\\'],
  ['\\', '"'],
];

/** Shapes the pair is put in: two sibling objects, nested, in an array. */
const SHAPES: readonly ((a: string, b: string) => unknown)[] = [
  (a, b) => ({ a: { [a]: 1 }, b: { [b]: 2 } }),
  (a, b) => ({ input: { step: { env: { [a]: 'v' } } }, result: { [b]: true } }),
  (a, b) => [{ [a]: 1 }, { [b]: 2 }],
];

test('JSON.parse gives back the keys it was given, for escaped keys sharing a prefix (fresh process each)', () => {
  const cases = PAIRS.flatMap(([a, b]) => SHAPES.map((shape) => JSON.stringify(shape(a, b))));
  // One process per case: the misread showed on a fresh heap.
  for (const text of cases) {
    const out = execFileSync(
      process.execPath,
      ['-e', 'process.stdout.write(JSON.stringify(JSON.parse(process.argv[1])))', text],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(out, text, `JSON.parse misread ${text} on Node ${process.version}`);
  }
});
