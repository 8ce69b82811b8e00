import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { CheckpointSigner } from '../../src/adapters/audit-resume.ts';
import { keyId } from '../../src/audit/keys.ts';

/** A new Ed25519 checkpoint signer (key and kid), as `serve` loads one from audit.checkpoint.signingKeyFile. */
export function newSigner(): CheckpointSigner {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { key: privateKey, kid: keyId(createPublicKey(privateKey)) };
}
