import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Checkpoint } from '../audit/checkpoint.ts';
import type { AuditRecord } from '../audit/record.ts';
import { AuditVerifier, type VerifyReport } from '../audit/verify.ts';

/** Layout of an audit directory: segment-00000001.jsonl, segment-00000002.jsonl, ..., checkpoints.jsonl */
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';
const SEGMENT = /^segment-(\d{8})\.jsonl$/;

export const segmentName = (n: number): string => `segment-${String(n).padStart(8, '0')}.jsonl`;

/** Segment files of a directory, in order. */
export async function listSegments(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
  return names.map((n) => join(dir, n));
}

export function segmentNumber(path: string): number {
  return Number(SEGMENT.exec(path.split('/').pop() ?? '')?.[1] ?? '0');
}

/**
 * Every line of every segment, in order, streamed in 1 MiB chunks (logs may be larger than
 * memory; splitting buffers on "\n" is several times cheaper than readline here).
 */
export async function* auditLines(dir: string): AsyncGenerator<{ line: string; where: string }> {
  for (const file of await listSegments(dir)) {
    const name = file.split('/').pop() ?? file;
    let n = 0;
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
      const buf: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
      let start = 0;
      for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
        n++;
        if (nl > start) yield { line: buf.toString('utf8', start, nl), where: `${name}:${n}` };
        start = nl + 1;
      }
      carry = buf.subarray(start);
    }
    if (carry.length > 0) yield { line: carry.toString('utf8'), where: `${name}:${n + 1}` };
  }
}

/** Every record of an audit directory, in order (parse errors throw). */
export async function readAuditLog(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { line } of auditLines(dir)) out.push(JSON.parse(line) as AuditRecord);
  return out;
}

export async function readCheckpoints(dir: string): Promise<Checkpoint[]> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINTS_FILE), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Checkpoint);
}

/** Verifies an audit directory: the chain through every segment, then the checkpoints. */
export async function verifyAuditDir(dir: string, publicKey: KeyObject | undefined, onProgress?: (records: number) => void): Promise<VerifyReport & { segments: number }> {
  const checkpoints = await readCheckpoints(dir);
  const verifier = new AuditVerifier(checkpoints.map((c) => c.seq));
  let n = 0;
  for await (const { line, where } of auditLines(dir)) {
    verifier.line(line, where);
    if (verifier.failed) break;
    if (onProgress !== undefined && ++n % 100_000 === 0) onProgress(n);
  }
  return { ...verifier.finish(checkpoints, publicKey), segments: (await listSegments(dir)).length };
}
