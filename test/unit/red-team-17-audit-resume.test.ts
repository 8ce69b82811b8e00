// Red team 17, findings 2 and 8. The class of 2: a signature that vouches for what the signer did not
// check — a restarted runner signed checkpoints over records someone appended to the tail while it
// was stopped. The class of 8: a state file read back without the checks applied to the log beside
// it — the appender took the last line of checkpoints.jsonl as is (an unsigned seq 999999999
// stopped all checkpointing; a torn line stopped `serve` with a message naming no file). Now, with a
// signing key, the last checkpoint is trusted only if this runner's key signed it and it matches
// the chain; the records after it are hash-chain checked and adopted, and the next checkpoint
// names them in its signed `adopted` member, which `audit verify` reports as "adopted at restart,
// not attested". The reported examples are the first row of each table.
import assert from 'node:assert/strict';
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE, checkAuditDir, readAuditLog, segmentName } from '../../src/adapters/audit-files.ts';
import { assessChains } from '../../src/audit/assess.ts';
import { chainLine } from '../../src/audit/chain.ts';
import { signCheckpoint } from '../../src/audit/checkpoint.ts';
import { keyId } from '../../src/audit/keys.ts';
import { auditEntry } from '../support/audit-entries.ts';

let root = '';
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-rt17-resume-'));
});
after(async () => rm(root, { recursive: true, force: true }));

const signer = (() => {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { key: privateKey, kid: keyId(createPublicKey(privateKey)) };
})();
const pub: KeyObject = createPublicKey(signer.key);
const other = (() => {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { key: privateKey, kid: keyId(createPublicKey(privateKey)) };
})();

const opts = (s = signer, segmentBytes?: number) => ({
  checkpoint: { key: s.key, kid: s.kid, every: 1000, intervalMs: 60_000 },
  ...(segmentBytes !== undefined ? { segmentBytes } : {}),
});

/** A runner writes `count` records and stops cleanly (its last checkpoint at the head), or crashes (`abandon`: no checkpoint). */
async function runner(dir: string, count: number, stop: 'close' | 'crash' = 'close', s = signer): Promise<void> {
  const log = await FileAuditLog.open(dir, opts(s, 4096));
  for (let i = 0; i < count; i++) await log.append(auditEntry(i, { message: `genuine ${i}` }));
  await (stop === 'close' ? log.close() : log.abandon());
}

/** Appends `k` records with a correct seq, prev and hash (the appender's own chainLine), as someone with the volume would. */
async function plant(dir: string, k: number): Promise<void> {
  for (let i = 0; i < k; i++) {
    const records = await readAuditLog(dir);
    const last = records.at(-1);
    const { line } = chainLine(
      auditEntry(900 + i, { message: 'planted', step: 'deploy-prod' }),
      (last?.seq ?? 0) + 1,
      last?.hash ?? '0'.repeat(64),
    );
    const segs = Math.max(
      1,
      ...(await import('node:fs/promises').then((f) => f.readdir(dir)))
        .filter((x) => x.startsWith('segment-'))
        .map((x) => Number(x.slice(8, 16))),
    );
    await appendFile(join(dir, segmentName(segs)), `${line}\n`);
  }
}

const fresh = () => join(root, `d${++n}`);

async function verify(dir: string) {
  const report = await checkAuditDir(dir, pub);
  const findings = assessChains(
    [{ dir, log: { report }, checkpoints: [], lastTime: '', genesis: '', found: new Map() }],
    {
      keyId: signer.kid,
      allowUncoveredTail: false,
      maxUncoveredRecords: 1000,
      maxUncoveredSeconds: 1e9,
      expectHeads: [],
    },
  );
  return { report, findings };
}

