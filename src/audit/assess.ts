import type { Checkpoint } from './checkpoint.ts';
import type { ChainReport } from './chain-report.ts';

/**
 * What `audit verify` demands beyond an intact chain, named so an auditor can tell the faults
 * apart (docs/audit.md, "Rollback, coverage and keys"):
 *
 * | fault | code |
 * |---|---|
 * | the chain or a checkpoint is broken | AUDIT_TAMPERED |
 * | no checkpoint is signed by the key given (another key, a mixed-up Secret) | AUDIT_KEY_MISMATCH |
 * | a key was given and the log has no checkpoint at all | AUDIT_UNCHECKPOINTED |
 * | the last checkpoint is far behind the head (more than N records or T seconds) | AUDIT_TAIL_UNCOVERED |
 * | the log ends before, or no longer holds, what an earlier verification saw (`--min-seq`, `--expect-head`) | AUDIT_ROLLED_BACK |
 * | a runner adopted records at restart that it did not witness (a checkpoint's `adopted`) | AUDIT_RECORDS_ADOPTED |
 * | a file named like a segment (`segment-<digits>.jsonl`) that is not one the appender writes, so not read | AUDIT_STRAY_SEGMENT |
 *
 * An adopted range is always stated; it fails, like an uncovered tail, when longer than
 * `--max-uncovered-records` (a crash leaves at most `checkpoint.every` records to adopt).
 * The two coverage faults can be accepted with `--allow-uncovered-tail` (they are then stated,
 * not failed); the others cannot.
 */
export type FindingCode =
  | 'AUDIT_TAMPERED'
  | 'AUDIT_KEY_MISMATCH'
  | 'AUDIT_UNCHECKPOINTED'
  | 'AUDIT_TAIL_UNCOVERED'
  | 'AUDIT_ROLLED_BACK'
  | 'AUDIT_RECORDS_ADOPTED'
  | 'AUDIT_STRAY_SEGMENT';

export interface Finding {
  readonly code: FindingCode;
  readonly message: string;
  /** False when the operator accepted it (`--allow-uncovered-tail`): stated, exit code unaffected. */
  readonly fails: boolean;
  /** The chain it is about, when it is about one. */
  readonly dir?: string | undefined;
}

/** The facts of one chain the rules look at (adapters/audit-chains.ts reads them). */
export interface ChainFacts {
  readonly dir: string;
  readonly log: { readonly report: ChainReport };
  readonly checkpoints: readonly Checkpoint[];
  readonly lastTime: string;
  /** Hash of the chain's first record: which chain a saved verification was of. */
  readonly genesis: string;
  readonly found: ReadonlyMap<string, number>;
  /** Entries named like segments that were not read: `lookalike` (`segment-<digits>.jsonl`, not 8 digits) and `other` `segment-*` names. */
  readonly strays?: { readonly lookalike: readonly string[]; readonly other: readonly string[] } | undefined;
}

/** What an earlier verification saved of one chain (`save` in `audit verify --output json`). */
export interface Anchor {
  readonly dir: string;
  readonly genesis: string;
  readonly expectHead: string;
  readonly minSeq: number;
}

export interface VerifyRules {
  /** Key id (keys.ts keyId) of the public key given, when one was. */
  readonly keyId?: string | undefined;
  readonly allowUncoveredTail: boolean;
  /** More uncovered records than this is "far behind" (default 1000: the runner's checkpoint.every). */
  readonly maxUncoveredRecords: number;
  /** A last record more than this many seconds after the last checkpoint is "far behind" (default 60). */
  readonly maxUncoveredSeconds: number;
  /** Heads saved from earlier verifications: each must be a record of some chain. */
  readonly expectHeads: readonly string[];
  /** The log must reach at least this seq (one chain only). */
  readonly minSeq?: number | undefined;
  /** Saved verifications (`--against`): each chain, found by its genesis, must still hold its saved head at its saved seq. */
  readonly anchors?: readonly Anchor[] | undefined;
}

export const DEFAULT_MAX_UNCOVERED_RECORDS = 1000;
export const DEFAULT_MAX_UNCOVERED_SECONDS = 60;

