/**
 * The wait's cadence (a sibling of red team 12, finding 3): a run that waits — its pass's
 * precondition refused (the PodSecurity gate, or the runner's DNS policy unconfirmed), or its
 * step's create refused by the gate — is looked at again in 5 s. A retried step whose backoff is
 * over but could not start (`retryAt` in the past) made it 50 ms: the pass counted the due retry
 * as "now", so a waiting run was passed 20 times a second (each pass a GET of the DNS policy when
 * that is what refused). Variants: each refusal, with a due retry, a retry not due yet, and none.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { admitted, pass, setup, type Gate } from '../support/gate-pass.ts';

type Refusal = 'gate not enforced' | 'gate unknown' | 'DNS policy unconfirmed' | 'gate at create';
const REFUSALS: readonly Refusal[] = ['gate not enforced', 'gate unknown', 'DNS policy unconfirmed', 'gate at create'];
const ANSWERS: Record<Refusal, readonly Gate[]> = {
  'gate not enforced': ['not-enforced'],
  'gate unknown': ['unknown'],
  'DNS policy unconfirmed': [],
  'gate at create': ['open', 'unknown'],
};

describe('a waiting run is looked at again in 5 s, whatever its steps wait for', () => {
  for (const refusal of REFUSALS)
    for (const [retry, advance, expected] of [
      ['a retry due', 6, 5000],
      ['a retry not due yet (2 s left)', 3, 2050],
    ] as const)
      test(`${refusal}, ${retry}: requeued in ${expected} ms`, async () => {
        const { clock, deps, cluster, answer } = setup([], new Set(), new Set(['flaky']));
        const name = await admitted(deps, [{ name: 'flaky', image: 'x:1', retries: { limit: 1, backoff: '5s' } }]);
        await pass(deps, name); // attempt 1 created
        const failed = await pass(deps, name); // attempt 1 failed: attempt 2 in 5 s
        assert.equal(failed.status?.steps[0]?.attempt, 2);
        clock.advance(advance);
        answer(...ANSWERS[refusal]);
        if (refusal === 'DNS policy unconfirmed') cluster.dnsRefusal = 'API server unreachable (test)';
        const waiting = await pass(deps, name);
        assert.equal(waiting.status?.steps[0]?.phase, 'Pending');
        // Not due yet: the step is not ready, nothing is asked, the backoff decides.
        assert.equal(waiting.requeue, expected);
        assert.equal(cluster.created.length, 1, 'attempt 2 not created while it waits');
      });
  test('nothing waits: a run with a running step is looked at by its deadlines, not every 5 s', async () => {
    const { deps, cluster } = setup([]);
    cluster.outcomeFor = () => undefined;
    const name = await admitted(deps, [{ name: 'long', image: 'x:1' }]);
    const started = await pass(deps, name);
    assert.equal(started.status?.steps[0]?.phase, 'Running');
    assert.ok((started.requeue ?? 0) > 5000, String(started.requeue));
  });
});
