import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The openssl arguments of a self-signed P-256 serving certificate for 127.0.0.1 (IP SAN, server
 * auth, one day), written as `tls.crt` / `tls.key` — the names controller-runtime's webhook server
 * reads from Gatekeeper's --cert-dir. The certificate is its own CA: the webhooks' caBundle.
 */
export function opensslArgs(dir: string, days = 1): string[] {
  return [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, 'tls.key'),
    '-out',
    join(dir, 'tls.crt'),
    '-days',
    String(days),
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-addext',
    'extendedKeyUsage=serverAuth',
    '-addext',
    'keyUsage=critical,digitalSignature,keyCertSign',
  ];
}

/** A serving certificate in `dir` (tls.crt, tls.key); returns the certificate PEM. Needs the openssl CLI. */
export async function selfSignedCert(dir: string): Promise<{ readonly certPem: string }> {
  await run('openssl', opensslArgs(dir));
  return { certPem: await readFile(join(dir, 'tls.crt'), 'utf8') };
}
