// `helm test` for kubiya-runner: run by the chart's test pod (templates/tests/test-runner.yaml) with
// the runner image's Node, and by test/cluster/chart-local.test.ts against a real runner.
//   1. GET /ready answers 200 {"ready": true}: API server, keys, policy, audit and lease checks pass.
//   2. A dry-run assignment: a well-formed assignment signed by a key made here, which the runner
//      does not trust, must be refused at verify with 401 VERIFY_KEY_NOT_FOUND. Verify runs on the
//      real intake path, nothing is claimed or created, and the refusal is one audit record.
// Exit 0 when both hold; 1 with the reason otherwise. Environment: RUNNER_URL, RUNNER_NAME, ISSUER.
/* global fetch, AbortSignal */
import { Buffer } from 'node:buffer';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';

const base = process.env.RUNNER_URL ?? 'http://127.0.0.1:8080';
const fail = (message) => {
  console.error(`helm test: FAIL ${message}`);
  process.exit(1);
};
const reason = (e) => (e instanceof Error ? e.message : String(e));
const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

const ready = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(10_000) }).catch((e) =>
  fail(`GET ${base}/ready: ${reason(e)}`),
);
const readyBody = await ready.json().catch(() => ({}));
if (ready.status !== 200 || readyBody.ready !== true)
  fail(`GET /ready answered ${ready.status} ${JSON.stringify(readyBody)}`);
console.log(`helm test: /ready 200 ${JSON.stringify(readyBody.checks)}`);

const { privateKey } = generateKeyPairSync('ed25519');
const now = Math.floor(Date.now() / 1000);
const id = `helm-test-${randomUUID().slice(0, 8)}`;
const header = { alg: 'EdDSA', typ: 'kubiya-assignment+jwt', kid: id };
const claims = {
  iss: process.env.ISSUER ?? '',
  aud: process.env.RUNNER_NAME ?? '',
  sub: id,
  jti: id,
  iat: now,
  nbf: now,
  exp: now + 60,
  workflow: { id, name: id, runId: id, steps: [{ name: 'noop', image: 'busybox:1.36', command: ['true'] }] },
};
const input = `${b64url(header)}.${b64url(claims)}`;
const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
const res = await fetch(`${base}/v1/assignments`, {
  method: 'POST',
  headers: { 'content-type': 'application/jwt' },
  body: token,
  signal: AbortSignal.timeout(10_000),
}).catch((e) => fail(`POST /v1/assignments: ${reason(e)}`));
const body = await res.json().catch(() => ({}));
if (res.status !== 401 || body.code !== 'VERIFY_KEY_NOT_FOUND')
  fail(
    `a dry-run assignment signed by an untrusted key answered ${res.status} ${JSON.stringify(body)}, not 401 VERIFY_KEY_NOT_FOUND`,
  );
console.log('helm test: dry-run assignment refused at verify (401 VERIFY_KEY_NOT_FOUND): PASS');
