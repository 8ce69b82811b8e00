/**
 * Fresh reads shared by the callers that wait at the same time (issue 20, h-steps-6: the API
 * server's CPU per step). A caller is answered only by a read that STARTED AFTER its call: the first
 * caller starts one (in a microtask, so the callers of the same tick share it); a caller that comes while a read is in flight never joins it (it began
 * before the caller asked, so it may miss a change made just before), but waits for the next one,
 * which starts as soon as the one in flight has ended and answers every caller that came meanwhile.
 * So no answer is older than its question, and while reads overlap (the reconciler's passes start
 * steps on several workers at once) one read serves many callers instead of one each.
 */
export class FreshReads<T> {
  /** One key (none) through FreshBatches: the same rule, one implementation. */
  private readonly batches: FreshBatches<null, T>;

  /** `read`: one read, started by each call; it may reject (every caller it answers then rejects alike). */
  constructor(read: () => Promise<T>) {
    this.batches = new FreshBatches<null, T>(() => read().then((value) => new Map([[null, value]])), 1);
  }

  /** The answer of a read that starts after this call (see the class comment); rejects as that read does. */
  fresh(): Promise<T> {
    return this.batches.fresh(null);
  }
}

/** One caller of FreshBatches waiting for its key's answer. */
interface Waiter<V> {
  readonly resolve: (value: V) => void;
  readonly reject: (reason: unknown) => void;
}

/**
 * Keyed fresh reads, batched (issue 20, h-steps-6: the run-id LIST of every admission): as
 * FreshReads, a caller is answered only by a read that STARTED AFTER its call; the keys asked while
 * a read is in flight wait, and the next read (started when that one ends) asks for all of them at
 * once (at most `maxKeys`; the rest wait for the read after). `read(keys)` must answer every key it
 * was given (a key missing from its answer rejects that key's callers); a rejected read rejects
 * every caller of its batch alike.
 */
export class FreshBatches<K, V> {
  private readonly read: (keys: readonly K[]) => Promise<ReadonlyMap<K, V>>;
  private readonly maxKeys: number;
  /** Callers by key, in the order the keys were first asked, not yet in any read. */
  private readonly waiting = new Map<K, Waiter<V>[]>();
  /** A read is in flight, or one is about to start (its microtask is queued). */
  private busy = false;

  /** `maxKeys` (≥ 1): keys per read at most. */
  constructor(read: (keys: readonly K[]) => Promise<ReadonlyMap<K, V>>, maxKeys: number) {
    this.read = read;
    this.maxKeys = Math.max(1, Math.floor(maxKeys));
  }

  /** The answer for `key` from a read that starts after this call; rejects as that read does. */
  fresh(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const list = this.waiting.get(key);
      if (list === undefined) this.waiting.set(key, [{ resolve, reject }]);
      else list.push({ resolve, reject });
      if (!this.busy) {
        this.busy = true;
        // Started in a microtask: callers of the same tick share the first read too (they all asked before it began).
        queueMicrotask(() => this.next());
      }
    });
  }

  /** Starts the next read for the keys waiting now (the first `maxKeys`), or goes idle when none wait. */
  private next(): void {
    const batch = new Map<K, Waiter<V>[]>();
    for (const [key, callers] of this.waiting) {
      if (batch.size === this.maxKeys) break;
      batch.set(key, callers);
    }
    if (batch.size === 0) {
      this.busy = false;
      return;
    }
    for (const key of batch.keys()) this.waiting.delete(key);
    const keys = [...batch.keys()];
    Promise.resolve()
      .then(() => this.read(keys))
      .then(
        (answers) => {
          for (const [key, callers] of batch) {
            const has = answers.has(key);
            const value = answers.get(key) as V;
            for (const c of callers) {
              if (has) c.resolve(value);
              else c.reject(new Error('the read gave no answer for a key it was asked'));
            }
          }
        },
        (e: unknown) => {
          for (const callers of batch.values()) for (const c of callers) c.reject(e);
        },
      )
      .finally(() => this.next());
  }
}
