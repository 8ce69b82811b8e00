import { createPublicKey, type KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ChainChecker } from '../audit/chain-check.ts';
import { adoptedWellFormed, checkpointValid, type Adopted, type Checkpoint } from '../audit/checkpoint.ts';
import { parseProblem } from '../errors/parse-problem.ts';
import { auditLines, checkLine, CHECKPOINTS_FILE } from './audit-files.ts';
import { openAuditFile } from './audit-open.ts';
import { lastBytes } from './audit-tail.ts';

/**
 * What the appender trusts of an audit directory when it starts with a signing key (red team 17,
 * findings 2 and 8): the last line of checkpoints.jsonl only if this runner's own key signed it
 * and it matches the chain, and the records after it only as "adopted": checked against the hash
 * chain, never signed as if this process had written them. docs/audit.md, "Restarts: what the
 * runner adopts".
 */

/** The signer of this runner's checkpoints: its private key and kid (keys.ts keyId). */
export interface CheckpointSigner {
  readonly key: KeyObject;
  readonly kid: string;
}

/** What the start-up check found. */
export interface ResumeTrust {
  /** seq of the last checkpoint this runner's key signed and the chain matches (0 for none). */
  readonly checkpointed: number;
  /** Records after it (up to the head), hash-chain checked, not witnessed: the next checkpoint names them. */
  readonly adopted: Adopted | undefined;
  /** Bytes of a torn (unterminated) last checkpoint line cut off (0 for none). */
  readonly cut: number;
}

/**
 * The appender refuses to continue the log (code AUDIT_RESUME_REFUSED; `serve` exits 2 before
 * anything starts): the last checkpoint line says this runner's key signed it but the signature
 * fails, it is not a checkpoint, it vouches for more records than the log holds or for another
 * head, or the records after it do not chain. The message names the file (and line) and the way out.
 */
export class AuditResumeRefused extends Error {
  override readonly name = 'AuditResumeRefused';
  readonly code = 'AUDIT_RESUME_REFUSED' as const;
}

const INSPECT =
  'run `kubiya-runner audit verify <dir> --public-key <pub>` to see what changed; the runner does not extend a log it cannot vouch for (fail closed)';

/** The bytes read from the end of checkpoints.jsonl for its last line (a checkpoint is < 1 KiB). */
export const CHECKPOINT_TAIL_BYTES = 64 * 1024;

/**
 * The last terminated, non-empty line of checkpoints.jsonl (undefined: no file or no line), after
 * cutting a torn last line (bytes after the last newline: a crash inside appendCheckpoint, which
 * writes a line and its newline at once; no signed checkpoint ends without one) and syncing the
 * cut. Reads the file's last CHECKPOINT_TAIL_BYTES only. Throws AuditResumeRefused when no newline
 * ends within them in a longer file (not a crash's tear: not cut), and what openAuditFile throws.
 */
export async function lastCheckpointLine(path: string): Promise<{ line: string | undefined; cut: number }> {
  let fh;
  try {
    fh = await openAuditFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { line: undefined, cut: 0 };
    throw e;
  }
  const { buf, offset } = await lastBytes(fh, CHECKPOINT_TAIL_BYTES).finally(() => fh.close());
  const nl = buf.lastIndexOf(0x0a);
  if (nl < 0 && offset > 0)
    throw new AuditResumeRefused(
      `${path}: no line ends in its last ${CHECKPOINT_TAIL_BYTES} bytes (a checkpoint is under 1 KiB): not cut automatically; ${INSPECT}`,
    );
  const cut = buf.length - (nl + 1);
  if (cut > 0) {
    const w = await open(path, 'r+');
    try {
      await w.truncate(offset + nl + 1);
      await w.datasync();
    } finally {
      await w.close();
    }
  }
  let end = nl; // the last line is buf[start, end): skip empty lines (the appender writes none)
  while (end > 0 && buf[end - 1] === 0x0a) end--;
  if (end <= 0) return { line: undefined, cut };
  const start = buf.lastIndexOf(0x0a, end - 1) + 1;
  if (start === 0 && offset > 0)
    throw new AuditResumeRefused(`${path}: its last line is longer than ${CHECKPOINT_TAIL_BYTES} bytes; ${INSPECT}`);
  return { line: buf.toString('utf8', start, end), cut };
}
/**
 * The last checkpoint line, parsed and checked against this runner's key: a checkpoint signed by
 * another kid (the key was rotated) is not this key's and is returned as `foreign` (nothing it
 * says is trusted: the records it covers are adopted); one that claims this runner's kid but whose
 * signature fails, or that is not a checkpoint, throws AuditResumeRefused naming the file.
 */
