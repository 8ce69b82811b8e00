/**
 * test/support/child-end.ts, the one wait every test that spawns a process and reads its output
 * uses: it resolves once the output is read to its end ('close'), not at 'exit' (which can come
 * first: a test saw exit 2 with an empty stderr, d464fad). Real processes, each row a way to end.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { childEnd } from '../support/child-end.ts';

interface Row {
  readonly name: string;
  /** The child's script (node -e). */
  readonly script: string;
  readonly options?: Parameters<typeof childEnd>[1];
  readonly code: number | null;
  readonly signal?: NodeJS.Signals;
  readonly killed?: boolean;
  /** Bytes of stderr read by the time the wait ends. */
  readonly stderrBytes: number;
  /** The wait ends within this many ms. */
  readonly withinMs: number;
}

const MiB = 1024 * 1024;
const ROWS: Row[] = [
  {
    name: 'exit 2 right after writing 4 MiB to stderr: every byte is read',
    script: `process.stderr.write(Buffer.alloc(${4 * MiB}, 120), () => process.exit(2))`,
    code: 2,
    stderrBytes: 4 * MiB,
    withinMs: 10_000,
  },
  {
    name: 'exit 0 after a short line on stderr',
    script: `process.stderr.write('CODE: message\\n')`,
    code: 0,
    stderrBytes: 14,
    withinMs: 10_000,
  },
  {
    name: 'a grandchild keeps stderr open: the wait ends graceMs after the exit',
    script: `require('node:child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)'], { stdio: 'inherit' }).unref(); process.exit(3)`,
    options: { graceMs: 300 },
    code: 3,
    stderrBytes: 0,
    withinMs: 5000,
  },
  {
    name: 'a child that outlives killAfterMs is killed and reported killed',
    script: `setTimeout(() => {}, 60_000)`,
    options: { killAfterMs: 300 },
    code: null,
    signal: 'SIGKILL',
    killed: true,
    stderrBytes: 0,
    withinMs: 5000,
  },
];

test('childEnd resolves with the code once the output is read to its end', async () => {
  const wrong: string[] = [];
  for (const row of ROWS) {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['-e', row.script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderrBytes = 0;
    child.stderr.on('data', (d: Buffer) => (stderrBytes += d.byteLength));
    const end = await childEnd(child, row.options);
    const ms = Date.now() - t0;
    const got = { code: end.code, signal: end.signal, killed: end.killed, stderrBytes };
    const want = {
      code: row.code,
      signal: row.signal ?? null,
      killed: row.killed ?? false,
      stderrBytes: row.stderrBytes,
    };
    try {
      assert.deepEqual(got, want);
      assert.ok(ms < row.withinMs, `${ms} ms`);
    } catch (e) {
      wrong.push(`${row.name}: ${(e as Error).message.slice(0, 300)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('onKill runs before the SIGKILL (to release what the child waits on)', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  let aliveAtOnKill: boolean | undefined;
  const end = await childEnd(child, { killAfterMs: 200, onKill: () => (aliveAtOnKill = child.exitCode === null) });
  assert.equal(aliveAtOnKill, true);
  assert.equal(end.killed, true);
});

test('a child already ended and drained resolves at once', async () => {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await childEnd(child);
  const again = await childEnd(child);
  assert.deepEqual(again, { code: 0, signal: null, killed: false });
});
