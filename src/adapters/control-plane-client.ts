/**
 * The control-plane client with its register and heartbeat loops and its event queue; the poll
 * loop (control-plane-poll.ts), the events loop (control-plane-delivery.ts) and their pacing
 * (control-plane-pacing.ts) are modules of their own.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { discardBody } from './bounded-body.ts';
import { controlPlaneCall, type ControlPlaneCall } from './control-plane-call.ts';
import { deliverEvents } from './control-plane-delivery.ts';
import type { ControlPlaneEvent } from './control-plane-event.ts';
import { Backoff, type BackoffBounds } from './control-plane-pacing.ts';
import { pollLoop, type Cancel, type Intake } from './control-plane-poll.ts';

/** The client's settings; times in ms unless the name says seconds. */
export interface ControlPlaneClientOptions {
  /** The control plane's base URL. */
  readonly url: string;
  readonly runner: string;
  readonly token: string;
  readonly version: string;
  readonly capabilities: Readonly<Record<string, unknown>>;
  readonly pollWaitSeconds: number;
  readonly heartbeatMs: number;
  readonly backoff: BackoffBounds;
  readonly requestTimeoutMs: number;
  readonly eventBatch: number;
  readonly eventQueueMax: number;
  /** `controlPlane.maxTokenBytes`: bounds what a poll answer may hold (pollAnswerMaxBytes). */
  readonly maxTokenBytes: number;
  readonly onError?: (operation: string, message: string) => void;
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
  private readonly call: ControlPlaneCall;
  private running = false;
  private loops: Promise<unknown>[] = [];
  private registeredOnce = false;
  private stopDeadline: number | undefined;

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
    this.call = controlPlaneCall(options);
  }

  /** Whether a register call has succeeded. */
  get registered(): boolean {
    return this.registeredOnce;
  }

  /** Events queued and not yet acknowledged. */
  get pendingEvents(): number {
    return this.queue.length;
  }

  /** Queues an event; false (and nothing queued) when the queue is full. */
  enqueue(event: ControlPlaneEvent): boolean {
    if (this.queue.length >= this.o.eventQueueMax) return false;
    this.queue.push(event);
    return true;
  }

  /** Whether the queue has room for another event (the client polls only while it has). */
  hasRoom(): boolean {
    return this.queue.length < this.o.eventQueueMax;
  }

  private fail(operation: string, e: unknown): void {
    this.o.onError?.(operation, e instanceof Error ? e.message : String(e));
  }

  /** Starts the register, heartbeat, poll and events loops; a call while they run does nothing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const base = `/v1/runners/${encodeURIComponent(this.o.runner)}`;
    const fail = (operation: string, e: unknown): void => this.fail(operation, e);
    this.loops = [
      this.register(`${base}/register`),
      this.heartbeat(`${base}/heartbeat`),
      pollLoop({
        path: `${base}/assignments?wait=${this.o.pollWaitSeconds}`,
        waitSeconds: this.o.pollWaitSeconds,
        maxTokenBytes: this.o.maxTokenBytes,
        backoff: this.o.backoff,
        call: this.call,
        intake: this.intake,
        cancel: this.cancel,
        fail,
        running: () => this.running,
        ready: () => this.registeredOnce && this.canAccept() && this.hasRoom(),
      }),
      deliverEvents({
        path: `${base}/events`,
        queue: this.queue,
        batch: this.o.eventBatch,
        backoff: this.o.backoff,
        call: this.call,
        fail,
        keepGoing: () => this.running,
        stopDeadline: () => this.stopDeadline,
      }),
    ];
  }

  /** Registers, retrying with backoff until it succeeds or the client stops. */
  private async register(path: string): Promise<void> {
    const backoff = new Backoff(this.o.backoff);
    while (this.running && !this.registeredOnce) {
      try {
        const res = await this.call('register', 'POST', path, {
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
  }

  /** Every heartbeatMs once registered, until the client stops; a failed one is reported, not retried. */
  private async heartbeat(path: string): Promise<void> {
    while (this.running) {
      await sleep(this.o.heartbeatMs);
      if (!this.registeredOnce || !this.running) continue;
      await this.call('heartbeat', 'POST', path, { pendingEvents: this.queue.length })
        .then(discardBody)
        .catch((e: unknown) => this.fail('heartbeat', e));
    }
  }

  /** Stops polling; keeps delivering queued events for up to `flushMs`. Returns how many were left. */
  async stop(flushMs: number): Promise<number> {
    this.stopDeadline = performance.now() + flushMs;
    this.running = false;
    await Promise.race([Promise.allSettled(this.loops), sleep(flushMs + 1000)]);
    return this.queue.length;
  }
}
