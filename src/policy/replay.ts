import type { AuditRecord } from '../audit/record.ts';
import { evaluate, type PolicyInput } from '../evaluate/evaluate.ts';
import type { Decision } from '../evaluate/decision.ts';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';

export type Action = 'deny' | 'warn' | 'audit';
const ACTIONS: readonly Action[] = ['deny', 'warn', 'audit'];

export interface ReplayChange {
  readonly decision_id: string;
  readonly workflow: string;
  readonly step: string;
  /** Codes before and after: deny codes for allow/deny changes, warn codes for warn changes. */
  readonly before: readonly string[];
  readonly after: readonly string[];
  /** The candidate's evaluation failure (a catalogue code and its cause), when it failed. */
  readonly error?: { readonly code: string; readonly message: string };
}

/** Counts before (recorded) and after (candidate), per action. */
export type ActionCounts = Readonly<Record<Action, { readonly before: number; readonly after: number }>>;

export interface ReplayReport {
  readonly candidate: string;
  readonly replayed: number;
  readonly unchanged: number;
  readonly newlyDenied: readonly ReplayChange[];
  readonly newlyAllowed: readonly ReplayChange[];
  /** Steps the candidate warns about with a code the recorded decision did not warn with. */
  readonly newlyWarned: readonly ReplayChange[];
  /** Steps whose recorded warn codes the candidate no longer warns with. */
  readonly noLongerWarned: readonly ReplayChange[];
  /** Candidate evaluations that failed (each also counts as a deny: the runner fails closed). */
  readonly errors: readonly ReplayChange[];
  /** Deny-action violation counts per code, recorded vs candidate (kept for existing readers). */
  readonly codes: Readonly<Record<string, { readonly before: number; readonly after: number }>>;
  /** Violation counts per code and action. */
  readonly byCode: Readonly<Record<string, ActionCounts>>;
  /** Violation counts per policy (package) and action. */
  readonly byPolicy: Readonly<Record<string, ActionCounts>>;
}

/** What a `--fail-on` gate can name. */
export const FAIL_ON = ['newly-denied', 'newly-allowed', 'newly-warned', 'no-longer-warned', 'errors'] as const;
export type FailOn = (typeof FAIL_ON)[number];

const codesOf = (d: Pick<Decision, 'violations'> | undefined, action: Action): string[] =>
  [...new Set((d?.violations ?? []).filter((v) => v.action === action).map((v) => v.code))].sort();

const emptyCounts = (): Record<Action, { before: number; after: number }> => ({
  deny: { before: 0, after: 0 },
  warn: { before: 0, after: 0 },
  audit: { before: 0, after: 0 },
});

type Tally = Record<string, Record<Action, { before: number; after: number }>>;

function tally(
  table: Tally,
  d: Pick<Decision, 'violations'> | undefined,
  key: 'before' | 'after',
  by: 'code' | 'policy',
) {
  for (const v of d?.violations ?? []) {
    if (!ACTIONS.includes(v.action)) continue;
    (table[v[by]] ??= emptyCounts())[v.action][key]++;
  }
}

function candidate(engine: PolicyEngine, input: PolicyInput): { decision?: Decision; error?: ReplayChange['error'] } {
  const r = evaluate(input, engine);
  if (r.kind !== 'error') return { decision: r.decision };
  return { error: { code: r.error.code, message: r.error.message } };
}

/**
 * Re-evaluates the inputs recorded by past `evaluate` audit records against a candidate bundle and
 * says what would change: impact analysis before rollout — newly denied and allowed, newly warned
 * and no longer warned, evaluation failures (with their code and cause; a failure is a deny, as
 * in the runner), and violation counts per code and per policy for each action. Inputs are the
 * masked ones the audit log holds (plain env values read "***"). Each recorded input carries the
 * pod exactly as the runner built it (its runner.workflow.defaultResources applied), so nothing is
 * rebuilt here: a replay decides on the same pods the runner decided on.
 */
export function replay(
  records: Iterable<AuditRecord>,
  engine: PolicyEngine,
  onProgress?: (done: number) => void,
): ReplayReport {
  const r = replayer(engine, onProgress);
  for (const record of records) r.add(record);
  return r.report();
}

