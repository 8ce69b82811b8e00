import { revealHidden } from '../units/text.ts';
import { codesOf, imagesOf, policiesOf, revisionOf, violationTexts } from './fields.ts';
import { imageMatcher, repositoryMatcher, type ImageMatcher } from './image-filter.ts';
import type { AuditOutcome, AuditRecord, AuditStage } from './record.ts';

/** `audit query` filters, as typed on the command line; every one given must match (AND). */
export interface AuditFilter {
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly stage?: string | undefined;
  readonly outcome?: string | undefined;
  readonly code?: string | undefined;
  readonly workflow?: string | undefined;
  readonly run?: string | undefined;
  readonly runner?: string | undefined;
  readonly step?: string | undefined;
  /** An image reference, matched normalised (see image-filter.ts). */
  readonly image?: string | undefined;
  /** A registry, namespace or repository prefix (see image-filter.ts). */
  readonly repository?: string | undefined;
  readonly policy?: string | undefined;
  /** A policy bundle revision, whole or its leading characters (at least 8). */
  readonly revision?: string | undefined;
}

type Check = (r: AuditRecord) => boolean;

/** The values records carry (record.ts), so a filter with another value is refused, not silently empty. */
const STAGE_SET: Readonly<Record<AuditStage, true>> = {
  receive: true,
  verify: true,
  validate: true,
  claim: true,
  cancel: true,
  evaluate: true,
  mutate: true,
  create: true,
  finish: true,
};
const OUTCOME_SET: Readonly<Record<AuditOutcome, true>> = {
  allow: true,
  deny: true,
  error: true,
  success: true,
  failure: true,
};
const STAGES = Object.keys(STAGE_SET);
const OUTCOMES = Object.keys(OUTCOME_SET);

const ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A time filter as an instant (ms since the epoch), compared as instants, never as strings (a
 * whole-second bound would drop the records of that second, an offset would match nothing). ISO
 * 8601 with a zone (RFC 3339), or a date: the whole UTC day (its start for --since, its last
 * millisecond for --until). Undefined when it is neither, or not a real date (2026-13-01).
 */
