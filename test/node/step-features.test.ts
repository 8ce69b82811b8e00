/**
 * Issue 19 on a real kubelet (containerd, runc, restricted PSS, read-only root): what kwok only
 * simulates. kwok writes a step's termination message from an env var and starts every container
 * at once; here the kubelet reads /dev/termination-log itself, cuts it to its own limits, and
 * orders native sidecars by their startup probes.
 *
 * Classes (each a table row below, the reported example kept):
 * - sidecar readiness orders startup: the step's own container starts only after the sidecar's
 *   probe passed, for each probe kind (tcpSocket, exec); a sidecar that never gets ready keeps the
 *   step from ever starting, and the step ends by its timeout (STEP_DEADLINE_EXCEEDED, audited).
 * - outputs through the termination message: written under a read-only root as a non-root UID,
 *   UTF-8 intact, passed by reference to a later step's args and env, kept in status and the
 *   audit log, a secret one masked there and absent from status, a `when` on an output value.
 * - what the kubelet cuts (only a real kubelet does): a file over 4096 bytes is cut at its FRONT
 *   (kuberuntime `tail.ReadAtMost`), so the first line kept is a fragment that can read as
 *   `name=value` (a forged output); the pod's 12 KiB budget is split over ALL its containers
 *   (the egress gate and sidecars included) and each message is cut at its END (status manager
 *   `normalizeStatus`), so a value can be silently shortened. Both are refused with
 *   STEP_OUTPUT_TOO_LARGE; so is a value over 1024 characters.
 * - retries: a step that fails once then succeeds runs as two pods with deterministic names.
 * - examples/features/sidecar-readiness.yaml and outputs.yaml, unchanged, with stand-in images
 *   (src/dev/node/catalogue.ts: the postgres stand-in accepts connections only 3 s after its start).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { WORKFLOWRUN } from '../../src/adapters/kube-runs.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { STEP_IMAGE } from '../../src/dev/node/catalogue.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { ATTEMPT_ANNOTATION, attemptPodName, LABELS } from '../../src/pod/names.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { realNodeCluster, realNodeSkip, type RealNodeEnv } from '../support/real-node.ts';
import { startRealRunner, stepLog, type RealRunner } from '../support/real-runner.ts';
import type { StepEvent } from '../../src/dev/control-plane.ts';

const skip = realNodeSkip();
const RUNNER = 'features-runner';
const RESOURCES = { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '500m', memory: '64Mi' } };
const SECRET = 'Zq8-not-a-pattern-but-secret-77';
const UNICODE = 'héllo wörld ✓ 日本';
/**
 * ROT13: the producing step makes its secret output at run time, so that the signed command
 * (which the audit log keeps, unmasked) does not hold it.
 */
const rot13 = (text: string): string =>
  text.replace(/[a-z]/gi, (ch) => {
    const base = ch <= 'Z' ? 65 : 97;
    return String.fromCharCode(((ch.charCodeAt(0) - base + 13) % 26) + base);
  });

const step = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: STEP_IMAGE,
  command: ['sh', '-c', script],
  resources: RESOURCES,
  ...extra,
});

const sidecar = (name: string, script: string, extra: Record<string, unknown>) => ({
  name,
  image: STEP_IMAGE,
  command: ['sh', '-c', script],
  resources: RESOURCES,
  ...extra,
});

/** What the step prints first: whether the sidecar's port answers at the step's very first instruction. */
const REACH = (port: number) =>
  `if printf 'HEAD / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 127.0.0.1 ${String(port)} >/dev/null 2>&1; then echo sidecar-answered-at-start; else echo sidecar-DOWN-at-start; fi`;

/**
 * The sidecar listens only after 4 s: a step started before its readiness would find nothing. It
 * handles SIGTERM: a sidecar's PID 1 that ignores it holds the step's pod for the grace period (30 s).
 */
const LATE_SERVER = (port: number) => `trap 'exit 0' TERM; sleep 4; httpd -f -p ${String(port)} -h / & wait`;
const IDLE = "trap 'exit 0' TERM; while :; do sleep 1; done";

const ends = (events: readonly StepEvent[]) =>
  events.filter((e) => e.step !== undefined && e.phase !== 'Log' && e.phase !== 'Running');

