/**
 * Policy evaluation benchmark: latency of one decision for a realistic step through the compiled
 * WASM module (our evaluate stage, schema check included), and memory over many evaluations.
 *   node bench/policy.ts [--evaluations N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle } from '../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../src/adapters/tools.ts';
import { evaluate, policyInput } from '../src/evaluate/evaluate.ts';
import { buildPod } from '../src/pod/build.ts';
import { validate } from '../src/validate/validate.ts';
import { benchWorkflow } from './fixtures.ts';

export interface PolicyBenchResult {
  readonly evaluations: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly maxMicros: number;
  readonly perSecond: number;
  readonly wasmMemoryBytes: { readonly start: number; readonly end: number };
  readonly rssBytes: { readonly afterWarmup: number; readonly end: number };
  readonly heapUsedBytes: { readonly afterWarmup: number; readonly end: number };
}

export async function policyBench(
  evaluations: number,
  log: (s: string) => void = () => undefined,
): Promise<PolicyBenchResult> {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  const work = await mkdtemp(join(tmpdir(), 'kubiya-bench-'));
  try {
    const { file } = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
    const engine = await loadEngine(await readBundle(file));
    const wf = validate(benchWorkflow());
    if (!wf.ok) throw new Error('bench step is invalid');
    const step = wf.value.steps[0]!;
    const input = policyInput(
      'bench',
      wf.value,
      step,
      buildPod(wf.value, step, {
        runner: 'bench',
        namespace: 'kubiya-workflows',
        serviceAccount: 'kubiya-workflow',
        defaultTimeoutSeconds: 1800,
      }),
    );
    if (evaluate(input, engine).kind !== 'allow') throw new Error('bench step should be allowed');

    for (let i = 0; i < 2000; i++) evaluate(input, engine);
    global.gc?.();
    // Touch every page of the sample array now, so its growth does not read as RSS growth later.
    const times = new Float64Array(evaluations).fill(0);
    const startWasm = engine.memoryBytes();
    const rss0 = process.memoryUsage.rss();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < evaluations; i++) {
      const a = process.hrtime.bigint();
      const r = evaluate(input, engine);
      times[i] = Number(process.hrtime.bigint() - a) / 1000;
      if (r.kind !== 'allow')
        throw new Error(`evaluation ${i} failed: ${r.kind === 'deny' ? 'POLICY_DENIED' : r.error.code}`);
      if (i > 0 && i % 200_000 === 0)
        log(
          `  ${i} evaluations, wasm memory ${engine.memoryBytes()} B, rss ${(process.memoryUsage.rss() / 2 ** 20).toFixed(1)} MiB`,
        );
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    global.gc?.();
    times.sort();
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
    return {
      evaluations,
      p50Micros: at(0.5),
      p99Micros: at(0.99),
      maxMicros: times[times.length - 1] ?? 0,
      perSecond: evaluations / seconds,
      wasmMemoryBytes: { start: startWasm, end: engine.memoryBytes() },
      rssBytes: { afterWarmup: rss0, end: process.memoryUsage.rss() },
      heapUsedBytes: { afterWarmup: heap0, end: process.memoryUsage().heapUsed },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf('--evaluations');
  const n = i > 0 ? Number(process.argv[i + 1]) : 1_000_000;
  console.log(
    `machine: ${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const r = await policyBench(n, console.log);
  console.log(JSON.stringify(r, null, 2));
}
