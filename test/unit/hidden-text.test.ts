/**
 * Red-team round 2, finding 12: text that reads differently from what it holds, wherever logged or
 * signed text is shown to a person (the terminal table and messages of the audit CLI, the HTML
 * report). The class is units/text.ts HIDDEN_TEXT: controls, bidi overrides and marks (the review
 * found U+202E raw in the report and U+061C in the table), zero-width and tag characters (U+200B
 * was left raw), line separators, Hangul fillers and lone surrogates. Each is shown as `\u{…}`.
 *
 * Also: the report's headline says no more than `audit verify` would — not "Intact" for a log
 * that nothing signed vouches for (the review's un-checkpointed, rewritten log).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { keyId } from '../../src/audit/keys.ts';
import { printable } from '../../src/audit/query.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { renderReport } from '../../src/audit/report.ts';
import { main } from '../../src/cli/main.ts';
import { HIDDEN_TEXT, revealHidden } from '../../src/units/text.ts';

/** One of each kind, with the code point it must be shown as. */
const NAMED: readonly [string, string][] = [
  ['\u202e', '202e'], // RIGHT-TO-LEFT OVERRIDE (the review's report finding)
  ['\u061c', '61c'], // ARABIC LETTER MARK (the review's table finding)
  ['\u200b', '200b'], // ZERO WIDTH SPACE (the review's table finding)
  ['\u200d', '200d'], // ZERO WIDTH JOINER
  ['\u2066', '2066'], // LEFT-TO-RIGHT ISOLATE
  ['\u200e', '200e'], // LEFT-TO-RIGHT MARK
  ['\u2060', '2060'], // WORD JOINER
  ['\u2064', '2064'], // INVISIBLE PLUS
  ['\ufeff', 'feff'], // ZERO WIDTH NO-BREAK SPACE (BOM)
  ['\u00ad', 'ad'], // SOFT HYPHEN
  ['\u180e', '180e'], // MONGOLIAN VOWEL SEPARATOR
  ['\ufff9', 'fff9'], // INTERLINEAR ANNOTATION ANCHOR
  ['\u{e0041}', 'e0041'], // TAG LATIN CAPITAL LETTER A ("ASCII smuggling")
  ['\u2028', '2028'], // LINE SEPARATOR
  ['\u2029', '2029'], // PARAGRAPH SEPARATOR
  ['\u001b', '1b'], // ESC (terminal sequences)
  ['\u009b', '9b'], // CSI (C1)
  ['\r', 'd'],
  ['\u0000', '0'],
  ['\u3164', '3164'], // HANGUL FILLER
  ['\u115f', '115f'], // HANGUL CHOSEONG FILLER
  ['\uffa0', 'ffa0'], // HALFWIDTH HANGUL FILLER
  ['\ud800', 'd800'], // a lone surrogate
];

const visible = fc
  .string({ unit: 'grapheme', maxLength: 12 })
  .filter((s) => !new RegExp(HIDDEN_TEXT.source, 'u').test(s));
const hiddenChar = fc.constantFrom(...NAMED.map(([c]) => c));
const mixed = fc
  .array(fc.oneof(visible, hiddenChar, fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 10 })
  .map((p) => p.join(''));
const anyHidden = (s: string): boolean => new RegExp(HIDDEN_TEXT.source, 'u').test(s);

test('each kind of hidden character is shown as its code point by the CLI and the report', () => {
  for (const [c, hex] of NAMED) {
    assert.equal(printable(`a${c}b`), `a\\u{${hex}}b`, `CLI: U+${hex}`);
    const html = renderReport(input([record(1, `x${c}y`)]));
    assert.ok(html.includes(`x\\u{${hex}}y`) || c === '\r', `report: U+${hex} not shown`);
  }
});

