import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog, repairTail } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE, readAuditLog, segmentName, checkAuditDir } from '../../src/adapters/audit-files.ts';
import { keyId } from '../../src/audit/keys.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { auditEntry } from '../support/audit-entries.ts';
import { childEnd } from '../support/child-end.ts';

const entry = (i: number): AuditEntry => auditEntry(i, { message: `m${i}` });
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const checkpoint = { key: privateKey, kid: keyId(publicKey), every: 50, intervalMs: 60_000 };
const fresh = () => mkdtemp(join(tmpdir(), 'kubiya-audit-'));

describe('file audit log', () => {
  let dir: string;
  before(async () => {
    dir = await fresh();
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('concurrent appends are group-committed into one intact chain, in order of arrival', async () => {
    const log = await FileAuditLog.open(dir, { checkpoint });
    const records = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(entry(i))));
    await log.close();
    assert.deepEqual(
      records.map((r) => r.seq),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.deepEqual(await readAuditLog(dir), records);
    const report = await checkAuditDir(dir, publicKey);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    assert.ok(report.checkpoints.verified >= 1);
    assert.equal(report.checkpoints.lastSeq, 200, 'close writes a final checkpoint');
  });

  test('reopening continues the chain from the last record', async () => {
    const log = await FileAuditLog.open(dir, { checkpoint });
    assert.equal((await log.append(entry(999))).seq, 201);
    await log.close();
    assert.equal((await checkAuditDir(dir, publicKey)).ok, true);
  });

  test('segments rotate by size and the chain continues across files', async () => {
    const d = await fresh();
    try {
      const log = await FileAuditLog.open(d, { segmentBytes: 64 * 1024, checkpoint });
      for (let i = 0; i < 10; i++)
        await Promise.all(Array.from({ length: 100 }, (_, j) => log.append(entry(i * 100 + j))));
      await log.close();
      const segments = (await readdir(d)).filter((f) => f.startsWith('segment-'));
      assert.ok(segments.length >= 3, `${segments.length} segments`);
      const report = await checkAuditDir(d, publicKey);
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
      assert.equal(report.records, 1000);
      const reopened = await FileAuditLog.open(d, { segmentBytes: 64 * 1024 });
      assert.equal((await reopened.append(entry(0))).seq, 1001);
      await reopened.close();
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  describe('tamper suite: every change is found, and the first bad seq is named', () => {
    let original: string;
    let checkpoints: string;
    const seg = () => join(dir, segmentName(1));
    before(async () => {
      original = await readFile(seg(), 'utf8');
      checkpoints = await readFile(join(dir, CHECKPOINTS_FILE), 'utf8');
    });
    const firstBad = async (text: string, cps = checkpoints) => {
      await writeFile(seg(), text);
      await writeFile(join(dir, CHECKPOINTS_FILE), cps);
      const r = await checkAuditDir(dir, publicKey);
      await writeFile(seg(), original);
      await writeFile(join(dir, CHECKPOINTS_FILE), checkpoints);
      return r.ok ? undefined : r.firstBad?.seq;
    };
    const lines = () => original.trimEnd().split('\n');

    test('flipping any single byte of a record', async () => {
      const target = 10; // seq 10
      const ls = lines();
      const start = ls.slice(0, target - 1).join('\n').length + 1;
      const len = (ls[target - 1] as string).length + 1; // with its newline
      for (let i = 0; i < len; i++) {
        const bytes = Buffer.from(original);
        bytes[start + i] = (bytes[start + i] as number) ^ 0x01;
        const bad = await firstBad(bytes.toString('latin1'));
        assert.ok(bad !== undefined && bad <= target + 1 && bad >= target, `byte ${i}: first bad ${String(bad)}`);
      }
    });

    test('deleting a record, reordering two, truncating the tail below a checkpoint, replacing a checkpoint', async () => {
      const ls = lines();
      assert.equal(await firstBad([...ls.slice(0, 4), ...ls.slice(5)].join('\n') + '\n'), 5, 'delete seq 5');
      assert.equal(
        await firstBad([...ls.slice(0, 6), ls[7], ls[6], ...ls.slice(8)].join('\n') + '\n'),
        7,
        'swap 7 and 8',
      );
      assert.equal(await firstBad(ls.slice(0, 120).join('\n') + '\n'), 121, 'cut the tail below a checkpoint');
      const cps = checkpoints.trimEnd().split('\n');
      const forged = JSON.parse(cps[0] as string) as { head: string };
      forged.head = 'f'.repeat(64);
      assert.notEqual(
        await firstBad(original, [JSON.stringify(forged), ...cps.slice(1)].join('\n') + '\n'),
        undefined,
        'a replaced checkpoint',
      );
      assert.equal(await firstBad(original), undefined, 'the untouched log verifies');
    });
  });

  test('a torn last line (crash mid-write) is cut on open; every whole record stays', async () => {
    const d = await fresh();
    try {
      const log = await FileAuditLog.open(d);
      await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(entry(i))));
      await log.close();
      const file = join(d, segmentName(1));
      await writeFile(file, (await readFile(file, 'utf8')) + '{"decision_id":"torn","times');
      const link = await repairTail(file);
      assert.equal(link.seq, 20);
      const reopened = await FileAuditLog.open(d);
      assert.equal((await reopened.append(entry(21))).seq, 21);
      await reopened.close();
      assert.equal((await checkAuditDir(d, undefined)).ok, true);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test('kill -9 during heavy writes: after restart the log verifies and holds every acknowledged record', async () => {
    const d = await fresh();
    try {
      const writer = spawn(process.execPath, [join(import.meta.dirname, '..', 'support', 'audit-writer.ts'), d], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let acked = 0;
      let buffered = '';
      writer.stdout.on('data', (c: Buffer) => {
        buffered += c.toString();
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        for (const p of parts) acked = Math.max(acked, Number(p));
      });
      // Kill while it is writing hard: once more than 100 records are acknowledged (bounded at 30 s, so
      // a slow machine waits for the writer instead of failing), plus a moment so writes are in flight.
      const until = Date.now() + 30_000;
      while (acked <= 100 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      writer.kill('SIGKILL');
      await childEnd(writer); // every acknowledgement it wrote is read
      assert.ok(acked > 100, `${acked} records acknowledged before the kill`);
      const log = await FileAuditLog.open(d);
      const { seq } = log.head();
      await log.close();
      assert.ok(seq >= acked, `every acknowledged record is there (last ${seq} >= acked ${acked})`);
      const report = await checkAuditDir(d, undefined);
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test('a closed log refuses appends instead of dropping them', async () => {
    const log = await FileAuditLog.open(dir);
    await log.close();
    await assert.rejects(log.append(entry(1)), /closed/);
  });
});
