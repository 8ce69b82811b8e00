/**
 * Start to ready (issue #9, scenario 5): `kubiya-runner serve --config <file>` spawned as a real
 * process against the local control plane (kube-apiserver + etcd + kwok), timed from spawn to the
 * first 200 from GET /ready (API server reachable, keys and policy loaded, audit writable).
 * Also the CPU time the serve process had used when it was first ready (/proc/<pid>/stat, 10 ms
 * ticks): on this shared machine it moves far less with the load than the wall time.
 *   node bench/start-ready.ts [--runs N] [--compile-cache | --no-compile-cache] [--trace] [--shipped] [--bin FILE | --image ROOTFS]...
 * A checkout's entry point keeps V8's compile cache under the temp directory by itself
 * (bin/compile-cache.js): each entry point gets a fresh TMPDIR of its own here, so its run 1 is
 * cold and the others warm (`warm`: the figures without run 1).
 * --compile-cache: NODE_COMPILE_CACHE (V8's code cache, as the chart sets it) in one directory for
 * every run instead, likewise cold then warm.
 * --no-compile-cache: NODE_DISABLE_COMPILE_CACHE=1, every run compiles everything (the start
 * before the entry point had a cache).
 * --trace: each run's log lines with their time since spawn (where start-up spends its time).
 * --bin: an entry point to start (default this checkout's bin/kubiya-runner.js).
 * --image: an unpacked image (`npm run image`, then its layers extracted into ROOTFS): its entry
 * point (/app/dist/kubiya-runner.js, the bundled CLI of scripts/image/bundle.ts; /app/bin/kubiya-runner.js
 * in an image from before the bundle) with the compile cache built into it (scripts/image/compile-cache.ts),
 * read as the image's environment says (portable). The cache's directory is named after uid 65532;
 * a copy named after this process's uid is put next to it (ROOTFS/app/compile-cache.bench, removed
 * afterwards) so that the same relative paths find the same entries.
 * --shipped: first (and judged by `npm run bench`, bench/run.ts), the CLI as the image ships it: the
 * esbuild bundle of scripts/image/bundle.ts (ADR 0006) built from this checkout's files into a
 * temporary directory (`dist/cli.js` and `dist/kubiya-runner.js`, every bundled file's own place
 * being its place in this checkout, as in the image it is its place under /app), started with the
 * image's environment (NODE_ENV=production, a portable NODE_COMPILE_CACHE made before the runs the
 * way the image's is made: a process importing the bundle, the CLI's command modules and every
 * production dependency, scripts/image/compile-cache.ts). The same serve, config and /ready as every
 * other entry point; then the other entry points (default: this checkout's bin/kubiya-runner.js).
 * Several --bin/--image: the runs alternate between them (run 1 of each, then run 2 of each, …) so
 * that before and after see the same load, each reported apart (the result's `bins`; the first is
 * also the top level).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { writeCliBundle } from '../scripts/image/bundle.ts';
import { CACHED_ENTRIES, COMPILE_CACHE_DIR } from '../scripts/image/compile-cache.ts';
import { RUNNER_UID } from '../scripts/image/rootfs.ts';
import { buildBundle } from '../src/adapters/bundle-build.ts';
import { LOCAL_STACK_TOOLS, REPO_ROOT, resolveTools } from '../src/adapters/tools.ts';
import { startCluster, type Cluster } from '../src/dev/cluster.ts';
import { freePort } from '../src/dev/ports.ts';
import { jwks, newSigningKey } from '../src/dev/sign.ts';
import { childEnd } from '../test/support/child-end.ts';
import { machineLine, spread, type Spread } from './stats.ts';

export interface StartReadyResult {
  readonly seconds: Spread;
  readonly samples: readonly number[];
  /** CPU time (user + system) of the serve process when it was first ready, seconds. */
  readonly cpuSeconds: Spread;
  readonly cpuSamples: readonly number[];
  /** With --compile-cache: run 1 filled the cache (cold), the others read it (warm). */
  readonly compileCache: boolean;
  /** With --no-compile-cache: no run had a compile cache. */
  readonly noCompileCache: boolean;
  /** The entry point started; with several (--bin), each one's own figures, interleaved runs. */
  readonly bin: string;
  /** What the first entry point is (BinResult's `kind`): `shipped` in `npm run bench`. */
  readonly kind: BinKind;
  readonly bins?: readonly BinResult[];
  /** How often /ready was polled while waiting. */
  readonly pollMs: number;
}

