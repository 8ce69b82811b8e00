/**
 * The PodSecurity gate of `serve` (src/app/pod-security.ts, pod-security-gate.ts): the watch reports
 * each change of state once (not each probe); /ready's check fails with the code while the
 * namespace does not enforce restricted or cannot be told; no step pod is created then (the run
 * waits at the step precondition, pods.create refuses too), one audit record per change; and the
 * run goes on when the namespace enforces restricted again. The pipeline runs over the in-memory
 * ports; the probe goes over real HTTP to a loopback stand-in whose answer the test switches.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import type { PodSecurityVerdict } from '../../src/adapters/kube-pod-security.ts';
import { admit } from '../../src/admission/admit.ts';
import { podSecurityGate, quietGateProblems } from '../../src/app/pod-security-gate.ts';
import { PodSecurityWatch, refusalCode, type PodSecurityState } from '../../src/app/pod-security.ts';
import type { RunnerError } from '../../src/errors/result.ts';
import { createLogger } from '../../src/observe/logger.ts';
import type { PipelineDeps, PipelineObserver } from '../../src/pipeline/deps.ts';
import { testConfig } from '../support/config.ts';
import { MemoryPods, memoryCluster } from '../support/memory.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { pooledKubeConfigAt } from '../support/pooled-stand-in.ts';
import { sign, testKeys } from '../support/tokens.ts';
import { waitFor } from '../support/wait.ts';

const ENFORCED: PodSecurityVerdict = { kind: 'enforced', level: 'restricted:latest' };
const NOT: PodSecurityVerdict = { kind: 'not-enforced', detail: 'admitted' };
const UNKNOWN: PodSecurityVerdict = { kind: 'unknown', detail: '503' };

describe('PodSecurityWatch: one report per change of state, not per probe', () => {
  const CASES: readonly (readonly [string, readonly (PodSecurityVerdict | Error)[], readonly string[]])[] = [
    ['enforced throughout: nothing', [ENFORCED, ENFORCED, ENFORCED], []],
    ['not enforced from the start: one', [NOT, NOT, NOT], ['unprobed→not-enforced']],
    ['unknown from the start: one', [UNKNOWN, UNKNOWN], ['unprobed→unknown']],
    [
      'label removed, then put back',
      [ENFORCED, NOT, NOT, NOT, ENFORCED, ENFORCED],
      ['enforced→not-enforced', 'not-enforced→enforced'],
    ],
    [
      'not enforced, then unknown, then enforced',
      [NOT, UNKNOWN, ENFORCED],
      ['unprobed→not-enforced', 'not-enforced→unknown', 'unknown→enforced'],
    ],
    [
      'a probe that throws is unknown',
      [ENFORCED, new Error('boom'), ENFORCED],
      ['enforced→unknown', 'unknown→enforced'],
    ],
    [
      'unknown answers with other details are one state',
      [ENFORCED, UNKNOWN, { kind: 'unknown', detail: 'timeout' }],
      ['enforced→unknown'],
    ],
  ];
  for (const [name, verdicts, expected] of CASES) {
    test(name, async () => {
      const queue = [...verdicts];
      const reports: string[] = [];
      const watch = new PodSecurityWatch(
        () => {
          const next = queue.shift();
          return next instanceof Error ? Promise.reject(next) : Promise.resolve(next ?? ENFORCED);
        },
        { intervalMs: 60_000, retryMs: 5000 },
        (previous: PodSecurityState, next: PodSecurityState) => reports.push(`${previous.kind}→${next.kind}`),
      );
      for (let i = 0; i < verdicts.length; i++) await watch.probeOnce();
      watch.stop();
      assert.deepEqual(reports, expected);
    });
  }
  // Red team 12, finding 4: overlapping probes (the timer's and a refresh) settling out of order.
  // Every order of settling of up to four overlapping probes: the state is the verdict of the
  // latest-started probe among those settled, never an older one's.
  test('overlapping probes: the latest-started settled verdict wins, whatever order they settle in', async () => {
    const verdictOf = [ENFORCED, NOT, UNKNOWN, ENFORCED, NOT];
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 2, max: 4 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
              fc.nat(4),
            ),
          ),
        async ([n, order, shift]) => {
          const settle: ((v: PodSecurityVerdict) => void)[] = [];
          const reports: string[] = [];
          const watch = new PodSecurityWatch(
            () => new Promise<PodSecurityVerdict>((resolve) => settle.push(resolve)),
            { intervalMs: 60_000, retryMs: 5000 },
            (previous: PodSecurityState, next: PodSecurityState) => reports.push(`${previous.kind}→${next.kind}`),
          );
          const probes = Array.from({ length: n }, () => watch.probeOnce());
          let latest = -1;
          for (const i of order) {
            settle[i]?.(verdictOf[(i + shift) % verdictOf.length]!);
            await probes[i];
            latest = Math.max(latest, i);
            assert.equal(
              watch.state(),
              verdictOf[(latest + shift) % verdictOf.length],
              `settled ${JSON.stringify(order)}`,
            );
          }
          watch.stop();
          // Each report is a real change between consecutive taken states.
          for (const r of reports) assert.notEqual(r.split('→')[0], r.split('→')[1]);
        },
      ),
      { numRuns: 300, seed: 1212 },
    );
  });
  test('the code each state refuses step pods with', () => {
    assert.equal(refusalCode({ kind: 'unprobed' }), 'POD_SECURITY_UNKNOWN');
    assert.equal(refusalCode(UNKNOWN), 'POD_SECURITY_UNKNOWN');
    assert.equal(refusalCode(NOT), 'POD_SECURITY_NOT_ENFORCED');
    assert.equal(refusalCode(ENFORCED), undefined);
    assert.equal(refusalCode({ kind: 'off' }), undefined);
  });
});

const REFUSED_RESTRICTED = JSON.stringify({
  kind: 'Status',
  status: 'Failure',
  reason: 'Forbidden',
  code: 403,
  message: 'pods "kubiya-pod-security-probe-abcde" is forbidden: violates PodSecurity "restricted:latest": runAsUser=0',
});
const ADMITTED = JSON.stringify({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: 'kubiya-pod-security-probe-abcde' },
});

let server: Server;
let answer = { status: 201, body: ADMITTED };
before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('not enforced: /ready fails with the code, no step pod is created (the run waits), one audit record; enforced again: the run goes on', async () => {
  answer = { status: 201, body: ADMITTED };
  const config = testConfig();
  const kc = pooledKubeConfigAt((server.address() as AddressInfo).port, 2000);
  const gate = podSecurityGate(config, kc, pino({ level: 'silent' }));
  const cluster = new MemoryPods();
  const gated = gate.gated({ ...memoryCluster(cluster) } as unknown as PipelineDeps);
  const problems: RunnerError[] = [];
  const observer: PipelineObserver = {
    recorded: () => undefined,
    workflowsRunning: () => undefined,
    workflowFinished: () => undefined,
    stepFinished: () => undefined,
    problem: (e) => problems.push(e),
    internalError: (e) => assert.fail(String(e)),
  };
  const { key, keys } = await testKeys();
  const r = await memoryRunner({ keys, pods: gated.pods, objects: gated.objects, logs: cluster, observer });
  try {
    await gate.start(r.deps);
    const check = gate.check();
    assert.equal(check.ok, false);
    assert.match(check.detail, /^POD_SECURITY_NOT_ENFORCED: /);
    const admitted = await admit({ body: await sign(key), contentType: 'application/jwt' }, r.deps);
    assert.ok(admitted.ok);
    r.reconciler.enqueue(admitted.value.name);
    await waitFor('the step precondition refused', () => problems.some((p) => p.code === 'POD_SECURITY_NOT_ENFORCED'));
    assert.equal(cluster.created.length, 0, 'no step pod while not enforced');
    // pods.create itself refuses too (a step that passed the precondition just before).
    const direct = await gated.pods.create({ metadata: { name: 'x' }, spec: { containers: [] } });
    assert.equal(direct.ok ? undefined : direct.error.code, 'POD_SECURITY_NOT_ENFORCED');
    assert.equal(cluster.created.length, 0);
    // Probing again while still not enforced writes nothing more.
    await gate.refresh();
    await gate.refresh();
    const gateRecords = () => r.deps.audit.records.filter((x) => x.stage === 'create' && x.workflow === undefined);
    await waitFor('the audit record', () => gateRecords().length === 1);
    assert.equal(gateRecords()[0]?.code, 'POD_SECURITY_NOT_ENFORCED');
    assert.equal(gateRecords()[0]?.outcome, 'error');

    answer = { status: 403, body: REFUSED_RESTRICTED };
    await gate.refresh();
    assert.deepEqual(gate.check(), { ok: true, detail: 'restricted:latest' });
    const done = await r.reconciler.whenDone(admitted.value.name, 30_000);
    assert.equal(done?.status?.phase, 'Succeeded');
    assert.equal(cluster.created.length, 1, 'the step pod once enforced');
    await waitFor('the recovery record', () => gateRecords().length === 2);
    assert.equal(gateRecords()[1]?.outcome, 'allow');
    assert.equal(gateRecords()[1]?.code, undefined);
  } finally {
    gate.stop();
    await r.close();
  }
});

test('unknown (a 503): the same gate with POD_SECURITY_UNKNOWN', async () => {
  answer = { status: 503, body: '{"kind":"Status","reason":"ServiceUnavailable","code":503}' };
  const gate = podSecurityGate(
    testConfig(),
    pooledKubeConfigAt((server.address() as AddressInfo).port, 2000),
    pino({ level: 'silent' }),
  );
  const cluster = new MemoryPods();
  const gated = gate.gated({ ...memoryCluster(cluster) } as unknown as PipelineDeps);
  // Before the first probe: unknown, refused.
  assert.match(gate.check().detail, /^POD_SECURITY_UNKNOWN: not probed yet/);
  const r = await memoryRunner({ pods: gated.pods, objects: gated.objects, logs: cluster });
  try {
    await gate.start(r.deps);
    assert.match(gate.check().detail, /^POD_SECURITY_UNKNOWN: /);
    const refused = await gated.objects.ensureStepDns({ metadata: { name: 'dns' } });
    assert.equal(refused.ok ? undefined : refused.error.code, 'POD_SECURITY_UNKNOWN');
  } finally {
    gate.stop();
    await r.close();
  }
});

test('opted out (runner.security.podSecurityCheck.enabled: false): nothing probed, nothing gated, /ready says so', async () => {
  let asked = 0;
  const counting = createServer((_req, res) => {
    asked++;
    res.writeHead(201).end(ADMITTED);
  });
  await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', resolve));
  try {
    const config = testConfig({ runner: { security: { podSecurityCheck: { enabled: false } } } });
    const gate = podSecurityGate(
      config,
      pooledKubeConfigAt((counting.address() as AddressInfo).port, 2000),
      pino({ level: 'silent' }),
    );
    const cluster = new MemoryPods();
    const deps = { ...memoryCluster(cluster) } as unknown as PipelineDeps;
    await gate.start(deps);
    await gate.refresh();
    assert.deepEqual(gate.check(), {
      ok: true,
      detail: 'not checked (runner.security.podSecurityCheck.enabled: false)',
    });
    assert.equal(gate.gated(deps), deps);
    assert.equal(asked, 0);
    gate.stop();
  } finally {
    await new Promise<void>((resolve) => counting.close(() => resolve()));
  }
});

test('the interval: 60 s by default, 5 s to 1 h accepted', () => {
  assert.equal(testConfig().runner.security.podSecurityCheck.interval, 60);
  assert.equal(testConfig().runner.security.podSecurityCheck.enabled, true);
  assert.equal(
    testConfig({ runner: { security: { podSecurityCheck: { interval: '5m' } } } }).runner.security.podSecurityCheck
      .interval,
    300,
  );
  for (const bad of ['4s', '2h', 0])
    assert.throws(
      () => testConfig({ runner: { security: { podSecurityCheck: { interval: bad } } } }),
      /between 5 and 3600/,
    );
  assert.throws(
    () => testConfig({ runner: { security: { podSecurityCheck: { enabeld: false } } } } as never),
    /enabeld|unrecognized/i,
  );
});

test('quietGateProblems: the gate codes are not repeated each pass; other problems are', () => {
  const seen: string[] = [];
  const quiet = quietGateProblems({
    recorded: () => undefined,
    workflowsRunning: () => undefined,
    workflowFinished: () => undefined,
    stepFinished: () => undefined,
    problem: (e) => seen.push(e.code),
    internalError: () => undefined,
  });
  quiet.problem?.({ code: 'POD_SECURITY_NOT_ENFORCED', message: 'x' });
  quiet.problem?.({ code: 'POD_SECURITY_UNKNOWN', message: 'x' });
  quiet.problem?.({ code: 'EGRESS_BASELINE_UNCONFIRMED', message: 'x' });
  assert.deepEqual(seen, ['EGRESS_BASELINE_UNCONFIRMED']);
});

test("the gate's log lines, as serve's logger writes them: one JSON object each, no field named like the logger's own (level, timestamp, runner, message), the code on a refusal", async () => {
  const lines: string[] = [];
  const log = createLogger('r1', 'info', { write: (s: string) => void lines.push(s) });
  const gate = podSecurityGate(testConfig(), pooledKubeConfigAt((server.address() as AddressInfo).port, 2000), log);
  const cluster = new MemoryPods();
  const r = await memoryRunner({ pods: cluster, objects: cluster, logs: cluster });
  try {
    answer = { status: 403, body: REFUSED_RESTRICTED };
    await gate.start(r.deps);
    answer = { status: 201, body: ADMITTED };
    await gate.refresh();
    answer = { status: 403, body: REFUSED_RESTRICTED };
    await gate.refresh();
  } finally {
    gate.stop();
    await r.close();
  }
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    parsed.map((l) => [l.level, l.code]),
    [
      ['info', undefined],
      ['error', 'POD_SECURITY_NOT_ENFORCED'],
      ['info', undefined],
    ],
  );
  for (const line of lines)
    for (const key of ['level', 'timestamp', 'runner', 'message'])
      assert.equal(line.split(`"${key}":`).length, 2, `one "${key}" in ${line}`);
});
