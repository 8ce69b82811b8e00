import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { importJWK, exportJWK, type JWK } from 'jose';
import { z } from 'zod';
import { jwks, newSigningKey, type SigningKey } from './sign.ts';

const keyFile = z.object({
  kid: z.string().min(1),
  alg: z.enum(['EdDSA', 'ES256']),
  privateJwk: z.looseObject({ kty: z.string() }),
  publicJwk: z.looseObject({ kty: z.string() }),
});
type KeyFile = z.output<typeof keyFile>;

/** A key file that exists but is not one `dev sign` wrote; the CLI reports it as DEV_KEY_INVALID. */
export class DevKeyError extends Error {
  readonly code = 'DEV_KEY_INVALID';
}

/** What loadOrCreateKey found or did. */
export interface LoadedKey {
  readonly key: SigningKey;
  /** The key was made now (with its JWKS). */
  readonly created: boolean;
  /** The JWKS was missing, not JSON or without this key, and was written again from the key file. */
  readonly jwksRewritten: boolean;
  readonly jwksFile: string;
}

/**
 * A development control plane's signing key on disk (private JWK, mode 0600), created on first use
 * together with `<file>.jwks.json`, the public JWKS a runner trusts (controlPlane.jwksFile).
 *
 * A kill at any point leaves a consistent pair or none: both are written to temp files, the JWKS is
 * renamed into place first, then the key is linked into place (exclusive: a key made meanwhile by
 * another `dev sign` wins and is loaded). An existing key whose JWKS is missing, not JSON or lacks the
 * key's kid (a run killed between the two) gets its JWKS written again (atomically) from the key
 * file's public JWK: it is derived data. A key file that is not JSON or not a usable key (a write cut
 * short, another file) is never overwritten: DevKeyError naming the file.
 */
export async function loadOrCreateKey(file: string): Promise<LoadedKey> {
  const jwksFile = `${file.replace(/\.json$/, '')}.jwks.json`;
  const existing = await loadKey(file);
  if (existing !== undefined) return { key: existing, created: false, ...(await repairJwks(jwksFile, existing)) };
  const key = await newSigningKey();
  const stored: KeyFile = {
    kid: key.kid,
    alg: key.alg,
    privateJwk: { ...(await exportJWK(key.privateKey)), kid: key.kid, alg: key.alg } as KeyFile['privateJwk'],
    publicJwk: key.publicJwk as KeyFile['publicJwk'],
  };
  const keyTmp = tempName(file);
  await writeFile(keyTmp, JSON.stringify(stored, null, 2), { mode: 0o600, flag: 'wx' });
  try {
    await writeAtomically(jwksFile, JSON.stringify(jwks([key]), null, 2));
    await link(keyTmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return loadOrCreateKey(file); // another dev sign made it meanwhile: use that one (and its JWKS)
  } finally {
    await unlink(keyTmp).catch(() => undefined);
  }
  return { key, created: true, jwksRewritten: false, jwksFile };
}

/** The key in `file`; undefined when there is none; DevKeyError when it is not a usable key. */
async function loadKey(file: string): Promise<SigningKey | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const refuse = (why: string): DevKeyError =>
    new DevKeyError(
      `${file} is not a signing key file of "dev sign" (${why}); it is left as it is. Remove it to make a new key ` +
        `(runners must then trust the new JWKS), or restore it.`,
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw refuse(text === '' ? 'empty: a write cut short?' : 'not JSON: a write cut short?');
  }
  const k = keyFile.safeParse(json);
  if (!k.success) throw refuse(k.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const privateKey = await importJWK(k.data.privateJwk as JWK, k.data.alg).catch(() => undefined);
  if (privateKey === undefined || !('type' in privateKey) || privateKey.type !== 'private')
    throw refuse('no usable private key');
  return { kid: k.data.kid, alg: k.data.alg, privateKey, publicJwk: k.data.publicJwk };
}

/** Writes the JWKS again when it is missing, not JSON, or does not hold the key's kid. */
async function repairJwks(jwksFile: string, key: SigningKey): Promise<{ jwksRewritten: boolean; jwksFile: string }> {
  const present = await readFile(jwksFile, 'utf8')
    .then((t) => (JSON.parse(t) as { keys?: unknown }).keys)
    .catch(() => undefined);
  const holdsKey = Array.isArray(present) && present.some((k) => (k as { kid?: unknown } | null)?.kid === key.kid);
  if (holdsKey) return { jwksRewritten: false, jwksFile };
  await writeAtomically(jwksFile, JSON.stringify(jwks([key]), null, 2));
  return { jwksRewritten: true, jwksFile };
}

function tempName(file: string): string {
  return `${file}.${String(process.pid)}.${Math.random().toString(36).slice(2)}.tmp`;
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = tempName(file);
  try {
    await writeFile(tmp, text, { flag: 'wx' });
    await rename(tmp, file);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}
