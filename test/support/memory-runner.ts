import { testPipelineConfig, type ConfigOverrides } from './config.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import type { AssignmentReport } from '../../src/run/report.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { RawAssignment } from '../../src/receive/receive.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import type { MemoryPods } from './memory.ts';
import { engineReturning, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from './memory.ts';
import { NOW, testKeys } from './tokens.ts';

export const allowAll = engineReturning(() => [{ result: { allow: true, violations: [] } }]);
/** Allows every step and grants it egress beyond DNS (10.0.0.0/24 on 443): each step then gets a policy of its own. */
export const allowWithEgress = engineReturning(() => [
  { result: { allow: true, violations: [], egress: [{ cidr: '10.0.0.0/24', ports: [443] }] } },
]);

export type MemoryDeps = PipelineDeps & {
  audit: MemoryAudit;
  pods: MemoryPods;
  runs: MemoryRuns;
  trust: MemoryTrustedKeys;
};

/** The whole pipeline and its reconciler over in-memory ports (no cluster), for unit tests. */
export async function memoryRunner(
  over: Partial<PipelineDeps> = {},
  config: ConfigOverrides = {},
): Promise<{
  deps: MemoryDeps;
  reconciler: Reconciler;
  run: (raw: RawAssignment) => Promise<AssignmentReport>;
  close: () => Promise<void>;
}> {
  let n = 0;
  const now = over.now ?? (() => NOW);
  const deps = {
    config: testPipelineConfig(config),
    keys: over.keys ?? (await testKeys()).keys,
    policy: () => allowAll,
    audit: new MemoryAudit(),
    ...memoryCluster(),
    runs: new MemoryRuns(now),
    trust: new MemoryTrustedKeys(),
    now,
    newId: () => `id-${++n}`,
    ...over,
  } as MemoryDeps;
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 4, resyncMs: 60_000 });
  reconciler.start();
  return {
    deps,
    reconciler,
    run: (raw) => runAssignment(raw, deps, reconciler, 10_000),
    close: () => reconciler.stop(),
  };
}
