import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { submitError, WorkflowTerminal, type WorkflowObj } from '../../bench/peers/argo/outcome.ts';

/**
 * Issue 20 §1, how the Argo rows read outcomes. Classes:
 *  - refusal: only an admission answer (403, 422) says "denied" (the parity check's signal); every
 *    other failure — 5xx, 409, 404, no status code at all — keeps its own message, so a broken
 *    submission never counts as a policy decision (fail closed in the parity check);
 *  - terminal record: Succeeded seen before or after the wait resolves with the first time seen;
 *    later events do not move it; Failed/Error reject at once; DELETED (reset) never records, so a
 *    Workflow of an earlier round cannot re-enter after clear(); an absent one times out.
 */

const status = (message: string): string => JSON.stringify({ kind: 'Status', message });
const wf = (name: string, phase?: string, message?: string): WorkflowObj => ({
  metadata: { name },
  ...(phase !== undefined && { status: { phase, ...(message !== undefined && { message }) } }),
});

describe('argo submit errors', () => {
  for (const code of [403, 422])
    test(`${code} from admission reads as denied, with the API server's reason`, () => {
      const e = submitError('w', { code, body: status('ValidatingAdmissionPolicy x denied request: bad image') });
      assert.match(e.message, /denied/);
      assert.match(e.message, /bad image/);
    });
  for (const code of [500, 503, 409, 404, 429, undefined])
    test(`${String(code)} is not a denial`, () => {
      const original = Object.assign(new Error('boom'), { code, body: status('etcdserver: request timed out') });
      const e = submitError('w', original);
      assert.equal(e, original);
      assert.doesNotMatch(e.message, /denied/);
    });
  test('a non-Error rejection becomes an Error without "denied"', () => {
    assert.doesNotMatch(submitError('w', 'socket hang up').message, /denied/);
  });
});

describe('argo terminal record', () => {
  test('Succeeded seen before the wait: resolves with the first time seen', async () => {
    const t = new WorkflowTerminal(1000);
    t.onEvent('MODIFIED', wf('a', 'Running'));
    const before = Date.now();
    t.onEvent('MODIFIED', wf('a', 'Succeeded'));
    const first = await t.at('a');
    assert.ok(first >= before);
    await new Promise((r) => setTimeout(r, 5));
    t.onEvent('MODIFIED', wf('a', 'Succeeded'));
    assert.equal(await t.at('a'), first);
  });
  test('Succeeded seen after the wait began resolves the waiter', async () => {
    const t = new WorkflowTerminal(1000);
    const p = t.at('b');
    t.onEvent('ADDED', wf('b'));
    t.onEvent('MODIFIED', wf('b', 'Succeeded'));
    assert.ok((await p) > 0);
  });
  for (const phase of ['Failed', 'Error'])
    test(`${phase} rejects at once with Argo's message`, async () => {
      const t = new WorkflowTerminal(60_000);
      const p = t.at('c');
      t.onEvent('MODIFIED', wf('c', phase, 'pods "c" is forbidden'));
      await assert.rejects(p, /ended .*forbidden/);
      await assert.rejects(t.at('c'), /ended/);
    });
  test('DELETED never records, and clear() forgets earlier rounds', async () => {
    const t = new WorkflowTerminal(50);
    t.onEvent('MODIFIED', wf('d', 'Succeeded'));
    t.clear();
    t.onEvent('DELETED', wf('d', 'Succeeded'));
    await assert.rejects(t.at('d'), /not Succeeded after 50 ms/);
  });
});
