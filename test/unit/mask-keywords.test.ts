/**
 * The masking floor's keyword prefilter (FLOOR_KEYWORDS in src/audit/mask.ts) is a NECESSARY
 * condition of each floor row: every string a row matches holds one of its keywords (after
 * foldForKeywords), else maskText would skip a row that matches and leave a credential in the
 * audit log. The class of fault: a keyword the row does not require (a wrong letter, an optional
 * part, one alternative forgotten, a row added without keywords). Generated matches of every row
 * (fast-check stringMatching, random text around) must hold a keyword.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CREDENTIAL_PATTERNS, FLOOR_KEYWORDS, maskPatternsOf, maskText } from '../../src/audit/mask.ts';
import { jsSource } from '../../src/credentials/js-source.ts';
import { foldForKeywords } from '../../src/credentials/keywords.ts';

test('every floor row has keywords, folded and non-empty', () => {
  for (const p of CREDENTIAL_PATTERNS) {
    const words = FLOOR_KEYWORDS[p.name];
    assert.ok(words !== undefined && words.length > 0, p.name);
    assert.ok(
      words.every((w) => w.length > 0 && w === foldForKeywords(w)),
      p.name,
    );
  }
});

test('every generated match of every floor row holds one of its keywords, and is masked', () => {
  for (const p of CREDENTIAL_PATTERNS) {
    const re = new RegExp(p.source, p.caseInsensitive ? 'i' : '');
    // fast-check cannot generate from an "i" regex (the same language with case spelled out) nor
    // with \b: without it (zero-width) the language is a superset, so the claim is stronger.
    const source = p.source.replaceAll('\\b', '');
    const spelled = new RegExp(p.caseInsensitive ? jsSource(`(?i:${source})`) : source);
    const words = FLOOR_KEYWORDS[p.name] ?? [];
    fc.assert(
      fc.property(fc.stringMatching(spelled), (s) => {
        if (re.test(s)) assert.notEqual(maskText(s).text, s, `${JSON.stringify(s)} is a match of ${p.name}, masked`);
        assert.ok(
          words.some((w) => foldForKeywords(s).includes(w)),
          `${JSON.stringify(s)} matches ${p.name} but holds none of ${words.join(', ')}`,
        );
      }),
      { numRuns: 300 },
    );
  }
});

test('the prefilter does not hide a folded letter: U+017F and U+212A still reach the rows', () => {
  assert.equal(foldForKeywords('PA\u017f\u017fWORD=x API_\u212aEY'), 'password=x api_key');
  assert.notEqual(maskText('PASSWORD=hunter2').text, 'PASSWORD=hunter2');
});

test("a bundle pattern without keywords (an operator's own) always runs: text with no floor keyword is still masked", () => {
  const extra = maskPatternsOf({ secrets: { credentials: { values: [{ id: 'acme', pattern: 'acme_[0-9]{8}' }] } } });
  assert.equal(extra.values[0]?.keywords, undefined);
  assert.deepEqual(maskText('deploy acme_12345678 now', extra), { text: 'deploy *** now', hits: ['settings:acme'] });
  // A default pattern edited by one character loses its keywords too.
  const edited = maskPatternsOf({
    secrets: {
      credentials: {
        values: [
          { id: 'jwt', pattern: '(^|[^A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]+' },
        ],
      },
    },
  });
  assert.equal(edited.values[0]?.keywords, undefined);
});

test('the default bundle patterns carry their keywords, and their matches are still masked', () => {
  const extra = maskPatternsOf({
    secrets: {
      credentials: {
        values: [
          {
            id: 'slack-webhook',
            pattern: 'hooks\\.slack\\.com/(services|workflows|triggers)/[A-Za-z0-9_-]{4,}/[A-Za-z0-9/_-]{4,}',
          },
        ],
      },
    },
  });
  assert.deepEqual(extra.values[0]?.keywords, ['hooks.slack.com/']);
  assert.equal(
    maskText('x HOOKS.slack.com/services/T000/B000 y', extra).text,
    'x HOOKS.slack.com/services/T000/B000 y',
  );
  assert.notEqual(
    maskText('x hooks.slack.com/services/T000/B000 y', extra).text,
    'x hooks.slack.com/services/T000/B000 y',
  );
});

test("the gate holds the bundle's own keywords: a default pattern whose keyword is no floor keyword still runs", () => {
  // mask-text.ts's gate is the union of the floor's and the bundle's keywords. `pat` is a keyword of
  // a default env-name pattern only (no floor row has it): without the bundle's keywords in the gate,
  // a text holding only `pat` would skip the pattern and keep its credential.
  const extra = maskPatternsOf({
    secrets: {
      credentials: { values: [{ id: 'pat', pattern: '(?i:(token|bearer)([0-9]*$|_)|(^|_)pat([0-9]*$|_))' }] },
    },
  });
  assert.deepEqual(extra.values[0]?.keywords, ['token', 'bearer', 'pat']);
  assert.ok(!Object.values(FLOOR_KEYWORDS).some((words) => words.some((w) => 'pat1'.includes(w))));
  assert.deepEqual(maskText('pat1', extra), { text: '***', hits: ['settings:pat'] });
  assert.deepEqual(maskText('pat_x', extra), { text: '***x', hits: ['settings:pat'] });
});
