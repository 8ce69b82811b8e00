import { createPublicKey, KeyObject } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { checkClaim, timeClaimProblem, timeOrderProblem } from './claims.ts';
import { hasDuplicateKeys } from './duplicate-keys.ts';
import { mapJoseError } from './jose-errors.ts';
import { fail, ok, type Result } from '../errors/result.ts';
import { covering, publicJwk, type TrustedKey } from './trusted-keys.ts';

export const ASSIGNMENT_TYP = 'kubiya-assignment+jwt';
/** A cancellation: signed by the same control plane, for the same runner, naming an assignment's jti. */
export const CANCELLATION_TYP = 'kubiya-cancel+jwt';

export interface VerifyOptions {
  /** Pinned list; the token header never chooses the algorithm. */
  readonly algorithms: readonly string[];
  readonly issuer: string;
  /** This runner's name. */
  readonly audience: string;
  readonly maxTokenAgeSeconds: number;
  readonly clockToleranceSeconds: number;
}

export interface AssignmentClaims extends JWTPayload {
  readonly iss: string;
  /** One audience, this runner's name: arrays are refused (RFC 8725 §3.9; SECURITY.md). */
  readonly aud: string;
  readonly sub: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  readonly workflow: unknown;
}

export interface VerifyDeps {
  readonly keys: JWTVerifyGetKey;
  readonly now: () => Date;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Headers that point at keys the token itself chooses: never honoured, and refused outright. */
const KEY_POINTING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;
/**
 * Headers that change how the token's bytes are read: `b64` (RFC 7797 unencoded payload) and
 * `zip` (RFC 7516 §4.1.3: compression, defined for JWE only; a reader that honoured it on a JWS
 * would inflate the payload) are not supported, whatever their value and whether or not they are
 * listed in `crit`: a token is verified exactly as the compact JWS it is (base64url header,
 * payload and signature).
 */
const UNSUPPORTED_HEADERS = ['b64', 'zip'] as const;
const UNSUPPORTED_WHY: Record<(typeof UNSUPPORTED_HEADERS)[number], string> = {
  b64: 'RFC 7797 unencoded payloads are not supported',
  zip: 'compression is JWE-only (RFC 7516), never applied to a JWS',
};

/** verify: compact JWS → claims whose signature, type, issuer, audience and times hold. */
export async function verify(
  token: string,
  options: VerifyOptions,
  deps: VerifyDeps,
): Promise<Result<AssignmentClaims>> {
  const verified = await verifyAssignment(token, options, deps);
  return verified.ok ? ok(verified.value.claims) : verified;
}

/** An assignment's claims and the public key (JWK) that verified its signature. */
export interface VerifiedAssignment {
  readonly claims: AssignmentClaims;
  /** The verifying public key: its RFC 7638 members, plus the token's kid and alg. */
  readonly key: JWK;
}

/** verify, also naming the key that verified the token (admission records it as trusted). */
export async function verifyAssignment(
  token: string,
  options: VerifyOptions,
  deps: VerifyDeps,
): Promise<Result<VerifiedAssignment>> {
  const verified = await verifyToken(token, ASSIGNMENT_TYP, ['exp', 'iat', 'jti', 'sub', 'iss', 'aud'], options, deps);
  if (!verified.ok) return verified;
  const { payload, key } = verified.value;
  if (!('workflow' in payload)) return fail('VERIFY_CLAIM_INVALID', 'missing required claim "workflow"');
  const sub = checkClaim('sub', payload.sub, { max: 256 });
  if (!sub.ok) return sub;
  // One name for the workflow: the verify record names it by `sub`, every later record by
  // `workflow.id`; a token whose two disagree is refused rather than recorded under two names.
  const workflowId =
    typeof payload.workflow === 'object' && payload.workflow !== null
      ? (payload.workflow as { id?: unknown }).id
      : undefined;
  if (workflowId !== sub.value) return fail('VERIFY_CLAIM_INVALID', 'claim "sub" must equal workflow.id');
  return ok({ claims: payload as AssignmentClaims, key });
}

/** Where re-verification looks for keys: the trusted-key store's contents, and the skew allowed. */
export interface TrustedVerifyDeps {
  readonly trusted: readonly TrustedKey[];
  /** The run's creationTimestamp: the key must have been trusted then, and the time claims are judged then. */
  readonly at: Date;
  readonly skewSeconds: number;
}

/**
 * Re-verification of an admitted run's stored token (DESIGN §2b): only keys this runner trusted
 * at `at` (the run's creationTimestamp, ± skew) are tried, each in turn; the token's time claims
 * are judged at `at`. The current JWKS plays no part: its outages and rotations cannot stop a run.
 * Errors: VERIFY_KEY_NOT_TRUSTED when no key trusted then matches the token; otherwise the same
 * codes as `verify` (VERIFY_SIGNATURE_INVALID when a trusted key with the token's kid does not
 * verify it).
 */
export async function verifyTrusted(
  token: string,
  options: VerifyOptions,
  deps: TrustedVerifyDeps,
): Promise<Result<VerifiedAssignment>> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (thrown) {
    const [code, message] = mapJoseError(thrown, ASSIGNMENT_TYP);
    return fail(code, message);
  }
  const candidates = covering(deps.trusted, deps.at, deps.skewSeconds).filter(
    (k) =>
      (header.kid === undefined || k.jwk.kid === undefined || k.jwk.kid === header.kid) &&
      (k.jwk.alg === undefined || k.jwk.alg === header.alg),
  );
  let last: Result<VerifiedAssignment> | undefined;
  for (const candidate of candidates) {
    const alg = typeof header.alg === 'string' ? header.alg : '';
    const keys: JWTVerifyGetKey = () => imported(candidate, alg);
    const r = await verifyAssignment(token, options, { keys, now: () => deps.at });
    if (r.ok) return r;
    // A wrong key (same kid reused, or no kid) is not the token's fault: try the next one.
    if (r.error.code !== 'VERIFY_SIGNATURE_INVALID' || last === undefined) last = r;
  }
  return (
    last ??
    fail(
      'VERIFY_KEY_NOT_TRUSTED',
      `no key this runner trusted at the run's creation (${deps.at.toISOString()}) matches the token`,
    )
  );
}

