import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { ErrorCode } from '../errors/codes.ts';
import { verificationKeyFromPem } from '../policy/bundle-signature.ts';
import { holdsPrivateKey } from '../policy/key-material.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText, whyUnreadable } from './operator-file.ts';

/** A verification key file refused, with its code (POLICY_KEY_PRIVATE, CONFIG_INVALID); the message never quotes the file. */
export class VerificationKeyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

function parsesAsPrivate(pem: string): boolean {
  try {
    createPrivateKey(pem);
    return true;
  } catch {
    return false;
  }
}

/**
 * One verification key from its PEM text, `name` saying where it came from (a file name, or
 * `chart values policy.verificationKeys[0]`). Throws VerificationKeyError naming `name`, never the
 * text: POLICY_KEY_PRIVATE when it holds private key material, CONFIG_INVALID when it is not a PEM
 * public key.
 */
export function verificationKeyOf(pem: string, name: string): KeyObject {
  if (holdsPrivateKey(pem))
    throw new VerificationKeyError(
      'POLICY_KEY_PRIVATE',
      `policy.verificationKeys: ${name} holds a PRIVATE key: give the public key only (openssl pkey -in <key> -pubout), and rotate the exposed one`,
    );
  let key: KeyObject;
  try {
    key = verificationKeyFromPem(pem);
  } catch {
    throw new VerificationKeyError('CONFIG_INVALID', `policy.verificationKeys: ${name} is not a PEM public key`);
  }
  // createPublicKey derives a public key from a private one: whatever parses as private is refused.
  if (parsesAsPrivate(pem))
    throw new VerificationKeyError('POLICY_KEY_PRIVATE', `policy.verificationKeys: ${name} holds a PRIVATE key`);
  return key;
}

/**
 * The bundle verification keys of `policy.verificationKeys` (PEM public key files; the same for
 * `--verification-key`), read once at start. Throws VerificationKeyError naming the file, never
 * its content: POLICY_KEY_PRIVATE when it holds private key material (any PEM block labelled
 * PRIVATE KEY, a JWK with a private member — Node would happily derive the public half, and the
 * private key would then sit in a ConfigMap or a CI log), CONFIG_INVALID when it cannot be read
 * or is not a PEM public key (serve: STARTUP_FAILED or POLICY_KEY_PRIVATE).
 */
export async function policyVerificationKeys(files: readonly string[] | undefined): Promise<KeyObject[]> {
  const keys: KeyObject[] = [];
  for (const file of files ?? []) {
    let pem: string;
    try {
      pem = await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.secret);
    } catch (e) {
      throw new VerificationKeyError('CONFIG_INVALID', `policy.verificationKeys: ${whyUnreadable(file, e)}`);
    }
    keys.push(verificationKeyOf(pem, file));
  }
  return keys;
}
