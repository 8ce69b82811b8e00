/**
 * Issue 17, item 3: rollback and key mix-ups are named by `audit verify`, each with its own code.
 *
 * The class: what someone who can write the audit volume (or a clumsy operator) does that the
 * hash chain alone cannot see, and what the auditor gives to see it.
 *
 * | fault | variants | given | expected |
 * |---|---|---|---|
 * | rollback: the last k records cut together with their checkpoints | k = 1, 2, 5, 9, 10, 11 (across checkpoints), fast-check k ∈ 1..n-1 | `--expect-head`, `--min-seq` saved from `--output json` | AUDIT_ROLLED_BACK (and without them: passes, which is why they exist) |
 * | rewrite of the tail, same length, re-chained, checkpoints cut | last 3 records | `--expect-head` | AUDIT_ROLLED_BACK (`--min-seq` alone passes) |
 * | other key | the attacker's key given | `--public-key` | AUDIT_KEY_MISMATCH "checkpoints signed by kid X, key given is kid Y" |
 * | no checkpoints | key given, log never checkpointed | `--public-key` | AUDIT_UNCHECKPOINTED; `--allow-uncovered-tail` accepts |
 * | old checkpoint | later checkpoints deleted, far behind the head by records or by time | `--public-key` | AUDIT_TAIL_UNCOVERED; limits and `--allow-uncovered-tail` accept |
 * | mixed keys | later checkpoints signed by another key | `--public-key` (the first) | AUDIT_TAMPERED naming both kids |
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE, segmentName } from '../../src/adapters/audit-files.ts';
import { chainLine } from '../../src/audit/chain.ts';
import { signCheckpoint, type Checkpoint } from '../../src/audit/checkpoint.ts';
import { keyId } from '../../src/audit/keys.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { main } from '../../src/cli/main.ts';

const roots: string[] = [];
after(async () => {
  for (const d of roots) await rm(d, { recursive: true, force: true });
});

const signer = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const N = 30;
const EVERY = 10;

const entry = (i: number, at = '2026-06-01T12:00:00.000Z', runner = 'r'): AuditEntry => ({
  decision_id: `${runner}-d-${i}`,
  timestamp: at,
  stage: 'evaluate',
  outcome: 'allow',
  message: `m${i}`,
  runner,
  labels: { runner },
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string;

/** A log of N records checkpointed every EVERY (0: never), with the signer's and the other key's PEM beside it. */
async function makeLog(every = EVERY, runner = 'r'): Promise<{ dir: string; pub: string; otherPub: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kubiya-rollback-'));
  roots.push(root);
  const dir = join(root, 'audit');
  const w = await FileAuditLog.open(
    dir,
    every > 0
      ? { checkpoint: { key: signer.privateKey, kid: keyId(signer.publicKey), every, intervalMs: 3_600_000 } }
      : {},
  );
  for (let i = 1; i <= N; i++) await w.append(entry(i, undefined, runner));
  await w.close();
  await writeFile(join(root, 'signer.pub.pem'), pem(signer.publicKey));
  await writeFile(join(root, 'other.pub.pem'), pem(other.publicKey));
  return { dir, pub: join(root, 'signer.pub.pem'), otherPub: join(root, 'other.pub.pem') };
}

const lines = async (dir: string): Promise<string[]> =>
  (await readFile(join(dir, segmentName(1)), 'utf8')).split('\n').filter((l) => l !== '');
const checkpoints = async (dir: string): Promise<Checkpoint[]> =>
  (await readFile(join(dir, CHECKPOINTS_FILE), 'utf8').catch(() => ''))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Checkpoint);
const writeCheckpoints = (dir: string, cps: readonly Checkpoint[]): Promise<void> =>
  writeFile(join(dir, CHECKPOINTS_FILE), cps.map((c) => JSON.stringify(c) + '\n').join(''));

/** Cuts the last k records and every checkpoint beyond what is left: a consistent rollback. */
async function rollBack(dir: string, k: number): Promise<void> {
  const all = await lines(dir);
  await writeFile(join(dir, segmentName(1)), all.slice(0, all.length - k).join('\n') + '\n');
  await writeCheckpoints(
    dir,
    (await checkpoints(dir)).filter((c) => c.seq <= all.length - k),
  );
}

interface Saved {
  ok: boolean;
  save: { expectHead: string; minSeq: number } | null;
  findings: { code: string; message: string; fails: boolean }[];
}

