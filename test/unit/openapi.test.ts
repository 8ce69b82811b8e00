import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
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

/**
 * The other direction (red team 17: the document omitted 500, 502 and five codes intake returns):
 * every code the intake path can answer with — each literal code in the modules a POST goes
 * through, and those of the HTTP layer and the run store it calls — is listed under its status.
 */
const SOURCES: Record<string, string[]> = {
  '/v1/assignments': [
    'src/receive',
    'src/verify',
    'src/validate',
    'src/admission/admit.ts',
    'src/admission/guarded.ts',
    'src/pipeline/verified.ts',
    'src/pipeline/auditor.ts',
  ],
  '/v1/cancellations': [
    'src/receive',
    'src/verify',
    'src/admission/cancel.ts',
    'src/admission/guarded.ts',
    'src/pipeline/auditor.ts',
  ],
};
/** Codes answered outside those modules: the HTTP layer's, the intake's start, the run store's create and cancel. */
const ALSO: Record<string, string[]> = {
  '/v1/assignments': [
    'HTTP_BAD_REQUEST',
    'HTTP_TIMEOUT',
    'HTTP_HEADERS_TOO_LARGE',
    'CAPACITY_EXCEEDED',
    'SHUTTING_DOWN',
    'NOT_READY',
    'CREATE_FAILED',
    'TRUSTED_KEYS_UNAVAILABLE',
  ],
  '/v1/cancellations': [
    'HTTP_BAD_REQUEST',
    'HTTP_TIMEOUT',
    'HTTP_HEADERS_TOO_LARGE',
    'SHUTTING_DOWN',
    'NOT_READY',
    'RUN_UPDATE_FAILED',
    'TRUSTED_KEYS_UNAVAILABLE',
  ],
};

async function codesIn(path: string): Promise<string[]> {
  const root = new URL('../../', import.meta.url);
  const files = path.endsWith('.ts')
    ? [path]
    : (await readdir(new URL(path, root))).filter((f) => f.endsWith('.ts')).map((f) => `${path}/${f}`);
  const out: string[] = [];
  for (const f of files)
    for (const m of (await readFile(new URL(f, root), 'utf8')).matchAll(/'([A-Z][A-Z_]{3,})'/g))
      if (m[1]! in ERROR_CATALOGUE) out.push(m[1]!);
  return out;
}

for (const path of Object.keys(SOURCES))
  test(`docs/openapi.yaml lists every code ${path} can answer with, under its status`, async () => {
    const doc = parse(await readFile(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8')) as {
      paths: Record<string, { post: { responses: Record<string, { description?: string }> } }>;
    };
    const responses = doc.paths[path]!.post.responses;
    const codes = new Set([...(await Promise.all(SOURCES[path]!.map(codesIn))).flat(), ...ALSO[path]!]);
    const missing: string[] = [];
    for (const code of codes) {
      const status = String((ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE] as { status: number }).status);
      const said = responses[status]?.description ?? '';
      const listed = said.includes(code) || (code.startsWith('VERIFY_') && said.includes('VERIFY_*'));
      if (!listed) missing.push(`${code} (${status})`);
    }
    assert.deepEqual(missing, []);
  });
