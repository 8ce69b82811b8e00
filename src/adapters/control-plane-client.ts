import { setTimeout as sleep } from 'node:timers/promises';
import { isWaitRecord } from '../errors/waits.ts';
import { discardBody } from './bounded-body.ts';
import { readEventsAnswer, readPollAnswer } from './control-plane-answers.ts';

export interface ControlPlaneEvent {
  readonly id: string;
  readonly runner: string;
  readonly workflow: string;
  readonly runId: string;
  readonly step?: string | undefined;
  readonly phase:
    | 'Accepted'
    | 'Rejected'
    | 'Denied'
    | 'Running'
    | 'Succeeded'
    | 'Failed'
    | 'Cancelled'
    | 'Error'
    | 'Log'
    // issue 19 §5: an attempt of a step with retries failed; the step runs again.
    | 'Retrying'
    // issue 19 §6: the step's `when` condition was false.
    | 'Skipped';
  readonly code?: string | undefined;
  readonly exitCode?: number | undefined;
  readonly reason?: string | undefined;
  /** Log events: a chunk of the step container's log, its place, and whether the log was cut. */
  readonly log?: string | undefined;
  readonly chunk?: number | undefined;
  readonly truncated?: boolean | undefined;
  readonly time: string;
}

export interface ControlPlaneClientOptions {
  readonly url: string;
  readonly runner: string;
  readonly token: string;
  readonly version: string;
  readonly capabilities: Readonly<Record<string, unknown>>;
  readonly pollWaitSeconds: number;
  readonly heartbeatMs: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly requestTimeoutMs: number;
  readonly eventBatch: number;
  readonly eventQueueMax: number;
  /** `controlPlane.maxTokenBytes`: bounds what a poll answer may hold (pollAnswerMaxBytes). */
  readonly maxTokenBytes: number;
  readonly onError?: (operation: string, message: string) => void;
}

/**
 * The shortest time, in ms, from the start of a poll that delivered nothing (a `204`, or a `200`
 * without assignments or cancellations) to the start of the next. A long-poll answers nothing only
 * after holding the request for `wait` seconds (docs/control-plane.md); a control plane, or a proxy
 * in front of it, that answers nothing at once would otherwise be asked again at once, as fast as
 * the network allows (a loop that goes round again when the peer's answer made no progress).
 */
export const EMPTY_POLL_INTERVAL_MS = 1000;

/**
 * What the client hands an assignment to (the same path as push intake): resolves `false` when it
 * was refused (nothing admitted), anything else when it was taken. An answer whose every item was
 * refused is no progress: the next poll waits with backoff (red team 19, finding 3: a control plane
 * re-delivering a refused assignment at once drew 1,629 polls and 4,887 audit records in 2 s).
 */
export type Intake = (token: string) => Promise<boolean | void>;
/** What the client hands a cancellation to (the same path as POST /v1/cancellations); `false` as Intake's. */
export type Cancel = (token: string) => Promise<boolean | void>;

class Backoff {
  private attempt = 0;
  private readonly o: ControlPlaneClientOptions['backoff'];
  constructor(o: ControlPlaneClientOptions['backoff']) {
    this.o = o;
  }
  reset(): void {
    this.attempt = 0;
  }
  /** Full jitter: a random wait up to the exponential bound. */
  async wait(): Promise<void> {
    const bound = Math.min(this.o.maxMs, this.o.initialMs * 2 ** this.attempt++);
    await sleep(Math.random() * bound);
  }
}

/**
 * The runner's side of the control-plane protocol (docs/control-plane.md): register, heartbeat,
 * long-poll for assignments, post step events in batches until acknowledged. A control plane that
 * is down, slow, answers 5xx or garbage never stops the runner: every call retries with backoff
 * and jitter. Events wait in a bounded queue until acknowledged; when it is full, the client stops
 * polling (intake pushes back) instead of dropping events.
 */
