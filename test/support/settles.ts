import assert from 'node:assert/strict';

/**
 * How `p` settled, when it settles within `ms`; otherwise `onHung` runs (to unblock what hangs,
 * such as a reader stuck on a FIFO, so that the failing test ends) and the test fails naming `what`.
 */
export async function settlesWithin<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  onHung: () => void = () => undefined,
): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  const settled = p.then(
    (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
    (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
  );
  const first = await Promise.race([settled, timeout]);
  clearTimeout(timer);
  if (first === 'hung') {
    onHung();
    assert.fail(`${what} did not settle within ${ms} ms`);
  }
  return first;
}
