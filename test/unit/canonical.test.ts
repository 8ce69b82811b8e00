import { describe, test } from 'node:test';
import fc from 'fast-check';
import { sameAsLibrary } from '../support/canonical-library.ts';

describe('canonicalJson (RFC 8785, as the canonicalize library)', () => {
  test('any JSON value, any Unicode: the same text as the library', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => sameAsLibrary(v)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.object({
          key: fc.string({ unit: 'binary' }),
          values: [
            fc.string({ unit: 'binary' }),
            fc.double(),
            fc.integer(),
            fc.boolean(),
            fc.constant(null),
            fc.constant(undefined),
          ],
          maxDepth: 4,
        }),
        (v) => sameAsLibrary(v),
      ),
      { numRuns: 2000 },
    );
  });

  test('the cases handed to the library: same text or same error', () => {
    const cases: unknown[] = [
      { b: 1, a: 2, 10: 'x', 9: 'y', '': 0 },
      { '\u{1F600}': 1, '\uFF61': 2, é: 3, e: 4 },
      { s: 'lone \uD800 surrogate' },
      { ['\uDC00']: 1 },
      { s: 'the text \\ud800, well formed', k: { '\\udc00': 'x' } },
      { n: Number.NaN },
      { n: Number.POSITIVE_INFINITY },
      { n: -0, big: 1e21, small: 1e-7, frac: 0.1 + 0.2 },
      { d: new Date(0) },
      { t: { toJSON: () => 'x' } },
      [undefined, () => 1, Symbol('s')],
      { u: undefined, f: () => 1 },
      JSON.parse('{"__proto__": {"a": 1}, "b": 2}'),
      Object.assign(Object.create(null) as object, { z: 1, a: 2 }),
      'top-level string',
      42,
      null,
    ];
    for (const c of cases) sameAsLibrary(c);
    const deep: unknown[] = [];
    let at = deep;
    for (let i = 0; i < 500; i++) {
      const next: unknown[] = [];
      at.push(next);
      at = next;
    }
    sameAsLibrary({ deep });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    sameAsLibrary(cyclic);
  });
});
