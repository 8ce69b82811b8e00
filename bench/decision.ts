/**
 * Decision path benchmark (issue #9, scenario 1): verify + validate + evaluate + mutate + audit
 * append (group commit, fdatasync) in-process, against (a) the crypto floor (Ed25519 verification
 * of the same tokens + SHA-256 of the same records) and (b) the OPA sidecar architecture (the same
 * Rego over keep-alive HTTP, the rest of the pipeline unchanged).
 *   node --expose-gc bench/decision.ts [--quick] [--only wasm] [--decisions N]
 * `--only wasm` runs just the in-process path (for `node --cpu-prof`, see BENCHMARKS.md).
 */
import { createHash, createPublicKey, generateKeyPairSync, randomUUID, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { createLocalJWKSet } from 'jose';
import { FileAuditLog } from '../src/adapters/audit-file.ts';
import { buildBundle } from '../src/adapters/opa-cli.ts';
import { loadEngine, readBundle } from '../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../src/adapters/tools.ts';
import { defaultPipelineConfig } from '../src/app/runner.ts';
import type { AuditEntry, AuditSink } from '../src/audit/record.ts';
import { GENESIS } from '../src/audit/chain.ts';
import { jwks, newSigningKey, signAssignment } from '../src/dev/sign.ts';
import { evaluate } from '../src/evaluate/evaluate.ts';
import { decide, type DecisionDeps, type Evaluator } from './decision-path.ts';
import { diskProbe, type DiskProbe } from './disk.ts';
import { benchWorkflow } from './fixtures.ts';
import { closedLoop, openLoop } from './load.ts';
import { startSidecar } from './opa-sidecar.ts';
import { machineLine, quantile, spread, type Spread } from './stats.ts';

const ISSUER = 'https://control-plane.bench';
const RUNNER = 'bench-runner';

export interface DecisionCounts {
  readonly runs: number;
  /** Decisions per throughput run of the in-process path (the sidecar's are a quarter of it). */
  readonly decisions: number;
  /** Operations per run of the crypto floor. */
  readonly floorOps: number;
  /** Seconds of paced arrivals at 50 % of the measured maximum. */
  readonly latencySeconds: number;
  readonly concurrency: number;
}

export const FULL: DecisionCounts = { runs: 5, decisions: 10_000, floorOps: 40_000, latencySeconds: 10, concurrency: 64 };
export const QUICK: DecisionCounts = { runs: 2, decisions: 300, floorOps: 1_000, latencySeconds: 1, concurrency: 16 };

export interface Paced {
  readonly rate: number;
  readonly arrivals: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly maxMicros: number;
}

export interface PathResult {
  /** Decisions/s of each closed-loop run. */
  readonly perSecond: Spread;
  /** CPU µs per decision of each closed-loop run: the JS thread, and the whole process. */
  readonly cpuMicros?: { readonly thread: Spread; readonly process: Spread };
  /** Latency at 50 % of the median maximum rate (open loop). */
  readonly paced?: Paced;
  /** Diagnostic: the same paced run with the audit log on tmpfs (fdatasync costs nothing there). */
  readonly pacedTmpfs?: Paced | undefined;
}

export interface DecisionBenchResult {
  readonly counts: DecisionCounts;
  /** write + fdatasync of one record on the audit log's disk, just before the runs. */
  readonly disk: DiskProbe;
  readonly wasm: PathResult;
  readonly floor?: PathResult;
  readonly sidecar?: PathResult;
}

interface Fixture {
  readonly tokens: readonly string[];
  readonly revision: string;
  readonly wasm: Evaluator;
  readonly deps: (audit: AuditSink) => DecisionDeps;
  readonly publicKey: KeyObject;
  readonly work: string;
  readonly opa: string;
}

async function fixture(tokenCount: number): Promise<Fixture> {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  const work = await mkdtemp(join(tmpdir(), 'kubiya-decision-bench-'));
  const { file, revision } = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
  const engine = await loadEngine(await readBundle(file));
  const key = await newSigningKey('EdDSA', 'bench');
  const now = new Date();
  const tokens: string[] = [];
  for (let i = 0; i < tokenCount; i++) {
    tokens.push(await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: benchWorkflow(`wf-${i % 100}`, `run-${i}`), jti: randomUUID(), ttlSeconds: 3600, now }));
  }
  const keys = createLocalJWKSet(jwks([key]));
  const config = defaultPipelineConfig(RUNNER, ISSUER);
  return {
    tokens, revision, work, opa: tools.value.opa,
    wasm: (input) => evaluate(input, engine),
    deps: (audit) => ({ config, keys, audit, now: () => new Date(), newId: randomUUID }),
    publicKey: createPublicKey({ key: key.publicJwk, format: 'jwk' }),
  };
}

