/**
 * audit.refusals in a real `serve` process (docs/adr/0008; red team 17, finding 6): the config keys
 * reach the intake, pushed refusals before verification are recorded within the budget and
 * counted exactly on /metrics, are not logged one by one beyond it; the window's summary is
 * written when it ends with no refusal after it (serve's timer), and SIGTERM writes the open
 * window's before the audit log closes — records + summaries = refusals, `audit verify` passes.
 * The API server is the loopback stand-in (test/support/api-stand-in.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readAuditLog } from '../../src/adapters/audit-files.ts';
import { runCli } from '../support/cli-run.ts';
import { startServe } from '../support/serve-process.ts';
import { serveWork, type ServeWork } from '../support/serve-work.ts';
import { waitFor } from '../support/wait.ts';

const PER_CODE = 3;
const SENT = 40;
/** Sent in the second window (closed by SIGTERM). */
const THEN = 5;
const WINDOW_S = 10;

let w: ServeWork;

before(async () => {
  w = await serveWork('kubiya-serve-refusals-');
});
after(() => w.close());

test(`serve with audit.refusals ${PER_CODE} per ${WINDOW_S} s: ${SENT} bad tokens, then ${THEN} → ${2 * PER_CODE} records + 2 summaries (timer, SIGTERM), all counted`, async () => {
  const dir = join(w.dir, 'audit');
  const s = await startServe(w.config({ audit: { refusals: { perCode: PER_CODE, window: WINDOW_S } } }), w.dir);
  let exited = false;
  const refuse = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${s.base}/v1/assignments`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: 'abc.def.ghi',
      });
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { code: string }).code, 'VERIFY_MALFORMED');
    }
  };
  const summaries = async () => (await readAuditLog(dir)).filter((r) => r.code === 'AUDIT_REFUSALS_AGGREGATED');
  try {
    await refuse(SENT);
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    const counted = /^kubiya_decisions_total\{[^}]*code="VERIFY_MALFORMED"[^}]*\} (\d+)$/m.exec(metrics)?.[1];
    assert.equal(Number(counted), SENT, 'every refusal counted on /metrics');
    // No refusal after the window: serve's timer ends it and writes its summary.
    await waitFor('the first window summed by the timer', async () => (await summaries()).length === 1, {
      timeoutMs: 2 * WINDOW_S * 1000,
      intervalMs: 250,
    });
    assert.deepEqual(((await summaries())[0]!.result as { unrecorded: unknown }).unrecorded, {
      VERIFY_MALFORMED: SENT - PER_CODE,
    });
    await refuse(THEN);
    s.child.kill('SIGTERM');
    exited = true;
    assert.equal(await s.exited, 0, s.stderr());
    const records = (await readAuditLog(dir)).filter((r) => r.stage === 'verify');
    assert.equal(records.filter((r) => r.code === 'VERIFY_MALFORMED').length, 2 * PER_CODE);
    const summed = records.filter((r) => r.code === 'AUDIT_REFUSALS_AGGREGATED');
    assert.equal(summed.length, 2, 'the second window summed at shutdown');
    assert.deepEqual((summed[1]!.result as { unrecorded: unknown }).unrecorded, { VERIFY_MALFORMED: THEN - PER_CODE });
    const logged = s.lines.filter((l) => l.code === 'VERIFY_MALFORMED');
    assert.equal(logged.length, 2 * PER_CODE, 'beyond the budget, no log line per refusal');
    assert.equal(s.lines.filter((l) => l.code === 'AUDIT_REFUSALS_AGGREGATED').length, 2, 'each summary logged once');
    const verify = await runCli(['audit', 'verify', dir], { cwd: w.dir, hungAfterMs: 60_000 });
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    if (!exited) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }
});
