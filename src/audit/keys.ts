import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

/** A short, stable key id: the first 16 hex digits of SHA-256 over the public key (SPKI DER). */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** Loads an Ed25519 private key (PEM) for signing checkpoints; refuses any other key type. */
export function checkpointSigningKey(pem: string): { key: KeyObject; kid: string } {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`checkpoint signing key must be Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`);
  return { key, kid: keyId(createPublicKey(key)) };
}

/** Loads the public key auditors verify checkpoints with (PEM, SPKI or a private key's public half). */
export function checkpointPublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`checkpoint key must be Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}