async function saved(dir: string, pub: string): Promise<{ expectHead: string; minSeq: number }> {
  const r = await cli('audit', 'verify', dir, '--public-key', pub, '--output', 'json');
  assert.equal(r.code, 0, r.out + r.err);
  const body = JSON.parse(r.out) as Saved;
  assert.ok(body.save !== null);
  return body.save;
}

describe('rollback: a tail cut with its checkpoints', () => {
  for (const k of [1, 2, 5, 9, 10, 11]) {
    test(`k = ${k}: verifies on its own, AUDIT_ROLLED_BACK against the saved head and seq`, async () => {
      const { dir, pub } = await makeLog();
      const save = await saved(dir, pub);
      assert.equal(save.minSeq, N);
      await rollBack(dir, k);
      const alone = await cli('audit', 'verify', dir, '--public-key', pub, '--allow-uncovered-tail');
      assert.equal(alone.code, 0, 'without what was saved, a consistent rollback verifies: the reason to save it');
      for (const args of [
        ['--expect-head', save.expectHead],
        ['--min-seq', String(save.minSeq)],
        ['--expect-head', save.expectHead, '--min-seq', String(save.minSeq)],
      ]) {
        const r = await cli('audit', 'verify', dir, '--public-key', pub, '--allow-uncovered-tail', ...args);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.err, /^AUDIT_ROLLED_BACK: /m);
      }
    });
  }

  test('fast-check: any k in 1..N-1 is caught by the saved head', async () => {
    const { dir, pub } = await makeLog();
    const save = await saved(dir, pub);
    const original = await readFile(join(dir, segmentName(1)), 'utf8');
    const cps = await checkpoints(dir);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: N - 1 }), async (k) => {
        await rollBack(dir, k);
        const r = await cli('audit', 'verify', dir, '--expect-head', save.expectHead, '--output', 'json');
        await writeFile(join(dir, segmentName(1)), original);
        await writeCheckpoints(dir, cps);
        assert.equal(r.code, 1);
        assert.deepEqual(
          (JSON.parse(r.out) as Saved).findings.map((f) => f.code),
          ['AUDIT_ROLLED_BACK'],
        );
      }),
      { numRuns: 15 },
    );
  });

  test('the tail rewritten to the same length: --expect-head catches it, --min-seq alone cannot', async () => {
    const { dir, pub } = await makeLog();
    const save = await saved(dir, pub);
    await rollBack(dir, 3);
    const kept = await lines(dir);
    let prev = (JSON.parse(kept.at(-1) ?? '{}') as { hash: string }).hash;
    for (let seq = N - 2; seq <= N; seq++) {
      const { record, line } = chainLine({ ...entry(seq), message: 'rewritten' }, seq, prev);
      kept.push(line);
      prev = record.hash;
    }
    await writeFile(join(dir, segmentName(1)), kept.join('\n') + '\n');
    const bySeq = await cli('audit', 'verify', dir, '--min-seq', String(save.minSeq));
    assert.equal(bySeq.code, 0);
    const byHead = await cli('audit', 'verify', dir, '--expect-head', save.expectHead);
    assert.equal(byHead.code, 1);
    assert.match(byHead.err, /AUDIT_ROLLED_BACK: no trusted record has hash/);
  });
});

