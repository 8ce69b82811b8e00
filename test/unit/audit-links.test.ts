/**
 * Tests that can fail (issue 13 §6): each of these was left green by a verifier with the check
 * removed, because the older tamper tests flip bytes only.
 * - the `prev` link: a record rewritten AND re-hashed (its own hash valid) is named at its seq;
 * - checkpoint signatures: checkpoints re-signed with another key, and a wrong `--public-key`, fail;
 * - checkpoint heads: a rewritten and re-chained suffix contradicts the next checkpoint, and
 *   nothing after the last good checkpoint is trusted.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE, readTrusted, segmentName, checkAuditDir } from '../../src/adapters/audit-files.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { chainLine } from '../../src/audit/chain.ts';
import { signCheckpoint, type Checkpoint } from '../../src/audit/checkpoint.ts';
import { keyId } from '../../src/audit/keys.ts';
import type { AuditEntry, AuditRecord } from '../../src/audit/record.ts';

const run = promisify(execFile);
const signer = generateKeyPairSync('ed25519');
const attacker = generateKeyPairSync('ed25519');
const N = 30;
const entry = (i: number): AuditEntry => ({
  decision_id: `d-${i}`,
  timestamp: '2026-06-01T12:00:00.000Z',
  stage: 'evaluate',
  outcome: i % 2 === 0 ? 'deny' : 'allow',
  ...(i % 2 === 0 ? { code: 'POLICY_DENIED' as const } : {}),
  message: `m${i}`,
  runner: 'r',
  labels: { runner: 'r' },
});

/** The entry of a written record (what the appender was given). */
const entryOf = (r: AuditRecord): AuditEntry => {
  const { seq: _s, prev: _p, hash: _h, ...rest } = r;
  return rest;
};

