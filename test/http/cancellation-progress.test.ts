/**
 * Red team 20, finding 3 (the class of red team 19, finding 3: an answer that moves nothing, asked
 * again at once): the same genuine cancellation delivered again in every poll answer (a control
 * plane that did not see the effect, a retrying proxy, a cached 200) was "progress" every time —
 * the client polled at once (792 polls in 2 s), each delivery a durable record and an API-server
 * PATCH, and replayed assignments beside it went unpaced too. A cancellation now counts as
 * progress only when it changed something: a run already cancelled or finished is recorded and
 * left as it is, and the poll waits with backoff. The real ControlPlaneClient and the real Intake
 * (wired as serve wires them) over the memory twins, against a loopback control plane.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { ControlPlaneClient } from '../../src/adapters/control-plane-client.ts';
import { Intake } from '../../src/app/intake.ts';
import { signCancellation } from '../../src/dev/sign.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { memoryAdmissionDeps } from '../support/admission-deps.ts';
import { loopback } from '../support/hostile-answers.ts';
import type { MemoryAudit } from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, sign } from '../support/tokens.ts';

const WINDOW_MS = 2000;

/** The run of jti-1 admitted, then `before` done to it; then WINDOW_MS of polls answered at once with `answer`. */
async function drive(
  before: 'nothing' | 'cancelled' | 'Succeeded' | 'Failed' | 'Cancelled',
  replays: number,
): Promise<{ polls: number; patches: number; cancels: number }> {
  const { key, deps, runs } = await memoryAdmissionDeps();
  const intake = new Intake(deps, { enqueue() {} } as never, { started: true } as never, {}, pino({ level: 'silent' }));
  const assignment = await sign(key); // jti-1
  assert.equal(await intake.pulled(assignment), true, 'the run is admitted');
  const run = runs.list()[0];
  assert.ok(run !== undefined);
  if (before === 'cancelled') await runs.requestCancel(run.name);
  else if (before !== 'nothing')
    await runs.writeStatus(run.name, { ...run.status, phase: before, steps: [] } as unknown as RunStatus);
  const cancellation = await signCancellation(key, { issuer: ISSUER, audience: RUNNER, run: 'jti-1', now: NOW });
  let patches = 0;
  const requestCancel = runs.requestCancel.bind(runs);
  runs.requestCancel = (name: string) => {
    patches++;
    return requestCancel(name);
  };
  const audit = deps.audit as unknown as MemoryAudit;
  const from = audit.records.length;
  let polls = 0;
  const body = JSON.stringify({ assignments: Array<string>(replays).fill(assignment), cancellations: [cancellation] });
  const cp = await loopback((req, res) => {
    if (req.url?.includes('/assignments')) polls++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(req.url?.includes('/assignments') ? body : '{}');
  });
  const client = new ControlPlaneClient(
    {
      url: cp.url,
      runner: 'rt20',
      token: 't',
      version: '0',
      capabilities: {},
      pollWaitSeconds: 20,
      heartbeatMs: 300,
      backoff: { initialMs: 100, maxMs: 400 },
      requestTimeoutMs: 1000,
      eventBatch: 100,
      eventQueueMax: 1000,
      maxTokenBytes: 64 * 1024,
    },
    (a) => intake.pulled(a),
    () => true,
    (c) => intake.pulledCancel(c),
  );
  try {
    client.start();
    await sleep(WINDOW_MS);
  } finally {
    await client.stop(0);
    await cp.close();
  }
  const cancels = audit.records.slice(from).filter((r) => r.stage === 'cancel').length;
  return { polls, patches, cancels };
}

/** What a backoff of 100 ms doubling to 400 ms allows in WINDOW_MS, with room for a loaded machine's start. */
const PACED = 30;

for (const replays of [0, 9])
  for (const [before, patches] of [
    ['nothing', 1], // the first delivery cancels (one PATCH), every later one changes nothing
    ['cancelled', 0],
    ['Succeeded', 0],
    ['Failed', 0],
    ['Cancelled', 0],
  ] as const)
    test(`the same cancellation in every answer${replays > 0 ? `, beside ${replays} replayed assignments` : ''}, the run ${before === 'nothing' ? 'live' : before === 'cancelled' ? 'already cancelled' : before}: paced, ${patches} PATCH`, async () => {
      const seen = await drive(before, replays);
      assert.ok(seen.polls >= 2, `${seen.polls} polls`);
      assert.ok(seen.polls <= PACED, `${seen.polls} polls in ${WINDOW_MS} ms: not paced`);
      assert.equal(seen.patches, patches, 'requestCancel (an API-server PATCH) only when it changes the run');
      assert.equal(seen.cancels, seen.polls, 'each delivery verified and recorded once');
    });
