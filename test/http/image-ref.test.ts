/**
 * Issue 14 §2 (validate part), through the real HTTP server and the real file audit log with a
 * correctly signed assignment: an image reference outside the distribution grammar, in the step,
 * a sidecar or an init container, is refused at the door with 422 VALIDATE_IMAGE_REFERENCE and the
 * path; no WorkflowRun exists afterwards (it would only have failed at the kubelet), the refusal
 * is in the audit log, /ready stays 200. The whole table of spellings is in
 * test/unit/validate-image.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { verifyAuditDir } from '../../src/adapters/audit-files.ts';
import { createHttpServer } from '../../src/adapters/http-server.ts';
import { defaultPipelineConfig } from '../../src/app/runner.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { fail } from '../../src/errors/result.ts';
import { admit, type PipelineDeps } from '../../src/pipeline.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { engineReturning, MemoryPods, MemoryRuns, MemoryTrustedKeys } from '../support/memory.ts';
import { ISSUER, RUNNER, testKeys } from '../support/tokens.ts';

const { key, keys } = await testKeys();
const step = { name: 'analyze', image: 'python:3.11-slim' };

const CASES: [string, Record<string, unknown>, string][] = [
  ['an upper-case repository component in the step', { steps: [{ ...step, image: 'docker.io/Library/alpine:3' }] }, 'workflow.steps.0.image'],
  ['a ".." path component in a sidecar', { steps: [{ ...step, sidecars: [{ name: 'db', image: 'ghcr.io/acme/../postgres:15' }] }] }, 'workflow.steps.0.sidecars.0.image'],
  ['a malformed digest in an init container', { steps: [{ ...step, initContainers: [{ name: 'fetch', image: `amazon/aws-cli@sha256:${'0'.repeat(63)}` }] }] }, 'workflow.steps.0.initContainers.0.image'],
  ['a tag over 128 characters', { steps: [{ ...step, image: `python:${'3'.repeat(129)}` }] }, 'workflow.steps.0.image'],
];

describe('invalid image references are refused at the door (real HTTP server, real audit file)', () => {
  let server: Server;
  let base: string;
  let dir: string;
  let audit: FileAuditLog;
  let reconciler: Reconciler;
  const runs = new MemoryRuns();
  const pods = new MemoryPods();
  let n = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-image-ref-'));
    audit = await FileAuditLog.open(join(dir, 'audit'));
    const log = audit;
    const deps: PipelineDeps = {
      config: defaultPipelineConfig(RUNNER, ISSUER), keys, audit: log, pods, runs, trust: new MemoryTrustedKeys(),
      policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
      now: () => new Date(), newId: () => crypto.randomUUID(),
    };
    reconciler = new Reconciler(deps, { isLeader: () => true, workers: 2, resyncMs: 60_000 });
    reconciler.start();
    server = createHttpServer({
      admit: (raw) => admit(raw, deps),
      start: (run) => reconciler.enqueue(run.name),
      cancel: () => Promise.resolve(fail('RUN_NOT_FOUND', 'not in this test')),
      hasCapacity: () => true, draining: () => false,
      ready: () => Promise.resolve({ ready: log.healthy, checks: { audit: { ok: log.healthy } } }),
      metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }), observed: () => undefined,
      maxBodyBytes: 65536, requestTimeoutMs: 5000,
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await reconciler.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await audit.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const post = async (over: Record<string, unknown>) => {
    n++;
    const workflow = { id: `wf-${n}`, name: 'n', runId: `run-${n}`, steps: [step], ...over };
    const token = await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow, jti: `jti-${n}` });
    return fetch(`${base}/v1/assignments`, { method: 'POST', headers: { 'content-type': 'application/jwt' }, body: token });
  };

  for (const [what, over, path] of CASES) {
    test(`${what} → 422 VALIDATE_IMAGE_REFERENCE at ${path}, no WorkflowRun, /ready 200`, async () => {
      const before = runs.list().length;
      const res = await post(over);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.code, 'VALIDATE_IMAGE_REFERENCE');
      assert.ok(body.message.includes(`first at ${path}:`), `expected ${path} in ${body.message}`);
      assert.equal(runs.list().length, before, 'no WorkflowRun for a refused assignment');
      assert.equal((await fetch(`${base}/ready`)).status, 200);
    });
  }

  test('afterwards: a valid assignment is accepted, and the audit chain verifies with each refusal in it', async () => {
    const ok = await post({ steps: [{ ...step, sidecars: [{ name: 'db', image: 'postgres:15' }], initContainers: [{ name: 'fetch', image: `amazon/aws-cli@sha256:${'0'.repeat(64)}` }] }] });
    assert.equal(ok.status, 202);
    assert.equal(runs.list().length, 1);
    await audit.close();
    const report = await verifyAuditDir(join(dir, 'audit'), undefined);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    const text = (await Promise.all((await readdir(join(dir, 'audit'))).filter((f) => f.endsWith('.jsonl')).map((f) => readFile(join(dir, 'audit', f), 'utf8')))).join('');
    assert.equal(text.split('\n').filter((l) => l.includes('"VALIDATE_IMAGE_REFERENCE"')).length, CASES.length, 'one validate record per refusal');
  });
});
