import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify } from 'jose';
import { canonicalJson } from '../audit/canonical.ts';
import { fail, ok, type Result } from '../errors/result.ts';

/**
 * OPA's bundle signing format (https://www.openpolicyagent.org/docs/management-bundles#signing),
 * so a bundle signed here verifies with `opa build --verification-key` and the other way round:
 * `.signatures.json` at the bundle root holds `{"signatures": ["<JWS compact>"]}`, one JWT whose
 * payload lists every other file of the bundle with its SHA-256:
 *
 *   {"files": [{"name": "data.json", "hash": "<hex>", "algorithm": "SHA-256"}, ...]}
 *
 * `name` is the file's path in the bundle without a leading "/". The hash of a JSON document OPA
 * reads as JSON (`data.json` at any depth, `.manifest`) is taken over its canonical form (keys
 * sorted, no whitespace), so re-serialising it does not break the signature; every other file
 * (policy.wasm, .rego sources, our settings.schema.json and fixtures.json) is hashed as bytes.
 * Verification is exact: the signature must verify with one of the configured keys, every file
 * of the bundle must be listed with its hash, and every listed file must be there.
 */
export const SIGNATURES_FILE = '.signatures.json';

export interface SignedFile {
  readonly name: string;
  readonly hash: string;
  readonly algorithm: 'SHA-256';
}

/** The JWS algorithm for a key: ES256 (P-256), ES384 (P-384), EdDSA (Ed25519), RS256 (RSA). */
export function algorithmOf(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'rsa') return 'RS256';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
  }
  throw new Error(`unsupported bundle signing key type ${type ?? 'unknown'}`);
}

/** A PEM private key (PKCS#8 or SEC1/PKCS#1) for signing. Throws on anything else. */
export const signingKeyFromPem = (pem: string): KeyObject => createPrivateKey(pem);
/** A PEM public key (SPKI) for verification. Throws on anything else. */
export const verificationKeyFromPem = (pem: string): KeyObject => createPublicKey(pem);

const isJsonDocument = (name: string): boolean =>
  name === '.manifest' || name === 'data.json' || name.endsWith('/data.json');

/** The hash OPA computes for a bundle file (hex SHA-256; canonical JSON for data.json and .manifest). */
export function fileHash(name: string, bytes: Uint8Array): string {
  let input: Uint8Array | string = bytes;
  if (isJsonDocument(name)) {
    const canonical = canonicalJson(JSON.parse(Buffer.from(bytes).toString('utf8')));
    if (canonical === undefined) throw new Error(`${name} has no canonical JSON form`);
    input = canonical;
  }
  return createHash('sha256').update(input).digest('hex');
}

const signedNames = (files: ReadonlyMap<string, Uint8Array>): string[] =>
  [...files.keys()].filter((n) => n !== SIGNATURES_FILE && n !== '' && !n.endsWith('/')).sort();

/** The `.signatures.json` text for the bundle's files (all but an existing signatures file). */
export async function signBundleFiles(files: ReadonlyMap<string, Uint8Array>, key: KeyObject): Promise<string> {
  const payload = {
    files: signedNames(files).map((name) => ({ name, hash: fileHash(name, files.get(name)!), algorithm: 'SHA-256' })),
  };
  const jws = await new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: algorithmOf(key), typ: 'JWT' })
    .sign(key);
  return `${JSON.stringify({ signatures: [jws] }, null, 1)}\n`;
}

/** The signed payload and the key that verified it (the first of `keys` that does), or undefined. */
async function verifiedPayload(
  jws: string,
  keys: readonly KeyObject[],
): Promise<{ readonly payload: unknown; readonly key: KeyObject } | undefined> {
  for (const key of keys) {
    try {
      const { payload } = await compactVerify(jws, key, { algorithms: [algorithmOf(key)] });
      return { payload: JSON.parse(Buffer.from(payload).toString('utf8')) as unknown, key };
    } catch {
      // the next key may verify it
    }
  }
  return undefined;
}

/**
 * Checks a bundle's signature against the verification keys; on success, the number of files
 * signed and the key that verified the signature. POLICY_BUNDLE_UNSIGNED when it has
 * no `.signatures.json`; POLICY_BUNDLE_SIGNATURE_INVALID when the signature does not verify with
 * any key, or the signed file list and the bundle's files differ (a file added, removed or
 * changed), naming the file.
 */
export async function verifyBundleFiles(
  files: ReadonlyMap<string, Uint8Array>,
  keys: readonly KeyObject[],
): Promise<Result<{ readonly files: number; readonly key: KeyObject }>> {
  const raw = files.get(SIGNATURES_FILE);
  if (raw === undefined)
    return fail('POLICY_BUNDLE_UNSIGNED', `the bundle has no ${SIGNATURES_FILE}, and verification keys are set`);
  const invalid = (why: string): Result<never> => fail('POLICY_BUNDLE_SIGNATURE_INVALID', `bundle signature: ${why}`);
  let signatures: unknown;
  try {
    signatures = (JSON.parse(Buffer.from(raw).toString('utf8')) as { signatures?: unknown }).signatures;
  } catch {
    return invalid(`${SIGNATURES_FILE} is not JSON`);
  }
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== 'string')
    return invalid(`${SIGNATURES_FILE} must hold exactly one signature`);
  const verified = await verifiedPayload(signatures[0], keys);
  if (verified === undefined) return invalid('it does not verify with any of the verification keys');
  const listed = (verified.payload as { files?: unknown }).files;
  if (!Array.isArray(listed)) return invalid('the signed payload lists no files');
  const signed = new Map<string, string>();
  for (const f of listed as Partial<SignedFile>[]) {
    if (typeof f.name !== 'string' || typeof f.hash !== 'string' || f.algorithm !== 'SHA-256')
      return invalid('a signed file entry is malformed');
    signed.set(f.name.replace(/^\/+/, ''), f.hash.toLowerCase());
  }
  const names = signedNames(files);
  for (const name of names) {
    const hash = signed.get(name);
    if (hash === undefined) return invalid(`${name} is in the bundle but not signed`);
    let actual: string;
    try {
      actual = fileHash(name, files.get(name)!);
    } catch {
      return invalid(`${name} does not parse`);
    }
    if (actual !== hash) return invalid(`${name} does not match its signed hash`);
  }
  const missing = [...signed.keys()].filter((n) => !names.includes(n));
  if (missing.length > 0) return invalid(`${missing.join(', ')} signed but not in the bundle`);
  return ok({ files: names.length, key: verified.key });
}
