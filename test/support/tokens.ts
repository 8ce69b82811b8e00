import { createLocalJWKSet } from 'jose';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import type { VerifyOptions } from '../../src/verify/verify.ts';

export const ISSUER = 'https://control-plane.test';
export const RUNNER = 'test-runner';
/** Frozen time for unit tests. */
export const NOW = new Date('2026-06-01T12:00:00Z');

export async function testKeys(): Promise<{
  key: SigningKey;
  stranger: SigningKey;
  keys: ReturnType<typeof createLocalJWKSet>;
}> {
  const key = await newSigningKey('EdDSA', 'k1');
  const stranger = await newSigningKey('EdDSA', 'k1');
  return { key, stranger, keys: createLocalJWKSet(jwks([key])) };
}

export function workflow(
  steps: Record<string, unknown>[] = [{ name: 'analyze', image: 'python:3.11-slim' }],
): { id: string } & Record<string, unknown> {
  return { id: 'wf-1', name: 'Workflow one', runId: 'run-1', steps };
}

export function sign(key: SigningKey, wf = workflow(), now = NOW): Promise<string> {
  return signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: wf, now, jti: 'jti-1' });
}

/** Verify options of the token unit tests: ISSUER and RUNNER, a 600 s maximum age, 30 s clock tolerance. */
export function verifyOptions(algorithms: readonly string[] = ['EdDSA', 'ES256']): VerifyOptions {
  return { algorithms, issuer: ISSUER, audience: RUNNER, maxTokenAgeSeconds: 600, clockToleranceSeconds: 30 };
}

/** The claims of a valid assignment issued at NOW (iat = nbf = NOW, exp 300 s later), members of `over` replacing them. */
export function claimsAt(over: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(NOW.getTime() / 1000);
  return {
    iss: ISSUER,
    aud: RUNNER,
    sub: 'wf-1',
    jti: 'jti-x',
    iat,
    nbf: iat,
    exp: iat + 300,
    workflow: workflow(),
    ...over,
  };
}

/** Signs the exact header and payload bytes given (Ed25519 over `<base64url header>.<base64url payload>`): nothing normalised by a library. */
export async function signBytes(key: SigningKey, header: string | Buffer, payload: string | Buffer): Promise<string> {
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  const signature = await crypto.subtle.sign('Ed25519', key.privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}
