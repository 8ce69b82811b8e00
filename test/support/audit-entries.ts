import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { AuditEntry } from '../../src/audit/record.ts';

/**
 * Audit entry number `i` as the audit unit tests append it: decision `d-<i>`, an allow at evaluate,
 * runner `r`, a fixed timestamp, message "m"; members of `over` replace (or add to) these.
 */
export function auditEntry(i: number, over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    decision_id: `d-${i}`,
    timestamp: '2026-06-01T12:00:00.000Z',
    stage: 'evaluate',
    outcome: 'allow',
    message: 'm',
    runner: 'r',
    labels: { runner: 'r' },
    ...over,
  };
}

/**
 * Audit entry number `i` with variety, for the tamper and verify tests that edit written lines:
 * every third a deny with a code; every fifth a message with non-ASCII text, an emoji, a quote, a
 * backslash, a slash and a newline; a workflow, a step and nested input with a string array, a
 * fraction, an integer `n` (= i), a boolean and a null.
 */
export function variedAuditEntry(i: number): AuditEntry {
  return {
    decision_id: `d-${i}`,
    timestamp: `2026-06-01T12:00:${String(i % 60).padStart(2, '0')}.000Z`,
    stage: 'evaluate',
    outcome: i % 3 === 0 ? 'deny' : 'allow',
    ...(i % 3 === 0 ? { code: 'POLICY_DENIED' as const } : {}),
    message: i % 5 === 0 ? `étape ${i} \u{1F600} "q" a\\b a/b\n` : `m${i}`,
    runner: 'r',
    labels: { runner: 'r' },
    workflow: { id: `wf-${i % 4}`, runId: `run-${i}` },
    step: 'build',
    input: { step: { image: 'ghcr.io/acme/tool:1.0', args: ['--n', String(i)], cpu: 0.5, n: i, ok: true, no: null } },
  };
}

/** A maker of fresh temporary directories (`<prefix>XXXXXX`), all removed after the test file. */
export function tempDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  return async () => {
    const d = await mkdtemp(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}
