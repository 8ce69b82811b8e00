import assert from 'node:assert/strict';
import { fail } from '../../src/errors/result.ts';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir } from '../../src/adapters/audit-files.ts';
import { createHttpServer } from '../../src/adapters/http-server.ts';
import { testPipelineConfig } from '../support/config.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { admit } from '../../src/admission/admit.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { engineReturning, MemoryPods, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { ISSUER, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();

test('audit volume full: intake answers 503 AUDIT_UNAVAILABLE, no pod is created, and it recovers by itself when space returns', async () => {
  const mnt = await mkdtemp(join(tmpdir(), 'kubiya-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  } catch (e) {
    await rm(mnt, { recursive: true, force: true });
    throw new Error(
      `this test needs a small filesystem: "mount -t tmpfs" failed (${e instanceof Error ? e.message : String(e)}); run the tests as root`,
      { cause: e },
    );
  }
  let server: Server | undefined;
  let closeReconciler = (): Promise<void> => Promise.resolve();
  let audit: FileAuditLog | undefined;
  try {
    audit = await FileAuditLog.open(join(mnt, 'audit'));
    const log = audit;
    const pods = new MemoryPods();
    const runs: Promise<unknown>[] = [];
    const deps: PipelineDeps = {
      config: testPipelineConfig(),
      keys,
      audit: log,
      ...memoryCluster(pods),
      runs: new MemoryRuns(),
      trust: new MemoryTrustedKeys(),
      policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
      now: () => new Date(),
      newId: () => crypto.randomUUID(),
    };
    const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 4, resyncMs: 60_000 });
    reconciler.start();
    closeReconciler = () => reconciler.stop();
    server = createHttpServer({
      admit: (raw) => admit(raw, deps),
      start: (run) => {
        runs.push(reconciler.whenDone(run.name, 10_000));
        reconciler.enqueue(run.name);
      },
      cancel: () => Promise.resolve(fail('RUN_NOT_FOUND', 'not in this test')),
      hasCapacity: () => true,
      draining: () => false,
      ready: () => Promise.resolve({ ready: log.healthy, checks: { audit: { ok: log.healthy } } }),
      metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
      observed: () => undefined,
      maxBodyBytes: 65536,
      requestTimeoutMs: 2000,
      maxConnections: 256,
      connectionRefused: () => undefined,
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let n = 0;
    const post = async () => {
      const wf = { ...workflow(), id: `wf-${++n}`, runId: `run-${n}` };
      const token = await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: wf });
      return fetch(`${base}/v1/assignments`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: token,
      });
    };

    assert.equal((await post()).status, 202);
    await Promise.all(runs);
    assert.equal(pods.created.length, 1);

    // Fill the filesystem.
    const filler = join(mnt, 'filler');
    await writeFile(filler, Buffer.alloc(1024 * 1024)).catch(() => undefined);
    // tmpfs counts pages: the segment's last page may still take a few records before a write fails.
    let full: Response | undefined;
    let accepted = 1;
    for (let i = 0; i < 50 && full === undefined; i++) {
      const r = await post();
      if (r.status === 503) full = r;
      else {
        assert.equal(r.status, 202);
        accepted++;
      }
    }
    assert.ok(full !== undefined, 'a full volume must refuse intake');
    const body = (await full.json()) as { code: string; message: string };
    assert.equal(body.code, 'AUDIT_UNAVAILABLE');
    assert.match(body.message, /ENOSPC/);
    await Promise.all(runs);
    assert.ok(pods.created.length <= accepted, 'no pod for the refused assignment');
    const before = pods.created.length;
    assert.equal((await fetch(`${base}/ready`)).status, 503, '/ready reports the audit volume');

    // Space returns: the next assignment goes through, with no restart.
    await rm(filler);
    const again = await post();
    assert.equal(again.status, 202);
    await Promise.all(runs);
    assert.equal(pods.created.length, before + 1, 'the recovered intake runs its step');
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    await log.close();
    const report = await checkAuditDir(join(mnt, 'audit'), undefined);
    assert.equal(report.ok, true, `the chain has no hole where the writes failed: ${JSON.stringify(report.firstBad)}`);
  } finally {
    await closeReconciler();
    if (server !== undefined) await new Promise((r) => server!.close(r));
    await audit?.close().catch(() => undefined);
    execFileSync('umount', ['-l', mnt]);
    await rm(mnt, { recursive: true, force: true });
  }
});
