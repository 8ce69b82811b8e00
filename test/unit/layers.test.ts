/**
 * The folder layers of src/ (issue 15): `npm run lint` enforces them with dependency-cruiser
 * (.dependency-cruiser.cjs). This test keeps the three descriptions of them equal, so none goes
 * stale. The class of fault: a layer list that no longer says what the code is —
 *  - a folder of src/ in no layer (its imports would be unchecked: the lint's `unlayered` rule
 *    fails, but only once the folder has a module that imports something),
 *  - a folder in two layers, or a layer naming a folder that does not exist,
 *  - docs/architecture.md's layer block differing from the config (order or membership).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url);
const LAYERS = (createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as { LAYERS: string[][] }).LAYERS;

test('every folder of src/ is in exactly one layer, and every layer names existing folders', async () => {
  const folders = (await readdir(new URL('src/', ROOT), { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const listed = LAYERS.flat();
  assert.deepEqual([...new Set(listed)].sort(), [...listed].sort(), 'a folder is in two layers');
  assert.deepEqual([...listed].sort(), folders);
  const loose = (await readdir(new URL('src/', ROOT), { withFileTypes: true })).filter((d) => d.isFile());
  assert.deepEqual(
    loose.map((d) => d.name),
    [],
    'no module sits beside the folders (src/pipeline.ts did, beside src/pipeline/)',
  );
});

test('docs/architecture.md lists the layers of .dependency-cruiser.cjs, in order', async () => {
  const doc = await readFile(new URL('docs/architecture.md', ROOT), 'utf8');
  const block = /\n```\n(cli\n[\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block !== undefined, 'the layer block (starting with "cli") is in docs/architecture.md');
  const documented = block
    .trimEnd()
    .split('\n')
    .map((line) => (line.split(/ {2,}/)[0] ?? '').split('|').map((f) => f.trim()));
  assert.deepEqual(documented, LAYERS);
});
