/**
 * Issue 14 §5 (validate part), through the real HTTP server, the real file audit log and a
 * correctly signed assignment: ill-formed Unicode anywhere in the workflow claim — a lone UTF-16
 * surrogate in a key or a value, at any depth — is refused at the door with 422 VALIDATE_UNICODE and
 * the path; no WorkflowRun exists afterwards, the refusal is in the audit log (whose chain stays
 * intact), and /ready still answers 200. Reported example: `\udbff` alone in a step argument gave
 * 503 AUDIT_UNAVAILABLE, a WorkflowRun with no status, and /ready 503 from then on.
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

/** [where, workflow claim, the issue path the answer must name]. Lone high and low halves, keys and values, nested. */
const CASES: [string, Record<string, unknown>, string][] = [
  ['the reported example: a lone high surrogate alone in a step argument', { steps: [{ ...step, args: ['\udbff'] }] }, 'workflow.steps.0.args.0'],
  ['a lone low surrogate inside a command word', { steps: [{ ...step, command: ['echo', 'a\udc00b'] }] }, 'workflow.steps.0.command.1'],
  ['a reversed pair (low then high)', { steps: [{ ...step, args: ['\udc00\ud800'] }] }, 'workflow.steps.0.args.0'],
  ['an env value', { steps: [{ ...step, env: { A: 'x\ud800' } }] }, 'workflow.steps.0.env.A'],
  ['an env key', { steps: [{ ...step, env: { ['K\udbff']: 'v' } }] }, 'workflow.steps.0.env.K\\udbff'],
  ['a sidecar env value, nested', { steps: [{ ...step, sidecars: [{ name: 'db', image: 'postgres:15', env: { P: '\udfff' } }] }] }, 'workflow.steps.0.sidecars.0.env.P'],
  ['the workflow display name', { name: 'report \udbff' }, 'workflow.name'],
  ['an unknown key (refused for its text before the schema)', { ['x\udbff']: 1 }, 'workflow.x\\udbff'],
  ['a secret reference key', { steps: [{ ...step, env: { P: { secretRef: { secret: 'db', key: 'k\udc01' } } } }] }, 'workflow.steps.0.env.P.secretRef.key'],
  ['a NUL in an argument (argv is C strings: the process would see less than the policy)', { steps: [{ ...step, args: ['rm -rf /safe\u0000/../'] }] }, 'workflow.steps.0.args.0'],
  ['a bidi override in the display name (Trojan Source)', { name: 'deploy \u202eved\u202c' }, 'workflow.name'],
];

describe('ill-formed Unicode is refused at the door (real HTTP server, real audit file)', () => {
  let server: Server;
  let base: string;
  let dir: string;
  let audit: FileAuditLog;
  let reconciler: Reconciler;
  const runs = new MemoryRuns();
  const pods = new MemoryPods();
  let n = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-unicode-'));
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
    test(`${what} → 422 VALIDATE_UNICODE at ${path}, no WorkflowRun, /ready 200`, async () => {
      const before = runs.list().length;
      const res = await post(over);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.code, 'VALIDATE_UNICODE');
      assert.ok(body.message.includes(`first at ${path}:`), `expected ${path} in ${body.message}`);
      assert.equal(JSON.stringify(body).isWellFormed(), true);
      assert.equal(runs.list().length, before, 'no WorkflowRun for a refused assignment');
      assert.equal((await fetch(`${base}/ready`)).status, 200);
    });
  }

  test('afterwards: a valid assignment is still accepted, nothing was created for the refused ones, and the audit chain verifies with each refusal in it', async () => {
    const ok = await post({});
    assert.equal(ok.status, 202);
    assert.equal(runs.list().length, 1);
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    await audit.close();
    const report = await verifyAuditDir(join(dir, 'audit'), undefined);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    const text = (await Promise.all((await readdir(join(dir, 'audit'))).filter((f) => f.endsWith('.jsonl')).map((f) => readFile(join(dir, 'audit', f), 'utf8')))).join('');
    const refusals = text.split('\n').filter((l) => l.includes('"VALIDATE_UNICODE"'));
    assert.equal(refusals.length, CASES.length, 'one validate record per refusal');
    assert.equal(pods.created.length <= 1, true);
  });
});
