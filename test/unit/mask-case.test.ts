/**
 * The case rule of every floor row (CREDENTIAL_PATTERNS' `caseInsensitive`), both ways, generated
 * from the table itself so that a new row is covered without editing this file.
 *
 * The class of fault: a row's flag flipped. A case-sensitive row made case-insensitive masks text
 * that is not the credential (`-----begin rsa private key-----`, `GHP_…`, `MYSQL -P…`: a word
 * hidden in the permanent log, whose hash chain forbids un-masking it later); a case-insensitive
 * row made case-sensitive lets `AUTHORIZATION: …` or `Bearer`/`BEARER` spellings through.
 *
 * How: for each row, matches generated from its own source (fast-check stringMatching, a fixed
 * seed; `\b` dropped as in mask-keywords.test.ts, and only strings the real row matches are kept)
 * are masked (the right-case value; by this row or by an earlier one that covers it). Each match with the case of every
 * letter swapped is the wrong-case variant: when the row's source, compiled without "i", does not
 * match it but compiled with "i" does, it is a near-miss, and
 * - a case-sensitive row must NOT report it (maskText's hits do not name the row);
 * - a row of ANY_CASE must mask it.
 * Which rows are case-insensitive is written down below (ANY_CASE), not read from the flag under
 * test; a new row is case-sensitive unless it is added there.
 * A row whose swapped matches are all still matches (its letters are all in [A-Za-z]-style
 * classes) has no near-miss: the flag is moot for it, and it must be named in CASE_MOOT with why,
 * so that a new row can not silently escape the check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CREDENTIAL_PATTERNS, maskText } from '../../src/audit/mask.ts';

/**
 * The rows that mask regardless of case (header names, auth schemes, secret-like names, which
 * people and tools spell in any case). Every other row is case-sensitive: a token format has a
 * fixed prefix. Written here, not read from the table's flag, so that a flipped flag is caught.
 */
const ANY_CASE = new Set([
  'authorization-header',
  'cookie-header',
  'bearer-token',
  'basic-credentials',
  'secret-flag-value',
  'secret-assignment',
]);

/** Rows whose language is closed under swapping case: no wrong-case near-miss exists. */
const CASE_MOOT: Readonly<Record<string, string>> = {
  'url-userinfo-password': 'scheme, user and password are any-case classes',
  'url-key-userinfo': 'the key is [0-9a-fA-F]',
};

/** Every letter's case swapped (ASCII and beyond: toUpperCase/toLowerCase per code point). */
const swapCase = (s: string): string =>
  [...s].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');

/** Up to `n` distinct generated matches of the row (fixed seed: the same cases every run). */
function matchesOf(source: string, real: RegExp, n = 120): string[] {
  const spelled = new RegExp(source.replaceAll('\\b', ''));
  const out = new Set<string>();
  for (const s of fc.sample(fc.stringMatching(spelled), { numRuns: n * 3, seed: 15 }))
    if (real.test(s) && s.length <= 400) out.add(s);
  return [...out].slice(0, n);
}

for (const p of CREDENTIAL_PATTERNS) {
  const anyCase = ANY_CASE.has(p.name);
  test(`case rule of ${p.name} (${anyCase ? 'any case' : 'case-sensitive'})`, () => {
    const plain = new RegExp(p.source);
    const folded = new RegExp(p.source, 'i');
    const real = anyCase ? folded : plain;
    const matches = matchesOf(p.source, real);
    assert.ok(matches.length >= 20, `${p.name}: ${matches.length} generated matches`);
    let nearMisses = 0;
    for (const s of matches) {
      assert.notEqual(maskText(s).text, s, `${JSON.stringify(s)} (a match of ${p.name}) is masked`);
      const w = swapCase(s);
      if (plain.test(w) || !folded.test(w)) continue;
      nearMisses++;
      const m = maskText(w);
      const why = `${JSON.stringify(w)} (${JSON.stringify(s)} with its case swapped)`;
      // Another row may mask a part of it (a URL's password, a secret-named word): only this row's hit counts.
      if (anyCase) assert.notEqual(m.text, w, `${why} must be masked (${p.name})`);
      else assert.ok(!m.hits.includes(p.name), `${why} must not be masked by ${p.name}`);
    }
    if (nearMisses === 0)
      assert.ok(
        p.name in CASE_MOOT,
        `${p.name}: no wrong-case near-miss in ${matches.length} matches, not in CASE_MOOT`,
      );
    else assert.ok(!(p.name in CASE_MOOT), `${p.name} is in CASE_MOOT but has ${nearMisses} near-misses`);
  });
}

// The reported example (docs/mutation.md, credential-patterns.ts survivors) as a regression row.
test('a lower-case PEM header is not a private key block; the upper-case one is', () => {
  const body = `\nMIIEv${'Q'.repeat(40)}\n`;
  assert.equal(maskText(`-----begin rsa private key-----${body}`).text, `-----begin rsa private key-----${body}`);
  assert.ok(maskText(`-----BEGIN RSA PRIVATE KEY-----${body}`).hits.includes('pem-private-key'));
});
