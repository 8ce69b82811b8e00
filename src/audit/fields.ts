import { isWaitRecord } from '../errors/waits.ts';
import type { AuditRecord } from './record.ts';

/**
 * Read-only accessors over an audit record's loosely typed members (`input`, `result`, `bundles`),
 * shared by `audit query` and `audit report`. Records hold strings chosen by whoever signed the
 * workflow: these functions only pick values out, they never interpret them as markup or code.
 */

/** One policy violation as the decision document holds it (docs/policies.md). */
export interface Violation {
  readonly code: string;
  readonly message: string;
  readonly policy: string;
  readonly action: string;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The violations of an `evaluate` record's decision (empty for every other record). */
export function violationsOf(r: AuditRecord): Violation[] {
  const list = (r.result as { violations?: unknown } | undefined)?.violations;
  if (!Array.isArray(list)) return [];
  return list
    .filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)
    .map((v) => ({ code: text(v.code), message: text(v.message), policy: text(v.policy), action: text(v.action) }));
}

/** The images a record is about: the step's, then its sidecars' and init containers'. */
export function imagesOf(r: AuditRecord): string[] {
  const step = (r.input as { step?: unknown } | undefined)?.step as
    { image?: unknown; sidecars?: unknown; initContainers?: unknown } | undefined;
  if (typeof step !== 'object' || step === null) return [];
  const more = (list: unknown): unknown[] =>
    Array.isArray(list) ? list.map((c) => (c as { image?: unknown } | null)?.image) : [];
  return [step.image, ...more(step.sidecars), ...more(step.initContainers)].filter(
    (i): i is string => typeof i === 'string',
  );
}

/** Policy packages with a violation in this record, once each. */
export function policiesOf(r: AuditRecord): string[] {
  return [...new Set(violationsOf(r).map((v) => v.policy))];
}

/** The record's own code and every violation code, once each (what `--code` matches). */
export function codesOf(r: AuditRecord): string[] {
  return [...new Set([...(r.code !== undefined ? [r.code] : []), ...violationsOf(r).map((v) => v.code)])];
}

/**
 * Why a refused record was refused, counting one denial once: the codes of its `deny` violations
 * when the policy named them (a `POLICY_DENIED` record is *because of* them, not a reason of its
 * own), otherwise its own code. Empty for an allow.
 */
export function reasonsOf(r: AuditRecord): string[] {
  const denies = violationsOf(r).filter((v) => v.action === 'deny');
  if (denies.length > 0) return [...new Set(denies.map((v) => v.code))];
  return r.code !== undefined ? [r.code] : [];
}

/** The policy bundle revision that decided (`bundles.kubiya.revision`, else the decision's), or "". */
export function revisionOf(r: AuditRecord): string {
  return text(r.bundles?.kubiya?.revision) || text((r.result as { revision?: unknown } | undefined)?.revision);
}

/** `code: message` of each violation, or the record's code and message when it has none. */
export function violationTexts(r: AuditRecord): string[] {
  const vs = violationsOf(r);
  if (vs.length > 0) return vs.map((v) => `${v.code}: ${v.message}`);
  return r.code !== undefined ? [`${r.code}: ${r.message}`] : [];
}

/**
 * True for a record that reports a refusal or a failure which ends neither its step nor its run: a
 * step's `create` refused with a wait code (src/errors/waits.ts `isWaitRecord`: the step stays
 * Pending), and the `finish` of an attempt that will be tried again (STEP_ATTEMPT_FAILED,
 * src/reconcile/finish.ts). A reader that turns records into a run's outcome skips them (red team
 * 13, finding 2); they are still refusals and failures for the tables that list every one.
 */
export const isInterim = (r: AuditRecord): boolean =>
  isWaitRecord(r) || (r.stage === 'finish' && r.code === 'STEP_ATTEMPT_FAILED');

/**
 * The refusals a record stands for, by reason code: one per reason (reasonsOf), or for an
 * `AUDIT_REFUSALS_AGGREGATED` summary (docs/adr/0008) the counts of `result.unrecorded` — the
 * refusals it sums that have no record of their own. Counts that are not whole numbers ≥ 0 are
 * left out.
 */
export function refusalsOf(r: AuditRecord): [code: string, count: number][] {
  if (r.code !== 'AUDIT_REFUSALS_AGGREGATED') return reasonsOf(r).map((c) => [c, 1]);
  const unrecorded = (r.result as { unrecorded?: unknown } | undefined)?.unrecorded;
  if (typeof unrecorded !== 'object' || unrecorded === null) return [];
  return Object.entries(unrecorded).filter(
    (e): e is [string, number] => typeof e[1] === 'number' && Number.isSafeInteger(e[1]) && e[1] >= 0,
  );
}

/** True for the records an auditor lists as refusals: a deny or an error (a step's failure is not one). */
export const isRefusal = (r: AuditRecord): boolean => r.outcome === 'deny' || r.outcome === 'error';
