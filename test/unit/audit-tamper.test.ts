/**
 * The class: an audit line verifies only if its bytes are exactly what the appender wrote (RFC 8785
 * canonical JSON of the record without `hash`, then `"hash"` as the last member). Any other
 * spelling of "the same JSON" is tampering, because readers disagree on what it says: JSON.parse
 * keeps the last of two duplicated members, other parsers keep the first; a verifier that parses
 * and re-canonicalises hashes what IT reads, not what the line says to another reader.
 *
 * Reported example (issue 13 §3, kept as a regression test): a second `"outcome":"allow",` at the
 * start of a denied record's line verified as "chain intact".
 *
 * Variants (the table below, then generated with fast-check): duplicated members (first, last,
 * nested, the hash itself), reordered members, the hash member moved, whitespace anywhere between
 * tokens, trailing spaces, CRLF, a BOM, escaped spellings of the same characters (\u0061, \/),
 * other spellings of the same number (1e1, 10.0), upper-case hex, an empty line, a missing final
 * newline; then any byte edit inside a line. Each is named at the seq of the line it touched.
 * Readers (`audit query`, `audit report`, `policy replay`) use nothing from the break on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE, readTrusted, segmentName, checkAuditDir } from '../../src/adapters/audit-files.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { keyId } from '../../src/audit/keys.ts';
import { variedAuditEntry } from '../support/audit-entries.ts';

const run = promisify(execFile);
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const checkpoint = { key: privateKey, kid: keyId(publicKey), every: 10, intervalMs: 60_000 };
const N = 40;

const entry = variedAuditEntry;

describe('audit verify hashes the bytes as written', () => {
  let dir: string;
  let original: string;
  let checkpoints: string;
  const seg = () => join(dir, segmentName(1));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-tamper-'));
    const log = await FileAuditLog.open(dir, { checkpoint });
    for (let i = 1; i <= N; i++) await log.append(entry(i));
    await log.close();
    original = await readFile(seg(), 'utf8');
    checkpoints = await readFile(join(dir, CHECKPOINTS_FILE), 'utf8');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const lines = (): string[] => original.slice(0, -1).split('\n');
  /** The log with line `seq` replaced by `f(line)`. */
  const withLine = (seq: number, f: (line: string) => string): string =>
    lines()
      .map((l, i) => (i === seq - 1 ? f(l) : l))
      .join('\n') + '\n';
  /** Writes `text` as the segment, verifies, restores; the first bad seq (undefined when intact). */
  const firstBad = async (text: string, cps = checkpoints): Promise<{ seq: number | undefined; reason: string }> => {
    await writeFile(seg(), text);
    await writeFile(join(dir, CHECKPOINTS_FILE), cps);
    try {
      const r = await checkAuditDir(dir, publicKey);
      return { seq: r.ok ? undefined : r.firstBad?.seq, reason: r.firstBad?.reason ?? '' };
    } finally {
      await writeFile(seg(), original);
      await writeFile(join(dir, CHECKPOINTS_FILE), checkpoints);
    }
  };

  test('the untouched log verifies', async () => {
    assert.equal((await firstBad(original)).seq, undefined);
  });

  test('regression (issue 13 §3): a second "outcome":"allow" in a denied record is tampering at its seq, and readers never see an allow', async () => {
    const target = 9; // a deny (9 % 3 === 0)
    const line = lines()[target - 1] as string;
    assert.match(line, /"outcome":"deny"/);
    const text = withLine(target, (l) => `{"outcome":"allow",${l.slice(1)}`);
    assert.equal(
      (JSON.parse(text.split('\n')[target - 1] as string) as { outcome: string }).outcome,
      'deny',
      'JSON.parse keeps the last duplicate: a re-canonicalising verifier saw the original',
    );
    const bad = await firstBad(text);
    assert.equal(bad.seq, target);
    assert.match(bad.reason, /not the canonical serialisation/);
    await writeFile(seg(), text);
    try {
      const trusted = await readTrusted(dir, publicKey);
      assert.equal(trusted.report.firstBad?.seq, target);
      assert.deepEqual(
        trusted.records.map((r) => r.seq),
        Array.from({ length: target - 1 }, (_, i) => i + 1),
        'nothing from the break on is returned',
      );
      assert.equal(trusted.untrusted, N - target + 1);
    } finally {
      await writeFile(seg(), original);
    }
  });

  // Each variant keeps (or, for a first-wins reader, changes) what the line means, and changes its bytes.
  const variants: [string, (l: string) => string][] = [
    ['duplicate member first (first-wins readers see it)', (l) => `{"outcome":"allow",${l.slice(1)}`],
    ['duplicate member before the hash', (l) => l.replace(',"hash":', ',"outcome":"allow","hash":')],
    ['duplicate nested member', (l) => l.replace('"step":{', '"step":{"image":"evil.io/x:1",')],
    ['duplicate hash member', (l) => l.replace(/,"hash":"([0-9a-f]{64})"\}$/, ',"hash":"$1","hash":"$1"}')],
    [
      'two members swapped',
      (l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        const k = Object.keys(o);
        [k[0], k[1]] = [k[1] as string, k[0] as string];
        return JSON.stringify(Object.fromEntries(k.map((x) => [x, o[x]])));
      },
    ],
    [
      'hash member in its sorted place',
      (l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        const sorted = Object.fromEntries(
          Object.keys(o)
            .sort()
            .map((k) => [k, o[k]]),
        );
        return JSON.stringify(sorted);
      },
    ],
    ['space after a colon', (l) => l.replace('"stage":', '"stage": ')],
    ['space after a comma', (l) => l.replace(',"stage"', ', "stage"')],
    ['leading space', (l) => ` ${l}`],
    ['trailing space', (l) => `${l} `],
    ['trailing tab', (l) => `${l}\t`],
    ['CRLF line end', (l) => `${l}\r`],
    ['byte order mark', (l) => `\uFEFF${l}`],
    ['pretty-printed on one line', (l) => JSON.stringify(JSON.parse(l), null, 0).replaceAll('":', '" :')],
    ['a letter escaped (\\u0072)', (l) => l.replace('"runner":"r"', '"runner":"\\u0072"')],
    ['a key escaped', (l) => l.replace('"stage":', '"st\\u0061ge":')],
    ['a slash escaped (\\/)', (l) => l.replace('ghcr.io/acme', 'ghcr.io\\/acme')],
    ['non-ASCII escaped (\\u00e9)', (l) => l.replace('é', '\\u00e9')],
    ['an emoji escaped as a surrogate pair', (l) => l.replace('\u{1F600}', '\\ud83d\\ude00')],
    ['a number spelled 1e1 style', (l) => l.replace('"cpu":0.5', '"cpu":5e-1')],
    ['a number spelled with a trailing zero', (l) => l.replace('"cpu":0.5', '"cpu":0.50')],
    ['seq spelled as a float', (l) => l.replace(/"seq":(\d+)/, '"seq":$1.0')],
    [
      'hash in upper-case hex',
      (l) => l.replace(/"hash":"([0-9a-f]{64})"/, (_m, h: string) => `"hash":"${h.toUpperCase()}"`),
    ],
  ];

  for (const [name, f] of variants) {
    test(`tampering named at its seq: ${name}`, async () => {
      const target = 10; // 10 % 5 === 0: has é, the emoji and a/b
      const line = lines()[target - 1] as string;
      const changed = f(line);
      assert.notEqual(changed, line, 'the variant changes the bytes');
      const bad = await firstBad(withLine(target, f));
      assert.equal(bad.seq, target, `${name}: ${bad.reason}`);
    });
  }

  test('an empty line between records, and a last line without its newline', async () => {
    assert.equal((await firstBad(withLine(12, (l) => `\n${l}`))).seq, 12, 'empty line before seq 12');
    assert.equal((await firstBad(original.slice(0, -1))).seq, N, 'no final newline');
    assert.equal((await firstBad(original + '\n')).seq, N + 1, 'an empty line at the end');
  });

  test('generated: a meaning-preserving re-spelling of any record is named at that seq (fast-check)', async () => {
    // Whitespace at a token boundary, an escaped character, a duplicated member, a member moved.
    const respell = fc.oneof(
      fc.record({ kind: fc.constant('ws' as const), ws: fc.constantFrom(' ', '\t', '\r', '\n ', '  '), at: fc.nat() }),
      fc.record({ kind: fc.constant('escape' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('move' as const), at: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: N }), respell, async (target, r) => {
        const line = lines()[target - 1] as string;
        const obj = JSON.parse(line) as Record<string, unknown>;
        const keys = Object.keys(obj);
        let changed: string;
        switch (r.kind) {
          case 'ws': {
            // boundaries outside strings: after { , : and before }
            const spots = [...line.matchAll(/[{,:]"|"[,}]|[0-9e][,}]/g)].map((m) => (m.index ?? 0) + 1);
            const at = spots[r.at % spots.length] as number;
            changed = line.slice(0, at) + r.ws + line.slice(at);
            break;
          }
          case 'escape': {
            // a letter inside a key or string value written as \u00XX
            const spots = [...line.matchAll(/"([a-z_]+)"/g)].map((m) => (m.index ?? 0) + 1);
            const at = spots[r.at % spots.length] as number;
            changed = `${line.slice(0, at)}\\u${line.charCodeAt(at).toString(16).padStart(4, '0')}${line.slice(at + 1)}`;
            break;
          }
          case 'duplicate': {
            const key = keys[r.at % keys.length] as string;
            changed = `{${JSON.stringify(key)}:${JSON.stringify(obj[key])},${line.slice(1)}`;
            break;
          }
          case 'move': {
            const key = keys[r.at % (keys.length - 1)] as string; // never the hash (it is last)
            const rest = Object.fromEntries(keys.filter((k) => k !== key).map((k) => [k, obj[k]]));
            changed = JSON.stringify({ ...rest, [key]: obj[key] });
            break;
          }
        }
        if (!changed.includes('\n'))
          assert.deepEqual(JSON.parse(changed), obj, 'the same JSON value: only the spelling changed');
        const bad = await firstBad(withLine(target, () => changed));
        assert.equal(bad.seq, target, `${r.kind}: ${bad.reason}`);
      }),
      { numRuns: 150 },
    );
  });

  test("generated: any edit of a line's bytes (insert, delete, replace) is named at that seq (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: N }),
        fc.nat(),
        fc.nat({ max: 8 }),
        fc.string({ unit: 'binary', maxLength: 4 }),
        async (target, pos, del, insert) => {
          const line = lines()[target - 1] as string;
          const at = pos % (line.length + 1);
          const changed = line.slice(0, at) + insert + line.slice(Math.min(line.length, at + del));
          fc.pre(changed !== line && !changed.includes('\n'));
          const bad = await firstBad(withLine(target, () => changed));
          assert.equal(bad.seq, target, bad.reason);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('readers: audit query and audit report state the break and use nothing after it', async () => {
    const target = 9;
    await writeFile(
      seg(),
      withLine(target, (l) => `{"outcome":"allow",${l.slice(1)}`),
    );
    const cli = (args: string[]) =>
      run(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), ...args], { timeout: 60_000 }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    try {
      const q = await cli(['audit', 'query', dir, '--output', 'json']);
      assert.equal(q.code, 1, 'a broken log is exit 1');
      const seqs = q.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: target - 1 }, (_, i) => i + 1),
      );
      assert.match(q.stderr, new RegExp(`AUDIT_TAMPERED: .*BROKEN at seq ${target}`));
      const q2 = await cli(['audit', 'query', dir, '--outcome', 'allow', '--workflow', 'wf-1']);
      assert.equal(q2.code, 1);
      assert.ok(
        !q2.stdout.split('\n').some((l) => l.startsWith(`${target}\t`) || Number(l.split('\t')[0]) > target),
        q2.stdout,
      );
      const out = join(dir, 'report.html');
      const rep = await cli(['audit', 'report', dir, '--out', out]);
      assert.equal(rep.code, 1);
      const html = await readFile(out, 'utf8');
      assert.match(html, new RegExp(`BROKEN at seq ${target}`));
      assert.match(html, new RegExp(`only the ${target - 1} record\\(s\\) before the break`));
      assert.match(rep.stderr, /AUDIT_TAMPERED/);
    } finally {
      await writeFile(seg(), original);
      await rm(join(dir, 'report.html'), { force: true });
    }
  });
});
