/**
 * `serve`'s leader step: every replica admits; only the Lease holder reconciles (DESIGN §1).
 */
import { LeaseElector } from '../adapters/lease.ts';
import type { Config } from '../config/schema.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import type { RunnerParts } from './compose.ts';
import type { ServerState } from './readiness.ts';

/**
 * This replica's Lease elector (not yet started): the Lease `parts.leaseName` in
 * `kubernetes.namespace`, held `kubernetes.leaseDuration` seconds and renewed every third of it
 * (at least every second), as `identity` (the pod name in a cluster).
 */
export function replicaLease(parts: RunnerParts, config: Config, identity: string): LeaseElector {
  return new LeaseElector(parts.kc, {
    name: parts.leaseName,
    namespace: config.kubernetes.namespace,
    identity,
    durationSeconds: config.kubernetes.leaseDuration,
    renewEverySeconds: Math.max(1, Math.floor(config.kubernetes.leaseDuration / 3)),
  });
}

/**
 * The reconciler (not yet started): it works while this replica holds the Lease and is not
 * draining, with 64 workers and a full resync every 30 s.
 */
export function leaderReconciler(deps: PipelineDeps, lease: LeaseElector, state: Readonly<ServerState>): Reconciler {
  return new Reconciler(deps, {
    isLeader: () => lease.role() === 'leader' && !state.draining,
    workers: 64,
    resyncMs: 30_000,
  });
}
