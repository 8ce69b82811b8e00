import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ERROR_CATALOGUE, ERROR_CODES } from '../../src/errors/codes.ts';

test('docs/errors.md lists exactly the codes of the catalogue, with their HTTP status and stage', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| ([a-z]+) \|/gm)].map((m) => ({
    code: m[1],
    status: Number(m[2]),
    stage: m[3],
  }));
  assert.deepEqual(rows.map((r) => r.code).sort(), [...ERROR_CODES].sort());
  for (const row of rows) {
    const entry = ERROR_CATALOGUE[row.code as keyof typeof ERROR_CATALOGUE];
    assert.equal(row.status, entry.status, `${row.code} status`);
    assert.equal(row.stage, entry.stage, `${row.code} stage`);
  }
});