describe('finding 2: records found after the last own checkpoint are adopted, never signed as witnessed', () => {
  const cases: [name: string, before: (dir: string) => Promise<void>, adopted: { from: number; to: number }[]][] = [
    [
      'reported: one planted evaluate/allow while stopped (was "2 of 2 verified")',
      (d) => plant(d, 1),
      [{ from: 6, to: 6 }],
    ],
    ['three planted records', (d) => plant(d, 3), [{ from: 6, to: 8 }]],
    [
      'a crash before the next checkpoint (genuine records, honestly adopted)',
      (d) => runner(d, 4, 'crash'),
      [{ from: 6, to: 9 }],
    ],
    ['a clean stop: nothing to adopt', () => Promise.resolve(), []],
    [
      'a crash, then planted records: one range',
      async (d) => (await runner(d, 2, 'crash'), await plant(d, 2)),
      [{ from: 6, to: 9 }],
    ],
    [
      'a rotated key (last checkpoint signed by another kid): all records adopted by the new key',
      async (d) => {
        // The log's checkpoints signed by the old key: the new key witnessed none of its records.
        const head = (await readAuditLog(d)).at(-1)?.hash ?? '';
        const old = signCheckpoint({ seq: 5, head, time: new Date().toISOString(), kid: other.kid }, other.key);
        await writeFile(join(d, CHECKPOINTS_FILE), `${JSON.stringify(old)}\n`);
      },
      [],
    ],
  ];
  for (const [name, between, adopted] of cases)
    test(name, async () => {
      const dir = fresh();
      await runner(dir, 5);
      await between(dir);
      const restarted = await FileAuditLog.open(dir, opts());
      await restarted.append(auditEntry(100, { message: 'after the restart' }));
      await restarted.close();
      const { report, findings } = await verify(dir);
      if (name.startsWith('a rotated key')) {
        // the other key's checkpoint does not verify with this key: the chain is reported broken there, not laundered
        assert.equal(report.ok, false, name);
        const cps = (await readFile(join(dir, CHECKPOINTS_FILE), 'utf8'))
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { adopted?: unknown });
        assert.deepEqual(cps.at(-1)?.adopted, { from: 1, to: 5 });
        return;
      }
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
      assert.deepEqual(report.checkpoints.adopted, adopted, name);
      assert.deepEqual(
        findings.filter((f) => f.code === 'AUDIT_RECORDS_ADOPTED').map((f) => f.fails),
        adopted.map(() => false),
      );
    });

  test('the adopted member is signed: stripping it from the checkpoint breaks its signature', async () => {
    const dir = fresh();
    await runner(dir, 5);
    await plant(dir, 1);
    await runner(dir, 1);
    const path = join(dir, CHECKPOINTS_FILE);
    const lines = (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.at(-1)?.adopted, { from: 6, to: 6 });
    delete lines.at(-1)?.adopted;
    await writeFile(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { report } = await verify(dir);
    assert.equal(report.ok, false);
    assert.match(report.firstBad?.reason ?? '', /invalid signature/);
  });

  test('more adopted records than --max-uncovered-records fails verify', async () => {
    const dir = fresh();
    await runner(dir, 5);
    await plant(dir, 3);
    await runner(dir, 1);
    const report = await checkAuditDir(dir, pub);
    const f = assessChains([{ dir, log: { report }, checkpoints: [], lastTime: '', genesis: '', found: new Map() }], {
      keyId: signer.kid,
      allowUncoveredTail: false,
      maxUncoveredRecords: 2,
      maxUncoveredSeconds: 1e9,
      expectHeads: [],
    }).filter((x) => x.code === 'AUDIT_RECORDS_ADOPTED');
    assert.deepEqual(
      f.map((x) => x.fails),
      [true],
    );
  });

  test('a planted record that does not chain (wrong prev) is refused at start, naming it', async () => {
    const dir = fresh();
    await runner(dir, 5);
    const { line } = chainLine(auditEntry(999), 6, 'f'.repeat(64));
    await appendFile(join(dir, segmentName(1)), `${line}\n`);
    await assert.rejects(FileAuditLog.open(dir, opts()), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'AUDIT_RESUME_REFUSED');
      assert.match(e.message, /do not chain: seq 5 .*segment-00000001\.jsonl:6/);
      return true;
    });
  });
});

