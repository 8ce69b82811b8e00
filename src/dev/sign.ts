import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { ASSIGNMENT_TYP, CANCELLATION_TYP } from '../verify/verify.ts';

export interface SigningKey {
  readonly kid: string;
  readonly alg: 'EdDSA' | 'ES256';
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** A fresh signing key, as the reference control plane holds one. */
export async function newSigningKey(
  alg: 'EdDSA' | 'ES256' = 'EdDSA',
  kid = `cp-${randomUUID().slice(0, 8)}`,
): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export function jwks(keys: readonly SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

export interface AssignmentClaimsInput {
  readonly issuer: string;
  readonly audience: string;
  readonly workflow: { readonly id: string } & Record<string, unknown>;
  readonly jti?: string;
  readonly ttlSeconds?: number;
  readonly now?: Date;
}

/** Signs one assignment token (compact JWS, typ kubiya-assignment+jwt). */
export async function signAssignment(key: SigningKey, c: AssignmentClaimsInput): Promise<string> {
  const now = Math.floor((c.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ workflow: c.workflow })
    .setProtectedHeader({ alg: key.alg, typ: ASSIGNMENT_TYP, kid: key.kid })
    .setIssuer(c.issuer)
    .setAudience(c.audience)
    .setSubject(c.workflow.id)
    .setJti(c.jti ?? randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + (c.ttlSeconds ?? 300))
    .sign(key.privateKey);
}

/** Signs a cancellation of the run of the assignment whose jti is `run` (typ kubiya-cancel+jwt). */
export async function signCancellation(
  key: SigningKey,
  c: {
    readonly issuer: string;
    readonly audience: string;
    readonly run: string;
    readonly now?: Date;
    readonly ttlSeconds?: number;
  },
): Promise<string> {
  const now = Math.floor((c.now ?? new Date()).getTime() / 1000);
  return new SignJWT({ cancel: c.run })
    .setProtectedHeader({ alg: key.alg, typ: CANCELLATION_TYP, kid: key.kid })
    .setIssuer(c.issuer)
    .setAudience(c.audience)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + (c.ttlSeconds ?? 300))
    .sign(key.privateKey);
}
