import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { createHttpServer, type HttpApp, type ReadyReport } from '../../src/adapters/http-server.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { testPipelineConfig } from '../support/config.ts';
import { pipelineObserver } from '../../src/app/observer.ts';
import { createLogger } from '../../src/observe/logger.ts';
import { createMetrics, METRIC_NAMES } from '../../src/observe/metrics.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { signAssignment, signCancellation } from '../../src/dev/sign.ts';
import { admit } from '../../src/admission/admit.ts';
import { cancelRun } from '../../src/admission/cancel.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { MemoryPods } from '../support/memory.ts';
import { MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { parseExposition } from '../support/exposition.ts';
import { ISSUER, RUNNER, sign, testKeys, workflow } from '../support/tokens.ts';
import { Writable } from 'node:stream';
import { podName, runName } from '../../src/pod/names.ts';

const { key, stranger, keys } = await testKeys();
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);

describe('HTTP surface, whole pipeline in-process (real HTTP, real WASM policy, in-memory pods and audit)', () => {
  let server: Server;
  let base: string;
  let work: string;
  let deps: PipelineDeps & { audit: MemoryAudit; pods: MemoryPods };
  let reconciler: Reconciler;
  const state = {
    draining: false,
    capacity: true,
    ready: { ready: true, checks: { apiServer: { ok: true } } } as ReadyReport,
  };
  const runs: Promise<unknown>[] = [];
  const metrics = createMetrics(RUNNER);
  const logLines: string[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-http-'));
    const { file } = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
    const engine = await loadEngine(await readBundle(file));
    const log = createLogger(
      RUNNER,
      'info',
      new Writable({
        write: (c: Buffer, _e, cb) => {
          logLines.push(c.toString());
          cb();
        },
      }),
    );
    deps = {
      config: testPipelineConfig(),
      keys,
      policy: () => engine,
      audit: new MemoryAudit(),
      ...memoryCluster(),
      runs: new MemoryRuns(),
      trust: new MemoryTrustedKeys(),
      now: () => new Date(),
      newId: () => crypto.randomUUID(),
      observer: pipelineObserver(log, metrics),
    };
    reconciler = new Reconciler(deps, { isLeader: () => true, workers: 4, resyncMs: 60_000 });
    reconciler.start();
    const app: HttpApp = {
      admit: (raw) => admit(raw, deps),
      start: (run) => {
        runs.push(reconciler.whenDone(run.name, 10_000));
        reconciler.enqueue(run.name);
      },
      cancel: (raw) => cancelRun(raw, deps),
      hasCapacity: () => state.capacity,
      draining: () => state.draining,
      ready: () => Promise.resolve(state.ready),
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      observed: (route, status) => metrics.httpRequest(route, status),
      maxBodyBytes: 64 * 1024,
      requestTimeoutMs: 300,
      maxConnections: 256,
      connectionRefused: () => metrics.httpConnectionRefused(),
    };
    server = createHttpServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await Promise.allSettled(runs);
    await reconciler.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(work, { recursive: true, force: true });
  });

  const post = (body: string, type = 'application/jwt') =>
    fetch(`${base}/v1/assignments`, { method: 'POST', headers: { 'content-type': type }, body });
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

  test('a signed assignment is accepted with 202 and the run name, then executed', async () => {
    const res = await post(
      await sign(
        key,
        workflow([
          {
            name: 'analyze',
            image: 'python:3.11-slim',
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          },
        ]),
        new Date(),
      ),
    );
    assert.equal(res.status, 202);
    const body = await json(res);
    assert.equal(body.run, runName('jti-1'));
    assert.equal(body.workflow, 'wf-1');
    await Promise.all(runs);
    assert.equal(deps.pods.created.length, 1);
  });

  test('the same assignment again is 409 ASSIGNMENT_REPLAYED and runs nothing', async () => {
    const res = await post(
      await sign(
        key,
        workflow([
          {
            name: 'analyze',
            image: 'python:3.11-slim',
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          },
        ]),
        new Date(),
      ),
    );
    assert.equal(res.status, 409);
    assert.equal((await json(res)).code, 'ASSIGNMENT_REPLAYED');
    await Promise.all(runs);
    assert.equal(deps.pods.created.length, 1);
  });

  const cancel = (body: string) =>
    fetch(`${base}/v1/cancellations`, { method: 'POST', headers: { 'content-type': 'application/jwt' }, body });

  test('a signed cancellation of a running run is 202; the run ends Cancelled, its pod deleted', async () => {
    deps.pods.outcomeFor = () => undefined;
    try {
      const token = await signAssignment(key, {
        issuer: ISSUER,
        audience: RUNNER,
        workflow: {
          ...workflow([
            {
              name: 'long',
              image: 'python:3.11-slim',
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
            },
          ]),
          runId: 'run-c',
        },
        jti: 'to-cancel',
      });
      assert.equal((await post(token)).status, 202);
      const done = runs.at(-1);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(deps.pods.pods.has(podName('run-c', 'long')));
      const res = await cancel(await signCancellation(key, { issuer: ISSUER, audience: RUNNER, run: 'to-cancel' }));
      assert.equal(res.status, 202);
      assert.equal((await json(res)).run, runName('to-cancel'));
      const run = (await done) as { status?: { phase: string } } | undefined;
      assert.equal(run?.status?.phase, 'Cancelled');
      assert.ok(deps.pods.deleted.includes(podName('run-c', 'long')));
    } finally {
      deps.pods.outcomeFor = () => ({ phase: 'Succeeded', exitCode: 0, reason: 'Completed' });
    }
  });

  const badCancellations: [string, () => Promise<string>, number, string][] = [
    ['an assignment token sent as a cancellation', () => sign(key, workflow(), new Date()), 401, 'VERIFY_TYPE_INVALID'],
    [
      'a cancellation signed by an untrusted key',
      () => signCancellation(stranger, { issuer: ISSUER, audience: RUNNER, run: 'to-cancel' }),
      401,
      'VERIFY_SIGNATURE_INVALID',
    ],
    [
      'a cancellation for another runner',
      () => signCancellation(key, { issuer: ISSUER, audience: 'someone-else', run: 'to-cancel' }),
      401,
      'VERIFY_CLAIM_INVALID',
    ],
    [
      'an expired cancellation',
      () =>
        signCancellation(key, {
          issuer: ISSUER,
          audience: RUNNER,
          run: 'to-cancel',
          now: new Date(Date.now() - 3600_000),
        }),
      401,
      'VERIFY_EXPIRED',
    ],
    [
      'a cancellation of a run this runner does not have',
      () => signCancellation(key, { issuer: ISSUER, audience: RUNNER, run: 'never-assigned' }),
      404,
      'RUN_NOT_FOUND',
    ],
  ];
  for (const [name, make, status, code] of badCancellations) {
    test(`${name} → ${status} ${code}, nothing cancelled`, async () => {
      const res = await cancel(await make());
      assert.equal(res.status, status);
      assert.equal((await json(res)).code, code);
    });
  }
  test('a cancellation token sent as an assignment → 401 VERIFY_TYPE_INVALID', async () => {
    const res = await post(await signCancellation(key, { issuer: ISSUER, audience: RUNNER, run: 'jti-1' }));
    assert.equal(res.status, 401);
    assert.equal((await json(res)).code, 'VERIFY_TYPE_INVALID');
  });

  const bad: [string, () => Promise<Response>, number, string][] = [
    [
      'JSON content type',
      async () => post(await sign(key, workflow(), new Date()), 'application/json'),
      415,
      'RECEIVE_UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'no content type',
      () => fetch(`${base}/v1/assignments`, { method: 'POST', body: new Uint8Array(10) }),
      415,
      'RECEIVE_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['1 MiB body', () => post('a'.repeat(1024 * 1024)), 413, 'RECEIVE_TOO_LARGE'],
    ['not a JWS', () => post('hello'), 400, 'RECEIVE_MALFORMED'],
    [
      'a signed token with a trailing newline (never trimmed)',
      async () => post(`${await sign(key, workflow(), new Date())}\n`),
      400,
      'RECEIVE_MALFORMED',
    ],
    [
      'a signed token with a leading CRLF',
      async () => post(`\r\n${await sign(key, workflow(), new Date())}`),
      400,
      'RECEIVE_MALFORMED',
    ],
    [
      'untrusted signer',
      async () => post(await sign(stranger, workflow(), new Date())),
      401,
      'VERIFY_SIGNATURE_INVALID',
    ],
    [
      'expired token',
      async () => post(await sign(key, workflow(), new Date(Date.now() - 3600_000))),
      401,
      'VERIFY_EXPIRED',
    ],
    [
      'schema error',
      async () => post(await sign(key, workflow([{ name: 'x', image: 'a:1', hostPID: true }]), new Date())),
      422,
      'VALIDATE_SCHEMA',
    ],
    ['GET on the intake', () => fetch(`${base}/v1/assignments`), 405, 'HTTP_METHOD_NOT_ALLOWED'],
    ['unknown path', () => fetch(`${base}/admin`), 404, 'HTTP_NOT_FOUND'],
    ['path traversal', () => fetch(`${base}/v1/../metrics/../../etc/passwd`), 404, 'HTTP_NOT_FOUND'],
  ];
  for (const [name, make, status, code] of bad) {
    test(`${name} → ${status} ${code}, a JSON error without internals`, async () => {
      const res = await make();
      assert.equal(res.status, status);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      const body = await json(res);
      assert.equal(body.code, code);
      assert.equal(typeof body.message, 'string');
      assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
      assert.doesNotMatch(JSON.stringify(body), /at .*\.ts:\d+|eyJ/);
    });
  }

  test('a body that trickles in slower than the request timeout gets 408 HTTP_TIMEOUT', async () => {
    const { port } = server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.write(
          'POST /v1/assignments HTTP/1.1\r\nHost: x\r\nContent-Type: application/jwt\r\nContent-Length: 1000\r\n\r\nabc',
        );
      });
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
      setTimeout(() => {
        sock.destroy();
        resolve(data);
      }, 3000);
    });
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.match(answer, /"code":"HTTP_TIMEOUT"/);
  });

  test('draining answers 503 SHUTTING_DOWN; no capacity answers 429 with Retry-After; /ready reflects its checks', async () => {
    const token = await sign(key, workflow(), new Date());
    state.draining = true;
    let res = await post(token);
    assert.equal(res.status, 503);
    assert.equal((await json(res)).code, 'SHUTTING_DOWN');
    state.draining = false;
    state.capacity = false;
    res = await post(token);
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '5');
    state.capacity = true;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    state.ready = { ready: false, checks: { apiServer: { ok: false, detail: 'unreachable' } } };
    res = await fetch(`${base}/ready`);
    assert.equal(res.status, 503);
    const body = await json(res);
    assert.equal(body.code, 'NOT_READY');
    assert.deepEqual(body.checks, { apiServer: { ok: false, detail: 'unreachable' } });
  });

  test('/metrics: the seed names and labels, every metric with its type, labels bounded', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    const families = parseExposition(await res.text());
    const expected: Record<string, string> = {
      [METRIC_NAMES.up]: 'gauge',
      [METRIC_NAMES.workflowsRunning]: 'gauge',
      [METRIC_NAMES.workflowsCompleted]: 'counter',
      [METRIC_NAMES.cpuUsage]: 'gauge',
      [METRIC_NAMES.memoryUsage]: 'gauge',
      [METRIC_NAMES.stepDuration]: 'gauge',
      [METRIC_NAMES.decisions]: 'counter',
      [METRIC_NAMES.policyBundle]: 'gauge',
      [METRIC_NAMES.policyReloadFailures]: 'counter',
      [METRIC_NAMES.auditFsync]: 'histogram',
      [METRIC_NAMES.auditQueue]: 'gauge',
      [METRIC_NAMES.auditHeadSeq]: 'gauge',
      [METRIC_NAMES.auditShippedSeq]: 'gauge',
      [METRIC_NAMES.kubeApi]: 'histogram',
      [METRIC_NAMES.controlPlaneErrors]: 'counter',
      [METRIC_NAMES.httpRequests]: 'counter',
      [METRIC_NAMES.httpConnectionsRefused]: 'counter',
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(families.get(name)?.type, type, name);
    assert.deepEqual(families.get('kubiya_runner_up')?.samples, [
      { name: 'kubiya_runner_up', labels: { runner: RUNNER }, value: 1 },
    ]);
    const completed = families.get('kubiya_workflows_completed')?.samples.find((s) => s.labels.status === 'success');
    assert.ok(completed !== undefined && completed.value >= 1);
    const p99 = families
      .get('kubiya_step_duration_seconds')
      ?.samples.find((s) => s.labels.step === 'analyze' && s.labels.percentile === 'p99');
    assert.ok(p99, 'kubiya_step_duration_seconds{step="analyze",percentile="p99"}');
    const denied = families
      .get('kubiya_decisions_total')
      ?.samples.find((s) => s.labels.code === 'VERIFY_SIGNATURE_INVALID');
    assert.ok(denied !== undefined && denied.value >= 1);
    const labelValues = [...families.values()].flatMap((f) => f.samples.flatMap((s) => Object.values(s.labels)));
    assert.ok(
      !labelValues.some((v) => v.startsWith('workflow-') || v === 'wf-1' || v.startsWith('wr-')),
      'no pod, workflow or run names as label values',
    );
  });

  test('logs carry the seed fields and never a token', () => {
    const lines = logLines.flatMap((c) => c.trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const start = lines.find((l) => typeof l.message === 'string' && l.message.startsWith('Starting step execution'));
    assert.ok(start);
    for (const field of ['timestamp', 'level', 'runner', 'workflow_id', 'step_name', 'message', 'image', 'namespace'])
      assert.ok(field in start, field);
    assert.equal(start.level, 'info');
    assert.equal(start.image, 'python:3.11-slim');
    assert.ok(!logLines.join('').includes('eyJ'), 'no JWS in any log line');
  });
});
