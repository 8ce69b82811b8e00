/**
 * Class (lead's full peers run, 2026-11-30): "a row's failure kills the whole bench instead of being
 * reported" — one Argo Workflow not Succeeded within 120 s ended the process, no table printed, and
 * an abandoned round could go on submitting into the next row's window. Variants pinned here:
 *   - a failing job in the closed loop stops every worker from issuing more, and closedLoop throws
 *     only after every in-flight job ended (nothing of the round runs on);
 *   - waiting for many outcomes: every promise settles before the first rejection is thrown, so no
 *     timer-based rejection is left pending or unobserved;
 *   - a rejection or exception nobody handled (the reported crash's shape) runs every registered
 *     cleanup (rows, control plane) before the process exits 1 — checked in a real child process;
 *   - a failed row is a table line naming its cause, not a missing table.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { allSettledOrThrow, closedLoop } from '../../bench/peers/round.ts';
import { peersTables } from '../../bench/peers/report.ts';
import { peersResult } from '../support/peers-result.ts';

test('closedLoop: the first failure stops new jobs, in-flight ones finish, then it throws that failure', async () => {
  const started: number[] = [];
  let running = 0;
  let maxAfterFailure = 0;
  let failedAt: number | undefined;
  await assert.rejects(
    closedLoop(100, 4, 60, async (i) => {
      started.push(i);
      running++;
      try {
        await sleep(5);
        if (i === 10) {
          failedAt = started.length;
          throw new Error('step 10 broke');
        }
      } finally {
        running--;
        if (failedAt !== undefined) maxAfterFailure = Math.max(maxAfterFailure, running);
      }
    }),
    /step 10 broke/,
  );
  assert.equal(running, 0, 'every in-flight job ended before closedLoop threw');
  assert.ok(
    failedAt !== undefined && started.length <= failedAt + 4,
    `no new job after the failure (${started.length})`,
  );
});

test('closedLoop: all jobs done when none fails', async () => {
  const r = await closedLoop(20, 3, 60, () => sleep(1));
  assert.equal(r.done, 20);
});

test('allSettledOrThrow waits for every promise, then throws the first rejection', async () => {
  let lateSettled = false;
  const late = sleep(30).then(() => {
    lateSettled = true;
    throw new Error('late');
  });
  await assert.rejects(allSettledOrThrow([Promise.reject(new Error('first')), late, Promise.resolve(1)]), /first/);
  assert.equal(lateSettled, true);
  assert.deepEqual(await allSettledOrThrow([Promise.resolve(1), Promise.resolve(2)]), [1, 2]);
});

/**
 * Runs `body` in a child process with the fatal guard and two cleanups installed. The script lives
 * in a temp dir of its own, removed in every case (red team 5, finding 12: one was left per case);
 * `dir` is returned so the test can check that.
 */
const child = async (body: string): Promise<{ status: number | null; stderr: string; dir: string }> => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-fatal-'));
  try {
    const fatal = resolve('bench/fatal.ts');
    const file = join(dir, 'child.ts');
    await writeFile(
      file,
      `import { installFatalGuard, onFatalCleanup } from ${JSON.stringify(fatal)};\n` +
        `installFatalGuard((s) => console.error(s), 'peers');\n` +
        `onFatalCleanup(async () => { await new Promise((r) => setTimeout(r, 50)); console.error('CLEANUP rows'); });\n` +
        `onFatalCleanup(async () => { throw new Error('stop failed'); });\n` +
        body,
    );
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stderr: r.stderr, dir };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

// The reported crash: a timer's reject with nobody awaiting it, and its uncaught-exception sibling.
for (const [what, body] of [
  [
    'unhandled rejection',
    `new Promise((_, reject) => setTimeout(() => reject(new Error('argo: workflow w not Succeeded after 120000 ms')), 10));\nsetTimeout(() => undefined, 5000);\n`,
  ],
  [
    'uncaught exception',
    `setTimeout(() => { throw new Error('boom in a timer'); }, 10);\nsetTimeout(() => undefined, 5000);\n`,
  ],
] as const)
  test(`an ${what} runs every cleanup (a failing one too) before exiting 1`, async () => {
    const { status, stderr, dir } = await child(body);
    assert.equal(existsSync(dir), false, 'its temp dir is removed');
    assert.equal(status, 1, stderr);
    assert.match(stderr, new RegExp(`peers: ${what}`));
    assert.match(stderr, /cleanup failed: Error: stop failed/);
    assert.match(stderr, /CLEANUP rows/);
    assert.ok(stderr.indexOf('CLEANUP rows') > stderr.indexOf(`peers: ${what}`));
  });

test('a failed row is a table line with its cause; the other rows keep theirs', () => {
  const p = peersResult([
    {
      slug: 'argo-tuned',
      name: 'argo v4.0.5 (tuned)',
      lacks: [],
      rounds: [],
      failed: 'round 1: argo: workflow w | x not Succeeded',
    },
  ]);
  const line = peersTables(p).find((l) => l.startsWith('| argo v4.0.5 (tuned)'));
  assert.ok(line?.includes('FAILED in round 1: argo: workflow w \\| x not Succeeded'), line);
});
