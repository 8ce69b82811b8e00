import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { RemoteJwks } from '../../src/adapters/jwks-remote.ts';
import { jwks, newSigningKey, signAssignment } from '../../src/dev/sign.ts';
import { verify } from '../../src/verify/verify.ts';

test('JWKS from a URL: cached, rotated by kid without a restart, stale-if-error bounded, then fail closed', async () => {
  const k1 = await newSigningKey('EdDSA', 'k1');
  const k2 = await newSigningKey('EdDSA', 'k2');
  let served = [k1];
  let up = true;
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    if (!up) return void res.writeHead(503).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks(served)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let clock = Date.now();
  const errors: string[] = [];
  const remote = new RemoteJwks({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    refreshMs: 60_000,
    staleIfErrorMs: 600_000,
    minRefetchMs: 0,
    timeoutMs: 2000,
    now: () => clock,
    onError: (m) => errors.push(m),
  });
  const options = {
    algorithms: ['EdDSA'],
    issuer: 'https://cp',
    audience: 'r',
    maxTokenAgeSeconds: 600,
    clockToleranceSeconds: 5,
  };
  const check = async (key: typeof k1) =>
    verify(await signAssignment(key, { issuer: 'https://cp', audience: 'r', workflow: { id: 'w' } }), options, {
      keys: remote.getKey,
      now: () => new Date(),
    });
  try {
    await remote.refresh();
    assert.equal(remote.loaded(), true);
    assert.ok((await check(k1)).ok);
    const before = fetches;
    assert.ok((await check(k1)).ok);
    assert.equal(fetches, before, 'a known kid is served from the cache');

    served = [k1, k2]; // the control plane rotates in a new key
    assert.ok((await check(k2)).ok, 'an unknown kid triggers a refetch');

    up = false; // the URL goes down
    clock += 120_000;
    await remote.refresh();
    assert.ok(errors.length > 0);
    assert.equal(remote.loaded(), true, 'within the stale-if-error bound');
    assert.ok((await check(k2)).ok);

    clock += 600_000; // past refresh + stale-if-error
    await remote.refresh();
    assert.equal(remote.loaded(), false);
    const r = await check(k1);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'VERIFY_KEY_NOT_FOUND');

    up = true; // back
    await remote.refresh();
    assert.equal(remote.loaded(), true);
    assert.ok((await check(k1)).ok);
  } finally {
    remote.stop();
    server.close();
  }
});