function ownCheckpoint(path: string, line: string, signer: CheckpointSigner): Checkpoint | 'foreign' {
  let c: Checkpoint;
  try {
    c = JSON.parse(line) as Checkpoint;
  } catch (e) {
    throw new AuditResumeRefused(`${path}: its last line is not JSON (${parseProblem(e)}); ${INSPECT}`);
  }
  const shaped =
    typeof c === 'object' &&
    c !== null &&
    Number.isSafeInteger(c.seq) &&
    c.seq >= 1 &&
    typeof c.head === 'string' &&
    typeof c.kid === 'string' &&
    typeof c.sig === 'string' &&
    adoptedWellFormed(c);
  if (!shaped) throw new AuditResumeRefused(`${path}: its last line is not a checkpoint; ${INSPECT}`);
  if (c.kid !== signer.kid) return 'foreign';
  if (!checkpointValid(c, createPublicKey(signer.key)))
    throw new AuditResumeRefused(
      `${path}: its last line (checkpoint for seq ${c.seq}) names this runner's kid ${signer.kid} but its signature does not verify with this runner's key (forged or altered); ${INSPECT}`,
    );
  return c;
}

/** seq and prev of a segment's first line, when it is a JSON object (undefined otherwise). */
async function firstRecord(dir: string, file: string): Promise<{ seq: number; prev: string } | undefined> {
  for await (const l of auditLines(dir, [file])) {
    try {
      const r = JSON.parse(l.line) as { seq?: unknown; prev?: unknown } | null;
      if (typeof r?.seq === 'number' && typeof r.prev === 'string') return { seq: r.seq, prev: r.prev };
    } catch {
      // not a record: the checker names it
    }
    return undefined;
  }
  return undefined;
}

/**
 * The index (in `segments`, in order) of the segment that holds record `seq` (the first one for
 * seq 0): the last one whose first record's seq is at most `seq`. Reads each later segment's first line.
 */
async function segmentOf(dir: string, segments: readonly string[], seq: number): Promise<number> {
  for (let i = segments.length - 1; i > 0; i--) {
    const first = await firstRecord(dir, segments[i] as string);
    if (first !== undefined && first.seq <= Math.max(1, seq)) return i;
  }
  return 0;
}

/**
 * Checks the chain from the segment holding `from` to the head found by repairTail (`head`),
 * taking up the chain at that segment's first record; `at` is the checkpoint to match there (its
 * seq's hash must be its head). Throws AuditResumeRefused naming the first bad line.
 */
async function checkTail(
  dir: string,
  segments: readonly string[],
  at: Checkpoint | undefined,
  head: { readonly seq: number; readonly prev: string },
): Promise<void> {
  const i = await segmentOf(dir, segments, at?.seq ?? 0);
  const from = i === 0 ? undefined : await firstRecord(dir, segments[i] as string);
  const checker = new ChainChecker(at !== undefined ? [at.seq] : [], from);
  for await (const l of auditLines(dir, segments.slice(i))) {
    checkLine(checker, l);
    if (checker.failed) break;
  }
  const bad = checker.finish([], undefined).firstBad;
  if (bad !== undefined)
    throw new AuditResumeRefused(
      `${dir}: the records after the last checkpoint do not chain: seq ${bad.seq} (${bad.where ?? ''}): ${bad.reason}; ${INSPECT}`,
    );
  const state = checker.state;
  if (state.expected - 1 !== head.seq || state.prev !== head.prev)
    throw new AuditResumeRefused(`${dir}: the chain read at start does not end at seq ${head.seq}; ${INSPECT}`);
  if (at !== undefined && state.heads.get(at.seq) !== at.head)
    throw new AuditResumeRefused(
      `${join(dir, CHECKPOINTS_FILE)}: its last checkpoint (seq ${at.seq}) does not match record ${at.seq}'s hash: history was rewritten; ${INSPECT}`,
    );
}

/**
 * The start-up check of a checkpointed log (resumeLog calls it after repairTail): the last
 * checkpoint line (lastCheckpointLine, ownCheckpoint) within the log (seq at most the head's) and
 * equal to its record's hash; the records after it checked against the hash chain (from the
 * segment holding that record: start-up reads at most the records since the last own checkpoint
 * and one segment before them; all segments when there is none). Records after it are returned as
 * `adopted`. Throws AuditResumeRefused (the file named) on any mismatch.
 */
export async function checkResume(
  dir: string,
  segments: readonly string[],
  head: { readonly seq: number; readonly prev: string },
  signer: CheckpointSigner,
): Promise<ResumeTrust> {
  const path = join(dir, CHECKPOINTS_FILE);
  const { line, cut } = await lastCheckpointLine(path);
  const own = line === undefined ? undefined : ownCheckpoint(path, line, signer);
  const at = own === 'foreign' ? undefined : own;
  if (at !== undefined && at.seq > head.seq)
    throw new AuditResumeRefused(
      `${path}: its last checkpoint vouches for seq ${at.seq} but ${basename(dir)} ends at seq ${head.seq}: records were cut off the log's end; ${INSPECT}`,
    );
  const checkpointed = at?.seq ?? 0;
  if (checkpointed === head.seq) {
    if (at !== undefined && at.head !== head.prev)
      throw new AuditResumeRefused(
        `${path}: its last checkpoint (seq ${at.seq}) does not match record ${at.seq}'s hash: history was rewritten; ${INSPECT}`,
      );
    return { checkpointed, adopted: undefined, cut };
  }
  await checkTail(dir, segments, at, head);
  return { checkpointed, adopted: { from: checkpointed + 1, to: head.seq }, cut };
}
