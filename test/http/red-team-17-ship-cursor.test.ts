// Red team 17, finding 7. The class: an off-site copy steered by a file on the volume it protects.
// The shipper read `ship-cursor.json` on every pass and shipped whatever followed its offset: one
// edited line (segment 99999999) stopped all shipping, with no error and no metric. Now the file is
// read once, at start, as a hint checked against the segments (the byte after a whole record of an
// existing segment, that record's seq); a cursor that does not check is reported (AUDIT_SHIP_FAILED
// via onError) and shipping starts again from seq 1 (at least once, never fewer). While running,
// the position is in memory, and a batch that does not continue the shipped seqs is reported and
// retried, never skipped. onShipped reports the last seq accepted (kubiya_audit_shipped_seq).
// Since red team 18 (finding 2, test/http/red-team-18-ship-cursor.test.ts) a cursor is believed only
// when the runner's key signed it: the rows here are signed with that key, so they reach the
// position check beneath the signature. Loopback only; every wait is bounded.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { AuditShipper, SHIP_CURSOR } from '../../src/adapters/audit-ship.ts';
import { GENESIS } from '../../src/audit/chain.ts';
import { signCursor } from '../../src/audit/ship-cursor.ts';
import { auditEntry } from '../support/audit-entries.ts';
import { newSigner } from '../support/audit-signer.ts';
import { startCollector, type Collector } from '../support/ship-collector.ts';
import { waitFor } from '../support/wait.ts';

let root = '';
let collector: Collector;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-rt17-ship-'));
  collector = await startCollector();
});
after(async () => {
  await collector.close();
  await rm(root, { recursive: true, force: true });
});

let n = 0;
async function logWith(count: number, segmentBytes = 64 * 1024): Promise<string> {
  const dir = join(root, `d${++n}`);
  const log = await FileAuditLog.open(dir, { segmentBytes });
  for (let i = 1; i <= count; i++) await log.append(auditEntry(i));
  await log.close();
  return dir;
}

const signer = newSigner();

function shipper(dir: string, errors: string[], shipped: number[] = []): AuditShipper {
  return new AuditShipper(dir, {
    url: collector.urlOf(dir),
    batch: 3,
    pollMs: 30,
    timeoutMs: 2000,
    backoff: { initialMs: 20, maxMs: 100 },
    onError: (m) => errors.push(m),
    onShipped: (s) => shipped.push(s),
    signer,
  });
}

/** The end offset of record `seq` in segment 1. */
async function endOf(dir: string, seq: number): Promise<number> {
  const text = await readFile(join(dir, segmentName(1)), 'utf8');
  return Buffer.byteLength(text.split('\n').slice(0, seq).join('\n')) + 1;
}

/** A cursor at `p` signed with the runner's key, with the hash of record `p.seq` in segment 1 (GENESIS when there is none). */
async function signed(dir: string, p: { seq: number; segment: number; offset: number }): Promise<string> {
  const lines = (await readFile(join(dir, segmentName(1)), 'utf8')).trimEnd().split('\n');
  const record = lines.map((l) => JSON.parse(l) as { seq: number; hash: string }).find((r) => r.seq === p.seq);
  return JSON.stringify(signCursor({ ...p, hash: record?.hash ?? GENESIS }, signer));
}

const all = (k: number) => Array.from({ length: k }, (_, i) => i + 1);

describe('a cursor file that is not a position the shipper saved: reported, shipped again from seq 1', () => {
  const rows: [name: string, cursor: (dir: string) => Promise<string>, problem: RegExp | undefined, from: number][] = [
    [
      'reported: segment 99999999',
      (d) => signed(d, { seq: 5, segment: 99999999, offset: 0 }),
      /names segment-99999999\.jsonl, which does not exist/,
      1,
    ],
    [
      'an offset past the segment',
      (d) => signed(d, { seq: 5, segment: 1, offset: 10_000_000 }),
      /which no shipped record ends at/,
      1,
    ],
    [
      'an offset inside a record',
      async (d) => signed(d, { seq: 5, segment: 1, offset: (await endOf(d, 5)) - 7 }),
      /not the end of a record/,
      1,
    ],
    [
      "a seq that is not the record's (ahead: would skip)",
      async (d) => signed(d, { seq: 999, segment: 1, offset: await endOf(d, 5) }),
      /is seq 5, not the cursor's seq 999/,
      1,
    ],
    [
      "a seq that is not the record's (behind)",
      async (d) => signed(d, { seq: 2, segment: 1, offset: await endOf(d, 5) }),
      /is seq 5, not the cursor's seq 2/,
      1,
    ],
    ['not JSON', () => Promise.resolve('{"seq":5,'), /is not JSON/, 1],
    ['not a cursor', () => Promise.resolve('{"seq":-1,"segment":1,"offset":0}'), /is not a cursor/, 1],
    [
      'a saved position: continues after it, nothing reported',
      async (d) => signed(d, { seq: 5, segment: 1, offset: await endOf(d, 5) }),
      undefined,
      6,
    ],
    ['no file: from seq 1, nothing reported', () => Promise.resolve(''), undefined, 1],
  ];
  for (const [name, cursor, problem, from] of rows)
    test(name, async () => {
      const dir = await logWith(10);
      const text = await cursor(dir);
      if (text !== '') await writeFile(join(dir, SHIP_CURSOR), text);
      const errors: string[] = [];
      const shipped: number[] = [];
      const s = shipper(dir, errors, shipped);
      s.start();
      try {
        await waitFor('all records shipped', () => collector.seqsOf(dir).includes(10), 10_000);
      } finally {
        await s.stop();
      }
      assert.deepEqual(collector.seqsOf(dir), all(10).slice(from - 1));
      assert.equal(shipped.at(-1), 10);
      if (problem === undefined) assert.deepEqual(errors, []);
      else {
        assert.equal(errors.length, 1, errors.join('\n'));
        assert.match(errors[0] ?? '', problem);
        assert.match(errors[0] ?? '', /starts again from the first record/);
      }
      const saved = JSON.parse(await readFile(join(dir, SHIP_CURSOR), 'utf8')) as { seq: number };
      assert.equal(saved.seq, 10);
    });
});