describe('finding 8: the last checkpoint line is trusted only as this key signed it and the chain matches', () => {
  const line = (c: object) => `${JSON.stringify(c)}\n`;
  const variants: [name: string, edit: (path: string, head: string) => Promise<void>, expect: RegExp | 'starts'][] = [
    [
      'reported: an unsigned line with seq 999999999 and this kid',
      (p) =>
        appendFile(
          p,
          line({
            seq: 999999999,
            head: '0'.repeat(64),
            time: '2026-12-03T10:00:00.000Z',
            kid: signer.kid,
            sig: 'AAAA',
          }),
        ),
      /checkpoints\.jsonl: its last line \(checkpoint for seq 999999999\) names this runner's kid .* signature does not verify/,
    ],
    [
      "reported: a torn last line (60 bytes cut) is cut, like a segment's",
      async (p) => truncate(p, (await stat(p)).size - 60),
      'starts',
    ],
    [
      'a last line "garbage" (terminated): refused, naming the file, not quoting it',
      (p) => appendFile(p, 'garbage\n'),
      /checkpoints\.jsonl: its last line is not JSON \(/,
    ],
    [
      'JSON that is not a checkpoint',
      (p) => appendFile(p, line({ seq: 'x' })),
      /checkpoints\.jsonl: its last line is not a checkpoint/,
    ],
    [
      'signed by this key, beyond the head',
      (p, h) => appendFile(p, line(signCheckpoint({ seq: 99, head: h, time: 't', kid: signer.kid }, signer.key))),
      /vouches for seq 99 but .* ends at seq 5/,
    ],
    [
      'signed by this key, at the head, another head hash',
      (p) =>
        appendFile(p, line(signCheckpoint({ seq: 5, head: 'a'.repeat(64), time: 't', kid: signer.kid }, signer.key))),
      /does not match record 5's hash/,
    ],
    [
      'signed by this key, inside the log, another head hash',
      (p) =>
        appendFile(p, line(signCheckpoint({ seq: 3, head: 'a'.repeat(64), time: 't', kid: signer.kid }, signer.key))),
      /checkpoint \(seq 3\) does not match record 3's hash/,
    ],
    [
      'signed by this key with a malformed adopted member',
      (p, h) =>
        appendFile(
          p,
          line(
            signCheckpoint({ seq: 5, head: h, time: 't', kid: signer.kid, adopted: { from: 4, to: 9 } }, signer.key),
          ),
        ),
      /not a checkpoint/,
    ],
    [
      'a line with no newline within the 64 KiB window',
      (p) => appendFile(p, 'x'.repeat(70_000)),
      /no line ends in its last 65536 bytes/,
    ],
    ['empty lines after the last checkpoint', (p) => appendFile(p, '\n\n'), 'starts'],
    [
      'signed by another kid (a rotated key): starts, adopts',
      (p, h) => appendFile(p, line(signCheckpoint({ seq: 5, head: h, time: 't', kid: other.kid }, other.key))),
      'starts',
    ],
  ];
  for (const [name, edit, expect] of variants)
    test(name, async () => {
      const dir = fresh();
      await runner(dir, 5);
      const path = join(dir, CHECKPOINTS_FILE);
      const head = (await readAuditLog(dir)).at(-1)!.hash;
      await edit(path, head);
      if (expect === 'starts') {
        const log = await FileAuditLog.open(dir, opts());
        const r = await log.append(auditEntry(7));
        await log.close();
        assert.equal(r.seq, 6);
        const last = JSON.parse((await readFile(path, 'utf8')).trim().split('\n').at(-1)!) as {
          seq: number;
          kid: string;
        };
        assert.equal(last.seq, 6, 'a new checkpoint was written');
        assert.equal(last.kid, signer.kid);
        return;
      }
      await assert.rejects(FileAuditLog.open(dir, opts()), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'AUDIT_RESUME_REFUSED', e.message);
        assert.match(e.message, expect);
        assert.doesNotMatch(e.message, /garbage/);
        return true;
      });
      // nothing was written and the lock was released: a runner without a key still opens it
      const log = await FileAuditLog.open(dir);
      await log.close();
    });

  test('without a signing key the checkpoints file is not read: a torn or forged line steers nothing', async () => {
    const dir = fresh();
    await runner(dir, 2);
    await appendFile(join(dir, CHECKPOINTS_FILE), 'garbage');
    const log = await FileAuditLog.open(dir);
    assert.equal((await log.append(auditEntry(3))).seq, 3);
    await log.close();
  });
});