/** replay() over records read one by one (`policy replay --audit` streams them from the log). */
export async function replayStream(
  records: AsyncIterable<AuditRecord>,
  engine: PolicyEngine,
  onProgress?: (done: number) => void,
): Promise<ReplayReport> {
  const r = replayer(engine, onProgress);
  for await (const record of records) r.add(record);
  return r.report();
}

/** replay() a record at a time: only counts and the changes are kept, never the records. */
function replayer(
  engine: PolicyEngine,
  onProgress: ((done: number) => void) | undefined,
): { add: (r: AuditRecord) => void; report: () => ReplayReport } {
  let replayed = 0;
  let unchanged = 0;
  const lists: Lists = { newlyDenied: [], newlyAllowed: [], newlyWarned: [], noLongerWarned: [], errors: [] };
  const byCode: Tally = {};
  const byPolicy: Tally = {};
  const add = (r: AuditRecord): void => {
    if (r.stage !== 'evaluate' || r.input === undefined || (r.outcome !== 'allow' && r.outcome !== 'deny')) return;
    replayed++;
    if (onProgress !== undefined && replayed % 10_000 === 0) onProgress(replayed);
    const recorded = r.result as Decision | undefined;
    const now = candidate(engine, r.input as PolicyInput);
    for (const [d, key] of [
      [recorded, 'before'],
      [now.decision, 'after'],
    ] as const) {
      tally(byCode, d, key, 'code');
      tally(byPolicy, d, key, 'policy');
    }
    if (!classify(r, recorded, now, lists)) unchanged++;
  };
  const report = (): ReplayReport => {
    const codes: Record<string, { before: number; after: number }> = {};
    for (const [c, n] of Object.entries(byCode)) if (n.deny.before + n.deny.after > 0) codes[c] = n.deny;
    return { candidate: engine.revision, replayed, unchanged, ...lists, codes, byCode, byPolicy };
  };
  return { add, report };
}

type Lists = Record<'newlyDenied' | 'newlyAllowed' | 'newlyWarned' | 'noLongerWarned' | 'errors', ReplayChange[]>;

/** Files one replayed record under every list it belongs to; false when nothing changed. */
function classify(
  r: AuditRecord,
  recorded: Decision | undefined,
  now: { decision?: Decision; error?: ReplayChange['error'] },
  lists: Lists,
): boolean {
  const { decision, error } = now;
  const at = { decision_id: r.decision_id, workflow: r.workflow?.id ?? '', step: r.step ?? '' };
  const denies = {
    before: codesOf(recorded, 'deny'),
    after: error !== undefined ? [error.code] : codesOf(decision, 'deny'),
  };
  const warns = { before: codesOf(recorded, 'warn'), after: codesOf(decision, 'warn') };
  const wasAllowed = r.outcome === 'allow';
  const nowAllowed = decision?.allow === true;
  let changed = false;
  if (error !== undefined) lists.errors.push({ ...at, ...denies, error });
  if (wasAllowed !== nowAllowed) {
    (nowAllowed ? lists.newlyAllowed : lists.newlyDenied).push({ ...at, ...denies, ...(error ? { error } : {}) });
    changed = true;
  }
  if (warns.after.some((c) => !warns.before.includes(c))) {
    lists.newlyWarned.push({ ...at, ...warns });
    changed = true;
  }
  if (warns.before.some((c) => !warns.after.includes(c))) {
    lists.noLongerWarned.push({ ...at, ...warns });
    changed = true;
  }
  return changed;
}

/** The gates of `--fail-on` that the report trips. */
export function trippedGates(report: ReplayReport, gates: readonly FailOn[]): FailOn[] {
  const size: Record<FailOn, number> = {
    'newly-denied': report.newlyDenied.length,
    'newly-allowed': report.newlyAllowed.length,
    'newly-warned': report.newlyWarned.length,
    'no-longer-warned': report.noLongerWarned.length,
    errors: report.errors.length,
  };
  return gates.filter((g) => size[g] > 0);
}
