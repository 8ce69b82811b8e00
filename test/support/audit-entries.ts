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
