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
 * Why a status PATCH costs more than the POST (h-steps-7): the same PATCH with the final status of
 * a one-step run (the runner's one status write), with a status equal to the stored one (a no-op:
 * everything but the etcd write and the watch events), on a run whose token is 100 characters
 * (object size), and the POST and PATCH on a copy of the CRD with no schema (`lean CRD`:
 * `x-kubernetes-preserve-unknown-fields`, no validation or pruning). `--watchers N` opens each
 * watch N times (the fan-out to watchers).
 *
 *   node bench/peers/apiserver-cost.ts [--requests N] [--rounds N] [--population N] [--concurrency N] [--watchers N] [--only TEXT]
 *
 * --only: the kinds whose name contains TEXT (e.g. "status", to profile the API server under one kind).
 * --pprof FILE: the API server's CPU profile (Go pprof, `go tool pprof -top FILE`) over the first
 * `--pprof-seconds` (default 4) of the first round's first kind.
 */
import { Agent, request } from 'node:https';
import { loadavg } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { WORKFLOWRUN } from '../../src/adapters/kube-runs.ts';
import { loadKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { installCrds } from '../../src/dev/bootstrap.ts';
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
    watchers: { type: 'string', default: '1' },
    only: { type: 'string' },
    pprof: { type: 'string' },
    'pprof-seconds': { type: 'string', default: '4' },
  },
});
const N = Math.min(Number(values.requests), 5000);
const ROUNDS = Math.min(Number(values.rounds), 20);
const POPULATION = Math.min(Number(values.population), 5000);
const C = Math.min(Number(values.concurrency), 64);
const WATCHERS = Math.min(Number(values.watchers), 16);

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
  const callBytes = (path: string) =>
    new Promise<Buffer>((resolve, reject) => {
      const req = request(
        { host: server.hostname, port: server.port, path, agent, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => resolve(Buffer.concat(chunks)));
        },
      );
      req.on('error', reject);
      req.end();
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
  // Copies of the WorkflowRun CRD under other names, each with its schema changed (why a status PATCH
  // costs ~2× the POST, h-steps-7): `lean` no schema at all ("an object, kept as sent"); `status-free`
  // the spec's schema, the status kept as sent; `no-format` the schema without `format` and `enum`.
  type Schema = { properties?: Record<string, Schema>; items?: Schema; [key: string]: unknown };
  const crd = JSON.parse(
    await call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${plural}.${group}`),
  ) as { spec: { names: Record<string, unknown>; versions: { schema: { openAPIV3Schema: Schema } }[] } };
  const stripped = (s: Schema): Schema => {
    const { format: _f, enum: _e, properties, items, ...rest } = s;
    return {
      ...rest,
      ...(properties !== undefined
        ? { properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, stripped(v)])) }
        : {}),
      ...(items !== undefined ? { items: stripped(items) } : {}),
    };
  };
  const VARIANTS: Record<string, (s: Schema) => Schema> = {
    lean: () => ({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }),
    'status-free': (s) => ({
      ...s,
      properties: { ...s.properties, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    }),
    'no-format': stripped,
  };
  const variantPlural = (v: string) => `wfr${v.replace(/-/g, '')}s`;
  const variantKind = (v: string) => `Wfr${v.replace(/-/g, '')}`;
  await installCrds(
    cluster.kubeconfig,
    Object.entries(VARIANTS).map(([v, schema]) => ({
      apiVersion: 'apiextensions.k8s.io/v1' as const,
      kind: 'CustomResourceDefinition' as const,
      metadata: { name: `${variantPlural(v)}.${group}` },
      spec: {
        ...(crd.spec as object),
        names: {
          kind: variantKind(v),
          listKind: `${variantKind(v)}List`,
          plural: variantPlural(v),
          singular: variantPlural(v).slice(0, -1),
        },
        versions: crd.spec.versions.map((ver) => ({
          ...ver,
          schema: { openAPIV3Schema: schema(ver.schema.openAPIV3Schema) },
        })),
      },
    })),
  );
  const variantRuns = (v: string) => `/apis/${group}/${version}/namespaces/${ns}/${variantPlural(v)}`;
  const run = (name: string, runner = 'bench', tokenChars = 1200, kind = 'WorkflowRun') => ({
    apiVersion: `${group}/${version}`,
    kind,
    metadata: { name, labels: { 'kubiya.ai/runner': runner, 'kubiya.ai/workflow': 'wf', 'kubiya.ai/run': name } },
    spec: { token: 'x'.repeat(tokenChars), workflowId: 'wf', runner },
  });
  const status = { phase: 'Running', steps: [{ name: 'step', phase: 'Running', pod: 'p' }] };
  // The runner's one status write of a one-step run: the run and its step finished.
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const finalStatus = (name: string) => ({
    phase: 'Succeeded',
    summary: '1/1 succeeded',
    startedAt: at,
    finishedAt: at,
    steps: [
      {
        name: 'step',
        phase: 'Succeeded',
        decision: `allow (policy sha256:${'0123456789abcdef'.repeat(4)})`,
        pod: `${name}-step`,
        exitCode: 0,
        reason: 'Completed',
        startedAt: at,
        finishedAt: at,
      },
    ],
  });
  const dns = stepDnsPolicy({ runner: 'bench', namespace: ns, dnsNamespace: 'kube-system' });
  const dnsPath = `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${dns.metadata?.name ?? ''}`;
  const made = await new KubeStepObjects(loadKubeConfig(cluster.kubeconfig), ns, 'bench').ensureStepDns(dns);
  if (!made.ok) throw new Error(made.error.message);
  // The population: finished runs of this runner, which every run-id LIST's selector is matched against.
  await closedLoop(POPULATION, C, 300, (i) => call('POST', runs, run(`old-${i}`)).then(() => undefined));
  const selectorOf = encodeURIComponent('kubiya.ai/runner=bench');
  const stops = Array.from({ length: WATCHERS }, () => [
    watch(`${runs}?watch=1&labelSelector=${selectorOf}&allowWatchBookmarks=true`),
    ...Object.keys(VARIANTS).map((v) =>
      watch(`${variantRuns(v)}?watch=1&labelSelector=${selectorOf}&allowWatchBookmarks=true`),
    ),
    watch(`/api/v1/namespaces/${ns}/pods?watch=1&labelSelector=${selectorOf}`),
  ]).flat();
  const podsPath = `/api/v1/namespaces/${ns}/pods`;
  // Bound to a node nobody runs (no scheduler, no kwok status writes in the measured window).
  const podOf = (name: string) => {
    const pod = hardened(stepPod(ns, name));
    return { ...pod, metadata: { ...pod.metadata, name }, spec: { ...pod.spec, nodeName: 'nowhere' } };
  };
  type Job = (name: string, i: number) => Promise<unknown>;
  const selector = (name: string) => `labelSelector=${encodeURIComponent(`kubiya.ai/run=${name}`)}`;
  const patch = (collection: string, name: string, value: unknown, query = '') =>
    call(
      'PATCH',
      `${collection}/${name}/status${query}`,
      [{ op: 'add', path: '/status', value }],
      'application/json-patch+json',
    );
  /**
   * A status kind writes the status of runs of its own, made (unmeasured) before the kinds run: in
   * `collection`, with `tokenChars`, and `before` written to them first when given.
   */
  interface Prepared {
    readonly collection: string;
    readonly kind?: string;
    readonly tokenChars?: number;
    readonly before?: (name: string) => unknown;
  }
  const jobs: Record<string, Job> = {
    'run-id LIST (as shipped)': (name) => call('GET', `${runs}?${selector(name)}`),
    'WorkflowRun POST': (name) => call('POST', runs, run(name)),
    'WorkflowRun POST, fieldValidation=Ignore': (name) =>
      call('POST', `${runs}?fieldValidation=Ignore`, run(`${name}-i`)),
    'WorkflowRun POST, 100-character token': (name) => call('POST', runs, run(`${name}-t`, 'bench', 100)),
    ...Object.fromEntries(
      Object.keys(VARIANTS).map((v) => [
        `CRD ${v}: WorkflowRun POST`,
        (name: string) => call('POST', variantRuns(v), run(name, 'bench', 1200, variantKind(v))),
      ]),
    ),
    'pod POST': (name) => call('POST', podsPath, podOf(name)),
    'pod POST, fieldValidation=Ignore': (name) =>
      call('POST', `${podsPath}?fieldValidation=Ignore`, podOf(`${name}-i`)),
    'status PATCH (json-patch)': (name) => patch(runs, name, status),
    'status PATCH (json-patch), fieldValidation=Ignore': (name) => patch(runs, name, status, '?fieldValidation=Ignore'),
    'status PATCH, the final status of a one-step run': (name) => patch(runs, name, finalStatus(name)),
    'status PATCH, no change (the stored status again)': (name) => patch(runs, name, finalStatus(name)),
    'status PATCH, 100-character token': (name) => patch(runs, name, finalStatus(name)),
    ...Object.fromEntries(
      Object.keys(VARIANTS).map((v) => [
        `CRD ${v}: status PATCH, the final status`,
        (name: string) => patch(variantRuns(v), name, finalStatus(name)),
      ]),
    ),
    'DNS GET (as shipped)': () => call('GET', dnsPath),
    'GET a missing WorkflowRun (404)': () => call('GET', `${runs}/missing`).catch(() => undefined),
  };
  const PREPARED: Record<string, Prepared> = {
    'status PATCH (json-patch)': { collection: runs },
    'status PATCH (json-patch), fieldValidation=Ignore': { collection: runs },
    'status PATCH, the final status of a one-step run': { collection: runs },
    'status PATCH, no change (the stored status again)': { collection: runs, before: finalStatus },
    'status PATCH, 100-character token': { collection: runs, tokenChars: 100 },
    ...Object.fromEntries(
      Object.keys(VARIANTS).map((v) => [
        `CRD ${v}: status PATCH, the final status`,
        { collection: variantRuns(v), kind: variantKind(v) },
      ]),
    ),
  };
  const STATUS_KINDS = Object.keys(PREPARED);
  const pids = cluster.pids.filter((p) => p.name === 'kube-apiserver' || p.name === 'etcd');
  const cpu = async (): Promise<Record<string, number>> =>
    Object.fromEntries(await Promise.all(pids.map(async (p) => [p.name, (await cpuSeconds(p.pid)) ?? NaN] as const)));
  const per: Record<string, { apiserver: number[]; etcd: number[] }> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const kinds = Object.keys(jobs).filter((k) => values.only === undefined || k.includes(values.only));
    const gone = (path: string): Promise<unknown> => call('DELETE', path).catch(() => undefined);
    const order = round % 2 === 0 ? kinds : [...kinds].reverse();
    for (const [k, kind] of STATUS_KINDS.entries()) {
      const prep = PREPARED[kind];
      if (prep === undefined || !kinds.includes(kind)) continue;
      await closedLoop(N, C, 300, async (i) => {
        const name = `s${round}-${k}-${i}`;
        await call('POST', prep.collection, run(name, 'bench', prep.tokenChars ?? 1200, prep.kind));
        if (prep.before !== undefined) await patch(prep.collection, name, prep.before(name));
      });
    }
    for (const kind of order) {
      const job = jobs[kind] as Job;
      const k = STATUS_KINDS.indexOf(kind);
      const prefix =
        k >= 0 ? `s${round}-${k}` : kind.includes('POST') && !kind.startsWith('pod') ? `r${round}` : `x${round}`;
      await new Promise((r) => setTimeout(r, 1500));
      const profiled =
        values.pprof !== undefined && round === 0 && kind === order[0]
          ? callBytes(`/debug/pprof/profile?seconds=${Number(values['pprof-seconds'])}`).then((b) =>
              writeFile(values.pprof as string, b),
            )
          : undefined;
      const c0 = await cpu();
      await closedLoop(N, C, 300, (i) => job(`${prefix}-${i}`, i).then(() => undefined));
      const c1 = await cpu();
      await profiled;
      const slot = (per[kind] ??= { apiserver: [], etcd: [] });
      slot.apiserver.push((((c1['kube-apiserver'] ?? 0) - (c0['kube-apiserver'] ?? 0)) / N) * 1e6);
      slot.etcd.push((((c1.etcd ?? 0) - (c0.etcd ?? 0)) / N) * 1e6);
    }
    await closedLoop(N, C, 300, (i) =>
      Promise.all(
        [
          `${runs}/r${round}-${i}`,
          `${runs}/r${round}-${i}-i`,
          `${runs}/r${round}-${i}-t`,
          ...Object.keys(VARIANTS).map((v) => `${variantRuns(v)}/r${round}-${i}`),
        ].map(gone),
      ).then(() => undefined),
    );
    await closedLoop(N, C, 300, (i) =>
      Promise.all([gone(`${podsPath}/x${round}-${i}`), gone(`${podsPath}/x${round}-${i}-i`)]).then(() => undefined),
    );
    for (const [k, kind] of STATUS_KINDS.entries())
      await closedLoop(N, C, 300, (i) =>
        gone(`${PREPARED[kind]?.collection ?? runs}/s${round}-${k}-${i}`).then(() => undefined),
      );
    console.error(`round ${round + 1}/${ROUNDS} done, load ${loadavg()[0]?.toFixed(2)}`);
  }
  for (const s of stops) s();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(
    `| request | kube-apiserver µs CPU | etcd µs CPU |  (${N} requests × ${ROUNDS} rounds, ${C} in flight, ${POPULATION} WorkflowRuns in the namespace, ${WATCHERS}× each watch, load ${loadavg()[0]?.toFixed(2)})`,
  );
  console.log('|---|---:|---:|');
  for (const [kind, v] of Object.entries(per))
    console.log(`| ${kind} | ${median(v.apiserver).toFixed(0)} | ${median(v.etcd).toFixed(0)} |`);
} finally {
  await cluster.stop();
}
