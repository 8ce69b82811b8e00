/**
 * Start to ready (issue #9, scenario 5): `kubiya-runner serve --config <file>` spawned as a real
 * process against the local control plane (kube-apiserver + etcd + kwok), timed from spawn to the
 * first 200 from GET /ready (API server reachable, keys and policy loaded, audit writable).
 *   node bench/start-ready.ts [--runs N]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { buildBundle } from '../src/adapters/opa-cli.ts';
import { LOCAL_STACK_TOOLS, REPO_ROOT, resolveTools } from '../src/adapters/tools.ts';
import { startCluster } from '../src/dev/cluster.ts';
import { freePort } from '../src/dev/processes.ts';
import { jwks, newSigningKey } from '../src/dev/sign.ts';
import { machineLine, spread, type Spread } from './stats.ts';

export interface StartReadyResult {
  readonly seconds: Spread;
  readonly samples: readonly number[];
  /** How often /ready was polled while waiting. */
  readonly pollMs: number;
}

const POLL_MS = 5;

async function ready(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** One spawn → first 200 from /ready, in seconds; the process is stopped (SIGTERM) afterwards. */
async function once(config: string, port: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', config], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  try {
    while (performance.now() - t0 < timeoutMs) {
      if (await ready(`http://127.0.0.1:${port}/ready`)) return (performance.now() - t0) / 1000;
      if (exitedEarly) throw new Error(`serve exited before it was ready: ${stderr}`);
      await sleep(POLL_MS);
    }
    throw new Error(`serve was not ready within ${timeoutMs} ms: ${stderr}`);
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000, undefined, { ref: false })]);
    if (!exitedEarly) child.kill('SIGKILL');
  }
}

export async function startReadyBench(runs: number, log: (s: string) => void): Promise<StartReadyResult> {
  const tools = resolveTools(LOCAL_STACK_TOOLS);
  if (!tools.ok) throw new Error(tools.error.message);
  const work = await mkdtemp(join(tmpdir(), 'kubiya-start-bench-'));
  const c0 = performance.now();
  const cluster = await startCluster({ tools: tools.value });
  log(`  local control plane up in ${((performance.now() - c0) / 1000).toFixed(1)} s`);
  try {
    const { file: bundle } = await buildBundle(
      tools.value.opa,
      join(REPO_ROOT, 'policies'),
      join(work, 'bundle.tar.gz'),
    );
    const issuer = 'https://control-plane.bench';
    await writeFile(join(work, 'jwks.json'), JSON.stringify(jwks([await newSigningKey()])));
    const samples: number[] = [];
    for (let r = 0; r < runs; r++) {
      const port = await freePort();
      const name = `bench-start-${r}`;
      const config = join(work, `${name}.yaml`);
      await writeFile(
        config,
        stringify({
          runner: { name, workflow: { namespace: cluster.workflowsNamespace } },
          controlPlane: { issuer, jwksFile: join(work, 'jwks.json') },
          policy: { bundle },
          audit: { dir: join(work, `audit-${name}`) },
          server: { host: '127.0.0.1', port },
          kubernetes: { kubeconfig: cluster.kubeconfig, namespace: cluster.runnerNamespace },
        }),
      );
      const seconds = await once(config, port, 30_000);
      samples.push(seconds);
      log(`  start to ready run ${r + 1}/${runs}: ${seconds.toFixed(3)} s (${machineLine()})`);
    }
    return { seconds: spread(samples), samples, pollMs: POLL_MS };
  } finally {
    const s0 = performance.now();
    await cluster.stop();
    log(`  local control plane stopped in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf('--runs');
  console.log(JSON.stringify(await startReadyBench(i > 0 ? Number(process.argv[i + 1]) : 5, console.error), null, 2));
}
