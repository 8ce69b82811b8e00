import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ERROR_CATALOGUE } from '../../src/errors/codes.ts';

test('docs/openapi.yaml describes exactly the runner endpoints, with error statuses that match the catalogue', async () => {
  const doc = parse(await readFile(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8')) as {
    paths: Record<string, Record<string, { responses: Record<string, { description?: string }> }>>;
  };
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    '/healthz',
    '/metrics',
    '/ready',
    '/v1/assignments',
    '/v1/cancellations',
  ]);
  for (const path of ['/v1/assignments', '/v1/cancellations']) {
    for (const [status, r] of Object.entries(doc.paths[path]!.post!.responses)) {
      for (const code of (r.description ?? '').match(/[A-Z][A-Z_]{3,}(?=[ ,)]|$)/g) ?? []) {
        const entry = ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE] as { status: number } | undefined;
        assert.ok(entry, `${code} is in the catalogue`);
        assert.equal(String(entry.status), status, `${path}: ${code} is ${entry.status}`);
      }
    }
  }
});

test('docs/control-plane.openapi.yaml covers every call the client makes', async () => {
  const doc = parse(await readFile(new URL('../../docs/control-plane.openapi.yaml', import.meta.url), 'utf8')) as {
    paths: Record<string, unknown>;
  };
  const client = await readFile(new URL('../../src/adapters/control-plane-client.ts', import.meta.url), 'utf8');
  const used = [...client.matchAll(/`\$\{base\}\/([a-z]+)/g)].map((m) => `/v1/runners/{name}/${m[1]}`);
  assert.deepEqual(
    [...new Set([...used, '/v1/runners/{name}/events'])].sort(),
    Object.keys(doc.paths)
      .filter((p) => p.startsWith('/v1/'))
      .sort(),
  );
});
