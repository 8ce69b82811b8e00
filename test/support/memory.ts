import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { chain, GENESIS } from '../../src/audit/chain.ts';
import type { AuditEntry, AuditRecord, AuditSink } from '../../src/audit/record.ts';
import type { CreatedPod, PodGateway } from '../../src/create/pod-gateway.ts';
import type { ClaimedRun, RunStore } from '../../src/create/run-store.ts';
import type { AdmittedRun } from '../../src/pipeline.ts';
import { fail, ok, type Result } from '../../src/errors/result.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import type { PodOutcome } from '../../src/watch/outcome.ts';

/** In-memory implementations of our own ports, for unit tests (no module mocks). */
export class MemoryAudit implements AuditSink {
  readonly records: AuditRecord[] = [];
  failing = false;
  append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.failing) return Promise.reject(new Error('ENOSPC: no space left on device'));
    const last = this.records.at(-1);
    const record = chain(entry, (last?.seq ?? 0) + 1, last?.hash ?? GENESIS);
    this.records.push(record);
    return Promise.resolve(record);
  }
}

export class MemoryPods implements PodGateway {
  readonly created: V1Pod[] = [];
  outcomeFor: (pod: V1Pod) => Result<PodOutcome> = () => ok({ phase: 'Succeeded', exitCode: 0, reason: 'Completed' });
  create(pod: V1Pod): Promise<Result<CreatedPod>> {
    if (this.created.some((p) => p.metadata?.name === pod.metadata?.name)) return Promise.resolve(fail('CREATE_REJECTED', 'already exists'));
    this.created.push(pod);
    return Promise.resolve(ok({ name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', uid: 'uid' }));
  }
  readonly claims: V1PersistentVolumeClaim[] = [];
  createClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>> {
    this.claims.push(...claims);
    return Promise.resolve(ok(claims.map((c) => c.metadata?.name ?? '')));
  }
  outcome(name: string): Promise<Result<PodOutcome>> {
    const pod = this.created.find((p) => p.metadata?.name === name);
    return Promise.resolve(pod === undefined ? fail('WATCH_FAILED', 'no such pod') : this.outcomeFor(pod));
  }
}

/** A policy engine whose raw result the test chooses (to reach every fail-closed path). */
export function engineReturning(result: () => unknown, entrypoints = ['kubiya/main/decision'], revision = 'test-rev'): PolicyEngine {
  return { revision, entrypoints, evaluate: () => result() };
}

export class MemoryRuns implements RunStore {
  readonly claimed = new Set<string>();
  claim(run: AdmittedRun): Promise<Result<ClaimedRun>> {
    if (this.claimed.has(run.name)) return Promise.resolve(fail('ASSIGNMENT_REPLAYED', `assignment ${run.ref.jti} was already accepted`));
    this.claimed.add(run.name);
    return Promise.resolve(ok({ name: run.name, uid: `uid-${run.name}` }));
  }
}