describe('key mix-ups', () => {
  test('another key: AUDIT_KEY_MISMATCH names the kid of the checkpoints and the kid given', async () => {
    const { dir, otherPub } = await makeLog();
    const r = await cli('audit', 'verify', dir, '--public-key', otherPub);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(
        `^AUDIT_KEY_MISMATCH: .*checkpoints signed by kid ${keyId(signer.publicKey)}, key given is kid ${keyId(other.publicKey)}`,
        'm',
      ),
    );
    assert.doesNotMatch(r.err, /AUDIT_TAMPERED/, 'a key mix-up is not reported as tampering');
    assert.match(r.out, /^NOT VERIFIED: .*the key given did not sign its checkpoints/);
    assert.doesNotMatch(r.out, /BROKEN/);
    const html = join(dir, '..', 'wrong-key.html');
    const rep = await cli('audit', 'report', dir, '--out', html, '--public-key', otherPub);
    assert.equal(rep.code, 1);
    const page = await readFile(html, 'utf8');
    assert.match(page, /is NOT VERIFIED: the key given did not sign its checkpoints/);
    assert.match(page, /<code>AUDIT_KEY_MISMATCH<\/code> .*checkpoints signed by kid/);
    const q = await cli('audit', 'query', dir, '--public-key', otherPub);
    assert.equal(q.code, 1, 'readers refuse the records too');
    assert.match(q.err, /AUDIT_KEY_MISMATCH/);
  });

  test('no checkpoints: AUDIT_UNCHECKPOINTED unless --allow-uncovered-tail', async () => {
    const { dir, pub } = await makeLog(0);
    const r = await cli('audit', 'verify', dir, '--public-key', pub);
    assert.equal(r.code, 1);
    assert.match(r.err, /^AUDIT_UNCHECKPOINTED: /m);
    const allowed = await cli('audit', 'verify', dir, '--public-key', pub, '--allow-uncovered-tail');
    assert.equal(allowed.code, 0);
    assert.match(allowed.out, /note: AUDIT_UNCHECKPOINTED/);
    const unsigned = await cli('audit', 'verify', dir);
    assert.equal(unsigned.code, 0, 'without a key nothing is claimed about signatures: the output says so');
  });

  const tails: { name: string; keep: number; forged: number; at?: string; args: string[]; exit: number }[] = [
    { name: 'old checkpoint: 20 records behind, limit 1000', keep: 1, forged: 0, args: [], exit: 0 },
    {
      name: 'old checkpoint: 20 records behind, limit 10',
      keep: 1,
      forged: 0,
      args: ['--max-uncovered-records', '10'],
      exit: 1,
    },
    { name: 'limit 20 is not exceeded by 20', keep: 1, forged: 0, args: ['--max-uncovered-records', '20'], exit: 0 },
    {
      name: 'accepted',
      keep: 1,
      forged: 0,
      args: ['--max-uncovered-records', '10', '--allow-uncovered-tail'],
      exit: 0,
    },
    { name: 'a record an hour after the last checkpoint', keep: 3, forged: 1, at: 'later', args: [], exit: 1 },
    {
      name: 'an hour behind, limit 7200 s',
      keep: 3,
      forged: 1,
      at: 'later',
      args: ['--max-uncovered-seconds', '7200'],
      exit: 0,
    },
  ];
  for (const t of tails) {
    test(`tail far behind: ${t.name}`, async () => {
      const { dir, pub } = await makeLog();
      const cps = await checkpoints(dir);
      await writeCheckpoints(dir, cps.slice(0, t.keep));
      if (t.forged > 0) {
        const all = await lines(dir);
        const last = JSON.parse(all.at(-1) ?? '{}') as { hash: string; seq: number };
        const time = new Date(Date.parse(cps[t.keep - 1]?.time ?? '') + 3_600_000).toISOString();
        all.push(chainLine(entry(99, time), last.seq + 1, last.hash).line);
        await writeFile(join(dir, segmentName(1)), all.join('\n') + '\n');
      }
      const r = await cli('audit', 'verify', dir, '--public-key', pub, ...t.args, '--output', 'json');
      assert.equal(r.code, t.exit, r.out);
      const codes = (JSON.parse(r.out) as Saved).findings.map((f) => f.code);
      if (t.exit === 1) assert.deepEqual(codes, ['AUDIT_TAIL_UNCOVERED']);
    });
  }

  test('mixed keys: later checkpoints signed by another key are named with both kids', async () => {
    const { dir, pub } = await makeLog();
    const cps = await checkpoints(dir);
    const resigned = cps.map((c, i) =>
      i === 0
        ? c
        : signCheckpoint({ seq: c.seq, head: c.head, time: c.time, kid: keyId(other.publicKey) }, other.privateKey),
    );
    await writeCheckpoints(dir, resigned);
    const r = await cli('audit', 'verify', dir, '--public-key', pub);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(
        `AUDIT_TAMPERED: .*signed by kid ${keyId(other.publicKey)}, key given is kid ${keyId(signer.publicKey)}`,
      ),
    );
  });

  test('usage: a malformed --expect-head, --min-seq with several chains', async () => {
    const { dir } = await makeLog();
    assert.equal((await cli('audit', 'verify', dir, '--expect-head', 'abc')).code, 2);
    const two = await cli('audit', 'verify', dir, dir, '--min-seq', '3');
    assert.equal(two.code, 2);
    assert.match(two.err, /^AUDIT_QUERY_INVALID: /);
  });
});

