import { readFile, writeFile } from 'node:fs/promises';
import { importJWK, exportJWK, type JWK } from 'jose';
import { jwks, newSigningKey, type SigningKey } from './sign.ts';

interface KeyFile {
  readonly kid: string;
  readonly alg: 'EdDSA' | 'ES256';
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

/**
 * A development control plane's signing key on disk (private JWK, mode 0600), created on first
 * use together with `<file>.jwks.json`, the public JWKS a runner trusts (controlPlane.jwksFile).
 */
export async function loadOrCreateKey(file: string): Promise<{ key: SigningKey; created: boolean; jwksFile: string }> {
  const jwksFile = `${file.replace(/\.json$/, '')}.jwks.json`;
  try {
    const k = JSON.parse(await readFile(file, 'utf8')) as KeyFile;
    const privateKey = await importJWK(k.privateJwk, k.alg);
    if (!('type' in privateKey)) throw new Error('not a private key');
    return { key: { kid: k.kid, alg: k.alg, privateKey, publicJwk: k.publicJwk }, created: false, jwksFile };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const key = await newSigningKey();
  const stored: KeyFile = {
    kid: key.kid,
    alg: key.alg,
    privateJwk: { ...(await exportJWK(key.privateKey)), kid: key.kid, alg: key.alg },
    publicJwk: key.publicJwk,
  };
  await writeFile(file, JSON.stringify(stored, null, 2), { mode: 0o600, flag: 'wx' });
  await writeFile(jwksFile, JSON.stringify(jwks([key]), null, 2));
  return { key, created: true, jwksFile };
}
