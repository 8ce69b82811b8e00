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
  /** base64url Ed25519 signature over the RFC 8785 canonical JSON of {seq, head, time, kid}. */
  readonly sig: string;
}

const payload = (c: Omit<Checkpoint, 'sig'>): Buffer =>
  Buffer.from(canonicalize({ seq: c.seq, head: c.head, time: c.time, kid: c.kid }) ?? '');

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
