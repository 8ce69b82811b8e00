import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';

async function sign(keyFile: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), color: false };
  const code = await main(['dev', 'sign', 'examples/python-analyze.yaml', '--key', keyFile], io, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const jwksOf = (keyFile: string): string => keyFile.replace(/\.json$/, '.jwks.json');
const readJson = async (f: string): Promise<unknown> => JSON.parse(await readFile(f, 'utf8'));
const publicOf = async (keyFile: string): Promise<unknown> =>
  ((await readJson(keyFile)) as { publicJwk: unknown }).publicJwk;

/**
 * `dev sign`'s key file and the JWKS beside it. The class: a pair left half-written by a killed
 * `dev sign` (red team 5, finding 11: killed between the two writes, the JWKS was never written and
 * nothing said so; killed inside the first, every later run failed with INTERNAL). Decision: the JWKS
 * is derived from the key file, so a JWKS that is missing, not JSON or without the key is written
 * again (atomically) and said on stderr; a key file that is not a usable key is never overwritten:
 * DEV_KEY_INVALID naming the file, exit 1. New pairs are written through temp files, the key last.
 */
describe('dev sign: a key file and JWKS left half-written are repaired or refused, never used silently', () => {
  let dir = '';
  let n = 0;
  const fresh = (): string => join(dir, `k${String(n++)}.json`);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-keyfile-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  // [what, how the JWKS is left after a good first run, is it written again?]
  const jwksCases: readonly (readonly [string, (jwks: string) => Promise<void>, boolean])[] = [
    ['reported: the JWKS is missing', (j) => rm(j), true],
    ['the JWKS is empty (a write cut short)', (j) => writeFile(j, ''), true],
    ['the JWKS is truncated', async (j) => writeFile(j, (await readFile(j, 'utf8')).slice(0, 15)), true],
    ['the JWKS holds another key', (j) => writeFile(j, JSON.stringify({ keys: [{ kty: 'OKP', kid: 'other' }] })), true],
    ['the JWKS is intact', () => Promise.resolve(), false],
    [
      'the JWKS holds the key and another (kept as it is)',
      async (j) => {
        const keys = ((await readJson(j)) as { keys: unknown[] }).keys;
        await writeFile(j, JSON.stringify({ keys: [...keys, { kty: 'OKP', kid: 'extra' }] }));
      },
      false,
    ],
  ];
  for (const [what, leave, rewritten] of jwksCases)
    test(`${what}: ${rewritten ? 'written again from the key, said on stderr' : 'left alone'}`, async () => {
      const key = fresh();
      assert.equal((await sign(key)).code, 0);
      await leave(jwksOf(key));
      const before = await readFile(jwksOf(key), 'utf8').catch(() => undefined);
      const r = await sign(key);
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.err, /created signing key/, 'the same key');
      if (rewritten) {
        assert.match(r.err, /was missing or did not hold the key .*: written again/);
        assert.deepEqual(await readJson(jwksOf(key)), { keys: [await publicOf(key)] });
      } else {
        assert.equal(r.err, '');
        assert.equal(await readFile(jwksOf(key), 'utf8'), before);
      }
    });

  // [what, the key file's content]
  const keyCases: readonly (readonly [string, string])[] = [
    ['reported: empty (killed inside the first write)', ''],
    ['truncated JSON', '{"kid":"abc","alg":"Ed'],
    ['JSON but not a key file', '{"hello":"world"}'],
    [
      'an unknown algorithm',
      JSON.stringify({ kid: 'a', alg: 'none', privateJwk: { kty: 'OKP' }, publicJwk: { kty: 'OKP' } }),
    ],
    ['a public key where the private one belongs', 'PUBLIC'],
  ];
  for (const [what, content] of keyCases)
    test(`key file ${what}: DEV_KEY_INVALID naming it, exit 1, the file kept`, async () => {
      const key = fresh();
      let text = content;
      if (content === 'PUBLIC') {
        assert.equal((await sign(key)).code, 0);
        const k = (await readJson(key)) as { publicJwk: unknown };
        text = JSON.stringify({ ...((await readJson(key)) as object), privateJwk: k.publicJwk });
      }
      await writeFile(key, text);
      const r = await sign(key);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`DEV_KEY_INVALID: ${key} is not a signing key file`));
      assert.equal(await readFile(key, 'utf8'), text, 'never overwritten');
    });

  test('killed between the JWKS and the key (a JWKS without its key): a new key with a matching JWKS', async () => {
    const key = fresh();
    await writeFile(jwksOf(key), JSON.stringify({ keys: [{ kty: 'OKP', kid: 'orphan' }] }));
    await writeFile(`${key}.999.x.tmp`, '{"half":'); // a temp file a killed run left
    const r = await sign(key);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /created signing key/);
    assert.deepEqual(await readJson(jwksOf(key)), { keys: [await publicOf(key)] });
  });

  test('a new pair leaves no temp file behind', async () => {
    const key = fresh();
    assert.equal((await sign(key)).code, 0);
    const names = (await readdir(dir)).filter((f) => f.startsWith(key.split('/').pop()?.replace('.json', '') ?? '-'));
    assert.deepEqual(names.sort(), [`${key.split('/').pop() ?? ''}`, jwksOf(key).split('/').pop() ?? ''].sort());
  });
});
