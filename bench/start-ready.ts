/**
 * Start to ready (issue #9, scenario 5): `kubiya-runner serve --config <file>` spawned as a real
 * process against the local control plane (kube-apiserver + etcd + kwok), timed from spawn to the
 * first 200 from GET /ready (API server reachable, keys and policy loaded, audit writable).
 * Also the CPU time the serve process had used when it was first ready (/proc/<pid>/stat, 10 ms
 * ticks): on this shared machine it moves far less with the load than the wall time.
 *   node bench/start-ready.ts [--runs N] [--compile-cache] [--trace]
 * --compile-cache: NODE_COMPILE_CACHE (V8's code cache, as the chart sets it) in one directory for
 * every run, so run 1 is cold and the others warm; they are reported apart.
 * --trace: each run's log lines with their time since spawn (where start-up spends its time).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
  /** CPU time (user + system) of the serve process when it was first ready, seconds. */
  readonly cpuSeconds: Spread;
  readonly cpuSamples: readonly number[];
  /** With --compile-cache: run 1 filled the cache (cold), the others read it (warm). */
  readonly compileCache: boolean;
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

/** CPU seconds (utime + stime) a process has used, from /proc/<pid>/stat (clock ticks of 10 ms). */
async function cpuOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Options {
  /** NODE_COMPILE_CACHE for the serve process, if any. */
  readonly compileCache?: string | undefined;
  /** Print each log line of serve with its time since spawn. */
  readonly trace?: ((line: string) => void) | undefined;
}

/** One spawn → first 200 from /ready, in seconds, and the CPU seconds used by then; stopped (SIGTERM) afterwards. */
async function once(
  config: string,
  port: number,
  timeoutMs: number,
  o: Options,
): Promise<{ seconds: number; cpu: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', config], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...(o.compileCache !== undefined ? { NODE_COMPILE_CACHE: o.compileCache } : {}),
    },
    stdio: ['ignore', o.trace !== undefined ? 'pipe' : 'ignore', 'pipe'],
  });
  const trace = o.trace;
  if (trace !== undefined)
    child.stdout?.on('data', (d: Buffer) => {
      const at = ((performance.now() - t0) / 1000).toFixed(3);
      for (const l of d.toString().split('\n')) if (l.length > 0) trace(`    +${at} s ${l.slice(0, 200)}`);
    });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  try {
    while (performance.now() - t0 < timeoutMs) {
      if (await ready(`http://127.0.0.1:${port}/ready`)) {
        const seconds = (performance.now() - t0) / 1000;
        return { seconds, cpu: await cpuOf(child.pid ?? 0) };
      }
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

export async function startReadyBench(
  runs: number,
  log: (s: string) => void,
  options: { compileCache?: boolean; trace?: boolean } = {},
): Promise<StartReadyResult> {
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
    const cpuSamples: number[] = [];
    const o: Options = {
      compileCache: options.compileCache === true ? join(work, 'compile-cache') : undefined,
      trace: options.trace === true ? log : undefined,
    };
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
      const { seconds, cpu } = await once(config, port, 30_000, o);
      samples.push(seconds);
      cpuSamples.push(cpu);
      const cache = o.compileCache === undefined ? '' : r === 0 ? ', compile cache cold' : ', compile cache warm';
      log(
        `  start to ready run ${r + 1}/${runs}: ${seconds.toFixed(3)} s, ${cpu.toFixed(2)} s CPU${cache} (${machineLine()})`,
      );
    }
    return {
      seconds: spread(samples),
      samples,
      cpuSeconds: spread(cpuSamples),
      cpuSamples,
      compileCache: o.compileCache !== undefined,
      pollMs: POLL_MS,
    };
  } finally {
    const s0 = performance.now();
    await cluster.stop();
    log(`  local control plane stopped in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf('--runs');
  const options = { compileCache: process.argv.includes('--compile-cache'), trace: process.argv.includes('--trace') };
  console.log(
    JSON.stringify(await startReadyBench(i > 0 ? Number(process.argv[i + 1]) : 5, console.error, options), null, 2),
  );
}