describe('--against: the saved output of an earlier verification, one chain or several', () => {
  test('one chain: passes unchanged, fails rolled back', async () => {
    const { dir, pub } = await makeLog();
    const first = await cli('audit', 'verify', dir, '--public-key', pub, '--output', 'json');
    const file = join(dir, '..', 'verified.json');
    await writeFile(file, first.out);
    assert.equal((await cli('audit', 'verify', dir, '--public-key', pub, '--against', file)).code, 0);
    await rollBack(dir, 3);
    const r = await cli('audit', 'verify', dir, '--public-key', pub, '--against', file);
    assert.equal(r.code, 1);
    assert.match(r.err, /^AUDIT_ROLLED_BACK: .*ends at seq 27, but the saved verification of .* saw seq 30/m);
  });

  test('two replicas: each chain is found by its first record, whatever its directory is called now', async () => {
    const a = await makeLog();
    const b = await makeLog(5, 'r2');
    const saved = await cli('audit', 'verify', a.dir, b.dir, '--public-key', a.pub, '--output', 'json');
    assert.equal(saved.code, 0, saved.out);
    const file = join(a.dir, '..', 'verified.json');
    await writeFile(file, saved.out);
    assert.equal((await cli('audit', 'verify', b.dir, a.dir, '--against', file)).code, 0, 'order does not matter');
    const missing = await cli('audit', 'verify', a.dir, '--against', file);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /AUDIT_ROLLED_BACK: no chain given starts with the first record of the saved chain/);
    await rollBack(b.dir, 1);
    const rolled = await cli('audit', 'verify', a.dir, b.dir, '--against', file, '--output', 'json');
    assert.equal(rolled.code, 1);
    const body = JSON.parse(rolled.out) as Saved & { chains: { dir: string; intact: boolean }[] };
    assert.deepEqual(
      body.chains.map((c) => c.intact),
      [true, true],
      'each chain verifies on its own: only the saved head shows the rollback',
    );
    assert.deepEqual(
      body.findings.map((f) => f.code),
      ['AUDIT_ROLLED_BACK'],
    );
    assert.ok(body.findings[0]?.message.startsWith(b.dir));
  });

  test('a file that saved nothing is refused, not treated as "nothing to check"', async () => {
    const { dir } = await makeLog();
    const file = join(dir, '..', 'bad.json');
    for (const content of ['{}', '[]', 'not json', '{"ok":false,"save":null,"genesis":""}']) {
      await writeFile(file, content);
      const r = await cli('audit', 'verify', dir, '--against', file);
      assert.equal(r.code, 2, content);
      assert.match(r.err, /^AUDIT_QUERY_INVALID: /);
    }
  });
});

describe('several chains (one per replica): each verified on its own, one timeline', () => {
  test('a broken chain is named and cut at its break; the intact one is still read whole', async () => {
    const good = await makeLog(EVERY, 'r0');
    const bad = await makeLog(EVERY, 'r1');
    const all = await lines(bad.dir);
    all[4] = (all[4] ?? '').replace('"message":"m5"', '"message":"m5!"');
    await writeFile(join(bad.dir, segmentName(1)), all.join('\n') + '\n');
    const v = await cli('audit', 'verify', good.dir, bad.dir, '--public-key', good.pub, '--output', 'json');
    assert.equal(v.code, 1);
    const body = JSON.parse(v.out) as Saved & { chains: { dir: string; intact: boolean; records: number }[] };
    assert.deepEqual(
      body.chains.map((c) => [c.dir, c.intact]),
      [
        [good.dir, true],
        [bad.dir, false],
      ],
    );
    assert.deepEqual(
      body.findings.map((f) => [f.code, f.message.startsWith(bad.dir)]),
      [['AUDIT_TAMPERED', true]],
    );
    const q = await cli('audit', 'query', good.dir, bad.dir, '--public-key', good.pub, '--output', 'csv');
    assert.equal(q.code, 1);
    const rows = q.out.split('\r\n').slice(1);
    assert.equal(rows.filter((r) => r.startsWith(`"${good.dir}"`)).length, N, 'the intact chain whole');
    assert.equal(rows.filter((r) => r.startsWith(`"${bad.dir}"`)).length, 4, 'the broken one up to its break');
    assert.match(q.err, new RegExp(`AUDIT_TAMPERED: ${bad.dir}: BROKEN at seq 5`));
  });
});
