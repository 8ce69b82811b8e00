/**
 * The PodSecurity probe (src/adapters/kube-pod-security.ts) against a loopback stand-in API server,
 * over real HTTP through the runner's pooled KubeConfig: every kind of answer an API server, its
 * admission chain or the network gives is classified as enforced, not enforced or unknown. The
 * class (red team 11's recommendation): a setting the runner's safety relies on, never verified at
 * run time — here, the verdict must be `enforced` only for PodSecurity's own refusal at level
 * `restricted`, and anything the runner cannot read as that or as an admission is `unknown` (fail
 * closed), never `enforced`. The PodSecurity, ServiceAccount and validation texts are the ones
 * kube-apiserver v1.37.2 answered on the local control plane (1 December; the cluster test
 * test/cluster/pod-security.test.ts asks it again).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import fc from 'fast-check';
import {
  classifyProbe,
  probePod,
  probePodSecurity,
  type PodSecurityVerdict,
} from '../../src/adapters/kube-pod-security.ts';
import { pooledKubeConfigAt } from '../support/pooled-stand-in.ts';

const TARGET = { namespace: 'kubiya-workflows', runner: 'r1', serviceAccount: 'kubiya-workflow' };

const status = (code: number, reason: string, message: string, kind = 'pods'): string =>
  JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    details: { name: 'kubiya-pod-security-probe-v865t', kind },
    code,
  });

const PSA = (level: string): string =>
  `pods "kubiya-pod-security-probe-v865t" is forbidden: violates PodSecurity "${level}": allowPrivilegeEscalation != false (container "probe" must set securityContext.allowPrivilegeEscalation=false), runAsUser=0 (container "probe" must not set runAsUser=0)`;

interface Answer {
  readonly status: number;
  readonly body: string;
  /** Never answer (the request times out). */
  readonly hang?: boolean;
}

type Kind = PodSecurityVerdict['kind'];