export interface CancellationClaims extends JWTPayload {
  readonly jti: string;
  /** The jti of the assignment whose run is cancelled. */
  readonly cancel: string;
}

/** verify for a cancellation token: the same keys and checks, its own `typ`, and a `cancel` claim. */
export async function verifyCancellation(
  token: string,
  options: VerifyOptions,
  deps: VerifyDeps,
): Promise<Result<CancellationClaims>> {
  const verified = await verifyToken(token, CANCELLATION_TYP, ['exp', 'iat', 'jti', 'iss', 'aud'], options, deps);
  if (!verified.ok) return verified;
  const cancel = checkClaim('cancel', verified.value.payload.cancel, { max: 128, jti: true });
  if (!cancel.ok) return fail('VERIFY_CLAIM_INVALID', `${cancel.error.message} (the jti of an assignment)`);
  return ok(verified.value.payload as CancellationClaims);
}

async function verifyToken(
  token: string,
  typ: string,
  requiredClaims: string[],
  options: VerifyOptions,
  deps: VerifyDeps,
): Promise<Result<{ payload: JWTPayload; key: JWK }>> {
  // Exactly as signed, also for a stored token read back from a WorkflowRun: three base64url
  // parts and nothing else (no whitespace, padding or line breaks that a decoder might skip).
  if (!COMPACT_JWS.test(token))
    return fail('VERIFY_MALFORMED', 'token is not a compact JWS (three base64url parts, nothing around them)');
  const [headerBytes, payloadBytes] = token
    .split('.')
    .slice(0, 2)
    .map((part) => Buffer.from(part, 'base64url'));
  // The JSON starts at byte 0: a UTF-8 BOM (which jose's TextDecoder strips, and Go's encoding/json
  // refuses) or whitespace before `{` is a parser differential, refused.
  if (headerBytes?.[0] !== 0x7b)
    return fail(
      'VERIFY_MALFORMED',
      'token header must be a JSON object starting at its first byte (no BOM or whitespace before "{")',
    );
  if (payloadBytes?.[0] !== 0x7b)
    return fail(
      'VERIFY_MALFORMED',
      'token payload must be a JSON object starting at its first byte (no BOM or whitespace before "{")',
    );
  try {
    const header = decodeProtectedHeader(token);
    // Like the payload: a header member given twice (`"alg":"none","alg":"EdDSA"`) means one thing to us and another to a first-wins reader.
    if (hasDuplicateKeys(headerBytes.toString('utf8')))
      return fail('VERIFY_MALFORMED', 'token header has a duplicate member');
    const pointing = KEY_POINTING_HEADERS.filter((h) => Object.hasOwn(header, h));
    if (pointing.length > 0)
      return fail(
        'VERIFY_MALFORMED',
        `token header carries ${pointing.join(', ')}: keys come only from this runner's JWKS`,
      );
    const unsupported = UNSUPPORTED_HEADERS.filter((h) => Object.hasOwn(header, h));
    if (unsupported.length > 0)
      return fail(
        'VERIFY_HEADER_UNSUPPORTED',
        `token header carries ${unsupported.join(', ')} (${unsupported.map((h) => UNSUPPORTED_WHY[h]).join('; ')}): send the compact JWS exactly as signed, without it`,
      );
    const { payload, key, protectedHeader } = await jwtVerify(token, deps.keys, {
      algorithms: [...options.algorithms],
      issuer: options.issuer,
      audience: options.audience,
      typ,
      requiredClaims,
      maxTokenAge: options.maxTokenAgeSeconds,
      clockTolerance: options.clockToleranceSeconds,
      currentDate: deps.now(),
    });
    if (hasDuplicateKeys(payloadBytes.toString('utf8'))) {
      return fail('VERIFY_MALFORMED', 'token payload has an object with a duplicate key');
    }
    const badTime = ['exp', 'iat', 'nbf'].map((c) => timeClaimProblem(c, payload[c])).find((p) => p !== undefined);
    if (badTime !== undefined) return fail('VERIFY_CLAIM_INVALID', badTime);
    const badOrder = timeOrderProblem(payload);
    if (badOrder !== undefined) return fail('VERIFY_CLAIM_INVALID', badOrder);
    // The strings that name the run in records and messages, before anything is built from them.
    const jti = checkClaim('jti', payload.jti, { max: 128, jti: true });
    if (!jti.ok) return jti;
    const iss = checkClaim('iss', payload.iss, { max: 2048 });
    if (!iss.ok) return iss;
    // RFC 8725 §3.9: a token meant for one runner names one audience; an array (even of one) is refused.
    if (typeof payload.aud !== 'string')
      return fail(
        'VERIFY_CLAIM_INVALID',
        'claim "aud" must be a single string (this runner\'s name); audience arrays are refused',
      );
    return ok({ payload, key: keyJwk(key, protectedHeader) });
  } catch (thrown) {
    const [code, message] = mapJoseError(thrown, typ);
    return fail(code, message);
  }
}