/** One entry point's figures when several are compared in one run. */
export interface BinResult {
  readonly bin: string;
  /** What it is: `shipped` (the bundled CLI, --shipped), `image` (--image) or `entry point` (--bin, the checkout). */
  readonly kind: BinKind;
  /** Started with the compile cache of its image (--image). */
  readonly imageCache: boolean;
  readonly seconds: Spread;
  readonly samples: readonly number[];
  readonly cpuSeconds: Spread;
  readonly cpuSamples: readonly number[];
  /** The runs after the first (a compile cache filled by run 1 is warm), when there are any. */
  readonly warm?: { readonly seconds: Spread; readonly cpuSeconds: Spread };
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
  /** NODE_COMPILE_CACHE_PORTABLE=1 (the image's cache). */
  readonly portable?: boolean;
  /** TMPDIR for the serve process (where a checkout keeps its own compile cache). */
  readonly tmpdir?: string;
  /** NODE_DISABLE_COMPILE_CACHE=1. */
  readonly disableCache?: boolean;
  /** NODE_ENV for the serve process (the image's environment sets `production`). */
  readonly nodeEnv?: string;
  /** Print each log line of serve with its time since spawn. */
  readonly trace?: ((line: string) => void) | undefined;
}

/** One spawn → first 200 from /ready, in seconds, and the CPU seconds used by then; stopped (SIGTERM) afterwards. */
async function once(
  bin: string,
  config: string,
  port: number,
  timeoutMs: number,
  o: Options,
): Promise<{ seconds: number; cpu: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'serve', '--config', config], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...(o.compileCache !== undefined ? { NODE_COMPILE_CACHE: o.compileCache } : {}),
      ...(o.portable === true ? { NODE_COMPILE_CACHE_PORTABLE: '1' } : {}),
      ...(o.tmpdir !== undefined ? { TMPDIR: o.tmpdir } : {}),
      ...(o.disableCache === true ? { NODE_DISABLE_COMPILE_CACHE: '1' } : {}),
      ...(o.nodeEnv !== undefined ? { NODE_ENV: o.nodeEnv } : {}),
    },
    stdio: ['ignore', o.trace !== undefined ? 'pipe' : 'ignore', 'pipe'],
  });
  const trace = o.trace;
  if (trace !== undefined)
    child.stdout?.on('data', (d: Buffer) => {
      const at = ((performance.now() - t0) / 1000).toFixed(3);
      for (const l of d.toString().split('\n'))
        if (l.length > 0) trace(`    +${at} s ${l.includes('"runner ready"') ? l : l.slice(0, 200)}`);
    });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // Its end once stderr is read to the end ('close', not 'exit'), so the message below has all of it.
  const exited = childEnd(child).then(() => undefined);
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

/** What an entry point is, as the tables name it. */
export type BinKind = 'shipped' | 'image' | 'entry point';

/**
 * An entry point to start: with the compile cache of its image (under `<app>/compile-cache`), or
 * with a portable compile cache already made for this uid (`compileCacheDir`, the shipped CLI's,
 * started with the image's NODE_ENV), or with none (a checkout's: its own cache under its TMPDIR).
 */
export interface StartBin {
  readonly file: string;
  readonly imageCache?: boolean;
  readonly compileCacheDir?: string;
}

/** What startReadyBench may be asked to do beyond plain starts (see the header). */
export interface StartReadyOptions {
  readonly compileCache?: boolean;
  readonly noCompileCache?: boolean;
  readonly trace?: boolean;
  /** First, the CLI as the image ships it, bundled from this checkout (see the header). */
  readonly shipped?: boolean;
  /** Entry points to compare, interleaved; default this checkout's bin/kubiya-runner.js. */
  readonly bins?: readonly StartBin[];
}

/**
 * The CLI as the image ships it, made from this checkout under `work` (see the header): the
 * bundle in `<work>/shipped/dist`, and its compile cache in `<work>/shipped/compile-cache` made by
 * a process of this uid importing what the image's making imports (CACHED_ENTRIES, at their places
 * in this checkout, and every production dependency), never running them. Throws when esbuild
 * reports any warning or error, or an import fails.
 */
