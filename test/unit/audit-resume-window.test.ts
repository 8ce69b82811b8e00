// Resuming an audit log reads a bounded window from the end of its files, and verifying it reads
// its checkpoints a bounded line at a time. The class: what the
// appender reads at start grows with a file it does not bound — the last segment (repairTail read
// it whole: a tampered segment with 3 GiB of zeros after its records ended start-up with
// ERR_FS_FILE_TOO_LARGE, one with 1 GiB was read into memory and then cut, deleting 1 GiB the
// runner did not write) and the checkpoints file (one line per checkpoint for the log's life, read
// whole for its last line). Now the segment's last TAIL_WINDOW_BYTES (two records' worth) and the
// checkpoints file's last 64 KiB are read; a tail with no whole record in the window is refused,
// cut by nothing. Crash tears (one torn record at most) are repaired as before.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog, repairTail } from '../../src/adapters/audit-file.ts';
import {
  CHECKPOINTS_FILE,
  checkAuditDir,
  readAuditLog,
  readCheckpoints,
  segmentName,
} from '../../src/adapters/audit-files.ts';
import { signCheckpoint } from '../../src/audit/checkpoint.ts';
import { keyId } from '../../src/audit/keys.ts';
import { resumeLog } from '../../src/adapters/audit-log-files.ts';
import { TAIL_WINDOW_BYTES } from '../../src/adapters/audit-tail.ts';
import { MAX_RECORD_BYTES } from '../../src/audit/limits.ts';
import { auditEntry } from '../support/audit-entries.ts';

/** The checkpoint signer: resumeLog reads checkpoints.jsonl only with one (red team 17, finding 8). */
const SIGNER = (() => {
  const key = generateKeyPairSync('ed25519').privateKey;
  return { key, kid: keyId(createPublicKey(key)) };
})();

let root = '';
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-resume-window-'));
});
after(async () => rm(root, { recursive: true, force: true }));

/** A directory with `count` records in segment 1; returns it and the segment's size. */
async function logOf(count: number): Promise<{ dir: string; file: string; size: number }> {
  const dir = join(root, `log-${++n}`);
  const log = await FileAuditLog.open(dir);
  for (let i = 0; i < count; i++) await log.append(auditEntry(i));
  await log.close();
  const file = join(dir, segmentName(1));
  return { dir, file, size: (await stat(file)).size };
}

describe('repairTail reads two records of the end, whatever the segment', () => {
  const GiB = 1024 * 1024 * 1024;
  const refused: [name: string, grow: (file: string, size: number) => Promise<void>][] = [
    ['1 GiB of zeros after the records (sparse)', (file, size) => truncate(file, size + GiB)],
    [
      '3 GiB of zeros after the records (sparse; was ERR_FS_FILE_TOO_LARGE)',
      (file, size) => truncate(file, size + 3 * GiB),
    ],
    [
      'whole lines that are not records, more than the window',
      async (file) => {
        const line = `${'x'.repeat(1023)}\n`;
        await appendFile(file, line.repeat(Math.ceil(TAIL_WINDOW_BYTES / line.length) + 2));
      },
    ],
  ];
  for (const [name, grow] of refused)
    test(`${name}: refused, the segment left as it is, in well under a second`, async () => {
      const { dir, file, size } = await logOf(5);
      await grow(file, size);
      const grown = (await stat(file)).size;
      const t0 = process.hrtime.bigint();
      const before = process.memoryUsage().rss;
      await assert.rejects(repairTail(file), /no whole record in its last \d+ bytes/);
      await assert.rejects(FileAuditLog.open(dir), /no whole record in its last/);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal((await stat(file)).size, grown, 'nothing cut');
      assert.ok(ms < 2000, `${ms} ms`);
      assert.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'read a window, not the segment');
    });

  const repaired: [name: string, tail: () => Buffer | string][] = [
    ['a torn record', () => '{"decision_id":"torn","times'],
    ['a torn record of the longest kind (8 MiB, no newline)', () => Buffer.alloc(MAX_RECORD_BYTES, 0x61)],
    ['a few zero blocks after a crash', () => Buffer.alloc(3 * 4096)],
    ['a garbled last line and a torn one', () => `not json\n{"seq":`],
  ];
  for (const [name, tail] of repaired)
    test(`${name}: cut, the chain continues after the last whole record`, async () => {
      const { dir, file, size } = await logOf(20);
      await appendFile(file, tail());
      const link = await repairTail(file);
      assert.equal(link.seq, 20);
      assert.equal(link.size, size);
      assert.equal((await stat(file)).size, size);
      const log = await FileAuditLog.open(dir);
      assert.equal((await log.append(auditEntry(21))).seq, 21);
      await log.close();
      assert.equal((await checkAuditDir(dir, undefined)).ok, true);
    });

  test('a segment longer than the window whose records end it is resumed at its last record', async () => {
    const dir = join(root, `log-${++n}`);
    const log = await FileAuditLog.open(dir);
    const big = 'y'.repeat(1024 * 1024);
    for (let i = 0; i < 40; i++) await log.append(auditEntry(i, { message: big }));
    await log.close();
    const file = join(dir, segmentName(1));
    assert.ok((await stat(file)).size > TAIL_WINDOW_BYTES);
    const link = await repairTail(file);
    assert.equal(link.seq, 40);
    assert.equal(link.size, (await stat(file)).size);
  });
});