describe('real node: sidecar readiness, outputs, conditions, retries (issue 19)', { skip }, () => {
  let rn: RealNodeEnv;
  let runner: RealRunner;
  let core: CoreV1Api;
  before(async () => {
    rn = await realNodeCluster();
    core = rn.env.kc.makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({
      namespace: rn.env.cluster.workflowsNamespace,
      body: { metadata: { name: 'postgres-credentials' }, stringData: { password: 'not-a-password' } },
    });
    runner = await startRealRunner(rn.env, { name: RUNNER, readOnlyRootFilesystem: true });
  });
  after(async () => {
    await runner?.close();
    const left = await rn?.close();
    assert.deepEqual(left ?? [], [], 'down restored the host');
  });

  const podsOf = async (step: string): Promise<V1Pod[]> =>
    (
      await core.listNamespacedPod({
        namespace: rn.env.cluster.workflowsNamespace,
        labelSelector: `${LABELS.step}=${step}`,
      })
    ).items;
  const statusOf = async (workflowId: string): Promise<RunStatus | undefined> => {
    const list = (await rn.env.kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      ...WORKFLOWRUN,
      namespace: rn.env.cluster.workflowsNamespace,
    })) as { items: { spec?: { workflowId?: string }; status?: RunStatus }[] };
    return list.items.find((i) => i.spec?.workflowId === workflowId)?.status;
  };
  const audit = () => readAuditLog(join(rn.env.work, `audit-${RUNNER}`));
  /** The workflow's events once `done` holds of them (runWorkflow does not wait for Skipped ends). */
  const eventsUntil = async (id: string, done: (e: StepEvent[]) => boolean): Promise<StepEvent[]> => {
    const mine = () => runner.cp.events.filter((e) => e.workflow === id);
    for (let i = 0; i < 100 && !done(mine()); i++) await sleep(200);
    return mine();
  };

  const PROBES = [
    { kind: 'tcpSocket', port: 18090, readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 } },
    { kind: 'exec', port: 18091, readinessProbe: { exec: { command: ['pidof', 'httpd'] }, periodSeconds: 1 } },
  ] as const;
  for (const p of PROBES) {
    test(`sidecar with a ${p.kind} readinessProbe: the step's container starts only once the sidecar is ready`, async () => {
      const name = `ready-${p.kind.toLowerCase()}`;
      const events = await runner.run(
        {
          id: name,
          steps: [
            step(name, REACH(p.port), {
              sidecars: [
                sidecar('server', LATE_SERVER(p.port), {
                  ports: [{ port: p.port, name: 'http' }],
                  readinessProbe: p.readinessProbe,
                }),
              ],
            }),
          ],
        },
        1,
      );
      assert.deepEqual(
        ends(events).map((e) => e.phase),
        ['Succeeded'],
        JSON.stringify(ends(events)),
      );
      assert.match(stepLog(events, name), /^sidecar-answered-at-start$/m, stepLog(events, name));
      const [pod] = await podsOf(name);
      const server = pod?.status?.initContainerStatuses?.find((c) => c.name === 'server');
      const main = pod?.status?.containerStatuses?.find((c) => c.name === 'step');
      const sidecarStart = server?.state?.running?.startedAt ?? server?.state?.terminated?.startedAt;
      const mainStart = main?.state?.terminated?.startedAt;
      assert.ok(sidecarStart !== undefined && mainStart !== undefined, JSON.stringify(pod?.status));
      // Seconds resolution in pod status: the sidecar listens 4 s after its start; the step starts after that.
      const gap = (new Date(mainStart).getTime() - new Date(sidecarStart).getTime()) / 1000;
      assert.ok(gap >= 3, `step started ${String(gap)} s after the sidecar`);
      const spec = pod?.spec?.initContainers?.find((c) => c.name === 'server');
      assert.equal(spec?.restartPolicy, 'Always', 'a native sidecar');
      assert.ok(spec?.startupProbe !== undefined && spec.readinessProbe !== undefined);
    });
  }

  test('a sidecar that never gets ready: the step never starts and ends by its timeout (STEP_DEADLINE_EXCEEDED, audited)', async () => {
    const name = 'never-ready';
    let mainEverStarted = false;
    const run = runner.run(
      {
        id: name,
        steps: [
          step(name, 'echo main-started', {
            timeout: '20s',
            sidecars: [
              sidecar('server', IDLE, {
                ports: [{ port: 18092 }],
                readinessProbe: {
                  exec: { command: ['test', '-e', '/never'] },
                  periodSeconds: 1,
                  failureThreshold: 120,
                },
              }),
            ],
          }),
        ],
      },
      1,
    );
    let done = false;
    void run.finally(() => (done = true));
    while (!done) {
      for (const pod of await podsOf(name)) {
        const main = pod.status?.containerStatuses?.find((c) => c.name === 'step');
        if (main?.state?.running !== undefined || main?.state?.terminated?.startedAt !== undefined)
          mainEverStarted = true;
      }
      await sleep(500);
    }
    const events = await run;
    const end = ends(events);
    assert.deepEqual(
      end.map((e) => `${e.phase}:${e.code ?? ''}`),
      ['Failed:STEP_DEADLINE_EXCEEDED'],
      JSON.stringify(events.filter((e) => e.phase !== 'Log')),
    );
    assert.equal(mainEverStarted, false, 'the step container never started');
    assert.doesNotMatch(stepLog(events, name), /main-started/);
    const finish = (await audit()).find((r) => r.stage === 'finish' && r.step === name);
    assert.equal(finish?.code, 'STEP_DEADLINE_EXCEEDED', JSON.stringify(finish));
  });

  test('outputs through /dev/termination-log: args, env, status, audit (secret masked), UTF-8, `when` on a value', async () => {
    const id = 'outputs';
    const write = `echo "tag=1.4.2" >> "$KUBIYA_OUTPUTS"; echo "channel=release" >> "$KUBIYA_OUTPUTS"
echo "greeting=${UNICODE}" >> "$KUBIYA_OUTPUTS"; printf 'title=fix \\044(USE_IDENT) \\044\\044 typo\\n' >> "$KUBIYA_OUTPUTS"; echo "ident=$(echo '${rot13(SECRET)}' | tr 'A-Za-z' 'N-ZA-Mn-za-m')" >> "$KUBIYA_OUTPUTS"; echo written`;
    await runner.run(
      {
        id,
        steps: [
          step('produce', write, {
            outputs: [
              { name: 'tag' },
              { name: 'channel' },
              { name: 'greeting' },
              { name: 'title' },
              { name: 'ident', secret: true },
            ],
          }),
          {
            ...step('consume', 'echo "arg=$1 greeting=$2 ident=$USE_IDENT"'),
            command: ['sh', '-c', 'echo "arg=$1 greeting=$2 ident=$USE_IDENT"; echo "title=$3"', 'consume'],
            // The title holds `$(USE_IDENT)`: the kubelet must not expand it (red team 8, finding 2).
            args: [
              '--tag=${steps.produce.outputs.tag}',
              '${steps.produce.outputs.greeting}',
              '${steps.produce.outputs.title}',
            ],
            env: { USE_IDENT: '${steps.produce.outputs.ident}' },
          },
          step('publish', 'echo publishing', { when: "steps.produce.outputs.channel == 'release'" }),
          step('prerelease', 'echo prerelease', { when: "steps.produce.outputs.channel != 'release'" }),
        ],
      },
      3,
    );
    const events = await eventsUntil(id, (e) => e.some((x) => x.step === 'prerelease' && x.phase === 'Skipped'));
    assert.deepEqual(
      ends(events).map((e) => `${e.step ?? ''}:${e.phase}`),
      ['produce:Succeeded', 'consume:Succeeded', 'publish:Succeeded', 'prerelease:Skipped'],
      JSON.stringify(ends(events)),
    );
    assert.match(
      stepLog(events, 'consume'),
      new RegExp(`^arg=--tag=1\\.4\\.2 greeting=${UNICODE} ident=${SECRET}$`, 'm'),
    );
    assert.ok(
      stepLog(events, 'consume').split('\n').includes('title=fix $(USE_IDENT) $$ typo'),
      stepLog(events, 'consume'),
    );
    const status = await statusOf(id);
    const byName = new Map((status?.steps ?? []).map((s) => [s.name, s]));
    assert.deepEqual(byName.get('produce')?.outputs, {
      tag: '1.4.2',
      channel: 'release',
      greeting: UNICODE,
      title: 'fix $(USE_IDENT) $$ typo',
    });
    assert.equal(byName.get('prerelease')?.code, 'STEP_CONDITION_FALSE');
    assert.ok(!JSON.stringify(status).includes(SECRET), 'no secret output in status');
    const records = await audit();
    const produced = records.find((r) => r.stage === 'finish' && r.step === 'produce');
    assert.deepEqual(produced?.result, {
      outputs: { tag: '1.4.2', channel: 'release', greeting: UNICODE, title: 'fix $(USE_IDENT) $$ typo', ident: '***' },
    });
    assert.deepEqual(produced?.masked, ['/result/outputs/ident']);
    assert.ok(!JSON.stringify(records).includes(SECRET), 'no secret output anywhere in the audit log');
    const [pod] = await podsOf('produce');
    const main = pod?.spec?.containers.find((c) => c.name === 'step');
    assert.equal(main?.terminationMessagePolicy, 'File');
    assert.equal(main?.securityContext?.readOnlyRootFilesystem, true, 'written under a read-only root');
  });

  /** What the kubelet cuts, and a value over the bound: each refused with STEP_OUTPUT_TOO_LARGE. */
  const OVERSIZE = [
    {
      name: 'value-over-1024',
      script: `v=$(printf '%01100d' 0); echo "tag=$v" >> "$KUBIYA_OUTPUTS"`,
      extra: {},
      kept: undefined,
    },
    {
      // 4201 bytes; the kubelet keeps the last 4096: "tag=forged\n" (11) and the filler line (4085).
      name: 'front-cut-forges',
      script: `pad=$(printf '%0100d' 0); fill=$(printf '%04077d' 0)
printf 'note=%stag=forged\\nfiller=%s\\n' "$pad" "$fill" >> "$KUBIYA_OUTPUTS"`,
      extra: {},
      kept: { bytes: 4096, text: /^tag=forged\n/ },
    },
    {
      // 5 containers (egress gate, 1 init, 2 sidecars, the step): 12288 / 5 = 2457 bytes kept, cut at the end.
      name: 'end-cut-shortens',
      script: `pad=$(printf '%02430d' 0); echo "note=$pad" >> "$KUBIYA_OUTPUTS"; echo "tag=1.4.2-release-candidate-0123456789" >> "$KUBIYA_OUTPUTS"`,
      extra: {
        initContainers: [{ name: 'prep', image: STEP_IMAGE, command: ['true'], resources: RESOURCES }],
        sidecars: [sidecar('side-a', IDLE, {}), sidecar('side-b', IDLE, {})],
      },
      kept: { bytes: 2457, text: /\ntag=1\.4\.2-release-can$/ },
    },
  ];
  for (const o of OVERSIZE) {
    test(`outputs the kubelet would cut, or over the bound (${o.name}): refused with STEP_OUTPUT_TOO_LARGE`, async () => {
      const events = await runner.run(
        {
          id: o.name,
          steps: [
            step(o.name, o.script, { outputs: [{ name: 'tag' }], ...o.extra }),
            step(`${o.name}-use`, 'echo "got $0"', { args: ['${steps.' + o.name + '.outputs.tag}'] }),
          ],
        },
        1,
      );
      const [pod] = await podsOf(o.name);
      if (o.kept !== undefined) {
        // What the kubelet really handed back: the fragment the old reader would have taken as an output.
        const message =
          pod?.status?.containerStatuses?.find((c) => c.name === 'step')?.state?.terminated?.message ?? '';
        assert.equal(Buffer.byteLength(message), o.kept.bytes);
        assert.match(message, o.kept.text);
      }
      const end = ends(events);
      assert.equal(end[0]?.step, o.name, JSON.stringify(end));
      assert.equal(`${end[0]?.phase ?? ''}:${end[0]?.code ?? ''}`, 'Failed:STEP_OUTPUT_TOO_LARGE', JSON.stringify(end));
      assert.doesNotMatch(stepLog(events, `${o.name}-use`), /got/);
      const finish = (await audit()).find((r) => r.stage === 'finish' && r.step === o.name);
      assert.equal(finish?.code, 'STEP_OUTPUT_TOO_LARGE', JSON.stringify(finish));
      assert.equal(finish?.result, undefined, 'no (cut) output recorded');
      const containers = (pod?.spec?.containers.length ?? 0) + (pod?.spec?.initContainers?.length ?? 0);
      if (o.name === 'end-cut-shortens') assert.equal(containers, 5, 'the 12 KiB budget is split 5 ways');
      const status = await statusOf(o.name);
      assert.equal(status?.steps.find((s) => s.name === o.name)?.outputs, undefined);
    });
  }

  test('examples/features/sidecar-readiness.yaml: the migration starts once the postgres stand-in accepts connections', async () => {
    const wf = await readWorkflowFile(join(REPO_ROOT, 'examples', 'features', 'sidecar-readiness.yaml'));
    const events = await runner.run(wf, 1);
    assert.deepEqual(
      ends(events).map((e) => `${e.step ?? ''}:${e.phase}`),
      ['migrate:Succeeded'],
      JSON.stringify(ends(events)),
    );
    // The stand-in listens 3 s after its start; the seed's example without a probe starts too early.
    assert.match(stepLog(events, 'migrate'), /^migrate \(stand-in\): database reachable$/m, stepLog(events, 'migrate'));
  });

  test('examples/features/outputs.yaml: the version reaches the build, publish runs, the prerelease note is skipped', async () => {
    const wf = await readWorkflowFile(join(REPO_ROOT, 'examples', 'features', 'outputs.yaml'));
    await runner.run(wf, 3);
    const events = await eventsUntil(wf.id, (e) =>
      e.some((x) => x.step === 'notify-prerelease' && x.phase === 'Skipped'),
    );
    assert.deepEqual(
      ends(events).map((e) => `${e.step ?? ''}:${e.phase}`),
      ['version:Succeeded', 'build:Succeeded', 'publish:Succeeded', 'notify-prerelease:Skipped'],
      JSON.stringify(ends(events)),
    );
    assert.match(stepLog(events, 'build'), /npm \(stand-in\) run build -- --version=1\.4\.2: done/);
    assert.deepEqual((await statusOf(wf.id))?.steps.find((s) => s.name === 'version')?.outputs, {
      tag: '1.4.2',
      channel: 'release',
    });
  });

  test('retries: a step that fails once then succeeds runs as two pods with deterministic names', async () => {
    const id = 'retry-once';
    const script = `if [ -e /state/failed-once ]; then echo second-attempt-ok; else touch /state/failed-once; echo first-attempt-fails; exit 7; fi`;
    const events = await runner.run(
      {
        id,
        volumes: [{ name: 'state', size: '16Mi' }],
        steps: [
          step('flaky', script, {
            retries: { limit: 2, backoff: '1s' },
            volumes: [{ name: 'state', mount: '/state', volume: 'state' }],
          }),
        ],
      },
      1,
      180_000,
    );
    const phases = events.filter((e) => e.step === 'flaky' && e.phase !== 'Log').map((e) => e.phase);
    assert.ok(phases.includes('Retrying') && phases.at(-1) === 'Succeeded', JSON.stringify(phases));
    const pods = await podsOf('flaky');
    const runId = pods[0]?.metadata?.labels?.[LABELS.run] ?? '';
    const second = pods.find((p) => p.metadata?.name === attemptPodName(runId, 'flaky', 2));
    assert.equal(pods.length, 2, JSON.stringify(pods.map((p) => p.metadata?.name)));
    assert.equal(second?.metadata?.annotations?.[ATTEMPT_ANNOTATION], '2');
    assert.equal(second?.status?.phase, 'Succeeded');
    const first = pods.find((p) => p !== second);
    assert.equal(first?.status?.containerStatuses?.find((c) => c.name === 'step')?.state?.terminated?.exitCode, 7);
    const finishes = (await audit()).filter((r) => r.stage === 'finish' && r.step === 'flaky');
    assert.deepEqual(
      finishes.map((r) => `${r.outcome}:${r.code ?? ''}`),
      ['failure:STEP_ATTEMPT_FAILED', 'success:'],
    );
  });
});
