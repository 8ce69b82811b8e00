/**
 * Client CPU per Kubernetes API request: client-node's generated API (undici fetch +
 * ObjectSerializer) against a plain JSON request through the same pooled KubeConfig
 * (src/adapters/kube-json.ts), for the requests the runner makes per step (issue 20 §2): the
 * admission's run-id LIST and WorkflowRun create, the step pod's create, the run's status merge
 * patch, and the read of the runner's DNS policy before each step. The pod create and the DNS read
 * go through the runner's adapters as shipped (KubePods.create, KubeStepObjects.ensureStepDns: plain
 * JSON, the compared parts reduced to the model's fields) against what they were (client-node's call,
 * the pod slimmed for the cache; the policy read and compared). Interleaved rounds on one local
 * control plane; CPU of this process (user + system, every thread) per request, median of the rounds.
 *
 *   node bench/peers/request-cost.ts [--requests N] [--rounds N] [--concurrency N]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { kubeJson, segment } from '../../src/adapters/kube-json.ts';
import { KubePods, slim } from '../../src/adapters/kube-pods.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { sameSpec } from '../../src/create/adopt.ts';
import { stepDnsPolicy } from '../../src/egress/network-policy.ts';
import { loadKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { WORKFLOWRUN } from '../../src/adapters/kube-runs.ts';
import { startCluster } from '../../src/dev/cluster.ts';
import { requireTools } from '../../test/support/cluster.ts';
import { closedLoop } from './round.ts';
import { hardened, stepPod } from './step.ts';

const JSON_PATCH = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

type Kind = 'list' | 'create' | 'pod' | 'status' | 'dns';
type Via = 'client-node' | 'json';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
  },
});
const N = Math.min(Number(values.requests), 2000);
const ROUNDS = Math.min(Number(values.rounds), 20);
const C = Math.min(Number(values.concurrency), 64);

const cluster = await startCluster({ tools: requireTools() });
try {
  const kc = loadKubeConfig(cluster.kubeconfig);
  const ns = cluster.workflowsNamespace;
  const objects = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const networking = kc.makeApiClient(NetworkingV1Api);
  const pods = new KubePods(kc, ns, 'bench');
  const stepObjects = new KubeStepObjects(kc, ns, 'bench');
  const dns = stepDnsPolicy({ runner: 'bench', namespace: ns, dnsNamespace: 'kube-system' });
  const dnsName = dns.metadata?.name ?? '';
  const made = await stepObjects.ensureStepDns(dns);
  if (!made.ok) throw new Error(made.error.message);
  const { group, version, plural } = WORKFLOWRUN;
  const runsPath = `/apis/${group}/${version}/namespaces/${segment(ns)}/${plural}`;
  const run = (name: string) => ({
    apiVersion: `${group}/${version}`,
    kind: 'WorkflowRun',
    metadata: { name, labels: { 'kubiya.ai/runner': 'bench', 'kubiya.ai/workflow': 'wf', 'kubiya.ai/run': name } },
    spec: { token: 'x'.repeat(1200), workflowId: 'wf', runner: 'bench' },
  });
  const status = [
    { op: 'add', path: '/status', value: { phase: 'Running', steps: [{ name: 'step', phase: 'Running', pod: 'p' }] } },
  ];
  const podOf = (name: string): V1Pod => {
    const pod = hardened(stepPod(ns, name));
    return { ...pod, metadata: { ...pod.metadata, name } };
  };
  const jobs: Record<Kind, Record<Via, (name: string) => Promise<unknown>>> = {
    list: {
      'client-node': (name) =>
        objects.listNamespacedCustomObject({
          group,
          version,
          namespace: ns,
          plural,
          labelSelector: `kubiya.ai/run=${name}`,
        }),
      json: (name) =>
        kubeJson(kc, { method: 'GET', path: `${runsPath}?labelSelector=${segment(`kubiya.ai/run=${name}`)}` }),
    },
    create: {
      'client-node': (name) =>
        objects.createNamespacedCustomObject({ group, version, namespace: ns, plural, body: run(name) }),
      json: (name) => kubeJson(kc, { method: 'POST', path: runsPath, body: run(name) }),
    },
    status: {
      'client-node': (name) =>
        objects.patchNamespacedCustomObjectStatus(
          { group, version, namespace: ns, plural, name, body: status },
          JSON_PATCH,
        ),
      json: (name) =>
        kubeJson(kc, {
          method: 'PATCH',
          path: `${runsPath}/${segment(name)}/status`,
          body: status,
          patchType: 'application/json-patch+json',
        }),
    },
    pod: {
      'client-node': (name) => core.createNamespacedPod({ namespace: ns, body: podOf(name) }).then(slim),
      json: (name) =>
        pods.create(podOf(name)).then((r) => {
          if (!r.ok) throw new Error(r.error.message);
        }),
    },
    dns: {
      'client-node': () =>
        networking.readNamespacedNetworkPolicy({ name: dnsName, namespace: ns }).then((p) => {
          if (!sameSpec(p.spec, dns.spec)) throw new Error('the DNS policy differs');
        }),
      json: () =>
        stepObjects.ensureStepDns(dns).then((r) => {
          if (!r.ok) throw new Error(r.error.message);
        }),
    },
  };
  const cpu: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const order: Via[] = round % 2 === 0 ? ['client-node', 'json'] : ['json', 'client-node'];
    for (const via of order) {
      const prefix = `r${round}-${via === 'json' ? 'j' : 'c'}`;
      for (const kind of ['create', 'list', 'status', 'pod', 'dns'] as const) {
        const job = jobs[kind][via];
        const c0 = process.cpuUsage();
        await closedLoop(N, C, 120, (i) => job(`${prefix}-${i}`).then(() => undefined));
        const c1 = process.cpuUsage(c0);
        (cpu[`${kind} ${via}`] ??= []).push((c1.user + c1.system) / N);
      }
    }
    await objects.deleteCollectionNamespacedCustomObject({ group, version, namespace: ns, plural });
    await core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 });
    console.error(`round ${round + 1}/${ROUNDS} done, load ${loadavg()[0]?.toFixed(2)}`);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(
    `| request | client-node µs CPU | plain JSON µs CPU | saved |  (${N} requests × ${ROUNDS} rounds, ${C} in flight, load ${loadavg()[0]?.toFixed(2)})`,
  );
  console.log('|---|---:|---:|---:|');
  for (const kind of ['list', 'create', 'status', 'pod', 'dns'] as const) {
    const a = median(cpu[`${kind} client-node`] ?? []);
    const b = median(cpu[`${kind} json`] ?? []);
    console.log(
      `| ${kind} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a - b).toFixed(0)} (${(((a - b) / a) * 100).toFixed(0)} %) |`,
    );
  }
} finally {
  await cluster.stop();
}