export async function shippedBin(work: string, log: (s: string) => void): Promise<StartBin> {
  const t0 = performance.now();
  const dir = join(work, 'shipped');
  const { entry, cli } = await writeCliBundle(REPO_ROOT, REPO_ROOT, join(dir, 'dist'));
  const cache = join(dir, 'compile-cache');
  await mkdir(cache, { mode: 0o700 });
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const entries = [
    ...CACHED_ENTRIES.map((e) => (e === '/app/dist/cli.js' ? cli : join(REPO_ROOT, e.slice('/app/'.length)))),
    ...Object.keys(pkg.dependencies ?? {}),
  ];
  await promisify(execFile)(
    process.execPath,
    ['-e', 'void (async () => { for (const m of JSON.parse(process.env.ENTRIES)) await import(m); })()'],
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'production',
        NODE_COMPILE_CACHE: cache,
        NODE_COMPILE_CACHE_PORTABLE: '1',
        ENTRIES: JSON.stringify(entries),
      },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  log(
    `  shipped CLI: ${relative(work, entry)} bundled from this checkout, its compile cache made, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return { file: entry, compileCacheDir: cache };
}

/** What `bin` is (BinResult's `kind`). */
function kindOf(bin: StartBin): BinKind {
  if (bin.compileCacheDir !== undefined) return 'shipped';
  return bin.imageCache === true ? 'image' : 'entry point';
}

/** The runner's config for one start, written to `<work>/<name>.yaml`; its path. */
async function writeConfig(
  work: string,
  name: string,
  port: number,
  bundle: string,
  cluster: Cluster,
): Promise<string> {
  const config = join(work, `${name}.yaml`);
  await writeFile(
    config,
    stringify({
      runner: { name, workflow: { namespace: cluster.workflowsNamespace } },
      controlPlane: { issuer: 'https://control-plane.bench', jwksFile: join(work, 'jwks.json') },
      policy: { bundle },
      audit: { dir: join(work, `audit-${name}`) },
      server: { host: '127.0.0.1', port },
      kubernetes: { kubeconfig: cluster.kubeconfig, namespace: cluster.runnerNamespace },
    }),
  );
  return config;
}

/**
 * Each entry point's start options. With its image's cache: a copy of it named after this process's
 * uid, next to the original (ROOTFS/app/compile-cache.bench), so that entries keyed by their path
 * relative to the cache directory are found; returned with the copies to remove.
 */
async function optionsPerBin(
  work: string,
  bins: readonly StartBin[],
  o: StartReadyOptions,
  log: (s: string) => void,
): Promise<{ options: Options[]; copies: string[] }> {
  const trace = o.trace === true ? log : undefined;
  const copies: string[] = [];
  const options: Options[] = [];
  for (const [i, bin] of bins.entries()) {
    if (bin.compileCacheDir !== undefined) {
      options.push({ compileCache: bin.compileCacheDir, portable: true, nodeEnv: 'production', trace });
      continue;
    }
    if (bin.imageCache !== true) {
      const tmp = join(work, `tmp-${i}`);
      await mkdir(tmp, { mode: 0o700 });
      options.push({
        compileCache: o.compileCache === true ? join(work, `compile-cache-${i}`) : undefined,
        tmpdir: tmp,
        disableCache: o.noCompileCache === true,
        trace,
      });
      continue;
    }
    const image = join(dirname(dirname(bin.file)), basename(COMPILE_CACHE_DIR));
    const [tag] = (await readdir(image)).filter((t) => t.endsWith(`-${RUNNER_UID}`));
    if (tag === undefined) throw new Error(`${image}: no compile cache for uid ${RUNNER_UID}`);
    const copy = `${image}.bench`;
    await rm(copy, { recursive: true, force: true });
    await cp(join(image, tag), join(copy, tag.slice(0, -String(RUNNER_UID).length) + String(process.getuid?.() ?? 0)), {
      recursive: true,
    });
    copies.push(copy);
    log(`  ${bin.file}: its image's compile cache (${(await readdir(join(image, tag))).length} entries)`);
    options.push({ compileCache: copy, portable: true, trace });
  }
  return { options, copies };
}

