import type { V1NetworkPolicy, V1PersistentVolumeClaim, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { chain, GENESIS } from '../../src/audit/chain.ts';
import type { AuditEntry, AuditRecord, AuditSink } from '../../src/audit/record.ts';
import { adoptable, sameSpec } from '../../src/create/adopt.ts';
import type { PodLogs } from '../../src/ports/pod-logs.ts';
import type { CreatedPod, Pods } from '../../src/ports/pods.ts';
import type { OwnedObject, StepObjects } from '../../src/ports/step-objects.ts';
import type { CreatedRun, RunObject, RunStore } from '../../src/ports/runs.ts';
import type { EgressObject } from '../../src/egress/network-policy.ts';
import type { RunStatus } from '../../src/run/status.ts';
import type { AdmittedRun } from '../../src/run/admitted.ts';
import { fail, ok, type Result } from '../../src/errors/result.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import type { PodOutcome } from '../../src/watch/outcome.ts';
import type { JWK } from 'jose';
import { merge, type TrustedKey, type TrustedKeyStore } from '../../src/verify/trusted-keys.ts';

/**
 * The status of a pod whose step container ended as `end` says: the phase, the container
 * terminated with the exit code (default 0) and reason; a DeadlineExceeded reason is the pod's too.
 */
export function endedStatus(end: PodOutcome): V1PodStatus {
  return {
    phase: end.phase,
    ...(end.reason === 'DeadlineExceeded' ? { reason: end.reason } : {}),
    containerStatuses: [
      {
        name: 'step',
        image: '',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: {
          terminated: { exitCode: end.exitCode ?? 0, ...(end.reason !== undefined ? { reason: end.reason } : {}) },
        },
      },
    ],
  };
}

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

/**
 * The cluster in memory, behind the three pod ports (one object, so a run's pods, volume claims
 * and egress policies are listed and deleted together as in the API server): a created pod ends as
 * `outcomeFor` says (undefined: it keeps running) on the next turn of the event loop, and the owning
 * run is told, as the informer would. Pass it as `pods`, `objects` and `logs`.
 */
export class MemoryPods implements Pods, StepObjects, PodLogs {
  readonly pods = new Map<string, V1Pod>();
  /** Every pod ever created, in order (a duplicate would show twice). */
  readonly created: V1Pod[] = [];
  readonly deleted: string[] = [];
  readonly egress: EgressObject[] = [];
  readonly claims: V1PersistentVolumeClaim[] = [];
  outcomeFor: (pod: V1Pod) => PodOutcome | undefined = () => ({ phase: 'Succeeded', exitCode: 0, reason: 'Completed' });
  /** What the API server's admission does to a pod on create (tests set it; default: nothing). */
  admission: (pod: V1Pod) => V1Pod = (pod) => pod;
  private readonly listeners: ((run: string, ended?: boolean) => void)[] = [];
  private uid = 0;

  create(given: V1Pod): Promise<Result<CreatedPod>> {
    const pod = this.admission(structuredClone(given));
    const name = pod.metadata?.name ?? '';
    if (this.pods.has(name)) return Promise.resolve(fail('CREATE_EXISTS', `pod ${name} already exists`));
    const stored: V1Pod = {
      ...pod,
      metadata: { ...pod.metadata, uid: `pod-${++this.uid}`, creationTimestamp: new Date() },
      status: { phase: 'Pending' },
    };
    this.pods.set(name, stored);
    this.created.push(stored);
    setImmediate(() => {
      const end = this.outcomeFor(stored);
      if (end !== undefined && this.pods.get(name) === stored) {
        stored.status = endedStatus(end);
      } else if (this.pods.get(name) === stored) {
        stored.status = { phase: 'Running' };
      }
      this.notify(stored);
    });
    return Promise.resolve(
      ok({ name, namespace: pod.metadata?.namespace ?? '', uid: stored.metadata?.uid ?? '', admitted: stored }),
    );
  }
  get(name: string): Promise<V1Pod | undefined> {
    return Promise.resolve(this.pods.get(name));
  }
  cached(name: string): V1Pod | undefined {
    return this.pods.get(name);
  }
  getWhole(name: string): Promise<Result<V1Pod | undefined>> {
    return Promise.resolve(ok(this.pods.get(name)));
  }
  /** What each pod "logged" (tests set it); a pod without an entry has an empty log. */
  readonly logText = new Map<string, string>();
  read(name: string, _container: string, limitBytes: number): Promise<Result<string>> {
    if (!this.pods.has(name)) return Promise.resolve(fail('LOG_READ_FAILED', `no pod ${name}`));
    return Promise.resolve(
      ok(
        Buffer.from(this.logText.get(name) ?? '')
          .subarray(0, limitBytes)
          .toString('utf8'),
      ),
    );
  }
  delete(name: string): Promise<Result<void>> {
    const pod = this.pods.get(name);
    this.pods.delete(name);
    this.deleted.push(name);
    if (pod !== undefined) setImmediate(() => this.notify(pod, true));
    return Promise.resolve(ok(undefined));
  }
  createVolumeClaims(claims: readonly V1PersistentVolumeClaim[]): Promise<Result<readonly string[]>> {
    for (const c of claims) {
      const existing = this.claims.find((x) => x.metadata?.name === c.metadata?.name);
      if (existing === undefined) this.claims.push(c);
      else {
        const ours = adoptable('PersistentVolumeClaim', existing.metadata, c.metadata);
        if (!ours.ok) return Promise.resolve(ours);
      }
    }
    return Promise.resolve(ok(claims.map((c) => c.metadata?.name ?? '')));
  }
  /** The runner's DNS policy once ensured; `dnsRefusal` makes ensureStepDns fail (as an unreachable API server would). */
  dnsPolicy: V1NetworkPolicy | undefined;
  dnsRefusal: string | undefined;
  ensureStepDns(policy: V1NetworkPolicy): Promise<Result<void>> {
    if (this.dnsRefusal !== undefined) return Promise.resolve(fail('EGRESS_BASELINE_UNCONFIRMED', this.dnsRefusal));
    this.dnsPolicy = policy;
    return Promise.resolve(ok(undefined));
  }
  /** As the adapter: created; an existing one adopted only when ours (replaced if its spec differs). */
  createEgress(policy: EgressObject): Promise<Result<void>> {
    const i = this.egress.findIndex((e) => e.metadata?.name === policy.metadata?.name);
    const existing = this.egress[i];
    if (existing === undefined) this.egress.push(policy);
    else {
      const ours = adoptable(policy.kind, existing.metadata, policy.metadata);
      if (!ours.ok) return Promise.resolve(ours);
      if (!sameSpec(existing.spec, policy.spec)) this.egress.splice(i, 1, policy);
    }
    return Promise.resolve(ok(undefined));
  }
  owned(): Promise<Result<readonly OwnedObject[]>> {
    const owner = (m: { ownerReferences?: { uid: string }[] } | undefined): string | undefined =>
      m?.ownerReferences?.[0]?.uid;
    return Promise.resolve(
      ok([
        ...[...this.pods.values()].map((p) => ({
          kind: 'Pod' as const,
          name: p.metadata?.name ?? '',
          owner: owner(p.metadata),
        })),
        ...this.claims.map((c) => ({
          kind: 'PersistentVolumeClaim' as const,
          name: c.metadata?.name ?? '',
          owner: owner(c.metadata),
        })),
        ...this.egress.map((e) => ({ kind: e.kind, name: e.metadata?.name ?? '', owner: owner(e.metadata) })),
      ]),
    );
  }
  deleteObjects(objects: readonly OwnedObject[]): Promise<Result<number>> {
    for (const o of objects) {
      if (o.kind === 'Pod') this.pods.delete(o.name);
      const drop = <T extends { metadata?: { name?: string } }>(list: T[]): void => {
        const i = list.findIndex((x) => x.metadata?.name === o.name);
        if (i >= 0) list.splice(i, 1);
      };
      if (o.kind === 'PersistentVolumeClaim') drop(this.claims);
      if (o.kind === 'NetworkPolicy' || o.kind === 'CiliumNetworkPolicy') drop(this.egress);
    }
    return Promise.resolve(ok(objects.length));
  }
  onChange(listener: (run: string, ended?: boolean) => void): void {
    this.listeners.push(listener);
  }
  private notify(pod: V1Pod, deleted = false): void {
    const run = pod.metadata?.ownerReferences?.[0]?.name;
    const ended = deleted || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    if (run !== undefined) for (const l of this.listeners) l(run, ended);
  }
}

/** The three pod ports of PipelineDeps, all one in-memory cluster (`pods` is also how tests reach its state). */
export function memoryCluster(pods: MemoryPods = new MemoryPods()): {
  readonly pods: MemoryPods;
  readonly objects: MemoryPods;
  readonly logs: MemoryPods;
} {
  return { pods, objects: pods, logs: pods };
}

/** A policy engine whose raw result the test chooses (to reach every fail-closed path). */
export function engineReturning(
  result: () => unknown,
  entrypoints = ['kubiya/main/decision'],
  revision = 'test-rev',
): PolicyEngine {
  return { revision, entrypoints, evaluate: () => result() };
}

/** WorkflowRuns in memory: create is exactly-once by name; changes are told on the next turn. */
export class MemoryRuns implements RunStore {
  readonly runs = new Map<string, RunObject>();
  private readonly listeners: ((name: string) => void)[] = [];
  private readonly now: () => Date;
  constructor(now: () => Date = () => new Date()) {
    this.now = now;
  }
  create(run: AdmittedRun, token: string): Promise<Result<CreatedRun>> {
    if (this.runs.has(run.name))
      return Promise.resolve(fail('ASSIGNMENT_REPLAYED', `assignment ${run.ref.jti} was already accepted`));
    const other = [...this.runs.values()].find((r) => r.runId === run.workflow.runId);
    if (other !== undefined)
      return Promise.resolve(
        fail('ASSIGNMENT_RUN_ID_REUSED', `run id ${run.workflow.runId} is already used by WorkflowRun ${other.name}`),
      );
    const uid = `uid-${run.name}`;
    this.put({
      name: run.name,
      uid,
      createdAt: this.now(),
      workflowId: run.ref.id,
      runId: run.workflow.runId,
      token,
      cancelRequested: false,
    });
    return Promise.resolve(ok({ name: run.name, uid }));
  }
  list(): readonly RunObject[] {
    return [...this.runs.values()];
  }
  /** Set to make liveUids fail (LIST_FAILED), as an API server that cannot be listed. */
  listFails = false;
  liveUids(): Promise<Result<ReadonlySet<string>>> {
    if (this.listFails) return Promise.resolve(fail('LIST_FAILED', 'could not list the runs'));
    return Promise.resolve(ok(new Set([...this.runs.values()].map((r) => r.uid))));
  }
  get(name: string): RunObject | undefined {
    return this.runs.get(name);
  }
  writeStatus(name: string, status: RunStatus): Promise<Result<void>> {
    const run = this.runs.get(name);
    if (run === undefined) return Promise.resolve(fail('RUN_NOT_FOUND', `no run ${name}`));
    this.put({ ...run, status });
    return Promise.resolve(ok(undefined));
  }
  requestCancel(name: string): Promise<Result<void>> {
    const run = this.runs.get(name);
    if (run === undefined) return Promise.resolve(fail('RUN_NOT_FOUND', `no run ${name}`));
    this.put({ ...run, cancelRequested: true });
    return Promise.resolve(ok(undefined));
  }
  /** Set to make delete fail (DELETE_FAILED), as an API server that refuses it. */
  deleteFails = false;
  /** The names deleted, in order (RunStore.delete that removed a run). */
  readonly deleted: string[] = [];
  delete(name: string, uid: string): Promise<Result<void>> {
    if (this.deleteFails) return Promise.resolve(fail('DELETE_FAILED', `could not delete WorkflowRun ${name}`));
    const run = this.runs.get(name);
    // Gone, or another run under the name (the uid precondition): nothing of this one left to delete.
    if (run === undefined || run.uid !== uid) return Promise.resolve(ok(undefined));
    this.runs.delete(name);
    this.deleted.push(name);
    setImmediate(() => {
      for (const l of this.listeners) l(name);
    });
    return Promise.resolve(ok(undefined));
  }
  /** Adds or replaces a run as if someone wrote it to the API server (a hand-made run, an edit). */
  put(run: RunObject): void {
    this.runs.set(run.name, run);
    setImmediate(() => {
      for (const l of this.listeners) l(run.name);
    });
  }
  onChange(listener: (name: string) => void): void {
    this.listeners.push(listener);
  }
}

/** A mutable clock for tests that cross deadlines and TTLs. */
export class Clock {
  at: Date;
  constructor(at: Date) {
    this.at = at;
  }
  now = (): Date => this.at;
  advance(seconds: number): void {
    this.at = new Date(this.at.getTime() + seconds * 1000);
  }
}

/**
 * The trusted-key store in memory (twin of ConfigMapTrustedKeys): the same pure merge, so the
 * same periods; `failing` makes every call answer TRUSTED_KEYS_UNAVAILABLE, as an unreachable
 * API server would. `writes` counts durable writes (merge said something changed).
 */
export class MemoryTrustedKeys implements TrustedKeyStore {
  keys: TrustedKey[] = [];
  failing = false;
  writes = 0;
  async observe(keys: readonly JWK[], at: Date): Promise<Result<void>> {
    if (this.failing) return fail('TRUSTED_KEYS_UNAVAILABLE', 'trusted-key store unavailable (test)');
    const next = await merge(this.keys, keys, at);
    if (next !== undefined) {
      this.keys = next;
      this.writes++;
    }
    return ok(undefined);
  }
  list(): Promise<Result<readonly TrustedKey[]>> {
    return Promise.resolve(
      this.failing ? fail('TRUSTED_KEYS_UNAVAILABLE', 'trusted-key store unavailable (test)') : ok([...this.keys]),
    );
  }
}