/** Key ids named by the checkpoints (strings only, at most a few shown), in order of first use. */
function kidsOf(checkpoints: readonly Checkpoint[]): string[] {
  const kids = checkpoints.map((c) => (typeof c?.kid === 'string' ? c.kid.slice(0, 64) : '?'));
  return [...new Set(kids)];
}

function keyFindings(c: ChainFacts, rules: VerifyRules): Finding[] {
  const kids = kidsOf(c.checkpoints);
  if (rules.keyId === undefined || kids.length === 0 || kids.includes(rules.keyId)) return [];
  return [
    {
      code: 'AUDIT_KEY_MISMATCH',
      message: `${c.dir}: checkpoints signed by kid ${kids.slice(0, 3).join(', ')}, key given is kid ${rules.keyId}: this key did not sign them (give the public key of the runner's signing Secret)`,
      fails: true,
      dir: c.dir,
    },
  ];
}

function coverageFindings(c: ChainFacts, rules: VerifyRules): Finding[] {
  const r = c.log.report;
  if (rules.keyId === undefined || !r.ok || r.records === 0) return [];
  const fails = !rules.allowUncoveredTail;
  if (r.checkpoints.total === 0)
    return [
      {
        code: 'AUDIT_UNCHECKPOINTED',
        message: `${c.dir}: no signed checkpoint: nothing vouches for records 1..${r.lastSeq} (a log cut short or rewritten and re-chained verifies; is audit.checkpoint on?)`,
        fails,
        dir: c.dir,
      },
    ];
  const u = r.checkpoints.uncovered;
  if (u === null) return [];
  const count = u.to - u.from + 1;
  const last = c.checkpoints.at(-1);
  const lag = (Date.parse(c.lastTime) - Date.parse(last?.time ?? '')) / 1000;
  const byCount = count > rules.maxUncoveredRecords;
  const byTime = Number.isFinite(lag) && lag > rules.maxUncoveredSeconds;
  if (!byCount && !byTime) return [];
  const why = [
    ...(byCount ? [`${count} records (more than ${rules.maxUncoveredRecords})`] : []),
    ...(byTime ? [`${Math.round(lag)} s (more than ${rules.maxUncoveredSeconds} s)`] : []),
  ].join(' and ');
  return [
    {
      code: 'AUDIT_TAIL_UNCOVERED',
      message: `${c.dir}: the last checkpoint (seq ${r.checkpoints.lastSeq}) is ${why} behind the head (seq ${r.lastSeq}): records ${u.from}..${u.to} are vouched for by nothing`,
      fails,
      dir: c.dir,
    },
  ];
}

/** Each range a runner adopted at restart (red team 17, finding 2): stated; failing when longer than maxUncoveredRecords. */
function adoptedFindings(c: ChainFacts, rules: VerifyRules): Finding[] {
  const r = c.log.report;
  if (!r.ok) return [];
  return r.checkpoints.adopted.map((a) => {
    const count = a.to - a.from + 1;
    return {
      code: 'AUDIT_RECORDS_ADOPTED' as const,
      message: `${c.dir}: records ${a.from}..${a.to} were adopted at restart, not attested: a runner found them after its last own checkpoint when it started and checked only their hash chain (${count} record(s); a crash leaves at most checkpoint.every)`,
      fails: count > rules.maxUncoveredRecords && !rules.allowUncoveredTail,
      dir: c.dir,
    };
  });
}

/**
 * Files of the directory named like segments that were not read (red team 17, finding 16): a
 * `segment-<digits>.jsonl` the appender would not name so fails (its records, if any, are not
 * part of what was verified: a renamed segment is a deleted one); another `segment-*` name (a
 * `.bak` copy) is stated.
 */