export async function startReadyBench(
  runs: number,
  log: (s: string) => void,
  options: StartReadyOptions = {},
): Promise<StartReadyResult> {
  const tools = resolveTools(LOCAL_STACK_TOOLS);
  if (!tools.ok) throw new Error(tools.error.message);
  const others = options.bins?.length ? options.bins : [{ file: join(REPO_ROOT, 'bin', 'kubiya-runner.js') }];
  const work = await mkdtemp(join(tmpdir(), 'kubiya-start-bench-'));
  const cleanup: string[] = [];
  const c0 = performance.now();
  // The shipped CLI is bundled, and its cache made, while the control plane starts (7–13 s at
  // load 11–17, h-start-5); --compile-cache and --no-compile-cache do not apply to it.
  const [up, made] = await Promise.allSettled([
    startCluster({ tools: tools.value }),
    options.shipped === true ? shippedBin(work, log) : Promise.resolve(undefined),
  ]);
  if (up.status === 'rejected' || made.status === 'rejected') {
    if (up.status === 'fulfilled') await up.value.stop();
    await rm(work, { recursive: true, force: true });
    throw up.status === 'rejected' ? up.reason : (made as PromiseRejectedResult).reason;
  }
  const cluster = up.value;
  const bins = made.value !== undefined ? [made.value, ...others] : others;
  log(`  local control plane up in ${((performance.now() - c0) / 1000).toFixed(1)} s`);
  try {
    const { file: bundle } = await buildBundle(
      tools.value.opa,
      join(REPO_ROOT, 'policies'),
      join(work, 'bundle.tar.gz'),
    );
    await writeFile(join(work, 'jwks.json'), JSON.stringify(jwks([await newSigningKey()])));
    const { options: perBin, copies } = await optionsPerBin(work, bins, options, log);
    cleanup.push(...copies);
    const results = bins.map(() => ({ samples: [] as number[], cpuSamples: [] as number[] }));
    for (let r = 0; r < runs; r++) {
      for (const [b, bin] of bins.entries()) {
        const name = `bench-start-${r}-${b}`;
        const port = await freePort();
        const o = perBin[b]!;
        const { seconds, cpu } = await once(
          bin.file,
          await writeConfig(work, name, port, bundle, cluster),
          port,
          30_000,
          o,
        );
        results[b]!.samples.push(seconds);
        results[b]!.cpuSamples.push(cpu);
        const cache =
          bin.compileCacheDir !== undefined
            ? ', shipped CLI, its compile cache'
            : bin.imageCache === true
              ? ', image compile cache'
              : o.disableCache === true
                ? ', no compile cache'
                : r === 0
                  ? ', compile cache cold (if the entry point has one)'
                  : ', compile cache warm (if the entry point has one)';
        const which = bins.length > 1 ? ` [${bin.file}]` : '';
        log(
          `  start to ready run ${r + 1}/${runs}${which}: ${seconds.toFixed(3)} s, ${cpu.toFixed(2)} s CPU${cache} (${machineLine()})`,
        );
      }
    }
    const byBin: BinResult[] = results.map((x, b) => ({
      bin: bins[b]!.file,
      kind: kindOf(bins[b]!),
      imageCache: bins[b]!.imageCache === true,
      seconds: spread(x.samples),
      samples: x.samples,
      cpuSeconds: spread(x.cpuSamples),
      cpuSamples: x.cpuSamples,
      ...(x.samples.length > 1
        ? { warm: { seconds: spread(x.samples.slice(1)), cpuSeconds: spread(x.cpuSamples.slice(1)) } }
        : {}),
    }));
    return {
      ...byBin[0]!,
      compileCache: options.compileCache === true,
      noCompileCache: options.noCompileCache === true,
      pollMs: POLL_MS,
      ...(bins.length > 1 ? { bins: byBin } : {}),
    };
  } finally {
    const s0 = performance.now();
    await cluster.stop();
    log(`  local control plane stopped in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    for (const dir of [work, ...cleanup]) await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const argv = process.argv;
  const i = argv.indexOf('--runs');
  const bins = argv.flatMap((a, k): StartBin[] => {
    const next = argv[k + 1];
    if (next === undefined) return [];
    if (a === '--bin') return [{ file: resolve(next) }];
    if (a === '--image') {
      const bundled = resolve(next, 'app', 'dist', 'kubiya-runner.js');
      return [
        { file: existsSync(bundled) ? bundled : resolve(next, 'app', 'bin', 'kubiya-runner.js'), imageCache: true },
      ];
    }
    return [];
  });
  const options: StartReadyOptions = {
    compileCache: argv.includes('--compile-cache'),
    noCompileCache: argv.includes('--no-compile-cache'),
    trace: argv.includes('--trace'),
    shipped: argv.includes('--shipped'),
    bins,
  };
  console.log(JSON.stringify(await startReadyBench(i > 0 ? Number(argv[i + 1]) : 5, console.error, options), null, 2));
}
