/**
 * Cluster benchmarks (issue #9 items 2 and 3), against the local control plane (real
 * kube-apiserver + etcd + kwok) and a real `kubiya-runner serve` process:
 *
 *   e2e:   steps admitted/s and submit → pod-created latency through the runner (HTTP intake,
 *          WorkflowRun, reconcile, policy, audit, egress policy, pod), versus a bare
 *          @kubernetes/client-node pod-create loop at the same concurrency, same API server, same
 *          pod bodies, in the same run (rounds alternate so drift hits both).
 *   scale: N concurrent one-step runs tracked through completion: the runner's peak RSS (VmHWM),
 *          its watch connections (the API server's own apiserver_longrunning_requests, before vs
 *          with the runner), and completion-seen latency (API server announces the pod Succeeded
 *          → the runner's durable finish record).
 *
 *   node bench/cluster.ts [--quick] [--only e2e|scale] [--pods N] [--run-seconds N] [--concurrency N]
 *                        [--submit-seconds N]
 *
 * --only runs one of the two; --pods, --run-seconds and --concurrency override the scale run's counts;
 * --submit-seconds stops submitting after that long (the run then measures the runs accepted by then).
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { readAuditLog } from '../src/adapters/audit-file.ts';
import { signAssignment, type SigningKey } from '../src/dev/sign.ts';
import { mutate } from '../src/mutate/restricted.ts';
import { buildPod } from '../src/pod/build.ts';
import { podName } from '../src/pod/names.ts';
import { validate } from '../src/validate/validate.ts';
import { requireTools } from '../test/support/cluster.ts';
import type { ServeProcess } from '../test/support/serve-process.ts';
import { watchAll } from '../test/support/watch.ts';
import { startCluster, type Cluster } from '../src/dev/cluster.ts';
import { onFatalCleanup } from './fatal.ts';
import { ISSUER, PROFILE_DIR, runnerKit, startBenchServe, workflowOf } from './runner-env.ts';

export interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}
export interface E2eRound {
  readonly perSecond: number;
  readonly latencyMs: Stats;
}
export interface E2eResult {
  readonly steps: number;
  readonly concurrency: number;
  readonly rounds: number;
  readonly runner: readonly E2eRound[];
  readonly bare: readonly E2eRound[];
  /** median runner steps/s ÷ median bare pods/s */
  readonly ratio: number;
}
export interface ScaleResult {
  /** Runs accepted (all asked for, unless submitSeconds ran out first). */
  readonly pods: number;
  readonly peakRssBytes: number;
  readonly watches: Readonly<Record<string, number>>;
  readonly completionSeenMs: Stats;
  readonly seconds: number;
  /** CPU-seconds (user + system) the runner process used from start to the end of the run. */
  readonly runnerCpuSeconds: number;
  /** The runner's finished runs at the end (its kubiya_workflows_completed); below `pods` when time ran out. */
  readonly finished: number;
  /** Assignments delivered again after a 5xx answer (bench/cluster.ts `deliver`). */
  readonly intakeRetries: number;
  /** Completion seen by the minute its pod was announced Succeeded (minutes since submission began). */
  readonly completionSeenByMinute: readonly (Stats & { readonly minute: number })[];
  /** The runner's log lines above info, counted by message (what slowed an end, when one did). */
  readonly warnings: Readonly<Record<string, number>>;
}

export function stats(values: readonly number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? NaN };
}

interface Env {
  readonly cluster: Cluster;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly key: SigningKey;
  readonly work: string;
  serve(name: string, extra?: Record<string, unknown>): Promise<ServeProcess>;
  close(): Promise<void>;
}

async function environment(log: (s: string) => void): Promise<Env> {
  const tools = requireTools();
  const cluster = await startCluster({ tools });
  log(`  local control plane up in ${(cluster.startedMs / 1000).toFixed(1)} s`);
  const work = cluster.dir;
  const kit = await runnerKit(tools.opa, work);
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const children: ServeProcess[] = [];
  const close = async (): Promise<void> => {
    // SIGTERM: a profiled process writes its profile on a clean exit.
    for (const c of children) c.child.kill(PROFILE_DIR !== undefined ? 'SIGTERM' : 'SIGKILL');
    await Promise.all(children.map((c) => Promise.race([c.exited, sleep(30_000)])));
    await cluster.stop();
  };
  // An error nobody caught (bench/fatal.ts) stops the serve processes and the control plane too.
  const unguard = onFatalCleanup(close);
  return {
    cluster,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    key: kit.key,
    work,
    serve: async (name, extra = {}) => {
      const s = await startBenchServe(kit, cluster, work, { name, extra });
      children.push(s);
      return s;
    },
    close: async () => {
      unguard();
      await close();
    },
  };
}

