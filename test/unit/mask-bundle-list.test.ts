/**
 * maskPatternsOf over a malformed `kubiya.settings.secrets.credentials` (src/audit/credential-patterns.ts
 * compileList). The class: an entry or list of the wrong shape (not an array; an entry that is
 * null, a primitive, an array, or an object whose `id` or `pattern` is not a string) must
 * contribute nothing, never throw (masking runs on every audit record), and leave every good
 * entry beside it working; the floor masks in every case. Generated: each bad entry alone, and
 * each beside one good entry, in both lists (`values`, `envNames`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLOOR_ONLY } from '../../src/audit/credential-patterns.ts';
import { maskPatternsOf, maskText } from '../../src/audit/mask.ts';

const GOOD = { id: 'acme', pattern: 'acme_[0-9]{8}' };

/** Entries of the wrong shape, each with why it is wrong. */
const BAD_ENTRIES: readonly (readonly [string, unknown])[] = [
  ['null', null],
  ['a number', 5],
  ['a string', 'acme_[0-9]{8}'],
  ['an array', ['acme', 'acme_[0-9]{8}']],
  ['id not a string', { id: 7, pattern: 'acme_[0-9]{8}' }],
  ['id missing', { pattern: 'acme_[0-9]{8}' }],
  ['pattern not a string', { id: 'acme', pattern: 12345678 }],
  ['pattern an array', { id: 'acme', pattern: ['acme_[0-9]{8}'] }],
  ['pattern missing', { id: 'acme' }],
];

/** Lists that are not lists. */
const BAD_LISTS: readonly (readonly [string, unknown])[] = [
  ['an object keyed like an array', { 0: GOOD, length: 1 }],
  ['a string', 'acme_[0-9]{8}'],
  ['null', null],
  ['the entry itself', GOOD],
];

const settingsWith = (list: 'values' | 'envNames', value: unknown): object => ({
  secrets: { credentials: { [list]: value } },
});

for (const list of ['values', 'envNames'] as const) {
  for (const [why, entry] of BAD_ENTRIES) {
    test(`${list}: an entry with ${why} contributes nothing; a good one beside it still counts`, () => {
      assert.equal(maskPatternsOf(settingsWith(list, [entry]))[list === 'values' ? 'values' : 'names'].length, 0);
      const both = maskPatternsOf(settingsWith(list, [entry, GOOD, entry]));
      const compiled = list === 'values' ? both.values : both.names;
      assert.deepEqual(
        compiled.map((p) => p.id),
        ['acme'],
      );
      if (list === 'values') assert.equal(maskText('deploy acme_12345678 now', both).text, 'deploy *** now');
      assert.equal(maskText('PASSWORD=hunter2', both).text, 'PASSWORD=***', 'the floor still masks');
    });
  }
  for (const [why, value] of BAD_LISTS) {
    test(`${list}: ${why} is not a list and contributes nothing`, () => {
      const p = maskPatternsOf(settingsWith(list, value));
      assert.equal(p.values.length + p.names.length, 0);
      assert.equal(maskText('deploy acme_12345678 now', p).text, 'deploy acme_12345678 now');
    });
  }
}

// The settings around the lists, and the compiled lists' own guards (docs/mutation.md, the
// credential-patterns.ts survivors in maskPatternsOf and compileList).
const NOT_SETTINGS: readonly (readonly [string, unknown])[] = [
  ['no secrets', {}],
  ['secrets null', { secrets: null }],
  ['secrets a number', { secrets: 5 }],
  ['no credentials', { secrets: {} }],
  ['credentials null', { secrets: { credentials: null } }],
  ['credentials a string', { secrets: { credentials: 'acme_[0-9]{8}' } }],
];
for (const [why, settings] of NOT_SETTINGS)
  test(`settings with ${why}: nothing compiled, nothing thrown, the floor masks`, () => {
    const p = maskPatternsOf(settings);
    assert.equal(p.values.length + p.names.length, 0);
    assert.equal(maskText('PASSWORD=hunter2', p).text, 'PASSWORD=***');
  });

test('a pattern that matches the empty string contributes nothing (it would mask between every character)', () => {
  for (const pattern of ['x*', '^$', '(?:)', 'a?'])
    assert.equal(maskPatternsOf(settingsWith('values', [{ id: 'empty', pattern }, GOOD])).values.length, 1, pattern);
});

test('a bundle pattern masks every match in a text, not only the first', () => {
  const p = maskPatternsOf(settingsWith('values', [GOOD]));
  assert.equal(maskText('acme_12345678 then acme_87654321', p).text, '*** then ***');
});

test('compiled once per settings object: the same object gives the same lists', () => {
  const settings = settingsWith('values', [GOOD]);
  assert.equal(maskPatternsOf(settings), maskPatternsOf(settings));
  assert.notEqual(maskPatternsOf(settingsWith('values', [GOOD])), maskPatternsOf(settings), 'another object');
});

test('no settings object at all (undefined, null, a primitive): the floor alone, which adds no pattern', () => {
  assert.deepEqual(FLOOR_ONLY, { values: [], names: [] });
  assert.ok(Object.isFrozen(FLOOR_ONLY) && Object.isFrozen(FLOOR_ONLY.values) && Object.isFrozen(FLOOR_ONLY.names));
  for (const settings of [undefined, null, 5, 'kubiya', true]) assert.equal(maskPatternsOf(settings), FLOOR_ONLY);
});
