/**
 * What the decision-path benchmark runs on: signed tokens of the realistic bench workflow, the
 * compiled policy, the pipeline config, fresh audit logs, and the crypto floor's operation.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomUUID, verify as cryptoVerify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { createLocalJWKSet } from 'jose';
import { FileAuditLog } from '../src/adapters/audit-file.ts';
import { buildBundle } from '../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../src/adapters/tools.ts';
import { testPipelineConfig } from '../test/support/config.ts';
import { MemoryTrustedKeys } from '../test/support/memory.ts';
import { GENESIS } from '../src/audit/chain.ts';
import type { AuditEntry, AuditSink } from '../src/audit/record.ts';
import { jwks, newSigningKey, signAssignment } from '../src/dev/sign.ts';
import { evaluate, type PolicyInput } from '../src/evaluate/evaluate.ts';
import { decide, type DecisionDeps, type Evaluator } from './decision-path.ts';
import { benchWorkflow } from './fixtures.ts';

const ISSUER = 'https://control-plane.bench';
const RUNNER = 'bench-runner';

export interface Fixture {
  readonly tokens: readonly string[];
  readonly revision: string;
  /** The evaluate stage on the compiled WASM, in-process. */
  readonly wasm: Evaluator;
  readonly deps: (audit: AuditSink) => DecisionDeps;
  /** A temp directory on the default disk, removed by close(). */
  readonly work: string;
  readonly opa: string;
  /** One crypto-floor operation: token i's Ed25519 signature and SHA-256 of its four records. */
  readonly floor: (i: number) => void;
  /** The policy input of the first token's step, as the pipeline builds it. */
  readonly input: PolicyInput;
  close(): Promise<void>;
}

/** A sink that keeps nothing durable: to capture records (never used for measurement). */
const capturing = (into: AuditEntry[]): AuditSink => ({
  append: (e) => (into.push(e), Promise.resolve({ ...e, seq: 0, prev: GENESIS, hash: GENESIS })),
});

export async function decisionFixture(tokenCount: number): Promise<Fixture> {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  const work = await mkdtemp(join(tmpdir(), 'kubiya-decision-bench-'));
  const { file, revision } = await buildBundle(
    tools.value.opa,
    join(REPO_ROOT, 'policies'),
    join(work, 'bundle.tar.gz'),
  );
  const engine = await loadEngine(await readBundle(file));
  const key = await newSigningKey('EdDSA', 'bench');
  const now = new Date();
  const tokens: string[] = [];
  for (let i = 0; i < tokenCount; i++) {
    tokens.push(
      await signAssignment(key, {
        issuer: ISSUER,
        audience: RUNNER,
        workflow: benchWorkflow(`wf-${i % 100}`, `run-${i}`),
        jti: randomUUID(),
        ttlSeconds: 3600,
        now,
      }),
    );
  }
  const keys = createLocalJWKSet(jwks([key]));
  const config = testPipelineConfig({ runner: { name: RUNNER }, controlPlane: { issuer: ISSUER } });
  const wasm: Evaluator = (input) => evaluate(input, engine);
  // One trusted-key store per fixture, as one runner has one: intake records the key, re-verification reads it.
  const trust = new MemoryTrustedKeys();
  const deps = (audit: AuditSink): DecisionDeps => ({
    config,
    keys,
    trust,
    audit,
    policy: () => engine,
    now: () => new Date(),
    newId: randomUUID,
  });

  // The floor's inputs, prepared once: signing input and signature of each token, and the
  // canonical text of the four records each token's decision writes.
  const sample = Math.min(tokens.length, 200);
  const records: Buffer[][] = [];
  let input: PolicyInput | undefined;
  for (let i = 0; i < sample; i++) {
    const captured: AuditEntry[] = [];
    await decide(tokens[i] as string, deps(capturing(captured)), (x) => ((input ??= x), wasm(x)));
    records.push(captured.map((e, j) => Buffer.from(canonicalize({ ...e, seq: i * 4 + j + 1, prev: GENESIS }) ?? '')));
  }
  if (input === undefined) throw new Error('no policy input');
  const parts = tokens.slice(0, sample).map((t) => {
    const [h, p, s] = t.split('.');
    return { signed: Buffer.from(`${h}.${p}`), signature: Buffer.from(s ?? '', 'base64url') };
  });
  const publicKey = createPublicKey({ key: key.publicJwk, format: 'jwk' });
  const floor = (i: number) => {
    const t = parts[i % sample] as (typeof parts)[number];
    if (!cryptoVerify(null, t.signed, publicKey, t.signature)) throw new Error('floor: signature did not verify');
    for (const r of records[i % sample] as Buffer[]) createHash('sha256').update(r).digest('hex');
  };
  return {
    tokens,
    revision,
    wasm,
    deps,
    work,
    opa: tools.value.opa,
    floor,
    input,
    close: () => rm(work, { recursive: true, force: true }),
  };
}

/** A fresh group-committed audit log (with signed checkpoints, as `serve` runs it) per run. */
export async function withAudit<T>(base: string, body: (audit: FileAuditLog) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(base, 'kubiya-bench-audit-'));
  const { privateKey } = generateKeyPairSync('ed25519');
  const audit = await FileAuditLog.open(dir, {
    checkpoint: { key: privateKey, kid: 'bench', every: 1000, intervalMs: 10_000 },
  });
  try {
    return await body(audit);
  } finally {
    await audit.close();
    await rm(dir, { recursive: true, force: true });
  }
}
