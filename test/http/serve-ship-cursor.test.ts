/**
 * The signed ship cursor in a real `serve` process (ADR 0010; red team 18, finding 2): the runner's
 * checkpoint key (audit.checkpoint.signingKeyFile) reaches the shipper, the cursor it saves is
 * signed with that key, and a cursor whose signature is not the key's is refused at the next start
 * with one AUDIT_SHIP_FAILED log line naming why — no signature and no key in it — and everything is
 * shipped again from seq 1. The API server is the loopback stand-in, the collector a loopback one.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SHIP_CURSOR } from '../../src/adapters/audit-ship.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { keyId } from '../../src/audit/keys.ts';
import { signCursor } from '../../src/audit/ship-cursor.ts';
import { apiStandIn, type ApiStandIn } from '../support/api-stand-in.ts';
import { newSigner } from '../support/audit-signer.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { startCollector, type Collector } from '../support/ship-collector.ts';
import { waitFor } from '../support/wait.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);

let work: string;
let api: ApiStandIn;
let collector: Collector;

before(async () => {
  api = await apiStandIn();
  collector = await startCollector();
  work = await mkdtemp(join(tmpdir(), 'kubiya-serve-ship-'));
  await writeFile(join(work, 'kubeconfig'), api.kubeconfig);
  await writeFile(
    join(work, 'jwks.json'),
    JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
    }),
  );
});
after(async () => {
  api.close();
  await collector.close();
  await rm(work, { recursive: true, force: true });
});

/** SIGTERM and its exit code. */
async function stop(s: ServeProcess): Promise<number | null> {
  s.child.kill('SIGTERM');
  return s.exited;
}

test('serve signs its ship cursor with the checkpoint key and refuses one that key did not sign', async () => {
  const bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'))).file;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await writeFile(join(work, 'signing-key.pem'), pem, { mode: 0o600 });
  const dir = join(work, 'audit');
  const config = {
    runner: { name: 'r' },
    controlPlane: { issuer: 'x', jwksFile: join(work, 'jwks.json') },
    policy: { bundle },
    audit: {
      dir,
      checkpoint: { signingKeyFile: join(work, 'signing-key.pem') },
      ship: { url: collector.urlOf(dir), batch: 10, interval: 1 },
    },
    kubernetes: { kubeconfig: join(work, 'kubeconfig') },
    server: { port: 0, host: '127.0.0.1' },
  };
  // Three refusals before verification: three records (within the refusal budget), shipped.
  const first = await startServe(config, work);
  try {
    for (let i = 0; i < 3; i++)
      await fetch(`${first.base}/v1/assignments`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: 'abc.def.ghi',
      }).then((r) => r.body?.cancel());
    await waitFor(
      'seq 3 shipped and its cursor saved',
      async () =>
        collector.seqsOf(dir).includes(3) &&
        ((JSON.parse(await readFile(join(dir, SHIP_CURSOR), 'utf8')) as { seq: number }).seq >= 3 || undefined),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  } finally {
    assert.equal(await stop(first), 0, first.stderr());
  }
  const saved = JSON.parse(await readFile(join(dir, SHIP_CURSOR), 'utf8')) as {
    seq: number;
    segment: number;
    offset: number;
    hash: string;
    kid: string;
    sig: string;
  };
  assert.equal(saved.kid, keyId(createPublicKey(privateKey)), 'signed with the checkpoint key');
  const shipped = collector.seqsOf(dir).length;

  // The same position, signed with another key under this key's kid.
  const forged = { ...signCursor(saved, newSigner()), kid: saved.kid };
  await writeFile(join(dir, SHIP_CURSOR), JSON.stringify(forged));
  const second = await startServe(config, work);
  try {
    await waitFor('seq 1 shipped again', () => collector.seqsOf(dir).slice(shipped).includes(1), {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
  } finally {
    assert.equal(await stop(second), 0, second.stderr());
  }
  const refused = second.lines.filter((l) => l.code === 'AUDIT_SHIP_FAILED');
  assert.equal(refused.length, 1, JSON.stringify(refused));
  assert.match(
    String(refused[0]?.reason),
    /^ship-cursor\.json names this runner's kid [0-9a-f]{16} but its signature does not verify with this runner's key .*shipping starts again from the first record/,
  );
  const out = JSON.stringify(second.lines) + second.stderr();
  for (const secret of [forged.sig, saved.sig, pem.split('\n')[1] ?? pem])
    assert.ok(!out.includes(secret), 'no signature or key material in the log');
  const again = collector.seqsOf(dir).slice(shipped);
  assert.deepEqual(
    again.slice(0, saved.seq),
    Array.from({ length: saved.seq }, (_, i) => i + 1),
  );
});
