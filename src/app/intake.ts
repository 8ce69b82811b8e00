/**
 * `serve`'s intake, shared by push (POST /v1/assignments, /v1/cancellations) and pull (the
 * control-plane client): refused with NOT_READY until phase 2, tracked while in flight (shutdown
 * waits for them), handed to the reconciler once admitted, and pushed back when the backlog is full.
 */
import type { Logger } from 'pino';
import { fail, type Result } from '../errors/result.ts';
import { admit } from '../admission/admit.ts';
import { cancelRun, type Cancelled } from '../admission/cancel.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { refusalsOf } from '../pipeline/refusals.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { RawAssignment } from '../receive/receive.ts';
import type { Reconciler } from '../reconcile/reconciler.ts';
import type { ControlPlaneLink } from './control-plane-link.ts';
import type { ServerState } from './readiness.ts';

/** Admission and cancellation as `serve` offers them; see the module comment. */
export class Intake {
  /** Admissions and cancellations not yet answered. */
  readonly inflight = new Set<Promise<unknown>>();
  private readonly deps: PipelineDeps;
  private readonly reconciler: Reconciler;
  private readonly state: Readonly<ServerState>;
  private readonly link: ControlPlaneLink;
  private readonly log: Logger;

  constructor(
    deps: PipelineDeps,
    reconciler: Reconciler,
    state: Readonly<ServerState>,
    link: ControlPlaneLink,
    log: Logger,
  ) {
    this.deps = deps;
    this.reconciler = reconciler;
    this.state = state;
    this.link = link;
    this.log = log;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  /**
   * Admits an assignment (NOT_READY before phase 2). `from`: `push` (HTTP: an unauthenticated
   * peer, whose refusals before verification are recorded within the refusal budget,
   * docs/adr/0008) or `pull` (the control plane the runner polls over https with its token, at
   * the poll's rate: every refusal recorded one by one).
   */
  admit(raw: RawAssignment, from: 'push' | 'pull'): Promise<Result<AdmittedRun>> {
    return this.state.started
      ? this.track(admit(raw, this.deps, from === 'push' ? 'budgeted' : 'each'))
      : Promise.resolve(fail('NOT_READY', 'the runner is starting'));
  }

  /** Applies a signed cancellation (NOT_READY before phase 2); `from` as admit's. */
  cancel(raw: RawAssignment, from: 'push' | 'pull'): Promise<Result<Cancelled>> {
    return this.state.started
      ? this.track(cancelRun(raw, this.deps, from === 'push' ? 'budgeted' : 'each'))
      : Promise.resolve(fail('NOT_READY', 'the runner is starting'));
  }

  /**
   * Writes the summaries of the refusal budget's window once it has ended (`force`: now, at
   * shutdown), so every refusal counted but not recorded one by one is in a durable record.
   */
  flushRefusals(force = false): Promise<void> {
    return refusalsOf(this.deps).flush(this.deps, force);
  }

  /** An admitted run goes to the reconciler's queue (the leader's reconciler executes it). */
  start(run: AdmittedRun): void {
    this.log.info(
      { workflow_id: run.ref.id, run: run.name, namespace: this.deps.config.namespace },
      'Assignment accepted',
    );
    this.reconciler.enqueue(run.name);
  }

  /** Runs beyond maxConcurrent wait as Pending WorkflowRuns; intake pushes back past ten times that, or when the event queue is full. */
  hasCapacity(): boolean {
    const backlog = this.deps.runs
      .list()
      .filter((r) => r.status === undefined || r.status.phase === 'Pending' || r.status.phase === 'Running').length;
    return backlog < this.deps.config.maxConcurrent * 10 && (this.link.client?.hasRoom() ?? true);
  }

  /** Pull mode: an assignment from the control plane, admitted and started like a pushed one; whether it was (the client paces refused answers). */
  async pulled(assignment: string): Promise<boolean> {
    const run = await this.admit({ body: assignment, contentType: 'application/jwt' }, 'pull');
    if (run.ok) this.start(run.value);
    return run.ok;
  }

  /** Pull mode: a cancellation from the control plane; whether it was applied. */
  async pulledCancel(cancellation: string): Promise<boolean> {
    const cancelled = await this.cancel({ body: cancellation, contentType: 'application/jwt' }, 'pull');
    if (cancelled.ok && cancelled.value.changed)
      this.log.info({ run: cancelled.value.run }, 'Run cancelled by the control plane');
    // Progress only when it changed something: the same cancellation again is paced like a refusal.
    return cancelled.ok && cancelled.value.changed;
  }
}