/** Announced pod events by name, from one watch of the workflows namespace (the bench's own). */
async function podWatch(
  env: Env,
  selector: string,
): Promise<{
  added: Map<string, number>;
  succeeded: Map<string, number>;
  waitAdded: (name: string) => Promise<number>;
  stop: () => void;
}> {
  const added = new Map<string, number>();
  const succeeded = new Map<string, number>();
  const waiting = new Map<string, (t: number) => void>();
  const w = await watchAll<V1Pod>(
    env.kc,
    `/api/v1/namespaces/${env.cluster.workflowsNamespace}/pods`,
    selector,
    (type, pod) => {
      const now = performance.now();
      const name = pod.metadata?.name ?? '';
      if (!added.has(name)) {
        added.set(name, now);
        waiting.get(name)?.(now);
        waiting.delete(name);
      }
      if (type !== 'DELETED' && pod.status?.phase === 'Succeeded' && !succeeded.has(name))
        succeeded.set(name, Date.now());
    },
  );
  return {
    added,
    succeeded,
    waitAdded: (name) =>
      added.has(name) ? Promise.resolve(added.get(name) ?? 0) : new Promise((resolve) => waiting.set(name, resolve)),
    stop: () => w.stop(),
  };
}

/** Runs `count` jobs with `concurrency` workers; each job is timed by the caller. */
async function closedLoop(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<void>,
  stopAt = Number.POSITIVE_INFINITY,
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < stopAt) await job(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}

export async function e2eBench(
  o: { steps: number; concurrency: number; rounds: number },
  log: (s: string) => void = () => undefined,
): Promise<E2eResult> {
  const env = await environment(log);
  try {
    const name = 'e2e-runner';
    const serve = await env.serve(name);
    const ns = env.cluster.workflowsNamespace;
    const runner: E2eRound[] = [];
    const bare: E2eRound[] = [];
    // The bare loop creates the very pods the runner would: built and hardened the same way.
    const runEnv = { KWOK_RUN_DURATION: '1h' };
    for (let round = 0; round < o.rounds; round++) {
      // Runner: POST the signed assignment, until its pod is announced by the API server.
      {
        const watch = await podWatch(env, `kubiya.ai/runner=${name}`);
        const tokens = await Promise.all(
          Array.from({ length: o.steps }, (_, i) =>
            signAssignment(env.key, {
              issuer: ISSUER,
              audience: name,
              workflow: workflowOf(`r${round}-${i}`, runEnv),
              ttlSeconds: 3600,
            }),
          ),
        );
        const latency: number[] = [];
        const seconds = await closedLoop(o.steps, o.concurrency, async (i) => {
          const t0 = performance.now();
          const res = await fetch(`${serve.base}/v1/assignments`, {
            method: 'POST',
            headers: { 'content-type': 'application/jwt' },
            body: tokens[i] ?? '',
          });
          if (res.status !== 202) throw new Error(`intake answered ${res.status}: ${await res.text()}`);
          latency.push((await watch.waitAdded(podName(`r${round}-${i}`, 'step'))) - t0);
        });
        watch.stop();
        runner.push({ perSecond: o.steps / seconds, latencyMs: stats(latency) });
        log(
          `  round ${round + 1}: runner ${(o.steps / seconds).toFixed(1)} steps/s, p50 ${stats(latency).p50.toFixed(0)} ms, p99 ${stats(latency).p99.toFixed(0)} ms`,
        );
      }
      // Bare: client-node createNamespacedPod with the same hardened pod body, same concurrency.
      {
        const watch = await podWatch(env, 'bench=bare');
        const latency: number[] = [];
        const seconds = await closedLoop(o.steps, o.concurrency, async (i) => {
          const wf = validate(workflowOf(`b${round}-${i}`, runEnv));
          if (!wf.ok) throw new Error('bench workflow invalid');
          const pod = mutate(
            buildPod(wf.value, wf.value.steps[0]!, {
              runner: 'bare',
              namespace: ns,
              serviceAccount: 'kubiya-workflow',
              defaultTimeoutSeconds: 1800,
              workspaceSize: '10Gi',
            }),
            {
              runAsUser: 65532,
              runAsGroup: 65532,
              fsGroup: 65532,
              allowNetBindService: false,
              readOnlyRootFilesystem: false,
              tmpSize: '1Gi',
            },
          ).pod;
          pod.metadata = { ...pod.metadata, labels: { ...pod.metadata?.labels, bench: 'bare' } };
          const t0 = performance.now();
          await env.core.createNamespacedPod({ namespace: ns, body: pod });
          latency.push((await watch.waitAdded(pod.metadata.name ?? '')) - t0);
        });
        watch.stop();
        bare.push({ perSecond: o.steps / seconds, latencyMs: stats(latency) });
        log(
          `  round ${round + 1}: bare   ${(o.steps / seconds).toFixed(1)} pods/s,  p50 ${stats(latency).p50.toFixed(0)} ms, p99 ${stats(latency).p99.toFixed(0)} ms`,
        );
      }
      // Both rounds' pods go before the next round, so each round meets the same cluster.
      await env.core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 });
      await env.kc.makeApiClient(CustomObjectsApi).deleteCollectionNamespacedCustomObject({
        group: 'kubiya.ai',
        version: 'v1alpha1',
        namespace: ns,
        plural: 'workflowruns',
      });
      for (let i = 0; i < 300 && (await env.core.listNamespacedPod({ namespace: ns, limit: 1 })).items.length > 0; i++)
        await sleep(200);
    }
    const median = (xs: readonly E2eRound[]): number => stats(xs.map((x) => x.perSecond)).p50;
    return {
      steps: o.steps,
      concurrency: o.concurrency,
      rounds: o.rounds,
      runner,
      bare,
      ratio: median(runner) / median(bare),
    };
  } finally {
    await env.close();
  }
}