export class ControlPlaneClient {
  private readonly o: ControlPlaneClientOptions;
  private readonly intake: Intake;
  private readonly canAccept: () => boolean;
  private readonly queue: ControlPlaneEvent[] = [];
  private running = false;
  private loops: Promise<unknown>[] = [];
  private registeredOnce = false;

  private readonly cancel: Cancel;

  constructor(
    options: ControlPlaneClientOptions,
    intake: Intake,
    canAccept: () => boolean,
    cancel: Cancel = () => Promise.resolve(),
  ) {
    this.o = options;
    this.intake = intake;
    this.canAccept = canAccept;
    this.cancel = cancel;
  }

  get registered(): boolean {
    return this.registeredOnce;
  }

  get pendingEvents(): number {
    return this.queue.length;
  }

  /** Queues an event; false (and nothing queued) when the queue is full. */
  enqueue(event: ControlPlaneEvent): boolean {
    if (this.queue.length >= this.o.eventQueueMax) return false;
    this.queue.push(event);
    return true;
  }

  hasRoom(): boolean {
    return this.queue.length < this.o.eventQueueMax;
  }

  private async call(
    operation: string,
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = this.o.requestTimeoutMs,
  ): Promise<Response> {
    const res = await fetch(`${this.o.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.o.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status >= 400) {
      await discardBody(res);
      throw new Error(`${operation}: control plane answered ${res.status}`);
    }
    return res;
  }

  private fail(operation: string, e: unknown): void {
    this.o.onError?.(operation, e instanceof Error ? e.message : String(e));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const base = `/v1/runners/${encodeURIComponent(this.o.runner)}`;
    const register = async () => {
      const backoff = new Backoff(this.o.backoff);
      while (this.running && !this.registeredOnce) {
        try {
          const res = await this.call('register', 'POST', `${base}/register`, {
            name: this.o.runner,
            version: this.o.version,
            capabilities: this.o.capabilities,
          });
          await discardBody(res);
          this.registeredOnce = true;
        } catch (e) {
          this.fail('register', e);
          await backoff.wait();
        }
      }
    };
    const heartbeat = async () => {
      while (this.running) {
        await sleep(this.o.heartbeatMs);
        if (!this.registeredOnce || !this.running) continue;
        await this.call('heartbeat', 'POST', `${base}/heartbeat`, { pendingEvents: this.queue.length })
          .then(discardBody)
          .catch((e: unknown) => this.fail('heartbeat', e));
      }
    };
    const poll = async () => {
      const backoff = new Backoff(this.o.backoff);
      const refusedAll = new Backoff(this.o.backoff);
      while (this.running) {
        if (!this.registeredOnce || !this.canAccept() || !this.hasRoom()) {
          await sleep(200);
          continue;
        }
        const started = Date.now();
        try {
          const res = await this.call(
            'poll',
            'GET',
            `${base}/assignments?wait=${this.o.pollWaitSeconds}`,
            undefined,
            (this.o.pollWaitSeconds + 10) * 1000,
          );
          if (res.status === 204) {
            backoff.reset();
            await emptyPollPause(started);
            continue;
          }
          const { assignments, cancellations } = await readPollAnswer(res, this.o.maxTokenBytes);
          backoff.reset();
          if (assignments.length === 0 && cancellations.length === 0) await emptyPollPause(started);
          let taken = 0;
          for (const token of cancellations) if ((await this.cancel(token)) !== false) taken++;
          for (const token of assignments) if ((await this.intake(token)) !== false) taken++;
          if (taken > 0) refusedAll.reset();
          else if (assignments.length + cancellations.length > 0) await refusedAll.wait();
        } catch (e) {
          this.fail('poll', e);
          await backoff.wait();
        }
      }
    };
    this.loops = [register(), heartbeat(), poll(), this.flushLoop(() => this.running)];
  }

  private async flushLoop(keepGoing: () => boolean): Promise<void> {
    const backoff = new Backoff(this.o.backoff);
    const path = `/v1/runners/${encodeURIComponent(this.o.runner)}/events`;
    while (keepGoing() || this.queue.length > 0) {
      if (this.queue.length === 0) {
        await sleep(100);
        continue;
      }
      const batch = this.queue.slice(0, this.o.eventBatch);
      try {
        const res = await this.call('events', 'POST', path, { events: batch });
        const acked = await readEventsAnswer(res);
        const queued = this.queue.length;
        for (let i = this.queue.length - 1; i >= 0; i--)
          if (acked.has((this.queue[i] as ControlPlaneEvent).id)) this.queue.splice(i, 1);
        // An answer that acknowledges none of them is no progress: retried with backoff, as a failed
        // call (posting the same batch again at once would loop as fast as the control plane answers).
        if (this.queue.length === queued)
          throw new Error(`the control plane acknowledged none of the ${batch.length} events sent`);
        backoff.reset();
      } catch (e) {
        this.fail('events', e);
        if (!keepGoing() && this.stopDeadline !== undefined && Date.now() > this.stopDeadline) return;
        await backoff.wait();
      }
    }
  }

  private stopDeadline: number | undefined;

  /** Stops polling; keeps delivering queued events for up to `flushMs`. Returns how many were left. */
  async stop(flushMs: number): Promise<number> {
    this.stopDeadline = Date.now() + flushMs;
    this.running = false;
    await Promise.race([Promise.allSettled(this.loops), sleep(flushMs + 1000)]);
    return this.queue.length;
  }
}

/** Waits until EMPTY_POLL_INTERVAL_MS have passed since `started` (a Date.now() value). */
const emptyPollPause = (started: number): Promise<unknown> =>
  sleep(Math.max(0, EMPTY_POLL_INTERVAL_MS - (Date.now() - started)));

/** Maps an audit record to the control-plane event it implies (undefined: nothing to tell). */
export function eventOf(
  record: {
    decision_id: string;
    stage: string;
    outcome: string;
    code?: string | undefined;
    workflow?: { id: string; runId: string } | undefined;
    step?: string | undefined;
    pod?: { exitCode?: number; reason?: string } | undefined;
    timestamp: string;
  },
  runner: string,
): ControlPlaneEvent | undefined {
  if (record.workflow === undefined) return undefined;
  const base = {
    id: record.decision_id,
    runner,
    workflow: record.workflow.id,
    runId: record.workflow.runId,
    step: record.step,
    time: record.timestamp,
    code: record.code,
  };
  if (record.stage === 'claim') return { ...base, phase: record.outcome === 'allow' ? 'Accepted' : 'Rejected' };
  if (record.stage === 'validate' && record.outcome !== 'allow') return { ...base, phase: 'Rejected' };
  if (record.stage === 'evaluate' && record.outcome === 'deny') return { ...base, phase: 'Denied' };
  if (record.stage === 'create' && record.outcome === 'allow')
    return record.step === undefined ? undefined : { ...base, phase: 'Running' };
  if (record.stage === 'finish')
    return { ...base, phase: finishPhase(record), exitCode: record.pod?.exitCode, reason: record.pod?.reason };
  if (record.stage === 'cancel') return undefined;
  // A step that waits at create (src/errors/waits.ts) has not ended: its Running event comes later.
  if (isWaitRecord(record)) return undefined;
  if (record.outcome === 'error') return { ...base, phase: 'Error' };
  return undefined;
}

/** The event phase of a step's `finish` record. */
function finishPhase(record: { outcome: string; code?: string | undefined }): ControlPlaneEvent['phase'] {
  if (record.code === 'STEP_CONDITION_FALSE') return 'Skipped';
  if (record.outcome === 'success') return 'Succeeded';
  if (record.code === 'STEP_CANCELLED') return 'Cancelled';
  if (record.code === 'STEP_ATTEMPT_FAILED') return 'Retrying';
  return record.outcome === 'failure' ? 'Failed' : 'Error';
}