/** A fresh group-committed audit log (with signed checkpoints, as `serve` runs it) per run. */
async function withAudit<T>(base: string, body: (audit: FileAuditLog) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(base, 'kubiya-bench-audit-'));
  const { privateKey } = generateKeyPairSync('ed25519');
  const audit = await FileAuditLog.open(dir, { checkpoint: { key: privateKey, kid: 'bench', every: 1000, intervalMs: 10_000 } });
  try {
    return await body(audit);
  } finally {
    await audit.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function measurePath(f: Fixture, evaluator: Evaluator, decisions: number, c: DecisionCounts, log: (s: string) => void, label: string, tmpfs = false): Promise<PathResult> {
  const op = (audit: FileAuditLog) => (i: number) => decide(f.tokens[i % f.tokens.length] as string, f.deps(audit), evaluator);
  const rates: number[] = [];
  const thread: number[] = [];
  const proc: number[] = [];
  await withAudit(f.work, async (audit) => closedLoop(op(audit), Math.min(decisions, 500), c.concurrency, 30)); // warm-up
  for (let r = 0; r < c.runs; r++) {
    global.gc?.();
    const result = await withAudit(f.work, async (audit) => closedLoop(op(audit), decisions, c.concurrency, 60));
    rates.push(result.perSecond);
    thread.push(result.cpuMicros.thread);
    proc.push(result.cpuMicros.process);
    log(`  ${label} run ${r + 1}/${c.runs}: ${result.done} decisions in ${result.seconds.toFixed(2)} s = ${result.perSecond.toFixed(0)}/s; CPU per decision ${result.cpuMicros.thread.toFixed(0)} µs JS thread, ${result.cpuMicros.process.toFixed(0)} µs process (${machineLine()})`);
  }
  const perSecond = spread(rates);
  const paced = await pacedRun(op, perSecond.median / 2, c.latencySeconds, f.work, log, label);
  const pacedTmpfs = tmpfs ? await pacedRun(op, perSecond.median / 2, c.latencySeconds, '/dev/shm', log, `${label}, audit on tmpfs`) : undefined;
  return { perSecond, cpuMicros: { thread: spread(thread), process: spread(proc) }, paced, pacedTmpfs };
}

async function pacedRun(op: (audit: FileAuditLog) => (i: number) => Promise<unknown>, rate: number, seconds: number, base: string, log: (s: string) => void, label: string): Promise<Paced> {
  global.gc?.();
  const latencies = await withAudit(base, async (audit) => openLoop(op(audit), rate, seconds));
  const paced = { rate, arrivals: latencies.length, p50Micros: quantile(latencies, 0.5), p99Micros: quantile(latencies, 0.99), maxMicros: quantile(latencies, 1) };
  log(`  ${label} at 50 % (${rate.toFixed(0)}/s, ${paced.arrivals} arrivals): p50 ${paced.p50Micros.toFixed(0)} µs, p99 ${paced.p99Micros.toFixed(0)} µs, max ${paced.maxMicros.toFixed(0)} µs (${machineLine()})`);
  return paced;
}

/**
 * The floor: per decision, the Ed25519 verification of its token (key imported once) and SHA-256
 * of the canonical text of its four audit records, nothing else.
 */
async function measureFloor(f: Fixture, c: DecisionCounts, log: (s: string) => void): Promise<PathResult> {
  const records: Buffer[][] = [];
  const captured: AuditEntry[] = [];
  const capture: AuditSink = { append: (e) => (captured.push(e), Promise.resolve({ ...e, seq: 0, prev: GENESIS, hash: GENESIS })) };
  const sample = Math.min(f.tokens.length, 200);
  for (let i = 0; i < sample; i++) {
    captured.length = 0;
    await decide(f.tokens[i] as string, f.deps(capture), f.wasm);
    records.push(captured.map((e, j) => Buffer.from(canonicalize({ ...e, seq: i * 4 + j + 1, prev: GENESIS }) ?? '')));
  }
  const parts = f.tokens.slice(0, sample).map((t) => {
    const [h, p, s] = t.split('.');
    return { signed: Buffer.from(`${h}.${p}`), signature: Buffer.from(s ?? '', 'base64url') };
  });
  const once = (i: number) => {
    const t = parts[i % sample]!;
    if (!cryptoVerify(null, t.signed, f.publicKey, t.signature)) throw new Error('floor: signature did not verify');
    for (const r of records[i % sample]!) createHash('sha256').update(r).digest('hex');
  };
  for (let i = 0; i < 1000; i++) once(i);
  const rates: number[] = [];
  for (let r = 0; r < c.runs; r++) {
    const t0 = performance.now();
    const stopAt = t0 + 30_000;
    let i = 0;
    for (; i < c.floorOps && performance.now() < stopAt; i++) once(i);
    const seconds = (performance.now() - t0) / 1000;
    rates.push(i / seconds);
    log(`  floor run ${r + 1}/${c.runs}: ${i} in ${seconds.toFixed(2)} s = ${(i / seconds).toFixed(0)}/s`);
  }
  return { perSecond: spread(rates) };
}

export async function decisionBench(c: DecisionCounts, log: (s: string) => void, only?: 'wasm'): Promise<DecisionBenchResult> {
  log(`decision path: ${machineLine()}; ${c.runs} runs of ${c.decisions} decisions, ${c.concurrency} in flight`);
  const f = await fixture(Math.min(c.decisions, 2000));
  try {
    const disk = await diskProbe(f.work, c.runs * 100);
    log(`  disk under the audit log: write + fdatasync p50 ${disk.p50Micros.toFixed(0)} µs, p99 ${disk.p99Micros.toFixed(0)} µs (${disk.syncs} syncs)`);
    const wasm = await measurePath(f, f.wasm, c.decisions, c, log, 'wasm', existsSync('/dev/shm'));
    if (only === 'wasm') return { counts: c, disk, wasm };
    const floor = await measureFloor(f, c, log);
    const sidecar = await startSidecar(f.opa, f.work, f.revision);
    try {
      const probe = await sidecar.evaluate((await captureInput(f)));
      if (!probe.ok) throw new Error(`sidecar decision differs: ${probe.error.code}`);
      const side = await measurePath(f, (input) => sidecar.evaluate(input), Math.max(100, Math.floor(c.decisions / 4)), c, log, 'sidecar');
      return { counts: c, disk, wasm, floor, sidecar: side };
    } finally {
      await sidecar.stop();
    }
  } finally {
    await rm(f.work, { recursive: true, force: true });
  }
}

/** The policy input of the first token's step, as the pipeline builds it. */
async function captureInput(f: Fixture): Promise<Parameters<Evaluator>[0]> {
  let seen: Parameters<Evaluator>[0] | undefined;
  const sink: AuditSink = { append: (e) => Promise.resolve({ ...e, seq: 0, prev: GENESIS, hash: GENESIS }) };
  await decide(f.tokens[0] as string, f.deps(sink), (input) => ((seen = input), f.wasm(input)));
  if (seen === undefined) throw new Error('no policy input');
  return seen;
}

if (import.meta.main) {
  const quick = process.argv.includes('--quick');
  const only = process.argv.includes('--only') ? 'wasm' : undefined;
  const n = process.argv.indexOf('--decisions');
  const counts = { ...(quick ? QUICK : FULL), ...(n > 0 ? { decisions: Number(process.argv[n + 1]) } : {}) };
  console.log(JSON.stringify(await decisionBench(counts, console.error, only), null, 2));
}