/** The API server's count of open WATCH requests by resource (apiserver_longrunning_requests). */
async function watchCounts(env: Env): Promise<Record<string, number>> {
  const text = await fetchMetrics(env);
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_longrunning_requests{') || !line.includes('verb="WATCH"')) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '?';
    counts[resource] = (counts[resource] ?? 0) + Number(line.split(' ').at(-1));
  }
  return counts;
}

async function fetchMetrics(env: Env): Promise<string> {
  const kubeconfig = await readFile(env.cluster.kubeconfig, 'utf8');
  const token = /token: (\S+)/.exec(kubeconfig)?.[1] ?? '';
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(
      `${env.cluster.server}/metrics`,
      { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** CPU-seconds (utime + stime) of a process so far, from /proc/<pid>/stat (clock ticks of 1/100 s). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Deliveries of one assignment at most (the first and the redeliveries). */
const DELIVERIES = 6;

/**
 * POSTs one assignment as a control plane delivers it: a 5xx answer (intake could not reach the API
 * server in time, the machine being loaded) or a connection error is delivered again after a pause,
 * at most DELIVERIES times; a redelivery answered ASSIGNMENT_REPLAYED (the first delivery did create the run) is
 * accepted. Returns the number of redeliveries; throws on any other answer.
 */
async function deliver(base: string, token: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}/v1/assignments`, {
      method: 'POST',
      headers: { 'content-type': 'application/jwt' },
      body: token,
    }).catch((e: unknown) => {
      // A connection reset or refused on the loaded machine: delivered again, like a 5xx.
      if (attempt + 1 >= DELIVERIES) throw e;
      return undefined;
    });
    if (res === undefined) {
      await sleep(1000 * (attempt + 1));
      continue;
    }
    const text = await res.text();
    if (res.status === 202 || (attempt > 0 && res.status === 409 && text.includes('ASSIGNMENT_REPLAYED')))
      return attempt;
    if (res.status < 500 || attempt + 1 >= DELIVERIES) throw new Error(`intake answered ${res.status}: ${text}`);
    await sleep(1000 * (attempt + 1));
  }
}

export async function scaleBench(
  o: { pods: number; concurrency: number; runSeconds: number; submitSeconds?: number | undefined },
  log: (s: string) => void = () => undefined,
): Promise<ScaleResult> {
  const env = await environment(log);
  try {
    const name = 'scale-runner';
    const serve = await env.serve(name);
    const watch = await podWatch(env, `kubiya.ai/runner=${name}`);
    const t0 = performance.now();
    const tokens = await Promise.all(
      Array.from({ length: o.pods }, (_, i) =>
        signAssignment(env.key, {
          issuer: ISSUER,
          audience: name,
          workflow: workflowOf(`s${i}`, { KWOK_RUN_DURATION: `${o.runSeconds}s` }),
          ttlSeconds: 3600,
        }),
      ),
    );
    let intakeRetries = 0;
    let accepted = 0;
    const submitUntil = o.submitSeconds !== undefined ? performance.now() + o.submitSeconds * 1000 : undefined;
    await closedLoop(
      o.pods,
      o.concurrency,
      async (i) => {
        intakeRetries += await deliver(serve.base, tokens[i] ?? '');
        accepted++;
      },
      submitUntil,
    );
    log(
      `  ${accepted} of ${o.pods} assignments accepted in ${((performance.now() - t0) / 1000).toFixed(1)} s (${intakeRetries} redeliveries); waiting for every pod to finish ...`,
    );
    const deadline = Date.now() + (o.runSeconds + 600) * 1000;
    let finished = 0;
    while (Date.now() < deadline) {
      if (serve.child.exitCode !== null || serve.child.signalCode !== null)
        throw new Error(`the runner exited during the scale run: ${serve.stderr().slice(-2000)}`);
      // The runner's own count of finished workflows (cheap to poll, unlike re-reading the audit log).
      const metrics = await fetch(`${serve.base}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      finished = metrics
        .split('\n')
        .filter((l) => l.startsWith('kubiya_workflows_completed{'))
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
      if (finished >= accepted) break;
      await sleep(2000);
    }
    const seconds = (performance.now() - t0) / 1000;
    const rss = await peakRss(serve.child.pid ?? 0);
    const runnerCpuSeconds = await cpuSeconds(serve.child.pid ?? 0);
    watch.stop();
    // The runner's watches: the API server's open WATCH requests with the runner, minus without it.
    const during = await watchCounts(env);
    // SIGTERM when profiling: a profiled process writes its profile on a clean exit.
    serve.child.kill(PROFILE_DIR !== undefined ? 'SIGTERM' : 'SIGKILL');
    await Promise.race([serve.exited, sleep(30_000)]);
    await sleep(2000);
    const after = await watchCounts(env);
    const watches: Record<string, number> = {};
    for (const k of new Set([...Object.keys(during), ...Object.keys(after)]))
      if ((during[k] ?? 0) !== (after[k] ?? 0)) watches[k] = (during[k] ?? 0) - (after[k] ?? 0);
    const records = await readAuditLog(join(env.work, `audit-${name}`));
    const seen: number[] = [];
    const byMinute = new Map<number, number[]>();
    const startedAt = Date.now() - seconds * 1000;
    for (const r of records) {
      if (r.stage !== 'finish' || r.pod === undefined) continue;
      const announced = watch.succeeded.get(r.pod.name);
      if (announced === undefined) continue;
      const ms = new Date(r.timestamp).getTime() - announced;
      seen.push(ms);
      const minute = Math.floor((announced - startedAt) / 60_000);
      byMinute.set(minute, [...(byMinute.get(minute) ?? []), ms]);
    }
    const warnings: Record<string, number> = {};
    for (const l of serve.lines)
      if (l.level !== 'info' && l.level !== 'debug' && l.level !== 'trace') {
        const key = `${String(l.level)}: ${String(l.message)}${l.code !== undefined ? ` (${JSON.stringify(l.code)})` : ''}`;
        warnings[key] = (warnings[key] ?? 0) + 1;
      }
    if (finished < accepted) log(`  only ${finished} of ${accepted} finished in time`);
    return {
      pods: accepted,
      peakRssBytes: rss,
      watches,
      completionSeenMs: stats(seen),
      seconds,
      runnerCpuSeconds,
      finished,
      intakeRetries,
      completionSeenByMinute: [...byMinute].sort(([a], [b]) => a - b).map(([minute, ms]) => ({ minute, ...stats(ms) })),
      warnings,
    };
  } finally {
    await env.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      pods: { type: 'string' },
      'run-seconds': { type: 'string' },
      concurrency: { type: 'string' },
      'submit-seconds': { type: 'string' },
    },
  });
  const quick = values.quick;
  const say = (s: string): void => console.error(s);
  const count = (v: string | undefined, fallback: number): number => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 20_000) throw new Error(`expected an integer 1..20000, got "${v}"`);
    return n;
  };
  if (values.only !== undefined && values.only !== 'e2e' && values.only !== 'scale')
    throw new Error(`--only takes e2e or scale, got "${values.only}"`);
  if (values.only !== 'scale')
    console.log(
      JSON.stringify(
        await e2eBench(
          quick ? { steps: 30, concurrency: 8, rounds: 1 } : { steps: 300, concurrency: 16, rounds: 3 },
          say,
        ),
        null,
        2,
      ),
    );
  if (values.only !== 'e2e') {
    const base = quick
      ? { pods: 100, concurrency: 16, runSeconds: 10 }
      : { pods: 5000, concurrency: 32, runSeconds: 120 };
    const o = {
      pods: count(values.pods, base.pods),
      concurrency: count(values.concurrency, base.concurrency),
      runSeconds: count(values['run-seconds'], base.runSeconds),
      submitSeconds: values['submit-seconds'] !== undefined ? count(values['submit-seconds'], 1) : undefined,
    };
    say(`scale: ${o.pods} pods, ${o.concurrency} submitters, ${o.runSeconds} s each; load ${loadavg().join(' ')}`);
    console.log(JSON.stringify({ ...(await scaleBench(o, say)), loadAfter: loadavg() }, null, 2));
  }
}