test('reported: the cursor edited while shipping runs steers nothing (the position is in memory)', async () => {
  const dir = join(root, `d${++n}`);
  const log = await FileAuditLog.open(dir);
  const errors: string[] = [];
  const s = shipper(dir, errors);
  s.start();
  try {
    for (let i = 1; i <= 5; i++) await log.append(auditEntry(i));
    await waitFor('1..5 shipped', () => collector.seqsOf(dir).includes(5), 10_000);
    await writeFile(join(dir, SHIP_CURSOR), JSON.stringify({ seq: 5, segment: 99999999, offset: 0 }));
    for (let i = 6; i <= 10; i++) await log.append(auditEntry(i));
    await waitFor('6..10 shipped', () => collector.seqsOf(dir).includes(10), 10_000);
  } finally {
    await s.stop();
    await log.close();
  }
  assert.deepEqual(collector.seqsOf(dir), all(10));
  assert.deepEqual(errors, []);
});

test('a segment removed after the cursor: the gap is reported on every try and nothing after it is shipped', async () => {
  // A cursor at the end of segment 1 (a saved position), then segment 2 moved away.
  const dir2 = await logWith(30, 1024);
  const seg1 = (await readFile(join(dir2, segmentName(1)), 'utf8')).trimEnd().split('\n');
  const last1 = JSON.parse(seg1.at(-1) ?? '{}') as { seq: number };
  const size1 = Buffer.byteLength(seg1.join('\n')) + 1;
  await writeFile(join(dir2, SHIP_CURSOR), await signed(dir2, { seq: last1.seq, segment: 1, offset: size1 }));
  await rename(join(dir2, segmentName(2)), join(dir2, 'moved-away.jsonl'));
  const errors2: string[] = [];
  const second = shipper(dir2, errors2);
  second.start();
  try {
    await waitFor('the gap reported twice', () => errors2.length >= 2, 10_000);
  } finally {
    await second.stop();
  }
  assert.deepEqual(collector.seqsOf(dir2), []);
  for (const e of errors2) assert.match(e, new RegExp(`but seq ${last1.seq} was shipped last: records are missing`));
});

test('after a restart the shipped seq is the saved cursor at once (not 0: the lag does not read as the whole log)', async () => {
  const dir = await logWith(6);
  const first: number[] = [];
  const s1 = shipper(dir, [], first);
  s1.start();
  await waitFor('1..6 shipped', () => collector.seqsOf(dir).includes(6), 10_000);
  await s1.stop();
  // Started again with nothing new: the first report is the saved seq, before any upload.
  const errors: string[] = [];
  const again: number[] = [];
  const s2 = shipper(dir, errors, again);
  s2.start();
  try {
    await waitFor('the first report', () => again.length > 0, 10_000);
  } finally {
    await s2.stop();
  }
  assert.equal(first.at(-1), 6);
  assert.equal(again[0], 6);
  assert.deepEqual(collector.seqsOf(dir), all(6), 'nothing shipped twice');
  assert.deepEqual(errors, []);
});

test('a refused cursor reports 0 at start: everything is owed again', async () => {
  const dir = await logWith(4);
  await writeFile(join(dir, SHIP_CURSOR), JSON.stringify({ seq: 4, segment: 99999999, offset: 0 }));
  const reported: number[] = [];
  const s = shipper(dir, [], reported);
  s.start();
  try {
    await waitFor('1..4 shipped', () => collector.seqsOf(dir).includes(4), 10_000);
  } finally {
    await s.stop();
  }
  assert.equal(reported[0], 0);
  assert.equal(reported.at(-1), 4);
});
