import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { ErrorCode } from '../errors/codes.ts';
import { hasDuplicateKeys } from './duplicate-keys.ts';
import { fail, ok, type Result } from '../errors/result.ts';

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
  readonly aud: string | string[];
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

/** verify: compact JWS → claims whose signature, type, issuer, audience and times hold. */
/** Headers that point at keys the token itself chooses: never honoured, and refused outright. */
const KEY_POINTING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

export async function verify(token: string, options: VerifyOptions, deps: VerifyDeps): Promise<Result<AssignmentClaims>> {
  const payload = await verifyToken(token, ASSIGNMENT_TYP, ['exp', 'iat', 'jti', 'sub', 'iss', 'aud'], options, deps);
  if (!payload.ok) return payload;
  if (!('workflow' in payload.value)) return fail('VERIFY_CLAIM_INVALID', 'missing required claim "workflow"');
  return ok(payload.value as AssignmentClaims);
}

export interface CancellationClaims extends JWTPayload {
  readonly jti: string;
  /** The jti of the assignment whose run is cancelled. */
  readonly cancel: string;
}

/** verify for a cancellation token: the same keys and checks, its own `typ`, and a `cancel` claim. */
export async function verifyCancellation(token: string, options: VerifyOptions, deps: VerifyDeps): Promise<Result<CancellationClaims>> {
  const payload = await verifyToken(token, CANCELLATION_TYP, ['exp', 'iat', 'jti', 'iss', 'aud'], options, deps);
  if (!payload.ok) return payload;
  const { cancel } = payload.value;
  if (typeof cancel !== 'string' || cancel.length === 0 || cancel.length > 128) return fail('VERIFY_CLAIM_INVALID', 'claim "cancel" must be the jti of an assignment (a non-empty string of at most 128 characters)');
  return ok(payload.value as CancellationClaims);
}

async function verifyToken(token: string, typ: string, requiredClaims: string[], options: VerifyOptions, deps: VerifyDeps): Promise<Result<JWTPayload>> {
  try {
    const header = decodeProtectedHeader(token);
    const pointing = KEY_POINTING_HEADERS.filter((h) => h in header);
    if (pointing.length > 0) return fail('VERIFY_MALFORMED', `token header carries ${pointing.join(', ')}: keys come only from this runner's JWKS`);
    const { payload } = await jwtVerify(token, deps.keys, {
      algorithms: [...options.algorithms],
      issuer: options.issuer,
      audience: options.audience,
      typ,
      requiredClaims,
      maxTokenAge: options.maxTokenAgeSeconds,
      clockTolerance: options.clockToleranceSeconds,
      currentDate: deps.now(),
    });
    if (hasDuplicateKeys(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))) {
      return fail('VERIFY_MALFORMED', 'token payload has an object with a duplicate key');
    }
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 128) {
      return fail('VERIFY_CLAIM_INVALID', 'claim "jti" must be a non-empty string of at most 128 characters');
    }
    return ok(payload);
  } catch (thrown) {
    const [code, message] = mapJoseError(thrown, typ);
    return fail(code, message);
  }
}

/** Maps jose's error classes to our codes. Messages name the failed check, never token contents. */
export function mapJoseError(thrown: unknown, typ = ASSIGNMENT_TYP): [ErrorCode, string] {
  if (thrown instanceof errors.JWTExpired) {
    return thrown.claim === 'iat' ? ['VERIFY_TOO_OLD', 'token is older than the maximum token age'] : ['VERIFY_EXPIRED', 'token has expired'];
  }
  if (thrown instanceof errors.JWTClaimValidationFailed) {
    if (thrown.claim === 'nbf') return ['VERIFY_NOT_YET_VALID', 'token is not valid yet (nbf)'];
    if (thrown.claim === 'typ') return ['VERIFY_TYPE_INVALID', `token header "typ" must be "${typ}"`];
    return ['VERIFY_CLAIM_INVALID', `claim "${thrown.claim}" is invalid (${thrown.reason})`];
  }
  if (thrown instanceof errors.JOSEAlgNotAllowed) return ['VERIFY_ALGORITHM_NOT_ALLOWED', 'token algorithm is not allowed'];
  if (thrown instanceof errors.JWKSNoMatchingKey) return ['VERIFY_KEY_NOT_FOUND', 'no trusted key matches the token'];
  if (thrown instanceof errors.JWKSMultipleMatchingKeys) return ['VERIFY_KEY_NOT_FOUND', 'more than one trusted key matches the token; a "kid" is required'];
  if (thrown instanceof errors.JWSSignatureVerificationFailed) return ['VERIFY_SIGNATURE_INVALID', 'token signature is invalid'];
  if (thrown instanceof errors.JOSENotSupported) {
    return /Extension Header/.test(thrown.message)
      ? ['VERIFY_MALFORMED', 'token marks a header critical that this runner does not understand']
      : ['VERIFY_ALGORITHM_NOT_ALLOWED', 'token uses an unsupported algorithm or key'];
  }
  if (thrown instanceof errors.JWSInvalid || thrown instanceof errors.JWTInvalid) return ['VERIFY_MALFORMED', 'token is malformed'];
  if (thrown instanceof errors.JOSEError) return ['VERIFY_MALFORMED', `token could not be verified (${thrown.code})`];
  return ['VERIFY_MALFORMED', 'token could not be verified'];
}