/** The table: the answer, and the verdict it must give. */
const ROWS: readonly (readonly [string, Answer, Kind])[] = [
  // PodSecurity's refusal at level restricted, as the API server writes it.
  [
    '403 PodSecurity restricted:latest',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:latest')) },
    'enforced',
  ],
  [
    '403 PodSecurity restricted:v1.25 (pinned version)',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:v1.25')) },
    'enforced',
  ],
  // Admitted, or refused at a weaker level.
  [
    '201 the dry-run Pod (admitted)',
    {
      status: 201,
      body: JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'kubiya-pod-security-probe-mzc7g' } }),
    },
    'not-enforced',
  ],
  ['200 a Pod', { status: 200, body: JSON.stringify({ kind: 'Pod', metadata: {} }) }, 'not-enforced'],
  [
    '403 PodSecurity baseline:latest',
    { status: 403, body: status(403, 'Forbidden', PSA('baseline:latest')) },
    'not-enforced',
  ],
  [
    '403 PodSecurity baseline:v1.30',
    { status: 403, body: status(403, 'Forbidden', PSA('baseline:v1.30')) },
    'not-enforced',
  ],
  [
    '403 a pod named "restricted" refused at baseline',
    {
      status: 403,
      body: status(403, 'Forbidden', 'pods "restricted" is forbidden: violates PodSecurity "baseline:latest": x'),
    },
    'not-enforced',
  ],
  // RBAC and other admission: unknown.
  [
    '403 RBAC',
    {
      status: 403,
      body: status(
        403,
        'Forbidden',
        'pods is forbidden: User "system:serviceaccount:kubiya:kubiya-runner" cannot create resource "pods" in API group "" in the namespace "kubiya-workflows"',
      ),
    },
    'unknown',
  ],
  [
    '403 ServiceAccount admission (account missing)',
    {
      status: 403,
      body: status(
        403,
        'Forbidden',
        'pods "kubiya-pod-security-probe-" is forbidden: error looking up service account kubiya-workflows/kubiya-workflow: serviceaccount "kubiya-workflow" not found',
      ),
    },
    'unknown',
  ],
  [
    '403 a webhook quoting PodSecurity',
    {
      status: 403,
      body: status(
        403,
        'Forbidden',
        `admission webhook "validate.kyverno.svc" denied the request: ${PSA('restricted:latest')}`,
      ),
    },
    'unknown',
  ],
  [
    '403 a ValidatingAdmissionPolicy quoting PodSecurity',
    {
      status: 403,
      body: status(
        403,
        'Forbidden',
        `pods "kubiya-pod-security-probe-x" is forbidden: ValidatingAdmissionPolicy 'no-root' with binding 'b' denied request: ${PSA('restricted:latest')}`,
      ),
    },
    'unknown',
  ],
  [
    '403 PodSecurity text after a leading space',
    { status: 403, body: status(403, 'Forbidden', ` ${PSA('restricted:latest')}`) },
    'unknown',
  ],
  [
    '403 PodSecurity text, reason not Forbidden',
    { status: 403, body: status(403, 'Invalid', PSA('restricted:latest')) },
    'unknown',
  ],
  // A pinned version older than v1.25 lacks restricted's later checks (red team 12, finding 1).
  [
    '403 PodSecurity restricted:v1.0 (pinned before seccomp, drop ALL, non-root uid)',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:v1.0')) },
    'not-enforced',
  ],
  [
    '403 PodSecurity restricted:v1.22 (pinned before the non-root uid check)',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:v1.22')) },
    'not-enforced',
  ],
  [
    '403 PodSecurity restricted:v1.24',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:v1.24')) },
    'not-enforced',
  ],
  [
    '403 PodSecurity restricted:v1.9 (a minor read as a number, not as text)',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:v1.9')) },
    'not-enforced',
  ],
  [
    '403 PodSecurity restricted:v1.37',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:v1.37')) },
    'enforced',
  ],
  [
    '403 PodSecurity text, not a Status',
    { status: 403, body: JSON.stringify({ kind: 'Pod', reason: 'Forbidden', message: PSA('restricted:latest') }) },
    'unknown',
  ],
  [
    '403 PodSecurity text with an unknown version form',
    { status: 403, body: status(403, 'Forbidden', PSA('restricted:1.25')) },
    'unknown',
  ],
  [
    '403 PodSecurity text, level in capitals',
    { status: 403, body: status(403, 'Forbidden', PSA('RESTRICTED:latest')) },
    'unknown',
  ],
  ['403 body not JSON', { status: 403, body: 'forbidden' }, 'unknown'],
  ['403 empty body', { status: 403, body: '' }, 'unknown'],
  [
    '422 PodSecurity text (a validation answer is not admission)',
    { status: 422, body: status(422, 'Forbidden', PSA('restricted:latest')) },
    'unknown',
  ],
  [
    '422 privileged refused by validation (--allow-privileged=false)',
    {
      status: 422,
      body: status(
        422,
        'Invalid',
        'Pod "kubiya-pod-security-probe-w75mt" is invalid: spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy',
        'Pod',
      ),
    },
    'unknown',
  ],
  [
    '404 namespace missing',
    { status: 404, body: status(404, 'NotFound', 'namespaces "kubiya-workflows" not found', 'namespaces') },
    'unknown',
  ],
  [
    '500 webhook down',
    {
      status: 500,
      body: status(
        500,
        'InternalError',
        'Internal error occurred: failed calling webhook "inject.mesh.io": failed to call webhook: Post "https://mesh.svc:443/inject?timeout=10s": dial tcp 10.0.0.1:443: connect: connection refused',
      ),
    },
    'unknown',
  ],
  [
    '503 unavailable',
    { status: 503, body: status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request') },
    'unknown',
  ],
  ['429 too many requests', { status: 429, body: status(429, 'TooManyRequests', 'too many requests') }, 'unknown'],
  [
    '504 timeout',
    { status: 504, body: status(504, 'Timeout', 'request did not complete within the allotted timeout') },
    'unknown',
  ],
  ['201 body not JSON', { status: 201, body: '<html>proxy</html>' }, 'unknown'],
  ['201 a Status, not a Pod', { status: 201, body: status(201, 'Forbidden', PSA('restricted:latest')) }, 'unknown'],
  ['200 an array', { status: 200, body: '[]' }, 'unknown'],
  ['200 null', { status: 200, body: 'null' }, 'unknown'],
  ['no answer (timeout)', { status: 0, body: '', hang: true }, 'unknown'],
];

let server: Server;
let answer: Answer = { status: 500, body: '' };
const seen: { method: string; url: string; body: string }[] = [];

