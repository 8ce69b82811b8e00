import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

/**
 * docs/architecture.md names files a newcomer opens ("read admit.ts first", "`reconcile/outputs.ts`").
 * The class: a module split or a rename leaves the map pointing at a file that is gone (red team 8
 * found stale rows). Every path in backquotes that looks like a source path — `src/…`,
 * `<folder>/<file>.ts` relative to src/, `policies/…`, `test/…`, `charts/…` — must exist.
 */
const ROOT = new URL('../../', import.meta.url);

test('every source path docs/architecture.md names exists', async () => {
  const doc = await readFile(new URL('docs/architecture.md', ROOT), 'utf8');
  const quoted = [...doc.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!);
  const paths = quoted
    .map((q) => q.replace(/\(\)$/, ''))
    .filter(
      (q) =>
        /^(src|policies|policy-fixtures|test|charts|docs|bench|scripts)\/[\w./-]*$/.test(q) ||
        /^[a-z-]+\/[\w.-]+\.ts$/.test(q),
    );
  assert.ok(paths.length > 40, `only ${String(paths.length)} paths found: the pattern no longer reads the page`);
  const missing = paths.filter((p) => {
    const rel = /^(src|policies|policy-fixtures|test|charts|docs|bench|scripts)\//.test(p) ? p : `src/${p}`;
    return !existsSync(new URL(rel.replace(/<[^>]+>.*$/, ''), ROOT));
  });
  assert.deepEqual(missing, []);
});
