/**
 * The secrets prefilter's keywords (policies/kubiya/rules/secrets/prefilter_keywords.rego) are a
 * NECESSARY condition of each default credential pattern: every string the pattern matches holds
 * one of its keywords (after folding). If a keyword list were too narrow, the policy would skip a
 * pattern that matches and let a literal credential through. The class of fault: a keyword the
 * pattern does not require (a wrong letter, an optional part, one alternative forgotten). This
 * test generates matches of every keyed pattern (fast-check's stringMatching on the JavaScript
 * form, with random text around) and checks each holds a keyword; the Rego tests beside the
 * file check hand-written samples, the RE2 case folds (U+017F, U+212A) and that every default
 * pattern has keywords.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { jsSource } from '../../src/credentials/js-source.ts';
import { foldForKeywords, PATTERN_KEYWORDS } from '../../src/credentials/keywords.ts';

const run = promisify(execFile);
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
const policies = join(REPO_ROOT, 'policies');

async function keywords(): Promise<Record<string, string[]>> {
  const { stdout } = await run(opa, ['eval', '-d', policies, '-f', 'raw', 'data.kubiya.rules.secrets.keywords']);
  return JSON.parse(stdout) as Record<string, string[]>;
}

const fold = foldForKeywords;

test('the masking prefilter (src/credentials/keywords.ts) holds the same keywords as the policy', async () => {
  assert.deepEqual({ ...PATTERN_KEYWORDS }, await keywords());
});

test('the two folds agree (Rego fold, foldForKeywords): U+017F and U+212A onto s and k, lower case', async () => {
  const text = 'PA\u017f\u017fWORD API_\u212aEY MiXeD';
  const { stdout } = await run(opa, [
    'eval',
    '-d',
    policies,
    '-f',
    'raw',
    `data.kubiya.rules.secrets.fold(${JSON.stringify(text)})`,
  ]);
  assert.equal(stdout.trim(), fold(text));
  assert.equal(fold(text), 'password api_key mixed');
});

test('every generated match of every keyed pattern holds one of its keywords', async () => {
  const table = await keywords();
  assert.ok(Object.keys(table).length >= 20, 'the default patterns are keyed');
  for (const [pattern, words] of Object.entries(table)) {
    assert.ok(
      words.length > 0 && words.every((w) => w === fold(w) && w.length > 0),
      `${pattern}: keywords are folded, non-empty`,
    );
    const re = new RegExp(jsSource(pattern));
    fc.assert(
      fc.property(fc.stringMatching(re), (s) => {
        assert.ok(re.test(s), 'generated string matches');
        assert.ok(
          words.some((w) => fold(s).includes(w)),
          `${JSON.stringify(s)} matches ${pattern} but holds none of ${words.join(', ')}`,
        );
      }),
      { numRuns: 300 },
    );
  }
});

test('the test can fail: a keyword the pattern does not require is caught', () => {
  const re = new RegExp(jsSource('(?i:(token|bearer)([0-9]*$|_))'));
  assert.throws(() =>
    fc.assert(
      fc.property(fc.stringMatching(re), (s) => fold(s).includes('token')),
      { numRuns: 300 },
    ),
  );
});
