import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { verificationKeyFromPem } from '../policy/bundle-signature.ts';

/**
 * The bundle verification keys of `policy.verificationKeys` (PEM public key files), read once at
 * start. Throws naming the file that cannot be read or is not a public key (serve: STARTUP_FAILED).
 */
export async function policyVerificationKeys(files: readonly string[] | undefined): Promise<KeyObject[]> {
  const keys: KeyObject[] = [];
  for (const file of files ?? []) {
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch {
      throw new Error(`policy.verificationKeys: cannot read ${file}`);
    }
    try {
      keys.push(verificationKeyFromPem(pem));
    } catch {
      throw new Error(`policy.verificationKeys: ${file} is not a PEM public key`);
    }
  }
  return keys;
}
