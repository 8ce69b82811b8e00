import { sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { GENESIS } from './chain.ts';
import { HASH_SUFFIX, sha256Bytes } from './line-bytes.ts';

/**
 * The decision-log shipper's cursor as the runner saves it (red team 18, finding 2; ADR 0010): the
 * last seq the collector accepted, where that record ends, its hash, and the runner's Ed25519
 * signature over them with the checkpoint key. The file lives on the volume the shipped copy
 * protects, so it is believed only when this runner's key signed it and the record it names is
 * still, byte for byte, where it says: a record's hash commits (through `prev`) to every record
 * before it, so a cursor cannot be moved forward, or taken from another chain, without the key.
 */

/** Where shipping has got to: record `seq` (hash `hash`) was accepted; it ends at byte `offset` of segment `segment`. */
export interface ShipPosition {
  readonly seq: number;
  readonly segment: number;
  readonly offset: number;
  readonly hash: string;
}

/** A ShipPosition as saved: with the kid of the key that signed it and the signature (base64url). */
export interface SignedCursor extends ShipPosition {
  readonly kid: string;
  readonly sig: string;
}

/** Nothing shipped yet: before seq 1 (whose `prev` is GENESIS), at the start of segment 1. */
export const START: ShipPosition = { seq: 0, segment: 1, offset: 0, hash: GENESIS };

/**
 * Signed with the cursor, never present in a checkpoint's signed bytes (checkpoint.ts: seq, head,
 * time, kid, adopted): the same key signs both, and neither signature can stand for the other.
 */
const TYPE = 'kubiya-ship-cursor/v1';

const payload = (c: ShipPosition, kid: string): Buffer =>
  Buffer.from(canonicalize({ type: TYPE, seq: c.seq, segment: c.segment, offset: c.offset, hash: c.hash, kid }) ?? '');

export function signCursor(p: ShipPosition, signer: { readonly key: KeyObject; readonly kid: string }): SignedCursor {
  const position = { seq: p.seq, segment: p.segment, offset: p.offset, hash: p.hash };
  return {
    ...position,
    kid: signer.kid,
    sig: sign(null, payload(position, signer.kid), signer.key).toString('base64url'),
  };
}

/** The signature of `c` verifies with `publicKey` (a malformed signature is false, never a throw). */
export function cursorSignatureValid(c: SignedCursor, publicKey: KeyObject): boolean {
  try {
    return verify(null, payload(c, c.kid), publicKey, Buffer.from(c.sig, 'base64url'));
  } catch {
    return false;
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const KID = /^[0-9a-f]{16}$/;
/** An Ed25519 signature (64 bytes) in base64url without padding. */
const SIG = /^[A-Za-z0-9_-]{86}$/;
const MEMBERS = ['hash', 'kid', 'offset', 'segment', 'seq', 'sig']; // sorted

const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * The cursor a parsed `ship-cursor.json` holds, or why it is not one: exactly the members of a
 * SignedCursor, well formed. A position without `kid` and `sig` is an earlier release's cursor (or
 * a hand-made one) and is said to be so.
 */
export function parseCursor(v: unknown): SignedCursor | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'is not a cursor';
  const o = v as Record<string, unknown>;
  const position = count(o.seq) && count(o.segment) && (o.segment as number) >= 1 && count(o.offset);
  if (position && o.kid === undefined && o.sig === undefined)
    return 'is not signed (a cursor of an earlier release, or one written by hand)';
  const keys = Object.keys(o).sort();
  if (
    !position ||
    typeof o.hash !== 'string' ||
    !HEX64.test(o.hash) ||
    typeof o.kid !== 'string' ||
    !KID.test(o.kid) ||
    typeof o.sig !== 'string' ||
    !SIG.test(o.sig) ||
    keys.length !== MEMBERS.length ||
    keys.some((k, i) => k !== MEMBERS[i])
  )
    return 'is not a cursor {seq, segment, offset, hash, kid, sig}';
  return o as unknown as SignedCursor;
}

/**
 * True when `line` (without its newline) is exactly the line the appender wrote for a record whose
 * hash is `hash`: it ends with `,"hash":"<hash>"}` and the SHA-256 of the text before that, closed
 * with `}`, is `hash` (chain.ts lineOf). A line claiming that hash with other content is false.
 */
export function lineHasHash(line: Buffer, hash: string): boolean {
  if (line.length <= HASH_SUFFIX || line.toString('latin1', line.length - HASH_SUFFIX) !== `,"hash":"${hash}"}`)
    return false;
  return sha256Bytes(Buffer.concat([line.subarray(0, line.length - HASH_SUFFIX), Buffer.from('}')])) === hash;
}
