// Red team 17, finding 6 (docs/reviews/2026-12-03-red-team-17.md): every unauthenticated refusal
// was one durable audit record — 8 keep-alive connections posting `abc.def.ghi` for 10 s wrote
// 26,180 records (12.6 MB). The class: a durable resource spent per unauthenticated request. Here:
// the real HTTP server on loopback, the real Intake (push: refusals within the audit log's refusal
// budget, docs/adr/0008), a real FileAuditLog in a temporary directory; every refusal made before
// the token is verified, by kind; the counts add up (records one by one + summaries = requests =
// kubiya_decisions_total) and `audit verify` passes on the log.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { Agent, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { listSegments, readAuditLog } from '../../src/adapters/audit-files.ts';
import { createHttpServer } from '../../src/adapters/http-server.ts';
import { Intake } from '../../src/app/intake.ts';
import { pipelineObserver } from '../../src/app/observer.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { ERROR_CODES, type ErrorCode } from '../../src/errors/codes.ts';
import { newSigningKey, signAssignment } from '../../src/dev/sign.ts';
import { createMetrics, type Metrics } from '../../src/observe/metrics.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { runCli } from '../support/cli-run.ts';
import { testPipelineConfig } from '../support/config.ts';
import { engineReturning, MemoryPods, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { ISSUER, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, stranger, keys } = await testKeys();
const unknownKid = await newSigningKey('EdDSA', 'k-unknown');
const LIMIT = 64 * 1024;

interface Rig {
  readonly base: string;
  readonly port: number;
  readonly dir: string;
  readonly audit: FileAuditLog;
  readonly intake: Intake;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

/** The runner's intake as `serve` wires it (src/app/server.ts), on 127.0.0.1, with `audit.refusals` as given. */
async function rig(refusals: { perCode?: number; window?: number } = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-refusals-'));
  const audit = await FileAuditLog.open(join(dir, 'audit'));
  const metrics = createMetrics(RUNNER);
  const deps: PipelineDeps = {
    config: testPipelineConfig({ audit: { refusals } }),
    keys,
    audit,
    ...memoryCluster(new MemoryPods()),
    runs: new MemoryRuns(),
    trust: new MemoryTrustedKeys(),
    policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
    observer: pipelineObserver(pino({ level: 'silent' }), metrics),
  };
  const reconciler = new Reconciler(deps, { isLeader: () => false, workers: 1, resyncMs: 60_000 });
  const intake = new Intake(deps, reconciler, { started: true, draining: false }, {}, pino({ level: 'silent' }));
  const server: Server = createHttpServer({
    admit: (raw) => intake.admit(raw, 'push'),
    cancel: (raw) => intake.cancel(raw, 'push'),
    start: () => undefined,
    hasCapacity: () => true,
    draining: () => false,
    ready: () => Promise.resolve({ ready: true, checks: {} }),
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
    observed: (route, status) => metrics.httpRequest(route, status),
    maxBodyBytes: LIMIT,
    requestTimeoutMs: 5000,
    maxConnections: 256,
    connectionRefused: () => undefined,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    dir: join(dir, 'audit'),
    audit,
    intake,
    metrics,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await audit.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One POST over a keep-alive agent: its status and code. */
function post(
  agent: Agent,
  port: number,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/jwt', 'content-length': String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: /"code":"([A-Z_]+)"/.exec(text)?.[1] }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** kubiya_decisions_total{stage, outcome: deny, code}. */
async function decisions(metrics: Metrics, stage: string, code: string): Promise<number> {
  const values = (await metrics.registry.getSingleMetric('kubiya_decisions_total')?.get())?.values ?? [];
  return (
    values.find((v) => v.labels.stage === stage && v.labels.outcome === 'deny' && v.labels.code === code)?.value ?? 0
  );
}

/** Records of `code` at `stage` one by one, and the counts the summaries give for it. */
function accounted(records: readonly AuditRecord[], stage: string, code: string): { each: number; summed: number } {
  const each = records.filter((r) => r.stage === stage && r.code === code).length;
  const summed = records
    .filter((r) => r.stage === stage && r.code === 'AUDIT_REFUSALS_AGGREGATED')
    .reduce((n, r) => n + ((r.result as { unrecorded: Record<string, number> }).unrecorded[code] ?? 0), 0);
  return { each, summed };
}

async function auditVerifies(dir: string): Promise<void> {
  const end = await runCli(['audit', 'verify', dir], { cwd: dir, hungAfterMs: 60_000 });
  assert.equal(end.code, 0, `audit verify: ${end.stderr}`);
}

const wf = (n: number) => ({ ...workflow(), id: `wf-${n}`, runId: `run-${n}` });
const signed = (over: Partial<Parameters<typeof signAssignment>[1]> = {}, k = key) =>
  signAssignment(k, { issuer: ISSUER, audience: RUNNER, workflow: wf(1), ...over });

/**
 * Every refusal made before a token is verified that reaches the audit log, by kind: its route,
 * body, headers, the answer (unchanged by the budget) and the stage and code of its record.
 */
const KINDS: readonly {
  readonly name: string;
  readonly path: '/v1/assignments' | '/v1/cancellations';
  readonly body: () => Promise<string>;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly code: string;
  readonly stage: 'receive' | 'verify' | 'cancel';
}[] = [
  {
    name: 'a body over the limit (declared)',
    path: '/v1/assignments',
    body: () => Promise.resolve('x'.repeat(LIMIT + 1)),
    status: 413,
    code: 'RECEIVE_TOO_LARGE',
    stage: 'receive',
  },
  {
    name: 'a wrong content type',
    path: '/v1/assignments',
    body: () => Promise.resolve('abc.def.ghi'),
    headers: { 'content-type': 'text/html' },
    status: 415,
    code: 'RECEIVE_UNSUPPORTED_MEDIA_TYPE',
    stage: 'receive',
  },
  {
    name: 'whitespace around the token',
    path: '/v1/assignments',
    body: () => Promise.resolve('abc.def.ghi\n'),
    status: 400,
    code: 'RECEIVE_MALFORMED',
    stage: 'receive',
  },
  {
    name: 'the red team\u2019s abc.def.ghi',
    path: '/v1/assignments',
    body: () => Promise.resolve('abc.def.ghi'),
    status: 401,
    code: 'VERIFY_MALFORMED',
    stage: 'verify',
  },
  {
    name: 'signed by a stranger under a trusted kid',
    path: '/v1/assignments',
    body: () => signed({}, stranger),
    status: 401,
    code: 'VERIFY_SIGNATURE_INVALID',
    stage: 'verify',
  },
  {
    name: 'an unknown kid',
    path: '/v1/assignments',
    body: () => signed({}, unknownKid),
    status: 401,
    code: 'VERIFY_KEY_NOT_FOUND',
    stage: 'verify',
  },
  {
    name: 'expired',
    path: '/v1/assignments',
    body: () => signed({ now: new Date(Date.now() - 400_000), ttlSeconds: 60 }),
    status: 401,
    code: 'VERIFY_EXPIRED',
    stage: 'verify',
  },
  {
    name: 'another audience',
    path: '/v1/assignments',
    body: () => signed({ audience: 'another-runner' }),
    status: 401,
    code: 'VERIFY_CLAIM_INVALID',
    stage: 'verify',
  },
  {
    name: 'a cancellation that is not a JWS',
    path: '/v1/cancellations',
    body: () => Promise.resolve('abc.def.ghi'),
    status: 401,
    code: 'VERIFY_MALFORMED',
    stage: 'cancel',
  },
  {
    name: 'an assignment sent as a cancellation',
    path: '/v1/cancellations',
    body: () => signed(),
    status: 401,
    code: 'VERIFY_TYPE_INVALID',
    stage: 'cancel',
  },
];

describe('red team 17 finding 6: refusals before verification are bounded in the audit log, counted exactly', () => {
  let r: Rig;
  const PER_CODE = 2;
  const EACH = 7;
  before(async () => (r = await rig({ perCode: PER_CODE })));
  after(() => r.close());

  test(`every kind of refusal before verification, ${EACH} times each: the first ${PER_CODE} recorded, all counted, the same answers`, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    try {
      for (const kind of KINDS) {
        const body = await kind.body();
        for (let i = 0; i < EACH; i++) {
          const answer = await post(agent, r.port, kind.path, body, kind.headers);
          assert.deepEqual(answer, { status: kind.status, code: kind.code }, `${kind.name} #${i + 1}`);
        }
      }
    } finally {
      agent.destroy();
    }
    // The window has not ended: the shutdown's forced flush writes its summaries now.
    await r.intake.flushRefusals(true);
    const records = await readAuditLog(r.dir);
    // Same (stage, code) in two rows (VERIFY_MALFORMED at verify and at cancel are different stages).
    const sent = new Map<string, number>();
    for (const k of KINDS) sent.set(`${k.stage} ${k.code}`, (sent.get(`${k.stage} ${k.code}`) ?? 0) + EACH);
    for (const [key, n] of sent) {
      const [stage, code] = key.split(' ') as [string, string];
      const { each, summed } = accounted(records, stage, code);
      assert.equal(each, Math.min(n, PER_CODE), `${key}: recorded one by one`);
      assert.equal(each + summed, n, `${key}: records + summaries account for every refusal`);
      assert.equal(await decisions(r.metrics, stage, code), n, `${key}: kubiya_decisions_total`);
    }
    const summaries = records.filter((x) => x.code === 'AUDIT_REFUSALS_AGGREGATED');
    assert.deepEqual(summaries.map((s) => s.stage).sort(), ['cancel', 'receive', 'verify'], 'one summary per stage');
    for (const s of summaries) {
      assert.equal(s.outcome, 'deny');
      assert.equal(s.workflow, undefined, 'a summary names no workflow');
    }
    assert.equal(records.length, sent.size * PER_CODE + summaries.length);
    await auditVerifies(r.dir);
    // The sibling: nothing a request sends becomes a label value (catalogue codes, fixed routes, statuses).
    const decided = (await r.metrics.registry.getSingleMetric('kubiya_decisions_total')?.get())?.values ?? [];
    assert.ok(
      decided.every((v) => ERROR_CODES.includes(v.labels.code as ErrorCode)),
      'decision codes from the catalogue',
    );
    const http = (await r.metrics.registry.getSingleMetric('kubiya_http_requests_total')?.get())?.values ?? [];
    assert.deepEqual([...new Set(http.map((v) => `${v.labels.route} ${v.labels.status}`))].sort(), [
      'assignments 400',
      'assignments 401',
      'assignments 413',
      'assignments 415',
      'cancellations 401',
    ]);
  });

  test('verified assignments are still recorded one by one: a replay and a valid one after the flood', async () => {
    const token = await signAssignment(key, {
      issuer: ISSUER,
      audience: RUNNER,
      workflow: wf(2),
      jti: 'rt17-6-genuine',
    });
    const agent = new Agent({ keepAlive: true });
    try {
      assert.equal((await post(agent, r.port, '/v1/assignments', token)).status, 202);
      for (let i = 0; i < 5; i++)
        assert.deepEqual(await post(agent, r.port, '/v1/assignments', token), {
          status: 409,
          code: 'ASSIGNMENT_REPLAYED',
        });
    } finally {
      agent.destroy();
    }
    const records = await readAuditLog(r.dir);
    assert.equal(records.filter((x) => x.stage === 'claim' && x.code === 'ASSIGNMENT_REPLAYED').length, 5);
    assert.equal(records.filter((x) => x.stage === 'verify' && x.outcome === 'allow').length, 6);
    await auditVerifies(r.dir);
  });
});

test('the red team\u2019s flood, bounded: 2,000 × abc.def.ghi over 8 keep-alive connections → at most 11 records, 2,000 counted', async () => {
  const r = await rig(); // the defaults: 10 of each code per 60 s
  const N = 2000;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    let next = 0;
    const codes = new Map<string, number>();
    const worker = async () => {
      while (next < N) {
        next++;
        const a = await post(agent, r.port, '/v1/assignments', 'abc.def.ghi');
        const k = `${a.status} ${a.code}`;
        codes.set(k, (codes.get(k) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.deepEqual(Object.fromEntries(codes), { '401 VERIFY_MALFORMED': N });
    assert.equal(await decisions(r.metrics, 'verify', 'VERIFY_MALFORMED'), N);
    await r.intake.flushRefusals(true);
    const records = await readAuditLog(r.dir);
    assert.ok(records.length <= 11, `${records.length} records for ${N} refusals`);
    const { each, summed } = accounted(records, 'verify', 'VERIFY_MALFORMED');
    assert.equal(each, 10);
    assert.equal(each + summed, N);
    const bytes = (await Promise.all((await listSegments(r.dir)).map((f) => stat(f)))).reduce((n, s) => n + s.size, 0);
    assert.ok(bytes < 16 * 1024, `the log grew ${bytes} bytes (was ~480 per refusal)`);
    await auditVerifies(r.dir);
  } finally {
    agent.destroy();
    await r.close();
  }
});
