/**
 * In-memory pipeline dependencies for tests of admission and the verified cache: one Ed25519
 * signing key, a clock at `NOW`, and the memory twins of every port (runs, trusted keys, audit,
 * cluster). Shared by test/unit/verified-cache*.test.ts.
 */
import { createLocalJWKSet } from 'jose';
import { jwks, newSigningKey, type SigningKey } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { testPipelineConfig } from './config.ts';
import { Clock, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from './memory.ts';
import { ISSUER, NOW, RUNNER } from './tokens.ts';

/** Pipeline deps whose ports are the in-memory twins; `runs` and `trust` typed as the twins. */
export type MemoryAdmissionDeps = PipelineDeps & {
  runs: MemoryRuns;
  trust: MemoryTrustedKeys;
  keys: ReturnType<typeof createLocalJWKSet>;
};

/**
 * Builds a signing key (`EdDSA`, kid `k1`), a clock at `NOW`, and deps that trust that key.
 * @returns `{ key, clock, runs, deps }`; `deps.newId` always returns `'id'`.
 */
export async function memoryAdmissionDeps(): Promise<{
  key: SigningKey;
  clock: Clock;
  runs: MemoryRuns;
  deps: MemoryAdmissionDeps;
}> {
  const key = await newSigningKey('EdDSA', 'k1');
  const clock = new Clock(NOW);
  const runs = new MemoryRuns(clock.now);
  const deps = {
    config: testPipelineConfig({ runner: { name: RUNNER }, controlPlane: { issuer: ISSUER } }),
    keys: createLocalJWKSet(jwks([key])),
    policy: () => undefined,
    audit: new MemoryAudit(),
    ...memoryCluster(),
    runs,
    trust: new MemoryTrustedKeys(),
    now: clock.now,
    newId: () => 'id',
  } as MemoryAdmissionDeps;
  return { key, clock, runs, deps };
}
