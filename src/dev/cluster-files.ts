import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

/**
 * Writes the credentials a local cluster's components read into `<dir>/pki` (mode 0700): the
 * service-account key pair (sa.key 0600, sa.pub) and a static token file (tokens.csv 0600) with
 * one fresh 256-bit bearer token in system:masters. Returns that token.
 */
export async function writeClusterCredentials(dir: string): Promise<string> {
  const pki = join(dir, 'pki');
  await mkdir(pki, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('hex');
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(pki, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(join(pki, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(pki, 'tokens.csv'), `${token},kubiya-admin,kubiya-admin,system:masters\n`, { mode: 0o600 });
  return token;
}

/** Writes `<dir>/kubeconfig` (0600): context kubiya-local, the API server's CA, the admin token. Returns its path. */
export async function writeKubeconfig(dir: string, server: string, ca: Buffer, token: string): Promise<string> {
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'kubiya-local',
      clusters: [{ name: 'kubiya-local', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
      users: [{ name: 'kubiya-admin', user: { token } }],
      contexts: [{ name: 'kubiya-local', context: { cluster: 'kubiya-local', user: 'kubiya-admin' } }],
    }),
    { mode: 0o600 },
  );
  return kubeconfig;
}