/**
 * Imported trusted keys, per entry (the store hands out the same objects until it changes) and
 * algorithm: every reconcile pass re-verifies, and importing a key costs more than verifying.
 */
const importedKeys = new WeakMap<TrustedKey, Map<string, ReturnType<typeof importJWK>>>();
function imported(key: TrustedKey, alg: string): ReturnType<typeof importJWK> {
  const byAlg = importedKeys.get(key) ?? new Map<string, ReturnType<typeof importJWK>>();
  importedKeys.set(key, byAlg);
  let found = byAlg.get(alg);
  if (found === undefined) {
    found = importJWK({ ...key.jwk, alg: key.jwk.alg ?? alg }, alg);
    // A failed import is not remembered: the next pass tries again.
    found.catch(() => byAlg.delete(alg));
    byAlg.set(alg, found);
  }
  return found;
}

/** The public JWK of the key jose resolved (a CryptoKey or KeyObject), with the token's kid and alg. */
function keyJwk(key: unknown, header: { readonly kid?: string | undefined; readonly alg?: string | undefined }): JWK {
  const exported = exportedJwk(key);
  return publicJwk({
    ...exported,
    ...(header.kid !== undefined ? { kid: header.kid } : {}),
    ...(header.alg !== undefined ? { alg: header.alg } : {}),
  });
}

/**
 * The public JWK of a resolved key object, exported once per object: a KeyObject or CryptoKey
 * never changes, and the JWKS hands out the same object for a key until it is refreshed (the
 * export was ~25 µs of each verification, issue #20). Callers copy it before adding members.
 */
const exportedJwks = new WeakMap<object, Readonly<JWK>>();
function exportedJwk(key: unknown): Readonly<JWK> {
  const cacheable = typeof key === 'object' && key !== null;
  const known = cacheable ? exportedJwks.get(key) : undefined;
  if (known !== undefined) return known;
  const object = key instanceof KeyObject ? key : KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
  const exported = Object.freeze(
    (object.type === 'public' ? object : createPublicKey(object)).export({ format: 'jwk' }) as JWK,
  );
  if (cacheable) exportedJwks.set(key, exported);
  return exported;
}