describe('audit links and checkpoints are checked', () => {
  let dir: string;
  let original: string;
  let checkpoints: string;
  const seg = () => join(dir, segmentName(1));
  const records = (): AuditRecord[] =>
    original
      .slice(0, -1)
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
  const cps = (): Checkpoint[] =>
    checkpoints
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Checkpoint);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-links-'));
    await writeFile(join(dir, 'signer.pub.pem'), signer.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(join(dir, 'attacker.pub.pem'), attacker.publicKey.export({ type: 'spki', format: 'pem' }));
    const log = await FileAuditLog.open(join(dir, 'log'), {
      checkpoint: { key: signer.privateKey, kid: keyId(signer.publicKey), every: 10, intervalMs: 60_000 },
    });
    for (let i = 1; i <= N; i++) await log.append(entry(i));
    await log.close();
    dir = join(dir, 'log');
    original = await readFile(seg(), 'utf8');
    checkpoints = await readFile(join(dir, CHECKPOINTS_FILE), 'utf8');
    assert.deepEqual(
      cps().map((c) => c.seq),
      [10, 20, 30],
    );
  });
  after(async () => rm(join(dir, '..'), { recursive: true, force: true }));

  const verifyWith = async (lines: string[], checkpointLines = checkpoints, key = signer.publicKey) => {
    await writeFile(seg(), lines.join('\n') + '\n');
    await writeFile(join(dir, CHECKPOINTS_FILE), checkpointLines);
    try {
      return await checkAuditDir(dir, key);
    } finally {
      await writeFile(seg(), original);
      await writeFile(join(dir, CHECKPOINTS_FILE), checkpoints);
    }
  };

  /** Record `seq` rewritten (a deny turned into an allow) and re-hashed with its original prev. */
  const rewritten = (seq: number): string => {
    const r = records()[seq - 1] as AuditRecord;
    const { code: _code, ...rest } = entryOf(r);
    return chainLine({ ...rest, outcome: 'allow', message: 'rewritten' }, r.seq, r.prev).line;
  };

  test('a record rewritten and re-hashed (its own hash valid) is named at its seq by the prev link', async () => {
    for (const target of [1, 4, 12, 21]) {
      const lines = original.slice(0, -1).split('\n');
      lines[target - 1] = rewritten(target);
      const report = await verifyWith(lines, '');
      assert.equal(report.ok, false, `seq ${target}`);
      assert.equal(report.firstBad?.seq, target, `${target}: ${report.firstBad?.reason ?? ''}`);
      assert.match(report.firstBad?.reason ?? '', /prev/);
    }
  });

  test('the last record rewritten and re-hashed has no successor: its checkpoint catches it', async () => {
    const lines = original.slice(0, -1).split('\n');
    lines[N - 1] = rewritten(N);
    const report = await verifyWith(lines);
    assert.equal(report.firstBad?.seq, 21, 'nothing after the last good checkpoint (20) is trusted');
    assert.match(report.firstBad?.reason ?? '', /head hash/);
  });

  test('a suffix rewritten and re-chained from seq 14: the checkpoint at 20 contradicts it; readers keep only seq 1..10', async () => {
    const rs = records();
    const lines = rs.slice(0, 13).map((r) => chainLine(entryOf(r), r.seq, r.prev).line);
    let prev = (rs[12] as AuditRecord).hash;
    for (const r of rs.slice(13)) {
      const { line, record } = chainLine({ ...entryOf(r), outcome: 'allow', code: undefined }, r.seq, prev);
      lines.push(line);
      prev = record.hash;
    }
    const report = await verifyWith(lines);
    assert.equal(report.firstBad?.seq, 11);
    await writeFile(seg(), lines.join('\n') + '\n');
    try {
      const trusted = await readTrusted(dir, signer.publicKey);
      assert.equal(Math.max(...trusted.records.map((r) => r.seq)), 10);
    } finally {
      await writeFile(seg(), original);
    }
  });

  test("checkpoints re-signed with another key fail with the signer's key; a forged head re-signed fails too", async () => {
    const lines = original.slice(0, -1).split('\n');
    const resigned =
      cps()
        .map((c) =>
          JSON.stringify(
            signCheckpoint(
              { seq: c.seq, head: c.head, time: c.time, kid: keyId(attacker.publicKey) },
              attacker.privateKey,
            ),
          ),
        )
        .join('\n') + '\n';
    const report = await verifyWith(lines, resigned);
    assert.equal(report.ok, false);
    assert.equal(report.firstBad?.seq, 1);
    // Named as a key mix-up: the kid the checkpoints carry and the kid of the key given.
    assert.match(
      report.firstBad?.reason ?? '',
      new RegExp(`signed by kid ${keyId(attacker.publicKey)}, key given is kid ${keyId(signer.publicKey)}`),
    );
    // Keep the signer's kid, change one head and re-sign the rest with another key.
    const forged =
      cps()
        .map((c, i) =>
          JSON.stringify(
            i < 1
              ? c
              : {
                  ...signCheckpoint({ ...c, head: i === 2 ? 'f'.repeat(64) : c.head }, attacker.privateKey),
                  kid: c.kid,
                },
          ),
        )
        .join('\n') + '\n';
    const r2 = await verifyWith(lines, forged);
    assert.equal(r2.firstBad?.seq, 11, r2.firstBad?.reason);
    // The untouched checkpoints verify with the signer's key, and every one is counted.
    const ok = await verifyWith(lines);
    assert.equal(ok.ok, true);
    assert.equal(ok.checkpoints.verified, 3);
  });

  test('a wrong --public-key fails; the right one passes; a garbled checkpoint line is named', async () => {
    const cli = (args: string[]) =>
      run(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), ...args], { timeout: 60_000 }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => e,
      );
    const wrong = await cli([
      'audit',
      'verify',
      dir,
      '--public-key',
      join(dir, '..', 'attacker.pub.pem'),
      '--output',
      'json',
    ]);
    assert.equal(wrong.code, 1);
    assert.match(
      (JSON.parse(wrong.stdout) as { firstBad: { reason: string } }).firstBad.reason,
      /signed by kid [0-9a-f]{16}, key given is kid [0-9a-f]{16}/,
    );
    const right = await cli([
      'audit',
      'verify',
      dir,
      '--public-key',
      join(dir, '..', 'signer.pub.pem'),
      '--output',
      'json',
    ]);
    assert.equal(right.code, 0, right.stdout);
    assert.equal((JSON.parse(right.stdout) as { checkpoints: { verified: number } }).checkpoints.verified, 3);
    const garbled = await verifyWith(original.slice(0, -1).split('\n'), checkpoints.replace('"seq":20', '"seq":"20"'));
    assert.equal(garbled.firstBad?.seq, 11);
    const broken = await verifyWith(original.slice(0, -1).split('\n'), checkpoints + '{"seq":\n');
    assert.equal(broken.ok, false);
  });
});
