/**
 * Red team 9, finding 1. The class: **an API server's answer to a create, put into an error, a
 * status or an audit record with something the request carried or someone else wrote**. apiCause
 * (src/adapters/kube-errors.ts) kept the WorkflowRun intake clean, but `refused()` — the answer to
 * every other create: the step's Pod, its volume claims, its egress policy — still quoted the
 * Status `message` (up to 1,000 characters). A Pod's body holds the step's env values, a secret
 * output's value among them (docs/workflows.md: secret outputs reach a later step only as env
 * values, masked whole in the audit log), and the API server's validation or an admission webhook
 * (a Gatekeeper or Kyverno rule quoting the offending value) echoes values in its message: the
 * secret went into CREATE_REJECTED's message, and from there into the run's status and the audit
 * record, unmasked. The same message carried a webhook's text as is: newlines, ANSI escapes, bidi
 * controls. And apiCause kept any reason of 1–64 letters, so a webhook's reason could be a
 * letters-only secret; a reason is now one Kubernetes defines (StatusReason, CauseType).
 *
 * Every answer code × every place in the Status a value can sit × the values (a JWT, a letters-only
 * password, text with control, ANSI and bidi characters, a 1 MiB message), through `refused()`
 * and through real HTTP (KubePods.create, KubeStepObjects.createVolumeClaims); a fast-check of
 * arbitrary Status bodies; and the control: the reasons Kubernetes writes stay.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { ApiException, type V1PersistentVolumeClaim, type V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { statusHolding } from '../support/hostile-status.ts';
import { apiCause, refused } from '../../src/adapters/kube-errors.ts';
import { KubePods } from '../../src/adapters/kube-pods.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';

const JWT = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA';
const SECRETS: readonly string[] = [
  JWT,
  'CorrectHorseBatteryStaple', // letters only: passed the old "a word of letters" reason check
  'line\nInjected: \u001b[31mred\u001b[0m \u202egnp.exe\u202c',
];
/** What an error message may hold: the status, Kubernetes' reasons, field paths, the object named by the caller. */
const CLEAN = /^[A-Za-z0-9 .:(),[\]/_"-]*$/;

const api = (code: number, body: unknown): ApiException<unknown> => new ApiException(code, `HTTP ${code}`, body, {});

/** Status bodies with `s` in each place a webhook or the API server can write. */
function placements(s: string): [string, unknown][] {
  return [
    ['message', { kind: 'Status', reason: 'Invalid', message: `Pod "p" is invalid: env[0].value: "${s}"` }],
    ['reason', { kind: 'Status', reason: s, message: 'denied' }],
    ['details.name', { kind: 'Status', details: { name: s, kind: 'pods' } }],
    ['cause message', { reason: 'Invalid', details: { causes: [{ reason: 'FieldValueInvalid', message: s }] } }],
    ['cause reason', { reason: 'Invalid', details: { causes: [{ reason: s, field: 'spec' }] } }],
    ['cause field', { reason: 'Invalid', details: { causes: [{ reason: 'FieldValueInvalid', field: s }] } }],
    [
      'after a webhook denial',
      { reason: 'Forbidden', message: `admission webhook "deny.example" denied the request: ${s}` },
    ],
    ['after a quota', { message: `pods "p" is forbidden: exceeded quota: q, requested: ${s}` }],
    ['after PodSecurity', { message: `pods "p" is forbidden: violates PodSecurity "restricted:latest": ${s}` }],
    ['a text body', `admission webhook "deny.example" denied the request: ${s}`],
    ['a huge message', { reason: 'Forbidden', message: `${s} `.repeat(1 + (1024 * 1024) / (s.length + 1)) }],
  ];
}

const CODES = [400, 403, 404, 409, 422, 429, 500, 503];
const expectedCode = (status: number): string =>
  status === 409 ? 'CREATE_EXISTS' : [400, 403, 404, 422].includes(status) ? 'CREATE_REJECTED' : 'CREATE_FAILED';

test('refused(): no value of the answer but Kubernetes reasons reaches the error, for every code and place', () => {
  for (const s of SECRETS)
    for (const [place, body] of placements(s))
      for (const code of CODES) {
        const r = refused(api(code, body), 'the pod');
        assert.equal(r.ok, false);
        if (r.ok) continue;
        const what = `${code}, ${place}, ${JSON.stringify(s.slice(0, 20))}`;
        assert.equal(r.error.code, expectedCode(code), what);
        assert.ok(!r.error.message.includes(s), `${what}: ${r.error.message.slice(0, 200)}`);
        assert.match(r.error.message, CLEAN, what);
        assert.ok(r.error.message.length < 200, `${what}: ${r.error.message.length} characters`);
      }
});

test('control: what Kubernetes itself says stays (status, StatusReason, CauseType)', () => {
  const r = refused(
    api(422, {
      kind: 'Status',
      reason: 'Invalid',
      message: 'Pod "p" is invalid: spec.containers[0].image: Required value',
      details: { causes: [{ reason: 'FieldValueRequired', field: 'spec.containers[0].image' }] },
    }),
    'the pod',
  );
  assert.deepEqual(r.ok ? undefined : r.error, {
    code: 'CREATE_REJECTED',
    message: 'API server rejected the pod: 422 Invalid (FieldValueRequired)',
  });
  const quota = refused(api(403, { reason: 'Forbidden', message: 'exceeded quota' }), 'volume v');
  assert.equal(quota.ok ? '' : quota.error.message, 'API server rejected volume v: 403 Forbidden');
  const exists = refused(api(409, { reason: 'AlreadyExists' }), 'the pod');
  assert.equal(exists.ok ? '' : exists.error.message, 'the pod already exists: 409 AlreadyExists');
  assert.equal(apiCause(api(429, { reason: 'TooManyRequests' })), '429 TooManyRequests');
  // Kubernetes' own admission refusals keep the name of what refused (an object the administrator wrote).
  const admission: [string, string][] = [
    [
      'pods "run-1-a" is forbidden: exceeded quota: no-pods, requested: pods=1, used: pods=0, limited: pods=0',
      '403 Forbidden: exceeded quota no-pods',
    ],
    [
      'pods "run-1-a" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "main" must set securityContext.allowPrivilegeEscalation=false)',
      '403 Forbidden: violates PodSecurity "restricted:latest"',
    ],
    [
      'admission webhook "validate.kyverno.svc-fail" denied the request: policy Pod/ns/p for resource violation: env RELEASE_KEY=hunter2',
      '403 Forbidden: denied by admission webhook validate.kyverno.svc-fail',
    ],
    [
      'admission webhook "deny.example" denied the request without explanation',
      '403 Forbidden: denied by admission webhook deny.example',
    ],
    // not at the start (a webhook's text imitating one), or a name of other characters: nothing kept
    ['denied: admission webhook "x" denied the request', '403 Forbidden'],
    ['admission webhook "Hunter2 Secret" denied the request', '403 Forbidden'],
  ];
  for (const [message, expected] of admission)
    assert.equal(apiCause(api(403, { reason: 'Forbidden', message })), expected, message);
  assert.equal(apiCause(api(504, { reason: 'Timeout' })), '504 Timeout');
});

test('property: an arbitrary Status answer gives a clean, short message without the secret', () => {
  const secret = fc.oneof(
    fc.stringMatching(/^[a-z][A-Za-z]{4,63}$/), // a StatusReason or CauseType starts upper-case
    fc.stringMatching(/^[A-Za-z0-9_-]{8,30}\.[A-Za-z0-9_-]{8,30}$/),
    fc.string({ minLength: 4, unit: 'binary' }).filter((s) => !/^[A-Za-z0-9 .:(),[\]/_"-]*$/.test(s)),
  );
  const anywhere = (s: string) =>
    statusHolding(s, {
      reason: fc.oneof(fc.constant(s), fc.constantFrom(...KNOWN)),
      message: fc.string().map((t) => `${t}${s}`),
      causeField: fc.oneof(fc.constant(s), fc.constant('spec')),
      causeReason: fc.oneof(fc.constant(s), fc.constantFrom(...KNOWN)),
    });
  fc.assert(
    fc.property(
      secret.chain((s) => fc.tuple(fc.constant(s), anywhere(s), fc.integer({ min: 400, max: 599 }), fc.boolean())),
      ([s, status, code, asText]) => {
        const r = refused(api(code, asText ? JSON.stringify(status) : status), 'the pod');
        assert.ok(!r.ok);
        if (r.ok) return;
        assert.ok(!r.error.message.includes(s), r.error.message);
        assert.match(r.error.message, CLEAN);
      },
    ),
    { numRuns: 2000 },
  );
});

/** The reasons a Kubernetes API server writes (kept; anything else is dropped). */
const KNOWN = new Set(['Invalid', 'Forbidden', 'AlreadyExists', 'FieldValueInvalid', 'FieldValueRequired']);

/** An API server twin that refuses every create with a Status quoting the request's body back. */
async function echoingApi(code: number): Promise<{ port: number; close: () => void }> {
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.writeHead(code);
      res.end(
        JSON.stringify({
          kind: 'Status',
          status: 'Failure',
          code,
          reason: 'Invalid',
          message: `admission webhook "gatekeeper" denied the request: ${body}`,
          details: { causes: [{ reason: 'FieldValueForbidden', field: 'spec', message: body }] },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test('real HTTP: a webhook quoting the Pod (a secret output in its env) and the volume claim back', async () => {
  const secretOutput = 'sk_live_51HxSecretOutputValue0123456789';
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'run-1-deploy', labels: {} },
    spec: {
      containers: [{ name: 'main', image: 'busybox:1.36', env: [{ name: 'RELEASE_KEY', value: secretOutput }] }],
    },
  };
  const claim: V1PersistentVolumeClaim = {
    metadata: { name: 'run-1-work', annotations: { note: secretOutput } },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  };
  for (const code of [403, 422, 500]) {
    const stand = await echoingApi(code);
    try {
      const kc = loopbackKubeConfig(stand.port);
      const created = await new KubePods(kc, 'ns', 'r').create(pod);
      assert.ok(!created.ok);
      if (!created.ok) {
        assert.equal(created.error.code, expectedCode(code));
        assert.ok(!JSON.stringify(created.error).includes(secretOutput), created.error.message.slice(0, 300));
        assert.equal(
          created.error.message,
          code === 500
            ? 'API server error on the pod: 500 Invalid (FieldValueForbidden): denied by admission webhook gatekeeper'
            : `API server rejected the pod: ${code} Invalid (FieldValueForbidden): denied by admission webhook gatekeeper`,
        );
      }
      const claimed = await new KubeStepObjects(kc, 'ns', 'r').createVolumeClaims([claim]);
      assert.ok(!claimed.ok);
      if (!claimed.ok) assert.ok(!JSON.stringify(claimed.error).includes(secretOutput), claimed.error.message);
    } finally {
      stand.close();
    }
  }
});
