/**
 * The reader of the CLI's output goes away (`audit query | head`, a closed terminal): the command
 * must not crash with an unhandled EPIPE and a Node stack trace; its output stops, it finishes,
 * and it exits with its own code (the same as when its output is read to the end).
 *
 * Variants: which stream closes (stdout, stderr), which command (query as text and as JSON,
 * verify, `policy eval --output json`), and when (after the first chunk, before anything is read).
 * The log is large enough (over the 64 KiB pipe buffer) that writes go on after the close.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'kubiya-runner.js');
let root = '';
let dir = '';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-pipe-'));
  dir = join(root, 'audit');
  const log = await FileAuditLog.open(dir, {});
  for (let i = 0; i < 1500; i++)
    await log.append({
      decision_id: `d-${i}`,
      timestamp: new Date(Date.UTC(2026, 5, 1, 0, 0, i)).toISOString(),
      stage: 'evaluate',
      outcome: i % 3 === 0 ? 'deny' : 'allow',
      code: i % 3 === 0 ? 'POLICY_DENIED' : undefined,
      message: 'm'.repeat(80),
      runner: 'r',
      labels: { runner: 'r' },
      workflow: { id: `wf-${i}`, runId: `run-${i}` },
      step: 's',
    });
  await log.close();
});
after(async () => rm(root, { recursive: true, force: true }));

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** Runs the CLI; `close` says which of its output pipes the reader closes, and when. */
function run(argv: readonly string[], close: 'none' | 'stdout-after-first' | 'stdout-at-once' | 'stderr-at-once') {
  return new Promise<Outcome>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    if (close === 'stdout-at-once') child.stdout.destroy();
    else if (close === 'stdout-after-first') child.stdout.once('data', () => child.stdout.destroy());
    else child.stdout.resume();
    if (close === 'stderr-at-once') child.stderr.destroy();
    else child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

const commands: { name: string; argv: () => string[] }[] = [
  { name: 'audit query (text)', argv: () => ['audit', 'query', dir] },
  { name: 'audit query (json)', argv: () => ['audit', 'query', dir, '--output', 'json'] },
  { name: 'a failing verify', argv: () => ['audit', 'verify', dir, '--min-seq', '99999'] },
  { name: 'policy eval (json)', argv: () => ['policy', 'eval', 'examples/python-analyze.yaml', '--output', 'json'] },
];

test('a reader that goes away: no crash, no stack trace, the command exits with its own code', async () => {
  for (const c of commands) {
    const full = await run(c.argv(), 'none');
    assert.equal(full.signal, null, c.name);
    // Every close on the first command; the first chunk read on the others (each run is a Node start).
    const closes =
      c === commands[0]
        ? (['stdout-after-first', 'stdout-at-once', 'stderr-at-once'] as const)
        : (['stdout-after-first'] as const);
    for (const close of closes) {
      const r = await run(c.argv(), close);
      assert.equal(r.signal, null, `${c.name}, ${close}`);
      assert.equal(r.code, full.code, `${c.name}, ${close}: exit ${r.code}, read to the end ${full.code}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|node:events|at .*\.ts:\d+/, `${c.name}, ${close}`);
    }
  }
});
