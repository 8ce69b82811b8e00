import { errors } from 'jose';
import type { ErrorCode } from '../errors/codes.ts';

/**
 * Maps jose's error classes to our codes (`typ`: the token type that was expected, named when the
 * header's differs). Messages name the failed check, never token contents.
 */
export function mapJoseError(thrown: unknown, typ: string): [ErrorCode, string] {
  if (thrown instanceof errors.JWTExpired) {
    return thrown.claim === 'iat'
      ? ['VERIFY_TOO_OLD', 'token is older than the maximum token age']
      : ['VERIFY_EXPIRED', 'token has expired'];
  }
  if (thrown instanceof errors.JWTClaimValidationFailed) {
    if (thrown.claim === 'nbf') return ['VERIFY_NOT_YET_VALID', 'token is not valid yet (nbf)'];
    if (thrown.claim === 'typ') return ['VERIFY_TYPE_INVALID', `token header "typ" must be "${typ}"`];
    return ['VERIFY_CLAIM_INVALID', `claim "${thrown.claim}" is invalid (${thrown.reason})`];
  }
  if (thrown instanceof errors.JOSEAlgNotAllowed)
    return ['VERIFY_ALGORITHM_NOT_ALLOWED', 'token algorithm is not allowed'];
  if (thrown instanceof errors.JWKSNoMatchingKey) return ['VERIFY_KEY_NOT_FOUND', 'no trusted key matches the token'];
  if (thrown instanceof errors.JWKSMultipleMatchingKeys)
    return ['VERIFY_KEY_NOT_FOUND', 'more than one trusted key matches the token; a "kid" is required'];
  if (thrown instanceof errors.JWSSignatureVerificationFailed)
    return ['VERIFY_SIGNATURE_INVALID', 'token signature is invalid'];
  if (thrown instanceof errors.JOSENotSupported) {
    return /Extension Header/.test(thrown.message)
      ? ['VERIFY_MALFORMED', 'token marks a header critical that this runner does not understand']
      : ['VERIFY_ALGORITHM_NOT_ALLOWED', 'token uses an unsupported algorithm or key'];
  }
  if (thrown instanceof errors.JWSInvalid || thrown instanceof errors.JWTInvalid)
    return ['VERIFY_MALFORMED', 'token is malformed'];
  if (thrown instanceof errors.JOSEError) return ['VERIFY_MALFORMED', `token could not be verified (${thrown.code})`];
  return ['VERIFY_MALFORMED', 'token could not be verified'];
}
