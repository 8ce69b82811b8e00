import { setTimeout as sleep } from 'node:timers/promises';

/** How long waitFor polls, and how often. */
export interface WaitOptions {
  /** Give up after this long (ms). Default 10 000. */
  readonly timeoutMs?: number;
  /** Pause between probes (ms). Default 50; use 200–250 for probes that cost a request or a process. */
  readonly intervalMs?: number;
}

/**
 * The one wait of the tests: calls `probe` (sync or async) every `intervalMs` until it returns a
 * value other than `undefined` or `false`, and resolves with that value and the time it took. A
 * probe that throws counts as "not yet" (an API server still starting); the last error is kept for
 * the message. After `timeoutMs` it rejects with an AssertionError-like Error naming `what` it
 * waited for, the timeout, and the last error, if any. `options` may be a number: the timeout.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | false | undefined | Promise<T | false | undefined>,
  options: WaitOptions | number = {},
): Promise<{ readonly value: T; readonly elapsedMs: number }> {
  const { timeoutMs = 10_000, intervalMs = 50 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const t0 = performance.now();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return { value, elapsedMs: performance.now() - t0 };
    } catch (e) {
      lastError = e;
    }
    if (performance.now() - t0 >= timeoutMs) break;
    await sleep(intervalMs);
  }
  const cause =
    lastError === undefined
      ? ''
      : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}
