import type { KeyObject } from 'node:crypto';
import type { Checkpoint } from '../audit/checkpoint.ts';
import type { AuditRecord } from '../audit/record.ts';
import { readCheckpoints, readTrusted, straySegments, type TrustedLog } from './audit-files.ts';

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

/** Records of several chains as one timeline: by timestamp, then chain order, then seq. */
export function timeline(chains: readonly ChainRead[]): { record: AuditRecord; chain: string }[] {
  const all = chains.flatMap((c, i) => c.log.records.map((record) => ({ record, chain: c.dir, i })));
  all.sort(
    (a, b) =>
      (a.record.timestamp < b.record.timestamp ? -1 : a.record.timestamp > b.record.timestamp ? 1 : 0) ||
      a.i - b.i ||
      a.record.seq - b.record.seq,
  );
  return all.map(({ record, chain }) => ({ record, chain }));
}
