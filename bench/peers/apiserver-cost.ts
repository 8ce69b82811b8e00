/**
 * The API server's and etcd's CPU per request, for each request the runner makes per step (issue 20,
 * h-steps-6): the run-id LIST (quorum, label selector, with `--population` WorkflowRuns of other
 * runs in the namespace), the WorkflowRun POST, its status patch, the DNS-policy GET, and cheaper
 * variants of the reads (metadata only). One local control plane of its own; while a kind runs,
 * a watch on the namespace's WorkflowRuns (the runner's informer's selector) and one on its pods are
 * open, as in the runner row. CPU = utime + stime of kube-apiserver and etcd (/proc) over the
 * kind's requests, divided by their number; kinds interleaved per round, median of the rounds.
 * The client is node's https (keep-alive, `--concurrency` in flight): its own CPU is not counted.
 *
 *   node bench/peers/apiserver-cost.ts [--requests N] [--rounds N] [--population N] [--concurrency N] [--only TEXT]
 *
 * --only: the kinds whose name contains TEXT (e.g. "status", to profile the API server under one kind).
 */
import { Agent, request } from 'node:https';
import { loadavg } from 'node:os';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { WORKFLOWRUN } from '../../src/adapters/kube-runs.ts';
import { loadKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { startCluster } from '../../src/dev/cluster.ts';
import { stepDnsPolicy } from '../../src/egress/network-policy.ts';
import { requireTools } from '../../test/support/cluster.ts';
import { cpuSeconds } from './metrics.ts';
import { closedLoop } from './round.ts';
import { hardened, stepPod } from './step.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '3' },
    population: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '16' },
    only: { type: 'string' },
  },
});
const N = Math.min(Number(values.requests), 5000);
const ROUNDS = Math.min(Number(values.rounds), 20);
const POPULATION = Math.min(Number(values.population), 5000);
const C = Math.min(Number(values.concurrency), 64);

