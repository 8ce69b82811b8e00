import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzz } from '../support/fuzz.ts';
import { testKeys } from '../support/tokens.ts';

test('fuzz (short run): mutated tokens and hostile signed specs — 0 crashes, 0 INTERNAL, 0 pods from rejections, every rejection coded, every pod restricted and DNS-safe', async () => {
  const { key, keys } = await testKeys();
  const out = await fuzz(400, key, keys);
  assert.equal(out.cases, 800);
  assert.ok(out.podsMade > 0, 'some hostile-but-valid specs reach pod creation');
  assert.deepEqual({ crashed: out.crashed, internal: out.internal, podsFromRejections: out.podsFromRejections, uncoded: out.uncoded, badPods: out.badPods }, { crashed: 0, internal: 0, podsFromRejections: 0, uncoded: 0, badPods: [] });
});
