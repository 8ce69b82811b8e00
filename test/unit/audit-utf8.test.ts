/**
 * `audit verify` checks the bytes as written (issue 13 §3), including their encoding: a reader
 * that decodes a line leniently turns every invalid UTF-8 sequence into U+FFFD, so a record whose
 * text holds a U+FFFD (any user text may) could have those three bytes replaced by any invalid
 * sequence and still hash right. Found by the red-team pass (docs/reviews/2026-11-29-red-team.md): before this, the
 * replaced line verified ("chain intact"). Variants: a lone 0xFF, a lone continuation byte, a
 * truncated four-byte sequence (F0 9F 98, one U+FFFD: the same decoded length), an overlong "A".
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { readTrusted, checkAuditDir } from '../../src/adapters/audit-files.ts';

const REPLACEMENT = Buffer.from('\uFFFD', 'utf8');
const VARIANTS: [string, Buffer][] = [
  ['a lone 0xFF', Buffer.from([0xff])],
  ['a lone continuation byte', Buffer.from([0x80])],
  ['a truncated four-byte sequence', Buffer.from([0xf0, 0x9f, 0x98])],
  ['an overlong two-byte spelling', Buffer.from([0xc1])],
];

async function logWithReplacementChar(): Promise<{ dir: string; segment: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-utf8-'));
  const log = await FileAuditLog.open(dir);
  for (let i = 0; i < 3; i++) {
    await log.append({
      decision_id: `d-${i}`,
      timestamp: '2026-06-01T12:00:00.000Z',
      stage: 'evaluate',
      outcome: 'allow',
      message: i === 1 ? 'user text \uFFFD here' : 'x',
      runner: 'r',
      labels: { runner: 'r' },
    });
  }
  await log.close();
  return { dir, segment: join(dir, 'segment-00000001.jsonl') };
}

test('the untouched log (a U+FFFD in a record is legitimate text) verifies', async () => {
  const { dir } = await logWithReplacementChar();
  try {
    assert.equal((await checkAuditDir(dir, undefined)).ok, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

for (const [what, bytes] of VARIANTS) {
  test(`U+FFFD's bytes replaced by ${what}: tampering at that record's seq, and readers drop it`, async () => {
    const { dir, segment } = await logWithReplacementChar();
    try {
      const original = await readFile(segment);
      const at = original.indexOf(REPLACEMENT);
      assert.ok(at > 0);
      await writeFile(
        segment,
        Buffer.concat([original.subarray(0, at), bytes, original.subarray(at + REPLACEMENT.length)]),
      );
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, false);
      assert.equal(report.firstBad?.seq, 2);
      const trusted = await readTrusted(dir, undefined);
      assert.deepEqual(
        trusted.records.map((r) => r.seq),
        [1],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
