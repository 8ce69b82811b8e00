/**
 * Fresh reads shared by the callers that wait at the same time (issue 20, h-steps-6: the API
 * server's CPU per step). A caller is answered only by a read that STARTED AFTER its call: the first
 * caller starts one at once; a caller that comes while a read is in flight never joins it (it began
 * before the caller asked, so it may miss a change made just before), but waits for the next one,
 * which starts as soon as the one in flight has ended and answers every caller that came meanwhile.
 * So no answer is older than its question, and while reads overlap (the reconciler's passes start
 * steps on several workers at once) one read serves many callers instead of one each.
 */
export class FreshReads<T> {
  private readonly read: () => Promise<T>;
  /** The read in flight (undefined when none). */
  private running: Promise<T> | undefined;
  /** The read that starts once `running` has ended, shared by every caller that came after `running` started. */
  private queued: Promise<T> | undefined;

  /** `read`: one read, started by each call; it may reject (every caller it answers then rejects alike). */
  constructor(read: () => Promise<T>) {
    this.read = read;
  }

  /** The answer of a read that starts after this call (see the class comment); rejects as that read does. */
  fresh(): Promise<T> {
    const running = this.running;
    if (running === undefined) return this.start();
    this.queued ??= running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  private startQueued(): Promise<T> {
    this.queued = undefined;
    return this.start();
  }

  private start(): Promise<T> {
    // A read that throws synchronously is a rejection like any other.
    const p = Promise.resolve().then(this.read);
    this.running = p;
    const clear = (): void => {
      if (this.running === p) this.running = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}
