/**
 * The claim strings the runner records or acts on (issue 14 §5): `iss`, `sub`, `jti`, and a
 * cancellation's `cancel`. They name runs in audit records, in messages and in WorkflowRun names,
 * so they are checked right after the signature, before any record is built from them; a refusal
 * is VERIFY_CLAIM_INVALID, and its message never echoes the value.
 *
 * - every one: a string, well-formed Unicode (no lone UTF-16 surrogate: the audit record could
 *   not be canonicalised, RFC 8785), no control character (C0, DEL, C1, which includes NUL) and no
 *   bidirectional formatting character (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069:
 *   "Trojan Source", CVE-2021-42574), at most 256 characters (`iss` 2048: a URL);
 * - `jti` and `cancel` (a jti): `[A-Za-z0-9._~:-]{1,128}` — RFC 7519 §4.1.7 allows any string;
 *   this runner takes the printable, URL-safe subset (base64url, UUIDs, nanoid, ULIDs, URNs all
 *   fit). SECURITY.md "Token rules", docs/control-plane.md.
 */
import { fail, ok, type Result } from '../errors/result.ts';

/** A jti (or a cancellation's `cancel`) as this runner accepts it. */
export const JTI_PATTERN = /^[A-Za-z0-9._~:-]{1,128}$/;
export const JTI_RULE = '[A-Za-z0-9._~:-]{1,128}';

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Why `value` is not an acceptable claim string of at most `max` characters; undefined when it is. */
export function claimTextProblem(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > max) return `must be at most ${max} characters`;
  if (!value.isWellFormed()) return 'must be well-formed Unicode (it has a lone UTF-16 surrogate)';
  if (CONTROL_OR_BIDI.test(value)) return 'must not contain control or bidirectional formatting characters';
  return undefined;
}

/** Checks one claim; `jti: true` for a jti (and `cancel`), which must also match {@link JTI_PATTERN}. */
export function checkClaim(
  name: string,
  value: unknown,
  rule: { readonly max: number; readonly jti?: boolean },
): Result<string> {
  const problem = claimTextProblem(value, rule.max);
  if (problem !== undefined) return fail('VERIFY_CLAIM_INVALID', `claim "${name}" ${problem}`);
  if (rule.jti === true && !JTI_PATTERN.test(value as string))
    return fail('VERIFY_CLAIM_INVALID', `claim "${name}" must match ${JTI_RULE}`);
  return ok(value as string);
}

/**
 * A string as a message may quote it: JSON-escaped (controls, NUL, lone surrogates as `\uXXXX`),
 * bidirectional formatting characters escaped too, cut to `max` characters. For defence in depth:
 * the claims quoted in messages have passed {@link checkClaim} already.
 */
export function quoted(value: string, max = 128): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut).replace(
    /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u0080-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** The largest NumericDate accepted: 9999-12-31T23:59:59Z (red team 14, finding 3). */
export const MAX_NUMERIC_DATE = 253_402_300_799;

/**
 * Why a time claim (`exp`, `iat`, `nbf`) is not an acceptable NumericDate; undefined when it is
 * absent or acceptable. JSON.parse reads `1e400` as Infinity (Go's encoding/json refuses it), so
 * "never expires" could be signed; a NumericDate here is a finite number from 0 to the year 9999
 * (fractions allowed, RFC 7519 §2).
 */
export function timeClaimProblem(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_NUMERIC_DATE)
    return `claim "${name}" must be a NumericDate from 0 to ${MAX_NUMERIC_DATE} (9999-12-31T23:59:59Z)`;
  return undefined;
}

/**
 * Why a token's time claims contradict one another; undefined when they do not (or a claim is
 * absent). Called after timeClaimProblem, so each present claim is a finite NumericDate. RFC 7519
 * §4.1.4–4.1.6 set no order between `exp`, `nbf` and `iat`, but a token whose `exp` is not after
 * its `iat` expired when (or before) it was issued, and one whose `exp` is not after its `nbf` is
 * valid at no instant; the clock tolerance would otherwise admit either for up to its width.
 */
export function timeOrderProblem(claims: { readonly [claim: string]: unknown }): string | undefined {
  const { exp, iat, nbf } = claims;
  if (typeof exp !== 'number') return undefined;
  if (typeof iat === 'number' && exp <= iat)
    return 'claim "exp" must be after claim "iat" (the token expired when it was issued)';
  if (typeof nbf === 'number' && exp <= nbf)
    return 'claim "exp" must be after claim "nbf" (the token is valid at no instant)';
  return undefined;
}
