import { sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * A signed checkpoint: "the log held `seq` records and its head hash was `head` at `time`".
 * Kept in checkpoints.jsonl beside the segments, so cutting records off the log's tail (or
 * rolling it back) contradicts a checkpoint; cutting both files consistently is detectable only
 * against a copy kept elsewhere (shipping, a previous `audit verify` output).
 */
export interface Checkpoint {
  readonly seq: number;
  readonly head: string;
  readonly time: string;
  readonly kid: string;
  /**
   * Records this checkpoint's signer did not witness (red team 17, finding 2): the range the runner
   * found after its last own checkpoint when it started (written while it was stopped, or before a
   * crash), checked against the hash chain only and adopted. Signed with the rest, so it cannot be
   * stripped; `audit verify` reports the range as "adopted at restart, not attested". Absent on
   * every other checkpoint.
   */
  readonly adopted?: Adopted | undefined;
  /** base64url Ed25519 signature over the RFC 8785 canonical JSON of {seq, head, time, kid}. */
  readonly sig: string;
}

/** A seq range `from..to` (inclusive, 1 <= from <= to) the signer adopted unwitnessed. */
export interface Adopted {
  readonly from: number;
  readonly to: number;
}

/** The signed bytes: RFC 8785 JSON of {seq, head, time, kid} and `adopted` when present (older checkpoints sign the same bytes as before). */
const payload = (c: Omit<Checkpoint, 'sig'>): Buffer =>
  Buffer.from(
    canonicalize({
      seq: c.seq,
      head: c.head,
      time: c.time,
      kid: c.kid,
      ...(c.adopted !== undefined ? { adopted: { from: c.adopted.from, to: c.adopted.to } } : {}),
    }) ?? '',
  );

/** `adopted` is a well-formed range within the checkpoint's own seq (absent counts as well formed). */
export function adoptedWellFormed(c: Pick<Checkpoint, 'seq' | 'adopted'>): boolean {
  const a = c.adopted as unknown;
  if (a === undefined) return true;
  if (typeof a !== 'object' || a === null) return false;
  const { from, to } = a as { from?: unknown; to?: unknown };
  return (
    Number.isSafeInteger(from) &&
    Number.isSafeInteger(to) &&
    (from as number) >= 1 &&
    (from as number) <= (to as number) &&
    (to as number) <= c.seq
  );
}

export function signCheckpoint(c: Omit<Checkpoint, 'sig'>, privateKey: KeyObject): Checkpoint {
  return { ...c, sig: sign(null, payload(c), privateKey).toString('base64url') };
}

export function checkpointValid(c: Checkpoint, publicKey: KeyObject): boolean {
  try {
    return verify(null, payload(c), publicKey, Buffer.from(c.sig, 'base64url'));
  } catch {
    return false;
  }
}
