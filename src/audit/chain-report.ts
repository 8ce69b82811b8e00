import type { KeyObject } from 'node:crypto';
import { adoptedWellFormed, checkpointValid, type Adopted, type Checkpoint } from './checkpoint.ts';
import { keyId } from './keys.ts';

/**
 * What the audit chain check (chain-check.ts ChainChecker) reports, and its last step: the
 * checkpoints compared with the chain the lines built (checkCheckpoints).
 */

/**
 * Lines a checker trusted on bytes alone, taken up at `from` (chain-run.ts): `taken` lines, the
 * last one's hash `head` (64 hex), and `[seq, hash]` of the checkpoint seqs among them.
 */
export interface TrustedRun {
  readonly from: { readonly seq: number; readonly prev: string };
  readonly taken: number;
  readonly head: string;
  readonly heads: readonly (readonly [number, string])[];
}

/** The first record that cannot be trusted: its seq, why (for a person), and where (`file:line`), if known. */
export interface ChainProblem {
  /** The first sequence number that cannot be trusted. */
  readonly seq: number;
  readonly reason: string;
  readonly where?: string | undefined;
}

/**
 * The verdict of `audit verify`: `ok` when every line and checkpoint checked; `records` trusted,
 * the last trusted `lastSeq` and its hash `head` (GENESIS for an empty log); `firstBad` when not ok.
 */
export interface ChainReport {
  readonly ok: boolean;
  readonly records: number;
  readonly lastSeq: number;
  readonly head: string;
  /**
   * `lastSeq`: the last record a checkpoint vouches for (its head matched; its signature too when a
   * key was given). `uncovered`: the records after it, which no checkpoint vouches for (a record
   * appended there with a correct seq, prev and hash verifies): `{ from, to }` seq range, or null
   * when every record is covered or the log is broken.
   */
  readonly checkpoints: {
    readonly total: number;
    readonly verified: number;
    readonly lastSeq: number;
    readonly uncovered: { readonly from: number; readonly to: number } | null;
    /**
     * Ranges a runner adopted at restart (a checkpoint's signed `adopted`, red team 17 finding 2):
     * records it found after its last own checkpoint and did not witness, less any part an earlier
     * good checkpoint covers. Covered by a checkpoint, but not attested: "adopted at restart".
     */
    readonly adopted: readonly Adopted[];
  };
  readonly firstBad?: ChainProblem | undefined;
}

/** Why a checkpoint's signature fails: another key (its kid differs from the given key's) or a forgery. */
function signatureReason(c: Checkpoint, publicKey: KeyObject): string {
  const given = keyId(publicKey);
  const kid = typeof c.kid === 'string' ? c.kid.slice(0, 64) : '?';
  return kid !== given
    ? `checkpoint for seq ${c.seq} is signed by kid ${kid}, key given is kid ${given} (another key, or a forged checkpoint)`
    : `checkpoint for seq ${c.seq} has an invalid signature for kid ${given} (replaced or forged)`;
}

/** The first problem of checkpoint `c` (line `i` of checkpoints.jsonl), or undefined when it vouches for its seq. */
function checkpointProblem(
  c: Checkpoint,
  i: number,
  chain: { readonly lastSeq: number; readonly heads: ReadonlyMap<number, string> },
  lastCheckpoint: number,
  publicKey: KeyObject | undefined,
): ChainProblem | undefined {
  const where = `checkpoints.jsonl line ${i + 1}`;
  const { lastSeq } = chain;
  if (
    typeof c !== 'object' ||
    c === null ||
    !Number.isSafeInteger(c.seq) ||
    c.seq < 1 ||
    typeof c.head !== 'string' ||
    typeof c.sig !== 'string' ||
    !adoptedWellFormed(c)
  ) {
    const reason = 'a line of the checkpoints file is not a checkpoint (altered)';
    return { seq: Math.min(lastCheckpoint + 1, lastSeq + 1), reason, where };
  }
  // A forged checkpoint may stand in for one that would have caught a rewrite: nothing after the last good one is vouched for.
  if (publicKey !== undefined && !checkpointValid(c, publicKey))
    return { seq: Math.min(lastCheckpoint + 1, lastSeq + 1), reason: signatureReason(c, publicKey), where };
  if (c.seq < lastCheckpoint)
    return { seq: c.seq, reason: `checkpoints go backwards (${c.seq} after ${lastCheckpoint})`, where };
  if (c.seq > lastSeq) {
    const reason = `the log ends at seq ${lastSeq} but a checkpoint vouches for seq ${c.seq}: records were cut off the end`;
    return { seq: lastSeq + 1, reason, where };
  }
  // The chain is whole, so the rewrite spans from somewhere after the last good checkpoint: from there nothing is trusted.
  if (chain.heads.get(c.seq) !== c.head) {
    const reason = `record ${c.seq} does not match the head hash of its checkpoint: history after seq ${lastCheckpoint} was rewritten (and re-chained)`;
    return { seq: lastCheckpoint + 1, reason, where };
  }
  return undefined;
}

/**
 * Compares the checkpoints, in file order, with a whole chain ending at `lastSeq` (`heads`: the
 * hashes of the checkpointed seqs): each must be a checkpoint, signed by `publicKey` when one is
 * given, not behind the one before, within the log and equal to its record's hash. Stops at the
 * first problem. `verified`: checkpoints whose signature was checked (0 without a key);
 * `lastCheckpoint`: the seq of the last good one (0 for none); `adopted`: the ranges good
 * checkpoints name as adopted, each less what the good checkpoints before it covered.
 */
export function checkCheckpoints(
  checkpoints: readonly Checkpoint[],
  chain: { readonly lastSeq: number; readonly heads: ReadonlyMap<number, string> },
  publicKey: KeyObject | undefined,
): {
  readonly verified: number;
  readonly lastCheckpoint: number;
  readonly adopted: readonly Adopted[];
  readonly problem: ChainProblem | undefined;
} {
  let verified = 0;
  let lastCheckpoint = 0;
  const adopted: Adopted[] = [];
  for (const [i, c] of checkpoints.entries()) {
    const problem = checkpointProblem(c, i, chain, lastCheckpoint, publicKey);
    if (problem !== undefined) return { verified, lastCheckpoint, adopted, problem };
    if (publicKey !== undefined) verified++;
    const a = c.adopted;
    if (a !== undefined && a.to > lastCheckpoint)
      adopted.push({ from: Math.max(a.from, lastCheckpoint + 1), to: a.to });
    lastCheckpoint = c.seq;
  }
  return { verified, lastCheckpoint, adopted, problem: undefined };
}
