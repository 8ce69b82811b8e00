/**
 * The chart, as a platform team installs it, running for real: the locally built runner image
 * (`npm run image`, imported into containerd under the chart's repository, pinned by digest) in a
 * pod on the real node. The pod reaches the API server through the `kubernetes` Service (kube-proxy,
 * our EndpointSlice and forwarder: src/dev/node/api-access.ts) with its own service-account token,
 * reaches the reference control plane on the node address, and becomes Ready through its own probes;
 * /metrics answers through the chart's Service. An assignment signed by the reference control plane
 * runs a real step; `helm upgrade` with a changed value rolls the pod; `helm uninstall` leaves only
 * what the chart keeps on purpose. Times are printed (docs/real-node.md "Measured here").
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  NetworkingV1Api,
  PatchStrategy,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import { OUTPUT } from '../../scripts/image/image.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { API_ENDPOINT } from '../../src/dev/node/api-access.ts';
import { STEP_IMAGE } from '../../src/dev/node/catalogue.ts';
import { NODE, nodePaths } from '../../src/dev/node/configs.ts';
import { REAL_NODE_ANNOTATIONS, REAL_STORAGE_CLASS } from '../../src/dev/node/objects.ts';
import { startControlPlane, type ReferenceControlPlane } from '../../src/dev/control-plane.ts';
import { realNodeCluster, realNodeSkip, type RealNodeEnv } from '../support/real-node.ts';
import { runWorkflow, stepLog } from '../support/real-runner.ts';
import { waitFor } from '../support/wait.ts';

const skip = realNodeSkip();
const run = promisify(execFile);
const RELEASE = 'kubiya-runner';
const REPOSITORY = 'ghcr.io/kubiya/kubiya-runner';
const RUNNER = 'chart-runner';
const TOKEN = 'chart-runner-token';
const INSTANCE = `app.kubernetes.io/instance=${RELEASE}`;

/** `npm run image` without npm (the tools are built): the archive and its digest, in `out`. */
async function buildRunnerImage(out: string): Promise<{ archive: string; digest: string; tag: string }> {
  await run(process.execPath, [join(REPO_ROOT, 'scripts', 'image', 'build.ts'), '--out', out], {
    cwd: REPO_ROOT,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 600_000,
  });
  const index = JSON.parse(await readFile(join(out, OUTPUT.layout, 'index.json'), 'utf8')) as {
    manifests: { annotations?: Record<string, string> }[];
  };
  return {
    archive: join(out, OUTPUT.archive),
    digest: (await readFile(join(out, OUTPUT.digest), 'utf8')).trim(),
    tag: index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'] ?? '',
  };
}

