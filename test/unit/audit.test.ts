import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AUDIT_FILE, FileAuditLog, readAuditLog } from '../../src/adapters/audit-file.ts';
import { firstBroken } from '../../src/audit/chain.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const entry = (i: number): AuditEntry => ({
  decision_id: `d-${i}`, timestamp: '2026-06-01T12:00:00.000Z', stage: 'evaluate', outcome: 'allow', message: `m${i}`, runner: 'r', labels: { runner: 'r' },
});

describe('file audit log', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-audit-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('concurrent appends are group-committed into one intact chain, in order of arrival', async () => {
    const log = await FileAuditLog.open(dir);
    const records = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(entry(i))));
    await log.close();
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 200 }, (_, i) => i + 1));
    const onDisk = await readAuditLog(dir);
    assert.deepEqual(onDisk, records);
    assert.equal(firstBroken(onDisk), -1);
  });

  test('reopening continues the chain from the last record', async () => {
    const log = await FileAuditLog.open(dir);
    const next = await log.append(entry(999));
    await log.close();
    assert.equal(next.seq, 201);
    assert.equal(firstBroken(await readAuditLog(dir)), -1);
  });

  test('an altered, removed or reordered record is found', async () => {
    const path = join(dir, AUDIT_FILE);
    const original = await readFile(path, 'utf8');
    const lines = original.trimEnd().split('\n');
    const altered = [...lines];
    altered[9] = altered[9]!.replace('"m9"', '"m9 (edited)"');
    await writeFile(path, altered.join('\n') + '\n');
    assert.equal(firstBroken(await readAuditLog(dir)), 9);
    await writeFile(path, [...lines.slice(0, 5), ...lines.slice(6)].join('\n') + '\n');
    assert.equal(firstBroken(await readAuditLog(dir)), 5);
    await writeFile(path, original);
  });

  test('a closed log refuses appends instead of dropping them', async () => {
    const log = await FileAuditLog.open(dir);
    await log.close();
    await assert.rejects(log.append(entry(1)), /closed/);
  });
});
