/**
 * `policy replay` reads the audit log through the verifier (issue 13 §3): on a broken log it
 * replays only the decisions before the break, states the break and exits 1. Variants: a
 * re-spelled record (duplicate member), and a record rewritten and re-hashed (prev link).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { chainLine } from '../../src/audit/chain.ts';
import type { AuditRecord } from '../../src/audit/record.ts';

const run = promisify(execFile);
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);

let work: string;
let bundle: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-replay-'));
  bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'))).file;
  const log = await FileAuditLog.open(join(work, 'audit'));
  for (let i = 1; i <= 12; i++) {
    await log.append({
      decision_id: `d-${i}`,
      timestamp: '2026-06-01T12:00:00.000Z',
      stage: 'evaluate',
      outcome: i % 2 === 0 ? 'deny' : 'allow',
      message: 'm',
      runner: 'r',
      labels: { runner: 'r' },
      workflow: { id: `wf-${i}`, runId: `run-${i}` },
      step: 'one',
      input: { step: { name: 'one', image: 'python:3.11' } },
      result: { allow: i % 2 !== 0, violations: [] },
    });
  }
  await log.close();
});
after(async () => rm(work, { recursive: true, force: true }));

const replay = () =>
  run(
    process.execPath,
    [
      join(REPO_ROOT, 'bin', 'kubiya-runner.js'),
      'policy',
      'replay',
      '--audit',
      join(work, 'audit'),
      '--bundle',
      bundle,
      '--output',
      'json',
    ],
    { timeout: 120_000 },
  ).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

test('policy replay on an intact log replays every decision and exits 0', async () => {
  const out = await replay();
  assert.equal(out.code, 0, out.stderr);
  const report = JSON.parse(out.stdout) as { replayed: number; audit: { intact: boolean } };
  assert.equal(report.replayed, 12);
  assert.equal(report.audit.intact, true);
});

for (const [name, tamper] of [
  ['a duplicated member', (l: string) => `{"outcome":"allow",${l.slice(1)}`],
  [
    'a record rewritten and re-hashed',
    (l: string) => {
      const { seq, prev, hash: _h, ...rest } = JSON.parse(l) as AuditRecord;
      return chainLine({ ...rest, outcome: 'allow' }, seq, prev).line;
    },
  ],
] as const) {
  test(`policy replay on a log broken at seq 6 (${name}) replays only seq 1..5, states the break and exits 1`, async () => {
    const seg = join(work, 'audit', segmentName(1));
    const original = await readFile(seg, 'utf8');
    const lines = original.slice(0, -1).split('\n');
    lines[5] = tamper(lines[5] as string);
    await writeFile(seg, lines.join('\n') + '\n');
    try {
      const out = await replay();
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /AUDIT_TAMPERED: .*BROKEN at seq 6/);
      const report = JSON.parse(out.stdout) as {
        replayed: number;
        audit: { intact: boolean; firstBad: { seq: number } };
      };
      assert.equal(report.audit.intact, false);
      assert.equal(report.audit.firstBad.seq, 6);
      assert.equal(report.replayed, 5, 'nothing from the break on is replayed');
    } finally {
      await writeFile(seg, original);
    }
  });
}
