/**
 * audit.refusals in a real `serve` process (docs/adr/0008; red team 17, finding 6): the config keys
 * reach the intake, pushed refusals before verification are recorded within the budget and
 * counted exactly on /metrics, are not logged one by one beyond it; the window's summary is
 * written when it ends with no refusal after it (serve's timer), and SIGTERM writes the open
 * window's before the audit log closes — records + summaries = refusals, `audit verify` passes.
 * The API server is the loopback stand-in (test/support/api-stand-in.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readAuditLog } from '../../src/adapters/audit-files.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { apiStandIn, type ApiStandIn } from '../support/api-stand-in.ts';
import { runCli } from '../support/cli-run.ts';
import { startServe } from '../support/serve-process.ts';
import { waitFor } from '../support/wait.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);

const PER_CODE = 3;
const SENT = 40;
/** Sent in the second window (closed by SIGTERM). */
const THEN = 5;
const WINDOW_S = 10;

let work: string;
let api: ApiStandIn;

before(async () => {
  api = await apiStandIn();
  work = await mkdtemp(join(tmpdir(), 'kubiya-serve-refusals-'));
  await writeFile(join(work, 'kubeconfig'), api.kubeconfig);
  await writeFile(
    join(work, 'jwks.json'),
    JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
    }),
  );
});
after(async () => {
  api.close();
  await rm(work, { recursive: true, force: true });
});

test(`serve with audit.refusals ${PER_CODE} per ${WINDOW_S} s: ${SENT} bad tokens, then ${THEN} → ${2 * PER_CODE} records + 2 summaries (timer, SIGTERM), all counted`, async () => {
  const bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'))).file;
  const dir = join(work, 'audit');
  const s = await startServe(
    {
      runner: { name: 'r' },
      controlPlane: { issuer: 'x', jwksFile: join(work, 'jwks.json') },
      policy: { bundle },
      audit: { dir, refusals: { perCode: PER_CODE, window: WINDOW_S } },
      kubernetes: { kubeconfig: join(work, 'kubeconfig') },
      server: { port: 0, host: '127.0.0.1' },
    },
    work,
  );
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
    const verify = await runCli(['audit', 'verify', dir], { cwd: work, hungAfterMs: 60_000 });
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    if (!exited) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  }
});