const cluster = await startCluster({ tools: requireTools() });
try {
  const config = parse(await readFile(cluster.kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { user: { token: string } }[];
  };
  const server = new URL(config.clusters[0]?.cluster.server ?? '');
  const ca = Buffer.from(config.clusters[0]?.cluster['certificate-authority-data'] ?? '', 'base64');
  const token = config.users[0]?.user.token ?? '';
  const agent = new Agent({ keepAlive: true, maxSockets: C, ca });
  const call = (method: string, path: string, body?: unknown, type = 'application/json', accept = 'application/json') =>
    new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: server.hostname,
          port: server.port,
          path,
          method,
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            accept,
            ...(body !== undefined ? { 'content-type': type } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () =>
            (res.statusCode ?? 0) < 300 ? resolve(text) : reject(new Error(`${method} ${path}: ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const watch = (path: string): (() => void) => {
    const req = request(
      {
        host: server.hostname,
        port: server.port,
        path,
        agent: false,
        ca,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => res.resume(),
    );
    req.on('error', () => undefined);
    req.end();
    return () => req.destroy();
  };

  const ns = cluster.workflowsNamespace;
  const { group, version, plural } = WORKFLOWRUN;
  const runs = `/apis/${group}/${version}/namespaces/${ns}/${plural}`;
  const run = (name: string, runner = 'bench') => ({
    apiVersion: `${group}/${version}`,
    kind: 'WorkflowRun',
    metadata: { name, labels: { 'kubiya.ai/runner': runner, 'kubiya.ai/workflow': 'wf', 'kubiya.ai/run': name } },
    spec: { token: 'x'.repeat(1200), workflowId: 'wf', runner },
  });
  const status = { phase: 'Running', steps: [{ name: 'step', phase: 'Running', pod: 'p' }] };
  const dns = stepDnsPolicy({ runner: 'bench', namespace: ns, dnsNamespace: 'kube-system' });
  const dnsPath = `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${dns.metadata?.name ?? ''}`;
  const made = await new KubeStepObjects(loadKubeConfig(cluster.kubeconfig), ns, 'bench').ensureStepDns(dns);
  if (!made.ok) throw new Error(made.error.message);
  // The population: finished runs of this runner, which every run-id LIST's selector is matched against.
  await closedLoop(POPULATION, C, 300, (i) => call('POST', runs, run(`old-${i}`)).then(() => undefined));
  const stops = [
    watch(`${runs}?watch=1&labelSelector=${encodeURIComponent('kubiya.ai/runner=bench')}&allowWatchBookmarks=true`),
    watch(`/api/v1/namespaces/${ns}/pods?watch=1&labelSelector=${encodeURIComponent('kubiya.ai/runner=bench')}`),
  ];
  const podsPath = `/api/v1/namespaces/${ns}/pods`;
  // Bound to a node nobody runs (no scheduler, no kwok status writes in the measured window).
  const podOf = (name: string) => {
    const pod = hardened(stepPod(ns, name));
    return { ...pod, metadata: { ...pod.metadata, name }, spec: { ...pod.spec, nodeName: 'nowhere' } };
  };
  type Job = (name: string, i: number) => Promise<unknown>;
  const selector = (name: string) => `labelSelector=${encodeURIComponent(`kubiya.ai/run=${name}`)}`;
  const jobs: Record<string, Job> = {
    'run-id LIST (as shipped)': (name) => call('GET', `${runs}?${selector(name)}`),
    'WorkflowRun POST': (name) => call('POST', runs, run(name)),
    'WorkflowRun POST, fieldValidation=Ignore': (name) =>
      call('POST', `${runs}?fieldValidation=Ignore`, run(`${name}-i`)),
    'pod POST': (name) => call('POST', podsPath, podOf(name)),
    'pod POST, fieldValidation=Ignore': (name) =>
      call('POST', `${podsPath}?fieldValidation=Ignore`, podOf(`${name}-i`)),
    'status PATCH (json-patch)': (name) =>
      call(
        'PATCH',
        `${runs}/${name}/status`,
        [{ op: 'add', path: '/status', value: status }],
        'application/json-patch+json',
      ),
    'status PATCH (json-patch), fieldValidation=Ignore': (name) =>
      call(
        'PATCH',
        `${runs}/${name}/status?fieldValidation=Ignore`,
        [{ op: 'add', path: '/status', value: status }],
        'application/json-patch+json',
      ),
    'DNS GET (as shipped)': () => call('GET', dnsPath),
    'GET a missing WorkflowRun (404)': () => call('GET', `${runs}/missing`).catch(() => undefined),
  };
  const pids = cluster.pids.filter((p) => p.name === 'kube-apiserver' || p.name === 'etcd');
  const cpu = async (): Promise<Record<string, number>> =>
    Object.fromEntries(await Promise.all(pids.map(async (p) => [p.name, (await cpuSeconds(p.pid)) ?? NaN] as const)));
  const STATUS_KINDS = ['status PATCH (json-patch)', 'status PATCH (json-patch), fieldValidation=Ignore'];
  const per: Record<string, { apiserver: number[]; etcd: number[] }> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const kinds = Object.keys(jobs).filter((k) => values.only === undefined || k.includes(values.only));
    const gone = (path: string): Promise<unknown> => call('DELETE', path).catch(() => undefined);
    const order = round % 2 === 0 ? kinds : [...kinds].reverse();
    // Each status kind writes the status of runs of its own, created (unmeasured) before the kinds run.
    for (const [k, kind] of STATUS_KINDS.entries())
      if (kinds.includes(kind))
        await closedLoop(N, C, 300, (i) => call('POST', runs, run(`s${round}-${k}-${i}`)).then(() => undefined));
    for (const kind of order) {
      const job = jobs[kind] as Job;
      const k = STATUS_KINDS.indexOf(kind);
      const prefix = k >= 0 ? `s${round}-${k}` : kind.startsWith('WorkflowRun POST') ? `r${round}` : `x${round}`;
      await new Promise((r) => setTimeout(r, 1500));
      const c0 = await cpu();
      await closedLoop(N, C, 300, (i) => job(`${prefix}-${i}`, i).then(() => undefined));
      const c1 = await cpu();
      const slot = (per[kind] ??= { apiserver: [], etcd: [] });
      slot.apiserver.push((((c1['kube-apiserver'] ?? 0) - (c0['kube-apiserver'] ?? 0)) / N) * 1e6);
      slot.etcd.push((((c1.etcd ?? 0) - (c0.etcd ?? 0)) / N) * 1e6);
    }
    await closedLoop(N, C, 300, (i) =>
      Promise.all([gone(`${runs}/r${round}-${i}`), gone(`${runs}/r${round}-${i}-i`)]).then(() => undefined),
    );
    await closedLoop(N, C, 300, (i) =>
      Promise.all([gone(`${podsPath}/x${round}-${i}`), gone(`${podsPath}/x${round}-${i}-i`)]).then(() => undefined),
    );
    for (const k of STATUS_KINDS.keys())
      await closedLoop(N, C, 300, (i) => gone(`${runs}/s${round}-${k}-${i}`).then(() => undefined));
    console.error(`round ${round + 1}/${ROUNDS} done, load ${loadavg()[0]?.toFixed(2)}`);
  }
  for (const s of stops) s();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(
    `| request | kube-apiserver µs CPU | etcd µs CPU |  (${N} requests × ${ROUNDS} rounds, ${C} in flight, ${POPULATION} WorkflowRuns in the namespace, load ${loadavg()[0]?.toFixed(2)})`,
  );
  console.log('|---|---:|---:|');
  for (const [kind, v] of Object.entries(per))
    console.log(`| ${kind} | ${median(v.apiserver).toFixed(0)} | ${median(v.etcd).toFixed(0)} |`);
} finally {
  await cluster.stop();
}
