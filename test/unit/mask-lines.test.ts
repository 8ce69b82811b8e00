/**
 * The command-line rules of audit masking (src/audit/mask-command.ts) and the two fast paths of
 * maskText (src/audit/mask-text.ts), each at its own interface, exact results (docs/mutation.md,
 * "audit, second round").
 *
 * - `commandLineHits`: which words of `command` + `args` a credential split over words touches, per
 *   field. The class: a credential found only on the joined line (a secret-named flag and its value,
 *   also across the command/args boundary; `mysql -p…`, `curl -u user:pass`, `sshpass -p`, a header
 *   split over words) must name exactly the words its masked part covers — not the kept prefix
 *   (`Bearer`), not a match inside one word (maskText masks it there), not one already masked; a
 *   line that is not all strings, or of fewer than two words, is not scanned.
 * - `isSecretFlag`: the floor's secret names (one or two dashes, any prefix, `pass`/`pwd` after a
 *   separator), the bundle's env-name patterns read with `-`/`.` as `_` (every call, a "g" regex's
 *   lastIndex reset), the 256-character name bound (longer counts as secret only with a bundle).
 * - maskText's fast paths: a text with no keyword of any row is answered by the gate (the shared,
 *   frozen empty hit list), a text found clean once is answered by the clean-text cache (per
 *   pattern set, at most 256 UTF-16 units a text, emptied when 4096 texts are held); anything else
 *   runs the rows (a new hit list). They must be TAKEN for the texts they exist for, and never for a
 *   text the rows would change.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FLOOR_ONLY, maskPatternsOf } from '../../src/audit/credential-patterns.ts';
import { commandLineHits, isSecretFlag } from '../../src/audit/mask-command.ts';
import { COMPILED, FLOOR_GATE, maskText } from '../../src/audit/mask-text.ts';
import { foldForKeywords, mayMatch } from '../../src/credentials/keywords.ts';
import fc from 'fast-check';

describe('commandLineHits: the words a credential split over words touches', () => {
  const ROWS: [string, Record<string, unknown>, number[], number[]][] = [
    ['mysql -p joined to its value', { command: ['mysql', '-u', 'root', '-phunter2'] }, [3], []],
    ['curl -u user:pass', { command: ['curl', '-u', 'admin:hunter2', 'http://x'] }, [2], []],
    ['sshpass -p and its value', { command: ['sshpass', '-p', 'hunter2', 'ssh'] }, [2], []],
    ['a secret flag and its value in command', { command: ['app', '--password', 'hunter2'] }, [2], []],
    [
      'the flag last in command, the value first in args',
      { command: ['app', '--password'], args: ['hunter2'] },
      [],
      [0],
    ],
    ['args alone, two words', { args: ['--token', 'abc'] }, [], [1]],
    ['an empty first word still separates', { command: [''], args: ['--password', 'x'] }, [], [1]],
    ['an empty command list', { command: [], args: ['--password', 'x'] }, [], [1]],
    ['command not a list: args alone', { command: 'app --password', args: ['--password', 'x'] }, [], [1]],
    [
      'a header split over words: the kept prefix word is not a hit',
      { command: ['Authorization:', 'Bearer', 'abcdefghijklmnopqrstuvwxyz'] },
      [2],
      [],
    ],
    ['a match inside one word is that word’s own', { command: ['x', 'Bearer abcdefghijklmnopqrstuvwxyz'] }, [], []],
    ['an already masked value', { command: ['x', '--password', '***'] }, [], []],
    ['a word that is not a string: nothing scanned', { command: ['x', 1, '--password', 'y'] }, [], []],
    ['one word: nothing scanned', { command: ['--password=hunter2'] }, [], []],
    ['no credential', { command: ['ls', '-la'], args: ['/tmp'] }, [], []],
  ];
  for (const [name, v, command, args] of ROWS)
    test(name, () => {
      const hits = commandLineHits(v);
      assert.deepEqual({ command: [...hits.command], args: [...hits.args] }, { command, args });
    });

  // The line's gate (h-floor-3): it may skip the rows only where each row would skip itself.
  test('FLOOR_GATE matches a folded line exactly when some floor row may match it', () => {
    assert.ok(FLOOR_GATE !== undefined, 'every floor row has keywords');
    const words = [...new Set(COMPILED.flatMap((p) => p.keywords ?? []))];
    const pieces = fc.oneof(
      fc.constantFrom(...words, ...words.map((w) => w.slice(0, -1)), ...words.map((w) => w.slice(1))),
      fc.constantFrom(' ', '-', ':', '/', 'x', '\u017f', '\u212a', 'A', '.'),
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 6 }), (ps) => {
        const folded = foldForKeywords(ps.join(''));
        assert.equal(
          FLOOR_GATE?.test(folded),
          COMPILED.some((p) => mayMatch(p.keywords, folded)),
          folded,
        );
      }),
      { numRuns: 3000, seed: 7 },
    );
  });
});

describe('isSecretFlag: the floor names and the bundle names', () => {
  const bundle = maskPatternsOf({ secrets: { credentials: { envNames: [{ id: 'db', pattern: '^DB_[A-Z]+$' }] } } });
  const ROWS: [string, boolean, boolean][] = [
    ['--password', true, true],
    ['-token', true, true],
    ['---password', true, true],
    ['--db-pass', true, true],
    ['--pass', true, true],
    ['--x.pwd', true, true],
    ['-pwd', true, true],
    ['--api-key', true, true],
    ['--apikey', true, true],
    ['--passenger', false, false],
    ['--bypass', false, false],
    ['--secret-file', false, false],
    ['password', false, false],
    ['--password=x', false, false],
    ['--DB-HOST', false, true],
    ['--DB.HOST', false, true],
    ['-DB_HOST', false, true],
    ['--db-host', false, false],
    ['DB_HOST', false, false],
    ['---DB_HOST', false, false],
    ['--DB-HOST1', false, false],
    [`--${'a'.repeat(256)}`, false, false],
    [`--${'a'.repeat(257)}`, false, true],
  ];
  for (const [word, floor, withBundle] of ROWS)
    test(`${word.length > 40 ? `a flag name of ${word.length - 2} characters` : word}: floor ${floor}, with the bundle ${withBundle}`, () => {
      assert.equal(isSecretFlag(word, FLOOR_ONLY), floor);
      assert.equal(isSecretFlag(word, bundle), withBundle);
    });

  test('a bundle "g" pattern answers the same on every call (its lastIndex is reset)', () => {
    const g = maskPatternsOf({ secrets: { credentials: { envNames: [{ id: 'db', pattern: 'DB_' }] } } });
    for (let i = 0; i < 3; i++) assert.equal(isSecretFlag('--DB-HOST', g), true);
  });
});

describe("maskText's fast paths: the keyword gate and the clean-text cache", () => {
  /** A fresh pattern set (each has its own gate and cache): the floor only. */
  const fresh = (): ReturnType<typeof maskPatternsOf> => maskPatternsOf({ secrets: { credentials: {} } });
  const FAST = (hits: readonly string[]): boolean => Object.isFrozen(hits);

  test('the gate: a text with no keyword of any row is answered at once, the first time', () => {
    const p = fresh();
    for (const t of ['hello world', 'nginx:1.27', '', '500m']) {
      const m = maskText(t, p);
      assert.deepEqual(m, { text: t, hits: [] });
      assert.equal(FAST(m.hits), true, t);
    }
  });

  test('a text with a keyword runs the rows; found clean, the cache answers the next time', () => {
    const p = fresh();
    const first = maskText('the key of the door', p);
    assert.deepEqual(first, { text: 'the key of the door', hits: [] });
    assert.equal(FAST(first.hits), false);
    assert.equal(FAST(maskText('the key of the door', p).hits), true);
  });

  test('a masked text is never cached: each call runs the rows and masks', () => {
    const p = fresh();
    for (let i = 0; i < 2; i++) {
      const m = maskText('password=hunter2', p);
      assert.notEqual(m.text, 'password=hunter2');
      assert.deepEqual(m.hits, ['secret-assignment']);
    }
  });

  test('the cache holds texts of up to 256 UTF-16 units', () => {
    const p = fresh();
    const at = `key ${'x'.repeat(252)}`;
    const past = `key ${'x'.repeat(253)}`;
    assert.equal(at.length, 256);
    maskText(at, p);
    maskText(past, p);
    assert.equal(FAST(maskText(at, p).hits), true);
    assert.equal(FAST(maskText(past, p).hits), false);
  });

  test('the cache is emptied when it holds 4096 texts, not before', () => {
    const p = fresh();
    maskText('key 0', p);
    for (let i = 1; i < 4096; i++) maskText(`key ${i}`, p);
    assert.equal(FAST(maskText('key 0', p).hits), true); // 4096 held: still there
    maskText('key 4096', p); // full: emptied, then this one held
    assert.equal(FAST(maskText('key 0', p).hits), false);
    assert.equal(FAST(maskText('key 4096', p).hits), true);
  });

  test('each pattern set has its own cache: clean under the floor is not clean under a bundle', () => {
    const floor = fresh();
    assert.equal(maskText('pat1', floor).text, 'pat1');
    const bundle = maskPatternsOf({
      secrets: {
        credentials: { values: [{ id: 'pat', pattern: '(?i:(token|bearer)([0-9]*$|_)|(^|_)pat([0-9]*$|_))' }] },
      },
    });
    assert.deepEqual(maskText('pat1', bundle), { text: '***', hits: ['settings:pat'] });
  });

  test('a bundle pattern without keywords: no gate, every text runs the rows the first time', () => {
    const p = maskPatternsOf({ secrets: { credentials: { values: [{ id: 'acme', pattern: 'acme_[0-9]{8}' }] } } });
    const m = maskText('hello there', p);
    assert.deepEqual(m, { text: 'hello there', hits: [] });
    assert.equal(FAST(m.hits), false);
    assert.equal(FAST(maskText('hello there', p).hits), true);
  });
});
