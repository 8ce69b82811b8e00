/**
 * The compliance report's escaping, as a class (the browser test in test/http/report.test.ts reads
 * one hand-made payload per field in Chromium; this generates them). Every field of a record that
 * the page renders and a workflow's signer (or someone who can write the volume, before a break)
 * chooses gets an arbitrary string built from markup fragments. Whatever they hold, the page has
 * only the tags the renderer writes, one script (its own, pinned by hash in the CSP), no event
 * handler attribute, and its CSP first in the head.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { AuditRecord } from '../../src/audit/record.ts';
import { renderReport } from '../../src/audit/report.ts';

/** Every element the renderer itself writes. */
const OWN_TAGS = new Set(
  'html head meta title style body script h1 h2 h3 section p table thead tbody tr th td button label input span div ul li code a details summary ol b pre svg g text rect i footer'.split(
    ' ',
  ),
);

const fragment = fc.constantFrom(
  '<',
  '>',
  '"',
  "'",
  '&',
  '`',
  '=',
  '/',
  ' ',
  '\n',
  'script',
  '</script>',
  '<img src=x onerror=alert(1)>',
  '<svg onload=alert(1)>',
  'javascript:',
  '<style>',
  '<!--',
  ']]>',
  '</td></tr></table>',
  '<meta http-equiv="refresh" content="0;url=//x">',
  '&lt;',
  '\u2028',
  '\u0000',
);
const hostile = fc.array(fc.oneof(fragment, fc.string({ maxLength: 6 })), { maxLength: 8 }).map((p) => p.join(''));

const record = (seq: number, s: string[]): AuditRecord => {
  const v = (i: number): string => s[i % s.length] ?? '';
  return {
    seq,
    prev: '0'.repeat(64),
    hash: 'f'.repeat(64),
    decision_id: v(0),
    timestamp: `2026-11-01T00:0${seq % 10}:00.000Z`,
    stage: seq % 3 === 0 ? 'mutate' : seq % 3 === 1 ? 'evaluate' : 'finish',
    outcome: seq % 2 === 0 ? 'deny' : 'error',
    code: 'POLICY_DENIED',
    message: v(1),
    runner: v(2),
    labels: { runner: v(3) },
    workflow: { id: v(4), runId: v(5) },
    step: v(6),
    input: { step: { image: v(7), sidecars: [{ image: v(8) }] } },
    result: { allow: false, violations: [{ code: v(9), message: v(10), policy: v(11), action: 'deny' }] },
    bundles: { kubiya: { revision: v(12) } },
    patch: [{ op: 'add', path: v(13), value: v(14) }],
    pod: { name: v(15), namespace: v(16), phase: v(17), reason: v(18) },
  };
};

test('report: hostile strings in every rendered field never become markup (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(hostile, { minLength: 19, maxLength: 19 }), hostile, (s, dir) => {
      // The fourth is what only someone who writes the volume could make (before a break): its
      // enum fields and its time are hostile too.
      const odd = { ...record(4, s), stage: s[1], outcome: s[2], timestamp: s[3] } as unknown as AuditRecord;
      const records = [1, 2, 3].map((i) => record(i, s)).concat(odd);
      const html = renderReport({
        title: s[0] ?? '',
        chains: [
          {
            dir,
            log: {
              records,
              untrusted: 1,
              report: {
                ok: false,
                records: 3,
                lastSeq: 3,
                head: s[1] ?? '',
                segments: 1,
                checkpoints: { total: 1, verified: 0, lastSeq: 0, uncovered: null, adopted: [] },
                firstBad: { seq: 4, reason: s[2] ?? '', where: s[3] },
              },
            },
            checkpoints: [{ seq: 1, head: 'h', time: 't', kid: s[4] ?? '', sig: 's' }],
          },
        ],
        records: records.map((record) => ({ record, chain: dir })),
        findings: [{ code: 'AUDIT_TAMPERED', message: s[5] ?? '', fails: true }],
        generatedAt: s[6] ?? '',
      });
      const tags = [...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => (m[1] ?? '').toLowerCase());
      for (const t of tags) assert.ok(OWN_TAGS.has(t), `a tag the renderer does not write: <${t}>`);
      assert.equal(html.match(/<script/g)?.length, 1, 'one script: the page’s own');
      // Attribute values (quoted, escaped) may hold any text: look at what is outside them.
      const outside = html.replace(/="[^"]*"/g, '=""');
      assert.doesNotMatch(outside, /<[a-z][^>]*\son[a-z]+\s*=/i, 'no event-handler attribute');
      assert.doesNotMatch(html, /\bundefined</, 'no value rendered as "undefined"');
      assert.doesNotMatch(html, /<!--/, 'no comment opened by a value');
      assert.match(
        html,
        /^<!doctype html>\n<html lang="en"><head><meta charset="utf-8">[^\n]*\n<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/,
      );
    }),
    { numRuns: 200 },
  );
});