describe("resuming reads the checkpoints file's last line only", () => {
  test('100,000 checkpoint lines: the last one is taken', async () => {
    const { dir } = await logOf(3);
    const head = (await readAuditLog(dir)).at(-1)?.hash ?? '';
    const last = signCheckpoint({ seq: 3, head, time: 't', kid: SIGNER.kid }, SIGNER.key);
    const lines = Array.from({ length: 99_999 }, (_, i) => JSON.stringify({ seq: i + 1, pad: 'p'.repeat(80) }));
    await writeFile(join(dir, CHECKPOINTS_FILE), `${[...lines, JSON.stringify(last)].join('\n')}\n`);
    const resumed = await resumeLog(dir, undefined, SIGNER);
    await resumed.file.close();
    assert.equal(resumed.checkpointed, 3);
  });

  test('a checkpoints file of 1 GiB with no newline is refused, not read', async () => {
    const { dir } = await logOf(3);
    const file = join(dir, CHECKPOINTS_FILE);
    await writeFile(file, '');
    await truncate(file, 1024 * 1024 * 1024);
    await assert.rejects(resumeLog(dir, undefined, SIGNER), /no line ends in its last 65536 bytes/);
  });

  test('no checkpoints file, or an empty one: none', async () => {
    const { dir } = await logOf(2);
    const first = await resumeLog(dir, undefined, SIGNER);
    await first.file.close();
    assert.equal(first.checkpointed, 0);
    await writeFile(join(dir, CHECKPOINTS_FILE), '');
    const second = await resumeLog(dir, undefined, SIGNER);
    await second.file.close();
    assert.equal(second.checkpointed, 0);
    assert.equal((await readFile(join(dir, CHECKPOINTS_FILE), 'utf8')).length, 0);
  });
});

// Red team 16, finding 6: `audit verify` read checkpoints.jsonl whole (a 300 MiB sparse file: 694 MB
// RSS). It is read in chunks, a line at most 64 KiB; a longer line is a non-checkpoint in its place.
describe('audit verify reads checkpoints.jsonl a bounded line at a time', () => {
  test('300 MiB of zeros with no newline: one non-checkpoint, memory bounded', async () => {
    const { dir } = await logOf(2);
    const file = join(dir, CHECKPOINTS_FILE);
    await writeFile(file, '');
    await truncate(file, 300 * 1024 * 1024);
    const before = process.memoryUsage().rss;
    const checkpoints = await readCheckpoints(dir);
    assert.deepEqual(checkpoints, [null]);
    assert.ok(process.memoryUsage().rss - before < 128 * 1024 * 1024, 'a line is not held past its bound');
  });

  test('lines in order: a checkpoint, an overlong line, a torn one, a checkpoint without its newline', async () => {
    const { dir } = await logOf(2);
    const cp = (seq: number) => JSON.stringify({ seq, head: 'h' });
    await writeFile(join(dir, CHECKPOINTS_FILE), `${cp(1)}\n${'x'.repeat(70_000)}\n{"seq":\n\n${cp(2)}`);
    const checkpoints = await readCheckpoints(dir);
    assert.deepEqual(
      checkpoints.map((c) => (c === null ? null : c.seq)),
      [1, null, null, 2],
    );
  });
});
