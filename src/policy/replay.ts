import type { AuditRecord } from '../audit/record.ts';
import { evaluate, type PolicyInput } from '../evaluate/evaluate.ts';
import type { Decision } from '../evaluate/decision.ts';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';

export interface ReplayChange {
  readonly decision_id: string;
  readonly workflow: string;
  readonly step: string;
  readonly before: readonly string[];
  readonly after: readonly string[];
}

export interface ReplayReport {
  readonly candidate: string;
  readonly replayed: number;
  readonly unchanged: number;
  readonly newlyDenied: readonly ReplayChange[];
  readonly newlyAllowed: readonly ReplayChange[];
  /** Deny-action violation counts per code, recorded vs candidate. */
  readonly codes: Readonly<Record<string, { readonly before: number; readonly after: number }>>;
}

const denyCodes = (d: Pick<Decision, 'violations'> | undefined): string[] =>
  (d?.violations ?? [])
    .filter((v) => v.action === 'deny')
    .map((v) => v.code)
    .sort();

function candidateDecision(engine: PolicyEngine, input: PolicyInput): Decision | undefined {
  const r = evaluate(input, engine);
  return r.kind === 'error' ? undefined : r.decision;
}

/**
 * Re-evaluates the inputs recorded by past `evaluate` audit records against a candidate bundle and
 * says what would change: impact analysis before rollout. Inputs are the masked ones the audit log
 * holds (plain env values read "***"). Each recorded input carries the pod exactly as the runner
 * built it (its runner.workflow.defaultResources applied), so nothing is rebuilt here: a replay
 * decides on the same pods the runner decided on (`policy eval` builds its pods with the runner's
 * configuration for the same reason: --config).
 */
export function replay(
  records: Iterable<AuditRecord>,
  engine: PolicyEngine,
  onProgress?: (done: number) => void,
): ReplayReport {
  let replayed = 0;
  let unchanged = 0;
  const newlyDenied: ReplayChange[] = [];
  const newlyAllowed: ReplayChange[] = [];
  const codes: Record<string, { before: number; after: number }> = {};
  const count = (list: string[], key: 'before' | 'after') => {
    for (const c of list) (codes[c] ??= { before: 0, after: 0 })[key]++;
  };
  for (const r of records) {
    if (r.stage !== 'evaluate' || r.input === undefined || (r.outcome !== 'allow' && r.outcome !== 'deny')) continue;
    replayed++;
    if (onProgress !== undefined && replayed % 10_000 === 0) onProgress(replayed);
    const before = denyCodes(r.result as Decision | undefined);
    const decision = candidateDecision(engine, r.input as PolicyInput);
    const after = decision === undefined ? ['POLICY_ERROR'] : denyCodes(decision);
    count(before, 'before');
    count(after, 'after');
    const change = { decision_id: r.decision_id, workflow: r.workflow?.id ?? '', step: r.step ?? '', before, after };
    const wasAllowed = r.outcome === 'allow';
    const nowAllowed = decision?.allow === true;
    if (wasAllowed && !nowAllowed) newlyDenied.push(change);
    else if (!wasAllowed && nowAllowed) newlyAllowed.push(change);
    else unchanged++;
  }
  return { candidate: engine.revision, replayed, unchanged, newlyDenied, newlyAllowed, codes };
}
