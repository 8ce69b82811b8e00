/**
 * "Refused at the door" harness for the http tier: the real HTTP server, the real file audit log,
 * admission through the real pipeline and an in-process reconciler over in-memory twins of the
 * Kubernetes ports. Tests post correctly signed assignments and check the answer, that no
 * WorkflowRun was made, that /ready still answers, and what the audit chain holds.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir } from '../../src/adapters/audit-files.ts';
import { createHttpServer } from '../../src/adapters/http-server.ts';
import { testPipelineConfig } from './config.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { fail } from '../../src/errors/result.ts';
import { admit } from '../../src/admission/admit.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { engineReturning, MemoryPods, MemoryRuns, MemoryTrustedKeys, memoryCluster } from './memory.ts';
import { ISSUER, RUNNER, testKeys } from './tokens.ts';

export interface Door {
  /** http://127.0.0.1:<port> */
  readonly base: string;
  readonly runs: MemoryRuns;
  readonly pods: MemoryPods;
  /** Signs a workflow claim (`{ id, name, runId, steps: [base step] }` overridden by `over`) and POSTs it. */
  post(over: Record<string, unknown>): Promise<Response>;
  /** Closes the audit log, verifies its chain, and returns every audit line (the chain's result too). */
  auditLines(): Promise<{ readonly ok: boolean; readonly firstBad: unknown; readonly lines: readonly string[] }>;
  close(): Promise<void>;
}

/** Starts a door whose policy allows everything (the tests here are about what never reaches it). */
export async function openDoor(step: Record<string, unknown>): Promise<Door> {
  const { key, keys } = await testKeys();
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-door-'));
  const audit = await FileAuditLog.open(join(dir, 'audit'));
  const runs = new MemoryRuns();
  const pods = new MemoryPods();
  const deps: PipelineDeps = {
    config: testPipelineConfig(),
    keys,
    audit,
    ...memoryCluster(pods),
    runs,
    trust: new MemoryTrustedKeys(),
    policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
  };
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 2, resyncMs: 60_000 });
  reconciler.start();
  const server: Server = createHttpServer({
    admit: (raw) => admit(raw, deps),
    start: (run) => reconciler.enqueue(run.name),
    cancel: () => Promise.resolve(fail('RUN_NOT_FOUND', 'not in this test')),
    hasCapacity: () => true,
    draining: () => false,
    ready: () => Promise.resolve({ ready: audit.healthy, checks: { audit: { ok: audit.healthy } } }),
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
    observed: () => undefined,
    maxBodyBytes: 65536,
    requestTimeoutMs: 5000,
    maxConnections: 256,
    connectionRefused: () => undefined,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let n = 0;
  let closed = false;
  return {
    base,
    runs,
    pods,
    post: async (over) => {
      n++;
      const workflow = { id: `wf-${n}`, name: 'n', runId: `run-${n}`, steps: [step], ...over };
      const token = await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow, jti: `jti-${n}` });
      return fetch(`${base}/v1/assignments`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: token,
      });
    },
    auditLines: async () => {
      await audit.close();
      const report = await checkAuditDir(join(dir, 'audit'), undefined);
      const files = (await readdir(join(dir, 'audit'))).filter((f) => f.endsWith('.jsonl')).sort();
      const text = (await Promise.all(files.map((f) => readFile(join(dir, 'audit', f), 'utf8')))).join('');
      return { ok: report.ok, firstBad: report.firstBad, lines: text.split('\n').filter((l) => l !== '') };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await reconciler.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await audit.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
