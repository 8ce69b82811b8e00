/**
 * The one reader for every network answer the runner reads (the bundle service, the control
 * plane's poll and events answers, the JWKS URL, the decision-log sink): read chunk by chunk and
 * abandoned as soon as it passes a bound counted in DECODED bytes. undici's `fetch` undoes
 * `Content-Encoding: gzip`, `deflate` and `br` by itself, so a few hundred KB on the wire can be
 * gigabytes in the process; those bytes live off the V8 heap, where `--max-old-space-size` does
 * not bound them (red team 17, finding 1: 1.5 MB of gzip took the shipper to 1.3 GB RSS). A
 * chunked answer has no Content-Length to refuse up front; a declared one over the bound is
 * refused before any of the body is read, when the answer is not encoded (encoded, it counts wire
 * bytes, not what the runner would hold).
 *
 * A slow answer is bounded in time by the request's own `AbortSignal` (every caller passes one):
 * a read past it rejects with the signal's reason.
 */
import type { RunnerError } from '../errors/result.ts';

/** What a bounded read gives: the decoded bytes, or NETWORK_ANSWER_TOO_LARGE (nothing kept). */
export type BoundedRead =
  { readonly ok: true; readonly bytes: Uint8Array } | { readonly ok: false; readonly error: RunnerError };

/** An answer that was over its bound, as a thrown error for callers that retry on any failure. */
export class AnswerTooLarge extends Error {
  readonly code = 'NETWORK_ANSWER_TOO_LARGE' as const;
}

/** How much of an answer the runner does not use it reads before closing it (keep-alive for small ones), in bytes. */
export const DISCARD_MAX_BYTES = 4096;

function tooLarge(what: string, max: number): { readonly ok: false; readonly error: RunnerError } {
  return {
    ok: false,
    error: { code: 'NETWORK_ANSWER_TOO_LARGE', message: `${what} is larger than ${max} bytes (decoded); not read` },
  };
}

/** True when the answer declares a Content-Length over `max` for bytes that are not encoded. */
function declaredOver(res: Response, max: number): boolean {
  const encoding = (res.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== '') return false;
  const declared = Number(res.headers.get('content-length') ?? 0);
  return Number.isFinite(declared) && declared > max;
}

/**
 * The answer's decoded body, at most `max` bytes of it; over that, the body is cancelled (the
 * connection closed) and NETWORK_ANSWER_TOO_LARGE is returned, the message naming `what` and the
 * bound. The process holds at most `max` bytes plus one decoded chunk. Rejects with what the stream rejects with: the request's timeout or abort, a network
 * error, a corrupt encoding.
 */
export async function readAtMost(res: Response, max: number, what: string): Promise<BoundedRead> {
  if (res.body === null) return { ok: true, bytes: new Uint8Array(0) };
  if (declaredOver(res, max)) {
    await res.body.cancel().catch(() => undefined);
    return tooLarge(what, max);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return tooLarge(what, max);
    }
    chunks.push(value);
  }
  return { ok: true, bytes: Buffer.concat(chunks) };
}

/**
 * The answer's body parsed as JSON, read with readAtMost. Throws AnswerTooLarge over `max`, a
 * SyntaxError for what is not JSON, or what the read rejects with.
 */
export async function jsonAtMost(res: Response, max: number, what: string): Promise<unknown> {
  const read = await readAtMost(res, max, what);
  if (!read.ok) throw new AnswerTooLarge(`${read.error.code}: ${read.error.message}`);
  return JSON.parse(Buffer.from(read.bytes).toString('utf8')) as unknown;
}

/**
 * Reads and drops at most DISCARD_MAX_BYTES of an answer the runner does not use (the sink's
 * answer to an upload, an error status's text), then cancels the rest. Never rejects: the status
 * already said what the runner needs.
 */
export async function discardBody(res: Response): Promise<void> {
  await readAtMost(res, DISCARD_MAX_BYTES, 'an unused answer').catch(() => undefined);
}
