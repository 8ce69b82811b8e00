/**
 * HTTP/2 against HTTP/1.1 between the runner and the API server (issue 20, h-steps-7): the CPU of
 * this process (the client: user + system, every thread) and of kube-apiserver and etcd (/proc) per
 * request, for the runner's own requests per step sent as the runner sends them (kube-json.ts through
 * a pooled KubeConfig, kubeconfig.ts), over a pool that negotiates HTTP/2 (as shipped: undici offers
 * h2 and the API server picks it) and one that offers HTTP/1.1 only. Interleaved rounds on one local
 * control plane, a watch on the namespace's WorkflowRuns open; median of the rounds.
 *
 *   node bench/peers/protocol-cost.ts [--requests N] [--rounds N] [--concurrency N]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Cluster as KubeCluster } from '@kubernetes/client-node';
import { kubeJson, segment } from '../../src/adapters/kube-json.ts';
import { PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { WORKFLOWRUN } from '../../src/adapters/kube-runs.ts';
import { startCluster } from '../../src/dev/cluster.ts';
import { requireTools } from '../../test/support/cluster.ts';
import { cpuSeconds } from './metrics.ts';
import { closedLoop } from './round.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
  },
});
const N = Math.min(Number(values.requests), 5000);
const ROUNDS = Math.min(Number(values.rounds), 20);
const C = Math.min(Number(values.concurrency), 64);

/** The pooled KubeConfig with its connections offering HTTP/1.1 only (ALPN without h2). */
class Http1KubeConfig extends PooledKubeConfig {
  override createDispatcherOptions(
    cluster: KubeCluster | null,
    agentOptions: Parameters<PooledKubeConfig['createDispatcherOptions']>[1],
  ): ReturnType<PooledKubeConfig['createDispatcherOptions']> {
    const options = super.createDispatcherOptions(cluster, agentOptions);
    return options.type === 'agent' ? { ...options, connect: { ...options.connect, ...{ allowH2: false } } } : options;
  }
}

const cluster = await startCluster({ tools: requireTools() });
try {
  const h2 = new PooledKubeConfig();
  h2.loadFromFile(cluster.kubeconfig);
  const h1 = new Http1KubeConfig();
  h1.loadFromFile(cluster.kubeconfig);
  const ns = cluster.workflowsNamespace;
  const { group, version, plural } = WORKFLOWRUN;
  const runs = `/apis/${group}/${version}/namespaces/${segment(ns)}/${plural}`;
  const run = (name: string) => ({
    apiVersion: `${group}/${version}`,
    kind: WORKFLOWRUN.kind,
    metadata: { name, labels: { 'kubiya.ai/runner': 'bench', 'kubiya.ai/workflow': 'wf', 'kubiya.ai/run': name } },
    spec: { token: 'x'.repeat(1200), workflowId: 'wf', runner: 'bench' },
  });
  const status = { phase: 'Succeeded', summary: '1/1 succeeded', steps: [{ name: 'step', phase: 'Succeeded' }] };
  type Job = (kc: PooledKubeConfig, name: string) => Promise<unknown>;
  const jobs: Record<string, Job> = {
    'GET a missing WorkflowRun (404)': (kc) => kubeJson(kc, { method: 'GET', path: `${runs}/missing` }).catch(() => 0),
    'run-id LIST': (kc, name) =>
      kubeJson(kc, { method: 'GET', path: `${runs}?labelSelector=${segment(`kubiya.ai/run=${name}`)}` }),
    'WorkflowRun POST': (kc, name) => kubeJson(kc, { method: 'POST', path: runs, body: run(name) }),
    'status PATCH': (kc, name) =>
      kubeJson(kc, {
        method: 'PATCH',
        path: `${runs}/${segment(name)}/status`,
        body: [{ op: 'add', path: '/status', value: status }],
        patchType: 'application/json-patch+json',
      }),
  };
  const pids = cluster.pids.filter((p) => p.name === 'kube-apiserver' || p.name === 'etcd');
  const cpu = async (): Promise<Record<string, number>> => {
    const own = process.cpuUsage();
    const entries = await Promise.all(pids.map(async (p) => [p.name, (await cpuSeconds(p.pid)) ?? NaN] as const));
    return { ...Object.fromEntries(entries), client: (own.user + own.system) / 1e6 };
  };
  const per: Record<string, Record<string, number[]>> = {};
  const protocols: [string, PooledKubeConfig][] = [
    ['HTTP/2', h2],
    ['HTTP/1.1', h1],
  ];
  // Both pools warm (connections made) before anything is measured.
  for (const [, kc] of protocols)
    await closedLoop(C * 2, C, 300, () =>
      (jobs['GET a missing WorkflowRun (404)'] as Job)(kc, '').then(() => undefined),
    );
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? protocols : [...protocols].reverse();
    for (const kind of Object.keys(jobs)) {
      for (const [proto, kc] of order) {
        const prefix = `${proto === 'HTTP/2' ? 'b' : 'a'}${round}`;
        await new Promise((r) => setTimeout(r, 1000));
        const c0 = await cpu();
        await closedLoop(N, C, 300, (i) => (jobs[kind] as Job)(kc, `${prefix}-${i}`).then(() => undefined));
        const c1 = await cpu();
        const slot = (per[`${kind} | ${proto}`] ??= {});
        for (const k of Object.keys(c1)) (slot[k] ??= []).push((((c1[k] ?? 0) - (c0[k] ?? 0)) / N) * 1e6);
      }
    }
    for (const [proto, kc] of protocols) {
      const prefix = `${proto === 'HTTP/2' ? 'b' : 'a'}${round}`;
      await closedLoop(N, C, 300, (i) =>
        kubeJson(kc, { method: 'DELETE', path: `${runs}/${prefix}-${i}` }).then(
          () => undefined,
          () => undefined,
        ),
      );
    }
    console.error(`round ${round + 1}/${ROUNDS} done, load ${loadavg()[0]?.toFixed(2)}`);
  }
  const median = (xs: readonly number[] = []): string =>
    ([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN).toFixed(0);
  console.log(
    `| request | protocol | client µs CPU | kube-apiserver µs CPU | etcd µs CPU |  (${N} requests × ${ROUNDS} rounds, ${C} in flight, load ${loadavg()[0]?.toFixed(2)})`,
  );
  console.log('|---|---|---:|---:|---:|');
  for (const [key, v] of Object.entries(per)) {
    const [kind, proto] = key.split(' | ');
    console.log(`| ${kind} | ${proto} | ${median(v.client)} | ${median(v['kube-apiserver'])} | ${median(v.etcd)} |`);
  }
} finally {
  await cluster.stop();
}
