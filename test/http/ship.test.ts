import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { AuditShipper, SHIP_CURSOR } from '../../src/adapters/audit-ship.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { newSigner } from '../support/audit-signer.ts';
import { waitFor } from '../support/wait.ts';

const entry = (i: number): AuditEntry => ({
  decision_id: `d-${i}`,
  timestamp: new Date().toISOString(),
  stage: 'evaluate',
  outcome: 'allow',
  message: 'm',
  runner: 'r',
  labels: { runner: 'r' },
});

test('shipping: OPA upload format, survives a sink that is down then failing, never blocks the log, resumes from its cursor', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-ship-'));
  const received: number[] = [];
  let mode: 'down' | 'fail' | 'ok' = 'down';
  let failures = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (mode === 'fail') {
        failures++;
        res.writeHead(503).end();
        return;
      }
      assert.equal(req.headers['content-encoding'], 'gzip');
      const events = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString()) as { seq: number; decision_id: string }[];
      assert.ok(Array.isArray(events));
      received.push(...events.map((e) => e.seq));
      res.writeHead(200).end();
    });
  });
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${mode === 'down' ? 1 : port}/logs`;
    const errors: string[] = [];
    const signer = newSigner();
    const ship = (u: string) =>
      new AuditShipper(join(dir, 'audit'), {
        url: u,
        batch: 100,
        pollMs: 50,
        timeoutMs: 2000,
        backoff: { initialMs: 20, maxMs: 200 },
        onError: (m) => errors.push(m),
        signer,
      });

    const log = await FileAuditLog.open(join(dir, 'audit'), { segmentBytes: 64 * 1024 });
    // Sink down (nothing listens on port 1): appends are not slowed or refused.
    const down = ship(url);
    down.start();
    // Every append is acknowledged while the shipper fails (none waits on it or is refused).
    const appended = await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(entry(i))));
    assert.deepEqual(
      appended.map((r) => r.seq),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    await waitFor('a failure reported', () => errors.length > 0, 30_000);
    await down.stop();
    assert.ok(errors.length > 0, 'failures are reported');
    assert.deepEqual(received, []);

    // Sink up but answering 503, then OK.
    mode = 'fail';
    const shipper = ship(`http://127.0.0.1:${port}/logs`);
    shipper.start();
    await waitFor('the sink refused a batch', () => failures > 0, 30_000);
    mode = 'ok';
    await waitFor('500 records shipped', () => received.length >= 500, 30_000);
    await shipper.stop();
    assert.deepEqual(
      received,
      Array.from({ length: 500 }, (_, i) => i + 1),
      'everything, once, in order, across segments',
    );
    assert.equal((JSON.parse(await readFile(join(dir, 'audit', SHIP_CURSOR), 'utf8')) as { seq: number }).seq, 500);

    // A new shipper (a restart) resumes after the cursor.
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(entry(500 + i))));
    await log.close();
    const resumed = ship(`http://127.0.0.1:${port}/logs`);
    resumed.start();
    await waitFor('550 records shipped', () => received.length >= 550, 30_000).finally(() => resumed.stop());
    assert.deepEqual(
      received,
      Array.from({ length: 550 }, (_, i) => i + 1),
    );
  } finally {
    // Keep-alive connections would hold close() open (the test then hung on a failure).
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
