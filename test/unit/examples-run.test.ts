/**
 * Issue 19: "an example workflow per feature in examples/, each run by the cluster tier". The class:
 * an example added (or renamed) without a cluster test that runs it, so the docs show a workflow
 * nothing proves admissible. Every file under examples/features/ must be named by a test of the
 * cluster tier (test/cluster/*.test.ts), and every name a cluster test reads there must exist.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

const FEATURES = join(REPO_ROOT, 'examples', 'features');
const CLUSTER = join(REPO_ROOT, 'test', 'cluster');

async function clusterSources(): Promise<string> {
  const files = (await readdir(CLUSTER)).filter((f) => f.endsWith('.test.ts'));
  const texts = await Promise.all(files.map((f) => readFile(join(CLUSTER, f), 'utf8')));
  return texts.join('\n');
}

describe('examples/features: each one is run by the cluster tier', () => {
  test('every feature example is named by a cluster test', async () => {
    const examples = (await readdir(FEATURES)).filter((f) => f.endsWith('.yaml'));
    assert.ok(examples.length >= 6, `expected the six feature examples, found ${examples.length}`);
    const sources = await clusterSources();
    const unrun = examples.filter((f) => !sources.includes(`'${f}'`));
    assert.deepEqual(unrun, [], 'feature examples no cluster test runs');
  });

  test('every feature example a cluster test names exists', async () => {
    const examples = new Set(await readdir(FEATURES));
    const sources = await clusterSources();
    const named = [...sources.matchAll(/'([a-z0-9-]+\.yaml)'/g)].map((m) => m[1] ?? '');
    const readFromFeatures = named.filter(
      (n) => sources.includes(`'features', '${n}'`) || sources.includes(`example('${n}')`),
    );
    assert.ok(readFromFeatures.length > 0);
    assert.deepEqual(
      readFromFeatures.filter((n) => !examples.has(n)),
      [],
    );
  });
});
