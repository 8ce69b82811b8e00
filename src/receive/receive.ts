import { fail, ok, type Result } from '../errors/result.ts';

export interface RawAssignment {
  /** The request body or the long-poll payload, as bytes or text. */
  readonly body: Uint8Array | string;
  /** Content type as sent; `undefined` for sources without one (long-poll, CLI). */
  readonly contentType?: string | undefined;
  /** Content-Encoding as sent over HTTP; anything but `identity` is refused (the token is signed as sent, uncoded). */
  readonly contentEncoding?: string | undefined;
  /**
   * The body was not read whole because it is over the limit (HTTP): `declared` is its
   * Content-Length when it had one, else `body` holds the first limit + 1 bytes.
   */
  readonly over?: { readonly declared?: number | undefined } | undefined;
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
  if (raw.over !== undefined || size > limits.maxTokenBytes) {
    const declared = raw.over?.declared;
    const said =
      declared !== undefined
        ? `${declared} bytes (Content-Length)`
        : raw.over !== undefined
          ? `more than ${limits.maxTokenBytes} bytes`
          : `${size} bytes`;
    return fail('RECEIVE_TOO_LARGE', `assignment is ${said}; the limit is ${limits.maxTokenBytes}`);
  }
  if (raw.contentType !== undefined) {
    const mediaType = raw.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (!ACCEPTED_TYPES.has(mediaType)) {
      return fail('RECEIVE_UNSUPPORTED_MEDIA_TYPE', 'assignment must be sent as application/jwt (compact JWS)');
    }
  }
  if (raw.contentEncoding !== undefined && raw.contentEncoding.trim().toLowerCase() !== 'identity') {
    return fail(
      'RECEIVE_UNSUPPORTED_MEDIA_TYPE',
      'assignment must not be content-encoded (no Content-Encoding, or identity): send the compact JWS as signed',
    );
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
