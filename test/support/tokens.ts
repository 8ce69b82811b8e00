import { createLocalJWKSet } from 'jose';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';

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