const isReady = (p: V1Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Prints the kernel's view of the step's own process. */
const SELF = "id; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status";

describe('real node: the chart installs the runner image, which runs there and runs a real step', { skip }, () => {
  let rn: RealNodeEnv;
  let cp: ReferenceControlPlane;
  let core: CoreV1Api;
  let image: { archive: string; digest: string; tag: string };
  let ns = '';
  let wfNs = '';
  const helmTool = resolveTools(['helm']);
  const helm = async (...args: string[]): Promise<string> => {
    if (!helmTool.ok) throw new Error(helmTool.error.message);
    const home = join(rn.env.work, 'helm');
    const r = await run(helmTool.value.helm, [...args, '--kubeconfig', rn.env.cluster.kubeconfig], {
      env: { PATH: process.env.PATH ?? '', HOME: home, HELM_CACHE_HOME: join(home, 'cache') },
      cwd: REPO_ROOT,
      maxBuffer: 16 * 1024 * 1024,
      timeout: 180_000,
    });
    return r.stdout;
  };
  const runnerPods = async (): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=kubiya-runner,${INSTANCE}` })).items;
  /** The one runner pod, Ready on the real node and not `exclude` (a pod replaced by a roll). */
  const readyPod = (what: string, exclude?: string) =>
    waitFor(
      what,
      async () => {
        const pods = await runnerPods();
        const pod = pods.find((p) => p.metadata?.uid !== exclude && p.metadata?.deletionTimestamp === undefined);
        return pods.length === 1 && pod !== undefined && isReady(pod) ? pod : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 250 },
    );
  const metricsThroughService = async (): Promise<string> => {
    const svc = await core.readNamespacedService({ name: RELEASE, namespace: ns });
    const { value } = await waitFor(
      '/metrics through the Service',
      async () => {
        const r = await fetch(`http://${svc.spec?.clusterIP ?? ''}:8080/metrics`, {
          signal: AbortSignal.timeout(3000),
        });
        return r.status === 200 ? await r.text() : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    return value;
  };

  let imageDir = '';
  before(async () => {
    imageDir = await mkdtemp(join(tmpdir(), 'kubiya-node-image-'));
    // In parallel: the node's start waits on processes as much as it computes.
    const started = await Promise.allSettled([realNodeCluster(), buildRunnerImage(imageDir)]);
    if (started[0].status === 'fulfilled') rn = started[0].value;
    if (started[0].status === 'rejected' || started[1].status === 'rejected') {
      await rn?.close();
      throw started[0].status === 'rejected' ? started[0].reason : (started[1] as PromiseRejectedResult).reason;
    }
    image = started[1].value;
    console.log(`real node up, seconds per phase: ${JSON.stringify(rn.node.timings)}`);
    core = rn.env.kc.makeApiClient(CoreV1Api);
    ns = rn.env.cluster.runnerNamespace;
    wfNs = rn.env.cluster.workflowsNamespace;
    // The image as a registry would serve it: under the chart's repository, by tag and by digest (ctr
    // import names the tag only; the CRI finds a digest reference only under an image of that name).
    const ctr = (...args: string[]) =>
      run(rn.node.tools.ctr, ['--address', nodePaths(rn.node.dir).socket, '-n', 'k8s.io', 'images', ...args], {
        timeout: 180_000,
      });
    await ctr('import', '--base-name', REPOSITORY, image.archive);
    await ctr('tag', `${REPOSITORY}:${image.tag}`, `${REPOSITORY}@${image.digest}`);
    // The release namespace on the real node (PodNodeSelector + PodTolerationRestriction), no egress gate.
    await KubernetesObjectApi.makeApiClient(rn.env.kc).patch(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, annotations: { ...REAL_NODE_ANNOTATIONS } } },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    cp = await startControlPlane({ token: TOKEN, host: NODE.ip });
  });
  after(async () => {
    await cp?.close();
    if (imageDir !== '') await rm(imageDir, { recursive: true, force: true });
    const left = await rn?.close();
    assert.deepEqual(left ?? [], [], 'down restored the host');
  });

  test('helm install: the runner pod (image pinned by digest) is Ready on the real node through its own probes; /metrics answers through the Service', async () => {
    const cpUrl = `http://${NODE.ip}:${new URL(cp.url).port}`;
    const values = {
      replicaCount: 1,
      image: { repository: REPOSITORY, digest: image.digest },
      runner: { name: RUNNER, token: TOKEN, storage: { storageClass: REAL_STORAGE_CLASS } },
      // The reference control plane serves plain http on the node address (a test rig): opt in.
      controlPlane: {
        url: cpUrl,
        issuer: cp.issuer,
        jwksUrl: `${cpUrl}/.well-known/jwks.json`,
        insecureHttp: true,
      },
      audit: { storage: { storageClass: REAL_STORAGE_CLASS } },
      crds: { install: false },
      namespace: { create: false },
      networkPolicy: {
        controlPlane: { cidrs: [`${NODE.ip}/32`], ports: [Number(new URL(cpUrl).port)] },
        // kube-router filters after kube-proxy's DNAT: the API server is the forwarder on the node address.
        extraEgress: [
          { to: [{ ipBlock: { cidr: `${NODE.ip}/32` } }], ports: [{ protocol: 'TCP', port: API_ENDPOINT.port }] },
        ],
      },
    };
    await mkdir(rn.env.work, { recursive: true });
    const file = join(rn.env.work, 'values.json');
    await writeFile(file, JSON.stringify(values));
    const t0 = performance.now();
    await helm('install', RELEASE, './charts/kubiya-runner', '--namespace', ns, '--values', file);
    const { value: pod } = await readyPod('the runner pod Ready');
    const seconds = (performance.now() - t0) / 1000;
    console.log(`chart install -> runner Ready on the real node: ${seconds.toFixed(1)} s`);
    assert.equal(pod.spec?.nodeName, NODE.name);
    const runner = pod.status?.containerStatuses?.find((c) => c.name === 'runner');
    assert.equal(pod.spec?.containers[0]?.image, `${REPOSITORY}@${image.digest}`);
    assert.ok(runner?.ready === true && runner.restartCount === 0, JSON.stringify(runner));
    assert.ok(cp.registered.has(RUNNER), 'the runner registered at the control plane from the pod');
    const metrics = await metricsThroughService();
    assert.match(metrics, /^kubiya_runner_up\{[^}]*\} 1$/m);
  });

  test('an assignment signed by the reference control plane runs a real step through the chart-installed runner', async () => {
    const events = await runWorkflow(
      cp,
      RUNNER,
      {
        id: 'chart-step',
        steps: [{ name: 'self', image: STEP_IMAGE, command: ['sh', '-c', SELF] }],
      },
      1,
      180_000,
    );
    assert.deepEqual(
      events.filter((e) => e.phase !== 'Log').map((e) => e.phase),
      ['Accepted', 'Running', 'Succeeded'],
      JSON.stringify(events),
    );
    const log = stepLog(events, 'self');
    assert.match(log, /uid=[1-9]\d*/, log);
    assert.match(log, /^Seccomp:\s+2$/m, log);
    assert.match(log, /^CapEff:\s+0+$/m, log);
    const pods = await core.listNamespacedPod({ namespace: wfNs, labelSelector: 'kubiya.ai/step=self' });
    assert.equal(pods.items[0]?.spec?.nodeName, NODE.name, 'the step ran on the real node');
  });

  test('helm upgrade with a changed value rolls the runner: a new pod Ready on the real node', async () => {
    const [old] = await runnerPods();
    const t0 = performance.now();
    await helm(
      'upgrade',
      RELEASE,
      './charts/kubiya-runner',
      '--namespace',
      ns,
      '--reuse-values',
      '--set',
      'logLevel=debug',
    );
    const { value: pod } = await readyPod('a new runner pod Ready', old?.metadata?.uid);
    console.log(
      `helm upgrade -> new runner pod Ready on the real node: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    assert.notEqual(pod.metadata?.uid, old?.metadata?.uid);
    assert.equal(pod.spec?.nodeName, NODE.name);
    const config = await core.readNamespacedConfigMap({ name: `${RELEASE}-config`, namespace: ns });
    assert.match(config.data?.['runner.yaml'] ?? '', /level: "debug"/); // every value JSON-quoted
    assert.match(await metricsThroughService(), /^kubiya_runner_up\{[^}]*\} 1$/m);
  });

  test('helm uninstall leaves only what the chart keeps on purpose: the audit volume and its checkpoint key', async () => {
    await helm('uninstall', RELEASE, '--namespace', ns, '--wait', '--timeout', '120s');
    await waitFor('no runner pod left', async () => (await runnerPods()).length === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const apps = rn.env.kc.makeApiClient(AppsV1Api);
    const rbac = rn.env.kc.makeApiClient(RbacAuthorizationV1Api);
    const net = rn.env.kc.makeApiClient(NetworkingV1Api);
    const left: string[] = [];
    for (const n of [ns, wfNs]) {
      const q = { namespace: n, labelSelector: INSTANCE };
      const lists: [string, Promise<{ items: { metadata?: { name?: string } }[] }>][] = [
        ['Pod', core.listNamespacedPod(q)],
        ['Service', core.listNamespacedService(q)],
        ['ConfigMap', core.listNamespacedConfigMap(q)],
        ['Secret', core.listNamespacedSecret(q)],
        ['ServiceAccount', core.listNamespacedServiceAccount(q)],
        [
          'PersistentVolumeClaim',
          core.listNamespacedPersistentVolumeClaim({ namespace: n, labelSelector: 'app=kubiya-runner' }),
        ],
        ['StatefulSet', apps.listNamespacedStatefulSet(q)],
        ['Role', rbac.listNamespacedRole(q)],
        ['RoleBinding', rbac.listNamespacedRoleBinding(q)],
        ['NetworkPolicy', net.listNamespacedNetworkPolicy(q)],
        ['PodDisruptionBudget', rn.env.kc.makeApiClient(PolicyV1Api).listNamespacedPodDisruptionBudget(q)],
      ];
      for (const [kind, list] of lists)
        for (const o of (await list).items) left.push(`${n}/${kind}/${o.metadata?.name ?? ''}`);
    }
    assert.deepEqual(left.sort(), [
      `${ns}/PersistentVolumeClaim/audit-${RELEASE}-0`,
      `${ns}/Secret/${RELEASE}-audit-signing-key`,
    ]);
    // Not the release's objects, so helm does not delete them: the leader-election Lease the runner
    // made (released at shutdown when the runner still may; helm deletes the Role that lets it in the
    // same pass, so it may keep its last holder until it expires), and the finished run in the kept
    // workflows namespace (its WorkflowRun, kept with the CRD, and the step pod it owns).
    const lease = await rn.env.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: RELEASE, namespace: ns });
    console.log(`after uninstall: Lease ${RELEASE} ${JSON.stringify(lease.spec)}`);
    assert.ok((lease.spec?.leaseDurationSeconds ?? 0) > 0, 'a Lease that expires');
    const runs = (await rn.env.kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: wfNs,
      plural: 'workflowruns',
    })) as { items: { metadata?: { name?: string } }[] };
    assert.equal(runs.items.length, 1, 'the finished run is kept');
    const stepPods = await core.listNamespacedPod({ namespace: wfNs });
    assert.deepEqual(
      stepPods.items.map((p) => [p.status?.phase, p.metadata?.ownerReferences?.[0]?.kind]),
      [['Succeeded', 'WorkflowRun']],
    );
    const configMaps = await core.listNamespacedConfigMap({ namespace: ns });
    assert.deepEqual(
      configMaps.items.map((c) => c.metadata?.name),
      ['kube-root-ca.crt'],
      "only the control plane's CA ConfigMap",
    );
    const services = await core.listNamespacedService({ namespace: ns });
    assert.deepEqual(
      services.items.map((s) => s.metadata?.name),
      [],
      'no Service of the release left',
    );
  });
});
