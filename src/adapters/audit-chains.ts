import type { KeyObject } from 'node:crypto';
import type { Checkpoint } from '../audit/checkpoint.ts';
import type { AuditRecord } from '../audit/record.ts';
import { ChainChecker } from '../audit/chain-check.ts';
import { auditLines, checkLine, readCheckpoints, readTrusted, straySegments, type TrustedLog } from './audit-files.ts';

/**
 * One audit chain (one replica's directory) read through the verifier, with what the auditors'
 * checks need beyond the verification itself: the checkpoints (their key ids and times), the
 * first record's hash (the chain's identity: it never changes once written), the time of the
 * last trusted record, and the seq of every record whose hash an auditor asked about
 * (`--expect-head`).
 */
export interface ChainRead {
  /** The directory as given on the command line (its name in every output). */
  readonly dir: string;
  readonly log: TrustedLog;
  readonly checkpoints: readonly Checkpoint[];
  /** Hash of seq 1, or "" for an empty or broken-at-1 log. */
  readonly genesis: string;
  /** Timestamp of the last record of an intact log ("" when empty or broken). */
  readonly lastTime: string;
  /** Hash → seq of the trusted records whose hash was asked about. */
  readonly found: ReadonlyMap<string, number>;
  /** Entries named like segments that were not read (straySegments). */
  readonly strays: { readonly lookalike: readonly string[]; readonly other: readonly string[] };
}

/**
 * Reads several chains, one after the other (each verified on its own: a broken one does not
 * stop the others). `keep` selects the records to hold in memory; `heads` are hashes to look for.
 */
export async function readChains(
  dirs: readonly string[],
  publicKey: KeyObject | undefined,
  keep: (r: AuditRecord) => boolean = () => true,
  heads: readonly string[] = [],
): Promise<ChainRead[]> {
  const out: ChainRead[] = [];
  for (const dir of dirs) out.push(await readChain(dir, publicKey, keep, new Set(heads)));
  return out;
}

async function readChain(
  dir: string,
  publicKey: KeyObject | undefined,
  keep: (r: AuditRecord) => boolean,
  heads: ReadonlySet<string>,
): Promise<ChainRead> {
  const seen = new Map<string, number>();
  let genesis = '';
  let last = '';
  const log = await readTrusted(dir, publicKey, (r) => {
    if (r.seq === 1) genesis = r.hash;
    if (heads.has(r.hash)) seen.set(r.hash, r.seq);
    last = r.timestamp;
    return keep(r);
  });
  const bad = log.report.firstBad?.seq ?? Number.POSITIVE_INFINITY;
  const found = new Map([...seen].filter(([, seq]) => seq < bad));
  return {
    dir,
    log,
    checkpoints: await readCheckpoints(dir),
    genesis: bad > 1 ? genesis : '',
    lastTime: log.report.ok ? last : '',
    found,
    strays: await straySegments(dir),
  };
}

/**
 * The trusted records of a chain read by readChains, read again from its segments one by one (the
 * readers' second pass: the first, readChains with `keep` false, held no record). Every line is
 * checked again (ChainChecker), only records before the first pass's first bad seq are yielded,
 * and the chain must reach the record the first pass ended on with the same hash: by the hash
 * chain, every record yielded is then the one the first pass verified. A log changed between the
 * passes throws ChainChanged (what was yielded before is the caller's to retract: readers exit 1).
 * Memory: one line at a time (auditLines), whatever the log's size. Records written after the
 * first pass are not read.
 */
export async function* trustedRecords(
  chain: Pick<ChainRead, 'dir' | 'log'>,
  keep: (r: AuditRecord) => boolean = () => true,
): AsyncGenerator<AuditRecord> {
  const report = chain.log.report;
  const end = report.lastSeq;
  const limit = report.firstBad !== undefined ? report.firstBad.seq - 1 : end;
  if (limit < 1) return;
  const checker = new ChainChecker();
  for await (const l of auditLines(chain.dir)) {
    const record = checkLine(checker, l);
    if (record === undefined) break;
    if (record.seq <= limit && keep(record)) yield record;
    if (record.seq >= end) break;
  }
  const { expected, prev } = checker.state;
  if (expected - 1 !== end || prev !== report.head)
    throw new ChainChanged(
      `${chain.dir}: the log changed while it was read: the first reading verified records 1..${end} (head ${report.head.slice(0, 16)}…), the second ${checker.failed ? `found a bad line at seq ${expected}` : `ended at seq ${expected - 1} with head ${prev.slice(0, 16)}…`}; discard this output and read it again`,
    );
}

/** The next record of a stream, or undefined at its end. */
async function nextOf(it: AsyncGenerator<AuditRecord>): Promise<AuditRecord | undefined> {
  const n = await it.next();
  return n.done === true ? undefined : n.value;
}

/** A log that changed between a reader's two passes (trustedRecords): the output is not to be used. */
export class ChainChanged extends Error {}

/**
 * The trusted records of several chains as one timeline, streamed: each chain in its own order
 * (seq), the chains merged by timestamp (ties by the order the chains were given). Each chain's
 * records are in time order as the runner writes them, so this is the order of a sort by
 * (timestamp, chain, seq); where a chain's own timestamps go back (a clock stepped back), its
 * records stay in chain order. One record per chain is held.
 */
export async function* timelineOf(
  chains: readonly Pick<ChainRead, 'dir' | 'log'>[],
  keep: (r: AuditRecord) => boolean = () => true,
): AsyncGenerator<{ record: AuditRecord; chain: string }> {
  const its = chains.map((c) => trustedRecords(c, keep));
  try {
    const heads: (AuditRecord | undefined)[] = [];
    for (const it of its) heads.push(await nextOf(it));
    for (;;) {
      let at = -1;
      for (const [i, h] of heads.entries())
        if (h !== undefined && (at < 0 || h.timestamp < (heads[at] as AuditRecord).timestamp)) at = i;
      if (at < 0) return;
      const record = heads[at] as AuditRecord;
      yield { record, chain: (chains[at] as ChainRead).dir };
      heads[at] = await nextOf(its[at] as AsyncGenerator<AuditRecord>);
    }
  } finally {
    for (const it of its) await it.return(undefined);
  }
}
