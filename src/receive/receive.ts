import { fail, ok, type Result } from '../errors/result.ts';

export interface RawAssignment {
  /** The request body or the long-poll payload, as bytes or text. */
  readonly body: Uint8Array | string;
  /** Content type as sent; `undefined` for sources without one (long-poll, CLI). */
  readonly contentType?: string | undefined;
}

export interface ReceiveLimits {
  readonly maxTokenBytes: number;
}

const ACCEPTED_TYPES = new Set(['application/jwt', 'application/jose', 'text/plain']);
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * receive: size and type checks before any parsing; yields the compact JWS text, byte for byte
 * as sent. Whitespace is never trimmed (docs/errors.md: RECEIVE_MALFORMED).
 */
export function receive(raw: RawAssignment, limits: ReceiveLimits): Result<string> {
  const size = typeof raw.body === 'string' ? Buffer.byteLength(raw.body) : raw.body.byteLength;
  if (size > limits.maxTokenBytes) {
    return fail('RECEIVE_TOO_LARGE', `assignment is ${size} bytes; the limit is ${limits.maxTokenBytes}`);
  }
  if (raw.contentType !== undefined) {
    const mediaType = raw.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!ACCEPTED_TYPES.has(mediaType)) {
      return fail('RECEIVE_UNSUPPORTED_MEDIA_TYPE', 'assignment must be sent as application/jwt (compact JWS)');
    }
  }
  // Exactly as signed: nothing is trimmed. Whitespace (space, tab, CR, LF, any Unicode space)
  // anywhere is refused with its own message, so "my file ends with a newline" is obvious.
  const text = typeof raw.body === 'string' ? raw.body : Buffer.from(raw.body).toString('utf8');
  if (/\s/u.test(text)) {
    return fail(
      'RECEIVE_MALFORMED',
      'assignment has whitespace around or inside the token (a trailing newline?): send the compact JWS exactly as signed',
    );
  }
  if (!COMPACT_JWS.test(text)) {
    return fail('RECEIVE_MALFORMED', 'assignment is not a compact JWS (three base64url parts)');
  }
  return ok(text);
}
