/**
 * Red-team round 2, findings 8 and 13: what the set of chains given to `audit verify|query|report`
 * is, and what verify says while it fails.
 *
 * Class A — one chain counted twice (it would double every query result, and stand in for a
 * replica whose log is missing):
 *
 * | variant | expected |
 * |---|---|
 * | the same path twice; with a trailing slash; `./`-relative; through `..`; through a symlink | AUDIT_QUERY_INVALID, exit 2, before any output |
 * | a copy of the directory (same first record) beside the original | AUDIT_CHAIN_DUPLICATE, exit 1 |
 * | two replicas' own chains | accepted |
 *
 * Class B — a success word printed while the command fails: for every failing finding `audit
 * verify` can give on an intact chain (rolled back by `--min-seq`, `--expect-head`, `--against`;
 * uncovered tail; no checkpoints), no stdout line starts with `ok`, and the chain's line says
 * FAILED (or `intact` when the finding is about no one chain).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { keyId } from '../../src/audit/keys.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { main } from '../../src/cli/main.ts';

const roots: string[] = [];
after(async () => {
  for (const d of roots) await rm(d, { recursive: true, force: true });
});

const signer = generateKeyPairSync('ed25519');

const entry = (i: number, runner: string): AuditEntry => ({
  decision_id: `${runner}-d-${i}`,
  timestamp: '2026-06-01T12:00:00.000Z',
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

async function makeLog(root: string, name: string, records: number, every = 5): Promise<string> {
  const dir = join(root, name);
  const w = await FileAuditLog.open(
    dir,
    every > 0
      ? { checkpoint: { key: signer.privateKey, kid: keyId(signer.publicKey), every, intervalMs: 3_600_000 } }
      : {},
  );
  for (let i = 1; i <= records; i++) await w.append(entry(i, name));
  await w.close();
  return dir;
}

async function fixture(): Promise<{ root: string; a: string; b: string; pub: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kubiya-chainset-'));
  roots.push(root);
  const a = await makeLog(root, 'audit-0', 10);
  const b = await makeLog(root, 'audit-1', 10);
  const pub = join(root, 'signer.pub.pem');
  await writeFile(pub, signer.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  return { root, a, b, pub };
}

describe('class A: one chain counted twice', () => {
  test('every spelling of the same directory is refused before any output, by every reader', async () => {
    const { root, a, b } = await fixture();
    await symlink(a, join(root, 'link'));
    await mkdir(join(root, 'sub'));
    const spellings = [
      a,
      `${a}/`,
      `./${relative(process.cwd(), a)}`,
      join(root, 'sub', '..', basename(a)),
      join(root, 'link'),
      join(dirname(a), '.', basename(a)),
    ];
    for (const cmd of [['verify'], ['query'], ['report', '--out', join(root, 'r.html')]])
      for (const again of spellings) {
        const r = await cli('audit', ...cmd, a, b, again);
        assert.equal(r.code, 2, `${cmd[0]} ${again}: ${r.err}`);
        assert.match(r.err, /AUDIT_QUERY_INVALID: .* is the directory .* again: give each once/);
        assert.equal(r.out, '', `${cmd[0]} ${again} printed before refusing`);
      }
  });

  test('a copy of a chain beside its original is AUDIT_CHAIN_DUPLICATE (exit 1), in either order', async () => {
    const { root, a, b } = await fixture();
    const copy = join(root, 'copy-of-0');
    await cp(a, copy, { recursive: true });
    for (const cmd of [['verify'], ['query']])
      for (const dirs of [
        [a, copy],
        [copy, b, a],
      ]) {
        const r = await cli('audit', ...cmd, ...dirs);
        assert.equal(r.code, 1, r.err);
        assert.match(r.err, /AUDIT_CHAIN_DUPLICATE: .* hold the same chain/);
        assert.doesNotMatch(r.out, /^ok/m);
      }
  });

  test('two replicas, each once: verified and queried, each record once (the control)', async () => {
    const { a, b } = await fixture();
    const v = await cli('audit', 'verify', a, b);
    assert.equal(v.code, 0, v.err);
    const q = await cli('audit', 'query', a, b, '--output', 'json');
    assert.equal(q.code, 0, q.err);
    assert.equal(q.out.split('\n').filter((l) => l.startsWith('{')).length, 20);
  });
});

describe('class B: no ok on stdout while verify fails', () => {
  test('each failing finding on an intact chain: no line starts with ok, the chain is FAILED or intact', async () => {
    const { root, a, pub } = await fixture();
    const saved = await cli('audit', 'verify', a, '--output', 'json');
    assert.equal(saved.code, 0);
    const head = (JSON.parse(saved.out) as { head: string }).head;
    // Rolled back after the saved verification: a newer chain whose saved head and seq are gone.
    const future = JSON.parse(saved.out) as Record<string, unknown> & { save: { minSeq: number; expectHead: string } };
    future.save = { ...future.save, minSeq: 11, expectHead: 'f'.repeat(64) };
    const against = join(root, 'saved.json');
    await writeFile(against, JSON.stringify(future));
    const bare = await makeLog(root, 'bare', 4, 0);
    const cases: { name: string; argv: string[]; verdict: RegExp }[] = [
      { name: '--min-seq past the end', argv: [a, '--min-seq', '11'], verdict: /^FAILED: / },
      { name: '--expect-head found nowhere', argv: [a, '--expect-head', 'e'.repeat(64)], verdict: /^intact: / },
      {
        name: '--expect-head at the wrong seq',
        argv: [a, '--expect-head', head, '--min-seq', '9'],
        verdict: /^FAILED/,
      },
      { name: '--against a later verification', argv: [a, '--against', against], verdict: /^FAILED: / },
      { name: 'no checkpoint with a key', argv: [bare, '--public-key', pub], verdict: /^FAILED: / },
      {
        name: 'tail uncovered',
        argv: [a, '--public-key', pub, '--max-uncovered-records', '0'],
        verdict: /^(FAILED|ok): /,
      },
    ];
    for (const c of cases) {
      const r = await cli('audit', 'verify', ...c.argv);
      if (r.code === 0) {
        // The tail case passes when the last checkpoint is at the head (nothing uncovered): then ok is right.
        assert.equal(c.name, 'tail uncovered', `${c.name} passed: ${r.out}`);
        continue;
      }
      assert.equal(r.code, 1, `${c.name}: ${r.err}`);
      assert.doesNotMatch(r.out, /^ok\b/m, `${c.name} printed ok while failing:\n${r.out}`);
      assert.match(r.out, c.verdict, c.name);
      assert.doesNotMatch(r.out, /keep for the next verification/, c.name);
    }
  });

  test('the passing verification still says ok (the control)', async () => {
    const { a, pub } = await fixture();
    const r = await cli('audit', 'verify', a, '--public-key', pub);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ok: /);
  });
});