function instant(value: string, endOfDay: boolean): number | undefined {
  if (DATE.test(value)) {
    const start = Date.parse(`${value}T00:00:00Z`);
    if (Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== value) return undefined;
    return endOfDay ? start + 86_400_000 - 1 : start;
  }
  if (!ZONED.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  // Date.parse rolls 2026-02-30 over to March: refuse a calendar date that is not the one written.
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d ? at : undefined;
}

function imageCheck(m: ImageMatcher): Check {
  return (r) => imagesOf(r).some(m);
}

function revisionCheck(want: string): Check {
  return (r) => {
    const got = revisionOf(r);
    return got === want || (want.length >= 8 && got.startsWith(want));
  };
}

/** The one-value checks, each present only when its filter is given. */
function simpleChecks(f: AuditFilter): Check[] {
  const eq = (want: string | undefined, get: (r: AuditRecord) => string | undefined): Check[] =>
    want === undefined ? [] : [(r) => get(r) === want];
  return [
    ...eq(f.stage, (r) => r.stage),
    ...eq(f.outcome, (r) => r.outcome),
    ...eq(f.workflow, (r) => r.workflow?.id),
    ...eq(f.run, (r) => r.workflow?.runId),
    ...eq(f.runner, (r) => r.runner),
    ...eq(f.step, (r) => r.step),
    ...(f.code !== undefined ? [(r: AuditRecord) => codesOf(r).includes(f.code as string)] : []),
    ...(f.policy !== undefined ? [(r: AuditRecord) => policiesOf(r).includes(f.policy as string)] : []),
    ...(f.revision !== undefined ? [revisionCheck(f.revision)] : []),
  ];
}

/**
 * Compiles the filters once into one predicate, or names the filter that is not well formed (an
 * image filter that is not an image reference finds nothing: said, not silently empty).
 */
export function queryPredicate(f: AuditFilter): { ok: true; match: Check } | { ok: false; reason: string } {
  const checks = simpleChecks(f);
  for (const [name, value, end] of [
    ['--since', f.since, false],
    ['--until', f.until, true],
  ] as const) {
    if (value === undefined) continue;
    const at = instant(value, end);
    if (at === undefined)
      return {
        ok: false,
        reason: `${name} ${JSON.stringify(value)} is not an ISO 8601 time with a zone (2026-11-29T21:46:38Z, 2026-11-29T22:46:38+01:00) or a date (2026-11-29)`,
      };
    checks.push(end ? (r) => Date.parse(r.timestamp) <= at : (r) => Date.parse(r.timestamp) >= at);
  }
  for (const [name, value, allowed] of [
    ['--stage', f.stage, STAGES],
    ['--outcome', f.outcome, OUTCOMES],
  ] as const) {
    if (value !== undefined && !(allowed as readonly string[]).includes(value))
      return { ok: false, reason: `${name} ${JSON.stringify(value)} is not one of ${allowed.join(', ')}` };
  }
  if (f.image !== undefined) {
    const m = imageMatcher(f.image);
    if (!m.ok) return m;
    checks.push(imageCheck(m.match));
  }
  if (f.repository !== undefined) {
    const m = repositoryMatcher(f.repository);
    if (!m.ok) return m;
    checks.push(imageCheck(m.match));
  }
  return { ok: true, match: (r) => checks.every((c) => c(r)) };
}

/** One record against the filters (compiles them: for one-off use; loops use queryPredicate). */
export function matches(r: AuditRecord, f: AuditFilter): boolean {
  const p = queryPredicate(f);
  return p.ok && p.match(r);
}

export const QUERY_COLUMNS = [
  'chain',
  'seq',
  'timestamp',
  'runner',
  'stage',
  'outcome',
  'code',
  'workflow',
  'run',
  'step',
  'image',
  'revision',
  'policies',
  'violations',
  'message',
  'decision_id',
] as const;
export type QueryColumn = (typeof QUERY_COLUMNS)[number];

/** The columns of the `table` output: the same facts, narrower. */
export const TABLE_COLUMNS: readonly QueryColumn[] = [
  'seq',
  'timestamp',
  'runner',
  'stage',
  'outcome',
  'workflow',
  'run',
  'step',
  'revision',
  'violations',
];

/** A record as export cells; `chain` names the log it came from (one per replica). */
export function row(r: AuditRecord, chain = ''): Record<QueryColumn, string> {
  const violations = violationTexts(r);
  return {
    chain,
    seq: String(r.seq),
    timestamp: r.timestamp,
    runner: r.runner,
    stage: r.stage,
    outcome: r.outcome,
    code: codesOf(r).join(' '),
    workflow: r.workflow?.id ?? '',
    run: r.workflow?.runId ?? '',
    step: r.step ?? '',
    image: imagesOf(r).join(' '),
    revision: revisionOf(r),
    policies: policiesOf(r).join(' '),
    violations: violations.length > 0 ? violations.join(' | ') : r.outcome === 'allow' ? '' : r.message,
    message: r.message,
    decision_id: r.decision_id,
  };
}

/** Cells a spreadsheet would run as a formula: =, +, -, @ (or their full-width forms) after any leading blanks, or a leading tab/CR/LF. */
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const FORMULA = /^(?:[\t\r\n]|[\s\u0000-\u001f]*[=+\-@\uff1d\uff0b\uff0d\uff20])/;

/**
 * RFC 4180 CSV: quote every field, double the quotes inside. A cell that a spreadsheet would run
 * as a formula gets a leading apostrophe (OWASP "CSV injection"): audit fields hold strings from
 * signed-but-untrusted workflows.
 */
export function toCsv(rows: readonly Record<string, string>[], columns: readonly string[]): string {
  return [csvLine(columns, columns), ...rows.map((r) => csvLine(r, columns))].join('\r\n') + '\r\n';
}

/** One CSV line of toCsv (without its CRLF): `r`'s cells in `columns` order (a list: the header). */
export function csvLine(r: Readonly<Record<string, string>> | readonly string[], columns: readonly string[]): string {
  const cell = (v: string): string => `"${(FORMULA.test(v) ? `'${v}` : v).replaceAll('"', '""')}"`;
  if (Array.isArray(r)) return (r as readonly string[]).map(cell).join(',');
  return columns.map((c) => cell((r as Readonly<Record<string, string>>)[c] ?? '')).join(',');
}

/**
 * Every character a reader cannot see or that reorders text (units/text.ts HIDDEN_TEXT: controls,
 * bidi overrides and marks, zero-width and tag characters, line separators) shown as `\u{…}`: in a
 * terminal table they would forge rows, move the cursor, recolour, hide or reorder what the
 * auditor reads.
 */
export function printable(v: string): string {
  return revealHidden(v);
}

/** Tab-separated table lines (header first) with every cell made printable. */
export function toTable(rows: readonly Record<string, string>[], columns: readonly string[]): string[] {
  return [tableLine(undefined, columns), ...rows.map((r) => tableLine(r, columns))];
}

/** One line of toTable: the header (no row), or `r`'s cells made printable. */
export function tableLine(r: Readonly<Record<string, string>> | undefined, columns: readonly string[]): string {
  return r === undefined ? columns.join('\t') : columns.map((c) => printable(r[c] ?? '')).join('\t');
}

/**
 * A record as an OPA decision-log event (docs/audit.md, "Mapping to OPA decision logs"): OPA's
 * members at the top level, the runner's own facts under `kubiya`. One per line is `--output ndjson`.
 */
export function decisionLogEvent(r: AuditRecord, chain = ''): Record<string, unknown> {
  return {
    decision_id: r.decision_id,
    timestamp: r.timestamp,
    path: r.path,
    input: r.input,
    result: r.result,
    bundles: r.bundles,
    labels: { ...r.labels, id: r.runner },
    metrics: r.metrics,
    masked: r.masked,
    erased: r.erased,
    kubiya: {
      chain,
      seq: r.seq,
      prev: r.prev,
      hash: r.hash,
      stage: r.stage,
      outcome: r.outcome,
      code: r.code,
      message: r.message,
      runner: r.runner,
      workflow: r.workflow,
      step: r.step,
      pod: r.pod,
      patch: r.patch,
      revision: revisionOf(r) || undefined,
    },
  };
}