function strayFindings(c: ChainFacts): Finding[] {
  const list = (names: readonly string[]): string =>
    names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
  const out: Finding[] = [];
  const { lookalike = [], other = [] } = c.strays ?? {};
  if (lookalike.length > 0)
    out.push({
      code: 'AUDIT_STRAY_SEGMENT',
      message: `${c.dir}: ${list(lookalike)}: named like a segment but not as the appender names one (segment-<8 digits>.jsonl), so NOT read or verified; a renamed segment is a deleted one: move it out after inspecting it`,
      fails: true,
      dir: c.dir,
    });
  if (other.length > 0)
    out.push({
      code: 'AUDIT_STRAY_SEGMENT',
      message: `${c.dir}: ${list(other)}: not segments (copies?), not read`,
      fails: false,
      dir: c.dir,
    });
  return out;
}

function anchorFindings(chains: readonly ChainFacts[], anchors: readonly Anchor[]): Finding[] {
  const out: Finding[] = [];
  const rolled = (message: string, dir?: string): void =>
    void out.push({ code: 'AUDIT_ROLLED_BACK', message, fails: true, dir });
  for (const a of anchors) {
    const c = chains.find((x) => x.genesis !== '' && x.genesis === a.genesis);
    if (c === undefined) {
      rolled(
        `no chain given starts with the first record of the saved chain ${a.dir} (genesis ${a.genesis}): give its directory, or its first records were removed or rewritten`,
      );
      continue;
    }
    const at = c.found.get(a.expectHead);
    if (c.log.report.lastSeq < a.minSeq)
      rolled(
        `${c.dir}: the log ends at seq ${c.log.report.lastSeq}, but the saved verification of ${a.dir} saw seq ${a.minSeq}: records were removed from its end (rolled back or truncated)`,
        c.dir,
      );
    else if (at !== a.minSeq)
      rolled(
        `${c.dir}: record ${a.minSeq} is not the head ${a.expectHead} the saved verification of ${a.dir} saw: history was rewritten since`,
        c.dir,
      );
  }
  return out;
}

function rollbackFindings(chains: readonly ChainFacts[], rules: VerifyRules): Finding[] {
  const out: Finding[] = anchorFindings(chains, rules.anchors ?? []);
  const only = chains.length === 1 ? chains[0] : undefined;
  if (rules.minSeq !== undefined && only !== undefined && only.log.report.lastSeq < rules.minSeq)
    out.push({
      code: 'AUDIT_ROLLED_BACK',
      message: `${only.dir}: the log ends at seq ${only.log.report.lastSeq}, but an earlier verification saw seq ${rules.minSeq}: records were removed from its end (rolled back or truncated)`,
      fails: true,
      dir: only.dir,
    });
  for (const head of rules.expectHeads) {
    const at = chains.map((c) => c.found.get(head)).find((s) => s !== undefined);
    if (at === undefined)
      out.push({
        code: 'AUDIT_ROLLED_BACK',
        message: `no trusted record has hash ${head} (the head an earlier verification saw): the log was rolled back, truncated or rewritten since`,
        fails: true,
      });
    else if (rules.minSeq !== undefined && only !== undefined && at !== rules.minSeq)
      out.push({
        code: 'AUDIT_ROLLED_BACK',
        message: `${only.dir}: hash ${head} is record ${at}, not record ${rules.minSeq} as the earlier verification saw`,
        fails: true,
        dir: only.dir,
      });
  }
  return out;
}

/**
 * Every finding over a set of chains: per chain the break (AUDIT_TAMPERED, or AUDIT_KEY_MISMATCH
 * when no checkpoint carries the given key's id, which explains the break), key and coverage
 * faults; then rollback against saved heads across all chains.
 */
export function assessChains(chains: readonly ChainFacts[], rules: VerifyRules): Finding[] {
  const out: Finding[] = [];
  for (const c of chains) {
    const keys = keyFindings(c, rules);
    out.push(...keys);
    const bad = c.log.report.firstBad;
    if (bad !== undefined && keys.length === 0)
      out.push({
        code: 'AUDIT_TAMPERED',
        message: `${c.dir}: BROKEN at seq ${bad.seq} (${bad.where ?? ''}): ${bad.reason}`,
        fails: true,
        dir: c.dir,
      });
    out.push(...coverageFindings(c, rules), ...adoptedFindings(c, rules), ...strayFindings(c));
  }
  out.push(...rollbackFindings(chains, rules));
  return out;
}
