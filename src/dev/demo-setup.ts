import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { parseConfig } from '../config/load.ts';
import type { Cluster } from './cluster.ts';
import { localRunnerConfig } from './local-config.ts';
import { realStorage } from './node/demo-real.ts';
import { jwks, newSigningKey, type SigningKey } from './sign.ts';

/** The demo's control-plane issuer and its runner's name (the audience of every assignment). */
export const DEMO_ISSUER = 'https://control-plane.kubiya.local';
export const DEMO_RUNNER = 'demo-runner';

/**
 * The demo's keys and the files the runner reads: the control plane's signing key (trusted through
 * `jwksFile`), a stranger's key (trusted by no one), the audit checkpoint key pair (private key file
 * 0600, public key file for `audit verify`) and the audit directory.
 */
export interface DemoKeys {
  readonly key: SigningKey;
  readonly stranger: SigningKey;
  readonly auditPublicKey: KeyObject;
  readonly publicKeyFile: string;
  readonly signingKeyFile: string;
  readonly jwksFile: string;
  readonly auditDir: string;
}

/** Creates the keys of DemoKeys and writes their files into `workDir`. */
export async function writeDemoKeys(workDir: string): Promise<DemoKeys> {
  const key = await newSigningKey();
  const stranger = await newSigningKey();
  const signing = generateKeyPairSync('ed25519');
  const publicKeyFile = join(workDir, 'audit-signing.pub.pem');
  await writeFile(publicKeyFile, signing.publicKey.export({ type: 'spki', format: 'pem' }));
  const signingKeyFile = join(workDir, 'audit-signing.key.pem');
  await writeFile(signingKeyFile, signing.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const jwksFile = join(workDir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(jwks([key])));
  const auditDir = join(workDir, 'audit');
  return { key, stranger, auditPublicKey: signing.publicKey, publicKeyFile, signingKeyFile, jwksFile, auditDir };
}

/**
 * The demo runner's configuration, parsed by the schema like serve's: the demo runs with the
 * defaults production has (real storage when a real node runs the steps). Throws on a parse error.
 */
export function demoConfig(cluster: Cluster, keys: DemoKeys, bundleFile: string, realNode: boolean): Config {
  const input = localRunnerConfig(cluster, {
    name: DEMO_RUNNER,
    issuer: DEMO_ISSUER,
    jwksFile: keys.jwksFile,
    bundle: bundleFile,
    auditDir: keys.auditDir,
    signingKeyFile: keys.signingKeyFile,
  });
  const config = parseConfig(realNode ? realStorage(input) : input);
  if (!config.ok) throw new Error(config.error.message);
  return config.value;
}