test('printable: no hidden character survives, visible text is unchanged (fast-check)', () => {
  fc.assert(
    fc.property(mixed, (s) => {
      assert.ok(!anyHidden(printable(s)), JSON.stringify(printable(s)));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(visible, (s) => assert.equal(revealHidden(s), s)),
    { numRuns: 300 },
  );
});

function record(seq: number, s: string): AuditRecord {
  return {
    seq,
    prev: '0'.repeat(64),
    hash: 'f'.repeat(64),
    decision_id: `d${s}`,
    timestamp: `2026-11-01T00:0${seq % 10}:00.000Z`,
    stage: 'evaluate',
    outcome: 'deny',
    code: 'POLICY_DENIED',
    message: s,
    runner: `r${s}`,
    labels: { runner: `r${s}` },
    workflow: { id: `w${s}`, runId: `run${s}` },
    step: `s${s}`,
    input: { step: { image: `i${s}` } },
    result: { allow: false, violations: [{ code: `C${s}`, message: s, policy: `p${s}`, action: 'deny' }] },
    bundles: { kubiya: { revision: `rev${s}` } },
    patch: [{ op: 'add', path: `/x${s}`, value: s }],
    pod: { name: `p${s}`, namespace: 'n', phase: 'Failed', reason: s },
  };
}

function input(records: AuditRecord[]): Parameters<typeof renderReport>[0] {
  return {
    title: 't',
    chains: [
      {
        dir: 'audit',
        log: {
          records,
          untrusted: 0,
          report: {
            ok: true,
            records: records.length,
            lastSeq: records.length,
            head: 'f'.repeat(64),
            segments: 1,
            checkpoints: { total: 0, verified: 0, lastSeq: 0, uncovered: null, adopted: [] },
          },
        },
        checkpoints: [],
      },
    ],
    records: records.map((r) => ({ record: r, chain: 'audit' })),
    findings: [],
    generatedAt: '2026-11-01T00:00:00.000Z',
  };
}

test('report: no hidden character from any rendered field reaches the page (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(mixed, { minLength: 1, maxLength: 3 }), (texts) => {
      const html = renderReport(input(texts.map((t, i) => record(i + 1, t))));
      const raw = [...html.matchAll(new RegExp(HIDDEN_TEXT.source, 'gu'))].map((m) => m[0]);
      assert.deepEqual(
        raw.filter((c) => c !== '\n' && c !== '\t' && c !== '\r'),
        [],
      );
    }),
    { numRuns: 150 },
  );
});

const roots: string[] = [];
after(async () => {
  for (const d of roots) await rm(d, { recursive: true, force: true });
});

async function headline(every: number, withKey: boolean): Promise<{ text: string; cls: string }> {
  const root = await mkdtemp(join(tmpdir(), 'kubiya-headline-'));
  roots.push(root);
  const k = generateKeyPairSync('ed25519');
  const dir = join(root, 'audit');
  const log = await FileAuditLog.open(
    dir,
    every > 0 ? { checkpoint: { key: k.privateKey, kid: keyId(k.publicKey), every, intervalMs: 3_600_000 } } : {},
  );
  for (let i = 1; i <= 6; i++)
    await log.append({
      decision_id: `d${i}`,
      timestamp: '2026-11-01T00:00:00.000Z',
      stage: 'evaluate',
      outcome: 'allow',
      message: 'm',
      runner: 'r',
      labels: { runner: 'r' },
    });
  await log.close();
  await writeFile(join(root, 'k.pem'), k.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const out = join(root, 'r.html');
  const argv = ['audit', 'report', dir, '--out', out, ...(withKey ? ['--public-key', join(root, 'k.pem')] : [])];
  const lines: string[] = [];
  await main(argv, { out: (l) => lines.push(l), err: () => undefined, color: false }, {});
  const m = /<p class="(\w+)" id="verification-status">([^<]*)</.exec(await readFile(out, 'utf8'));
  const text = m?.[2] ?? '';
  // Red-team round 3, finding 9: the CLI's summary line (what CI logs keep) is the page's headline.
  assert.deepEqual(lines, [`wrote ${out}: ${text}`]);
  return { cls: m?.[1] ?? '', text };
}

test('report headline: "Intact" only when audit verify with the same key would say ok', async () => {
  const cases: { every: number; key: boolean; cls: string; text: RegExp }[] = [
    { every: 3, key: true, cls: 'ok', text: /^Intact: 6 records/ },
    { every: 0, key: true, cls: 'warn', text: /NOT fully vouched for: AUDIT_UNCHECKPOINTED/ },
    // A tail within verify's limits (records 5..6 after the checkpoint at 4): verify says ok, so does the page.
    { every: 4, key: true, cls: 'ok', text: /^Intact: 6 records/ },
    { every: 3, key: false, cls: 'warn', text: /signatures NOT checked/ },
    { every: 0, key: false, cls: 'warn', text: /NOT vouched for: no signed checkpoint/ },
  ];
  for (const c of cases) {
    const h = await headline(c.every, c.key);
    assert.match(h.text, c.text, JSON.stringify(c));
    assert.equal(h.cls, c.cls, JSON.stringify(c));
  }
});
