/**
 * The control-plane client's events loop (docs/control-plane.md, `POST /v1/runners/{name}/events`):
 * posts the queued events in batches and removes each one the control plane acknowledges.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlaneCall } from './control-plane-call.ts';
import { readEventsAnswer } from './control-plane-answers.ts';
import type { ControlPlaneEvent } from './control-plane-event.ts';
import { Backoff, type BackoffBounds } from './control-plane-pacing.ts';

/** What the events loop reads and calls. */
export interface EventDelivery {
  /** The events path below the control plane's base URL. */
  readonly path: string;
  /** The queue, oldest first: each acknowledged event is removed from it in place. */
  readonly queue: ControlPlaneEvent[];
  /** The most events one post carries (the oldest ones). */
  readonly batch: number;
  readonly backoff: BackoffBounds;
  readonly call: ControlPlaneCall;
  /** Reports a failed post (`operation` is 'events'), before the backoff's wait. */
  readonly fail: (operation: string, e: unknown) => void;
  /** False once the client stops: the loop then ends when the queue is empty, or at `stopDeadline`. */
  readonly keepGoing: () => boolean;
  /** A performance.now() value past which, once stopped, a failed post is not retried; undefined until the client stops. */
  readonly stopDeadline: () => number | undefined;
}

/**
 * Posts events while `keepGoing()` or any are queued (looking again every 100 ms while none are).
 * A failed post, and an answer that acknowledges none of the batch, are reported and retried with
 * backoff; once stopped, not after `stopDeadline()`.
 */
export async function deliverEvents(d: EventDelivery): Promise<void> {
  const backoff = new Backoff(d.backoff);
  const { queue } = d;
  while (d.keepGoing() || queue.length > 0) {
    if (queue.length === 0) {
      await sleep(100);
      continue;
    }
    const batch = queue.slice(0, d.batch);
    try {
      const res = await d.call('events', 'POST', d.path, { events: batch });
      const acked = await readEventsAnswer(res);
      const queued = queue.length;
      for (let i = queue.length - 1; i >= 0; i--) if (acked.has((queue[i] as ControlPlaneEvent).id)) queue.splice(i, 1);
      // An answer that acknowledges none of them is no progress: retried with backoff, as a failed
      // call (posting the same batch again at once would loop as fast as the control plane answers).
      if (queue.length === queued)
        throw new Error(`the control plane acknowledged none of the ${batch.length} events sent`);
      backoff.reset();
    } catch (e) {
      d.fail('events', e);
      const deadline = d.stopDeadline();
      if (!d.keepGoing() && deadline !== undefined && performance.now() > deadline) return;
      await backoff.wait();
    }
  }
}