before(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      if (answer.hang === true) return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('the probe over real HTTP: each answer and its verdict', () => {
  for (const [name, given, expected] of ROWS) {
    test(`${name} → ${expected}`, async () => {
      answer = given;
      const kc = pooledKubeConfigAt((server.address() as AddressInfo).port, 300);
      const verdict = await probePodSecurity(kc, TARGET);
      assert.equal(verdict.kind, expected, JSON.stringify(verdict));
      if (verdict.kind === 'enforced') assert.match(verdict.level, /^restricted:(latest|v1\.25|v1\.37)$/);
      else assert.ok(verdict.detail.length > 0 && verdict.detail.length < 400, verdict.detail);
      // eslint-disable-next-line no-control-regex -- a detail is one log line
      if (verdict.kind !== 'enforced') assert.doesNotMatch(verdict.detail, /[\u0000-\u001f]/);
    });
  }
});

test('connection refused → unknown', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const verdict = await probePodSecurity(pooledKubeConfigAt(port, 300), TARGET);
  assert.equal(verdict.kind, 'unknown');
});

test('the request: a dry-run create (dryRun=All) of the probe pod in the workflows namespace', async () => {
  answer = { status: 403, body: status(403, 'Forbidden', PSA('restricted:latest')) };
  seen.length = 0;
  await probePodSecurity(pooledKubeConfigAt((server.address() as AddressInfo).port, 300), TARGET);
  const [request] = seen;
  assert.equal(request?.method, 'POST');
  assert.equal(request.url, '/api/v1/namespaces/kubiya-workflows/pods?dryRun=All');
  assert.deepEqual(JSON.parse(request.body), probePod(TARGET));
});

test('the probe pod: what restricted forbids at every version, judged as a step pod is', () => {
  const pod = probePod(TARGET);
  const spec = pod.spec;
  assert.ok(spec !== undefined);
  const [container] = spec.containers;
  // The same namespace and service account as step pods; no runtimeClassName (a step pod has none,
  // so an exempt RuntimeClass cannot make the probe pass where a step pod would be judged).
  assert.equal(pod.metadata?.namespace, 'kubiya-workflows');
  assert.equal(spec.serviceAccountName, 'kubiya-workflow');
  assert.equal(spec.runtimeClassName, undefined);
  // Named by the API server (a dry run never collides with a stored pod's name).
  assert.equal(pod.metadata?.name, undefined);
  assert.ok((pod.metadata?.generateName ?? '').length > 0);
  // No resources: a LimitRange minimum (checked before PodSecurity) cannot refuse it for another reason.
  assert.equal(container?.resources, undefined);
  // Not privileged: an API server with --allow-privileged=false refuses that in validation (422).
  assert.equal(container?.securityContext?.privileged, undefined);
  // restricted (every version) forbids each of these; baseline forbids the capability and Unconfined.
  assert.deepEqual(container?.securityContext?.capabilities?.add, ['SYS_ADMIN']);
  assert.equal(container?.securityContext?.seccompProfile?.type, 'Unconfined');
  assert.equal(container?.securityContext?.runAsUser, 0);
  assert.equal(container?.securityContext?.allowPrivilegeEscalation, true);
});

test('classifyProbe: a thrown value that is not an API answer, and a non-numeric code, are unknown', () => {
  assert.equal(classifyProbe({ ok: false, thrown: new Error('ECONNRESET') }).kind, 'unknown');
  assert.equal(classifyProbe({ ok: false, thrown: 'string' }).kind, 'unknown');
  assert.equal(classifyProbe({ ok: true, body: undefined }).kind, 'unknown');
});

test('every pinned version: enforced only from v1.25 (restricted complete) or latest; older is not enforced (red team 12)', () => {
  const forbidden = (level: string) =>
    classifyProbe({
      ok: false,
      thrown: new ApiException(403, 'HTTP 403', JSON.parse(status(403, 'Forbidden', PSA(level))), {}),
    });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 99 }), fc.integer({ min: 0, max: 999 }), (major, minor) => {
      const level = `restricted:v${major}.${minor}`;
      const verdict = forbidden(level);
      const expected = major > 1 || minor >= 25 ? 'enforced' : 'not-enforced';
      assert.equal(verdict.kind, expected, `${level}: ${JSON.stringify(verdict)}`);
      if (verdict.kind === 'not-enforced') assert.match(verdict.detail, /v1\.25/);
    }),
    { numRuns: 2000 },
  );
  assert.equal(forbidden('restricted:latest').kind, 'enforced');
  assert.equal(forbidden('baseline:latest').kind, 'not-enforced');
});
