import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { credentialHits, credentialPatterns } from '../../src/policy/credentials.ts';
import { NAME_CASES, VALUE_CASES } from '../support/credentials.ts';

const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as { kubiya: { settings: unknown } };
const patterns = credentialPatterns(data.kubiya.settings);

test(`the default credential patterns (policies/data.json) in JavaScript: ${VALUE_CASES.length} values, ${NAME_CASES.length} env names`, () => {
  assert.ok(patterns.values.length >= 8 && patterns.envNames.length >= 7);
  for (const c of VALUE_CASES) assert.deepEqual(credentialHits(patterns.values, c.text).sort(), [...c.ids].sort(), JSON.stringify(c.text));
  for (const c of NAME_CASES) assert.deepEqual(credentialHits(patterns.envNames, c.name).sort(), [...c.ids].sort(), c.name);
  // the same regex object twice in a row: lastIndex of the "g" flag never hides a match
  assert.deepEqual(credentialHits(patterns.values, VALUE_CASES[0]!.text), credentialHits(patterns.values, VALUE_CASES[0]!.text));
});

test('missing or malformed credential settings compile to no patterns, never a throw', () => {
  for (const s of [undefined, null, {}, { secrets: null }, { secrets: { credentials: [] } }, { secrets: { credentials: { values: 'x' } } }, { secrets: { credentials: { values: [{ id: 'x', pattern: '(' }, 1, null] } } }]) {
    const p = credentialPatterns(s);
    assert.equal(p.values.length + p.envNames.length, 0);
  }
});
