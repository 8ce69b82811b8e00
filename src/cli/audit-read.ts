import { realpath } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { readChains, type ChainRead } from '../adapters/audit-chains.ts';
import type { TrustedLog } from '../adapters/audit-files.ts';
import {
  assessChains,
  DEFAULT_MAX_UNCOVERED_RECORDS,
  DEFAULT_MAX_UNCOVERED_SECONDS,
  type Anchor,
  type Finding,
} from '../audit/assess.ts';
import { checkpointPublicKey, keyId } from '../audit/keys.ts';
import { printable } from '../audit/query.ts';
import type { AuditRecord } from '../audit/record.ts';
import { CliError, EXIT } from './io.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from '../adapters/operator-file.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/** The checkpoint signer's public key from a PEM file (undefined without one); a bad key is AUDIT_READ_FAILED. */
export async function publicKey(file: string | undefined): Promise<KeyObject | undefined> {
  if (file === undefined) return undefined;
  try {
    return checkpointPublicKey(await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.secret));
  } catch (e) {
    throw new CliError(
      'AUDIT_READ_FAILED',
      `cannot use ${file} as the checkpoint public key: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/**
 * The sentence every reader prints when the log is broken: where, why, and that nothing from
 * there on was used (exported so `policy replay` says it the same way).
 */
export function breakNotice(log: TrustedLog): string | undefined {
  const bad = log.report.firstBad;
  if (bad === undefined) return undefined;
  return printable(
    `AUDIT_TAMPERED: the audit log is BROKEN at seq ${bad.seq} (${bad.where ?? ''}): ${bad.reason}. Only the ${Math.max(0, bad.seq - 1)} record(s) before it are used; ${log.untrusted} line(s) from there on are not trusted and not used.`,
  );
}

/**
 * Refuses a directory named twice (AUDIT_QUERY_INVALID, exit 2), however it is spelled: a
 * trailing slash, `./`, `..` or a symlink all resolve to the same real path. Counted twice, one
 * chain would double every query result and stand in for a replica's missing log.
 */
async function refuseRepeatedDirs(dirs: readonly string[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    const real = await realpath(dir).catch((e: unknown): never => {
      throw new CliError(
        'AUDIT_READ_FAILED',
        `cannot read the audit log: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
    const first = seen.get(real);
    if (first !== undefined)
      throw new CliError('AUDIT_QUERY_INVALID', printable(`${dir} is the directory ${first} again: give each once`));
    seen.set(real, dir);
  }
}

/**
 * Refuses two directories holding the same chain (the same first record: a record's decision_id
 * is unique, so two replicas never share one) with AUDIT_CHAIN_DUPLICATE (exit 1): one is a copy
 * of the other, and the replica it stands for has no log here.
 */
function refuseCopiedChains(chains: readonly ChainRead[]): void {
  const byGenesis = new Map<string, string>();
  for (const c of chains) {
    if (c.genesis === '') continue;
    const first = byGenesis.get(c.genesis);
    if (first !== undefined)
      throw new CliError(
        'AUDIT_CHAIN_DUPLICATE',
        printable(
          `${first} and ${c.dir} hold the same chain (first record ${c.genesis.slice(0, 16)}…): one is a copy, and the replica it stands for has no log here`,
        ),
        EXIT.failed,
      );
    byGenesis.set(c.genesis, c.dir);
  }
}

/**
 * Reads every chain given (one per replica), each verified on its own. A directory that cannot
 * be read, or holds no segment, is AUDIT_READ_FAILED (exit 2): an empty answer would look like
 * "nothing happened". A directory given twice is AUDIT_QUERY_INVALID (exit 2); two directories
 * holding one chain are AUDIT_CHAIN_DUPLICATE (exit 1).
 */
export async function loadChains(
  dirs: readonly string[],
  key: KeyObject | undefined,
  keep?: (r: AuditRecord) => boolean,
  heads: readonly string[] = [],
): Promise<ChainRead[]> {
  await refuseRepeatedDirs(dirs);
  const chains = await readChains(dirs, key, keep, heads).catch((e: unknown): never => {
    throw new CliError('AUDIT_READ_FAILED', `cannot read the audit log: ${e instanceof Error ? e.message : String(e)}`);
  });
  const empty = chains.find((c) => c.log.report.segments === 0);
  if (empty !== undefined) throw new CliError('AUDIT_READ_FAILED', `no audit segments in ${empty.dir}`);
  refuseCopiedChains(chains);
  return chains;
}

/**
 * What readers (`query`, `report`) say about the chains they read: a break or a key mix-up fails
 * (exit 1), a tail no checkpoint covers is stated only (`audit verify` is where it fails).
 */
export function readerFindings(chains: readonly ChainRead[], key: KeyObject | undefined): Finding[] {
  return assessChains(chains, {
    keyId: key !== undefined ? keyId(key) : undefined,
    allowUncoveredTail: true,
    maxUncoveredRecords: DEFAULT_MAX_UNCOVERED_RECORDS,
    maxUncoveredSeconds: DEFAULT_MAX_UNCOVERED_SECONDS,
    expectHeads: [],
  });
}

/**
 * Each finding as the line printed on stderr: `<CODE>: <message>` (made printable; `note: ` before
 * one that does not fail), then for each broken chain what was used of it.
 */
export function findingLines(chains: readonly ChainRead[], findings: readonly Finding[]): string[] {
  const lines = findings.map((f) => printable(`${f.fails ? '' : 'note: '}${f.code}: ${f.message}`));
  for (const c of chains) {
    const bad = c.log.report.firstBad;
    if (bad !== undefined)
      lines.push(
        printable(
          `${c.dir}: only the ${Math.max(0, bad.seq - 1)} record(s) before seq ${bad.seq} are used; ${c.log.untrusted} line(s) from there on are not trusted and not used`,
        ),
      );
  }
  return lines;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** One chain's entry of a saved `audit verify --output json`, when it is well formed. */
function anchorOf(c: unknown): Anchor | undefined {
  const o = c as { dir?: unknown; genesis?: unknown; save?: { expectHead?: unknown; minSeq?: unknown } | null } | null;
  const head = o?.save?.expectHead;
  const min = o?.save?.minSeq;
  if (typeof o?.genesis !== 'string' || !HEX64.test(o.genesis)) return undefined;
  if (typeof head !== 'string' || !HEX64.test(head) || !Number.isSafeInteger(min) || (min as number) < 1)
    return undefined;
  return { dir: typeof o.dir === 'string' ? o.dir : '?', genesis: o.genesis, expectHead: head, minSeq: min as number };
}

/**
 * The anchors of a saved `audit verify --output json` (one chain: the object itself; several:
 * its `chains`). A file that is not one, or that saved nothing (a broken or empty log), is
 * AUDIT_QUERY_INVALID: checking against nothing would pass.
 */
export async function readAnchors(file: string): Promise<Anchor[]> {
  let body: unknown;
  try {
    body = JSON.parse(await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.config));
  } catch (e) {
    throw new CliError('AUDIT_QUERY_INVALID', `--against ${file}: ${parseProblem(e)}`);
  }
  const list = (body as { chains?: unknown } | null)?.chains;
  const entries = Array.isArray(list) ? list : [body];
  const anchors = entries.map(anchorOf);
  if (anchors.length === 0 || anchors.some((a) => a === undefined))
    throw new CliError(
      'AUDIT_QUERY_INVALID',
      `--against ${file}: not the output of an intact \`audit verify --output json\` (each chain needs genesis and save)`,
    );
  return anchors as Anchor[];
}
