import type { AuditRecord } from './record.ts';

export interface AuditFilter {
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly stage?: string | undefined;
  readonly outcome?: string | undefined;
  readonly code?: string | undefined;
  readonly workflow?: string | undefined;
  readonly step?: string | undefined;
  readonly image?: string | undefined;
  readonly policy?: string | undefined;
}

interface Violations {
  violations?: { code: string; policy: string }[];
}

/** The images a record is about (the step's and its sidecars' / init containers'). */
export function imagesOf(r: AuditRecord): string[] {
  const step = (
    r.input as
      { step?: { image?: string; sidecars?: { image: string }[]; initContainers?: { image: string }[] } } | undefined
  )?.step;
  if (step === undefined) return [];
  return [
    step.image,
    ...(step.sidecars ?? []).map((c) => c.image),
    ...(step.initContainers ?? []).map((c) => c.image),
  ].filter((i): i is string => typeof i === 'string');
}

export function policiesOf(r: AuditRecord): string[] {
  return [...new Set(((r.result as Violations | undefined)?.violations ?? []).map((v) => v.policy))];
}

export function codesOf(r: AuditRecord): string[] {
  const own = r.code !== undefined ? [r.code] : [];
  return [...new Set([...own, ...((r.result as Violations | undefined)?.violations ?? []).map((v) => v.code)])];
}

export function matches(r: AuditRecord, f: AuditFilter): boolean {
  if (f.since !== undefined && r.timestamp < f.since) return false;
  if (f.until !== undefined && r.timestamp > f.until) return false;
  if (f.stage !== undefined && r.stage !== f.stage) return false;
  if (f.outcome !== undefined && r.outcome !== f.outcome) return false;
  if (f.code !== undefined && !codesOf(r).includes(f.code)) return false;
  if (f.workflow !== undefined && r.workflow?.id !== f.workflow) return false;
  if (f.step !== undefined && r.step !== f.step) return false;
  if (f.image !== undefined && !imagesOf(r).includes(f.image)) return false;
  if (f.policy !== undefined && !policiesOf(r).includes(f.policy)) return false;
  return true;
}

export const QUERY_COLUMNS = [
  'seq',
  'timestamp',
  'stage',
  'outcome',
  'code',
  'workflow',
  'step',
  'image',
  'policies',
  'message',
  'decision_id',
] as const;

export function row(r: AuditRecord): Record<(typeof QUERY_COLUMNS)[number], string> {
  return {
    seq: String(r.seq),
    timestamp: r.timestamp,
    stage: r.stage,
    outcome: r.outcome,
    code: codesOf(r).join(' '),
    workflow: r.workflow?.id ?? '',
    step: r.step ?? '',
    image: imagesOf(r)[0] ?? '',
    policies: policiesOf(r).join(' '),
    message: r.message,
    decision_id: r.decision_id,
  };
}

/**
 * RFC 4180 CSV: quote every field, double the quotes inside. Fields that a spreadsheet would run
 * as a formula (=, +, -, @, tab, CR at the start) get a leading apostrophe: audit fields hold
 * strings from signed-but-untrusted workflows.
 */
export function toCsv(rows: readonly Record<string, string>[], columns: readonly string[]): string {
  const cell = (v: string): string => `"${(/^[=+\-@\t\r]/.test(v) ? `'${v}` : v).replaceAll('"', '""')}"`;
  return (
    [columns.map(cell).join(','), ...rows.map((r) => columns.map((c) => cell(r[c] ?? '')).join(','))].join('\r\n') +
    '\r\n'
  );
}
