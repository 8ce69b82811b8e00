/**
 * What every cluster benchmark needs to run a real `kubiya-runner serve` against the local control
 * plane: the signing key and its JWKS file, the policy bundle built from policies/, the bench's
 * workflow, and a serve process started with the chart's environment (NODE_OPTIONS, MALLOC_ARENA_MAX, read
 * from `helm template`) and waited on until /ready.
 * Shared by bench/cluster.ts (scenarios 2 and 3) and the peers scenario (bench/peers/runner-row.ts).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { buildBundle } from '../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../src/adapters/tools.ts';
import { CHART } from '../src/dev/manifest.ts';
import type { Cluster } from '../src/dev/cluster.ts';
import { jwks, newSigningKey, type SigningKey } from '../src/dev/sign.ts';
import { startServe, type ServeProcess } from '../test/support/serve-process.ts';

/** The issuer the bench signs assignments as (the runner's controlPlane.issuer). */
export const ISSUER = 'https://bench.control-plane';

/** The bench step's resources: cpu/memory requests and a memory limit (what policies/data.json requires). */
export const R = { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } };

/**
 * The runner container's environment as the Helm chart renders it with its default values
 * (`helm template`, the StatefulSet's `runner` container): every variable with a literal value —
 * NODE_OPTIONS (values.yaml `nodeOptions`: the V8 heap bounds), MALLOC_ARENA_MAX — and none from a
 * Secret. Read from the chart, not copied, so that the bench's runner runs with what a user's gets
 * (issue 20 §2: the peak RSS is judged with the shipped flags). Rendered once per bench process.
 */
export function chartRunnerEnv(): Promise<Readonly<Record<string, string>>> {
  chartEnv ??= renderChartEnv();
  return chartEnv;
}

let chartEnv: Promise<Readonly<Record<string, string>>> | undefined;

async function renderChartEnv(): Promise<Readonly<Record<string, string>>> {
  const tools = resolveTools(['helm']);
  if (!tools.ok) throw new Error(tools.error.message);
  const { stdout } = await promisify(execFile)(
    tools.value.helm,
    ['template', 'x', CHART, '--kube-version', '1.37.2', '--set', 'runner.token=t'],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  type Container = { name?: string; env?: { name: string; value?: string }[] };
  const sts = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[] } } } } | null)
    .find((o) => o?.kind === 'StatefulSet');
  const runner = sts?.spec?.template?.spec?.containers?.find((c) => c.name === 'runner');
  if (runner === undefined) throw new Error('the chart rendered no StatefulSet with a runner container');
  const env: Record<string, string> = {};
  for (const v of runner.env ?? []) if (v.value !== undefined) env[v.name] = v.value;
  return env;
}

/** Set to a directory to have every serve process write a V8 CPU profile there (--cpu-prof). */
export const PROFILE_DIR = process.env.KUBIYA_BENCH_PROFILE_DIR;

/** A workflow as the bench signs it into an assignment (a type, not an interface: it is a claim record). */
export type BenchWorkflow = {
  readonly id: string;
  readonly name: string;
  readonly runId: string;
  readonly steps: readonly Record<string, unknown>[];
};

/** The bench's one-step workflow (python:3.11-slim, resources R, `env` on the step; `step` adds fields). */
export const workflowOf = (
  runId: string,
  env: Record<string, string>,
  step: Record<string, unknown> = {},
): BenchWorkflow => ({
  id: runId,
  name: 'bench',
  runId,
  steps: [{ name: 'step', image: 'python:3.11-slim', resources: R, env, ...step }],
});

/** The key that signs assignments, its JWKS file, and the policy bundle (built from policies/ with opa). */
export interface RunnerKit {
  readonly key: SigningKey;
  readonly jwksFile: string;
  readonly bundle: string;
}

/** Builds the policy bundle and a fresh signing key + JWKS file under `work`. */
export async function runnerKit(opa: string, work: string): Promise<RunnerKit> {
  const { file: bundle } = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'bench-bundle.tar.gz'));
  const key = await newSigningKey();
  const jwksFile = join(work, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(jwks([key])));
  return { key, jwksFile, bundle };
}

/**
 * Starts `serve` named `name` with its workflows in `namespace` (the cluster's workflows namespace
 * by default) and its audit log in `<work>/audit-<name>`; resolves once /ready answers 200 (10 s).
 * `workflow` adds to runner.workflow; `extra` overrides top-level config sections.
 */
export async function startBenchServe(
  kit: RunnerKit,
  cluster: Cluster,
  work: string,
  o: {
    readonly name: string;
    readonly namespace?: string;
    readonly workflow?: Record<string, unknown>;
    readonly extra?: Record<string, unknown>;
  },
): Promise<ServeProcess> {
  const s = await startServe(
    {
      runner: {
        name: o.name,
        workflow: {
          namespace: o.namespace ?? cluster.workflowsNamespace,
          maxConcurrent: 10_000,
          ttlAfterFinished: '1h',
          ...o.workflow,
        },
      },
      controlPlane: { issuer: ISSUER, jwksFile: kit.jwksFile, maxTokenAge: '1h' },
      policy: { bundle: kit.bundle },
      audit: { dir: join(work, `audit-${o.name}`) },
      server: { host: '127.0.0.1', port: 0 },
      kubernetes: { kubeconfig: cluster.kubeconfig, namespace: cluster.runnerNamespace },
      ...o.extra,
    },
    work,
    await benchServeEnv(o.name),
  );
  for (let i = 0; i < 100 && (await readyStatus(s.base)) !== 200; i++) await sleep(100);
  return s;
}

/**
 * The serve process's environment: the chart's (chartRunnerEnv), HOSTNAME as the StatefulSet's
 * pod has it; KUBIYA_BENCH_NODE_OPTIONS replaces the chart's NODE_OPTIONS (experiments), and
 * KUBIYA_BENCH_MALLOC_ARENA_MAX its MALLOC_ARENA_MAX ('' leaves glibc's default).
 */
async function benchServeEnv(name: string): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...(await chartRunnerEnv()), HOSTNAME: `${name}-0` };
  const arenas = process.env.KUBIYA_BENCH_MALLOC_ARENA_MAX;
  if (arenas === '') delete env.MALLOC_ARENA_MAX;
  else if (arenas !== undefined) env.MALLOC_ARENA_MAX = arenas;
  const nodeOptions = process.env.KUBIYA_BENCH_NODE_OPTIONS ?? env.NODE_OPTIONS;
  const profile = PROFILE_DIR !== undefined ? `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}` : undefined;
  const options = [nodeOptions, profile].filter((x) => x !== undefined && x !== '').join(' ');
  if (options !== '') env.NODE_OPTIONS = options;
  else delete env.NODE_OPTIONS;
  return env;
}

const readyStatus = (base: string): Promise<number> =>
  fetch(`${base}/ready`).then(
    (r) => r.status,
    () => 0,
  );
