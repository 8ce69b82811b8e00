/**
 * The pod create (src/adapters/kube-pods.ts `create`) and the DNS-policy read before each step
 * (src/adapters/kube-step-objects.ts `ensureStepDns`) go as plain JSON (kube-json.ts), not through
 * client-node's typed API (issue 20, CPU per step). The class: "an answer read as plain JSON is
 * judged differently from the same answer read by the typed client" — the plain answer carries
 * every field the API server sent, the typed one only the fields client-node's model knows, and
 * its timestamps are strings. Each answer below is served by a real loopback stand-in for the API
 * server and read both ways; the judgement must be the same:
 *  - the created pod against the decided one (`alteredFields`): as sent; with fields unknown to the
 *    model added (pod and container security contexts, a capability set, a volume, the spec) — not
 *    altered, as before; with a known field changed (each compared part) — altered, on the same paths;
 *  - the DNS policy (`sameSpec`, via `ensureStepDns`): as rendered; with unknown spec fields — kept
 *    (no delete: a delete is a moment without DNS); widened or narrowed — deleted and created again;
 *    another's by that name — EGRESS_BASELINE_UNCONFIRMED;
 *  - errors keep their codes: 409 CREATE_EXISTS, 422 CREATE_REJECTED, 500 CREATE_FAILED, an
 *    unreachable server CREATE_FAILED; a failed DNS read EGRESS_BASELINE_UNCONFIRMED;
 *  - the requests: the pod is POSTed once as the decided pod's JSON; the DNS policy is one GET.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { CoreV1Api, NetworkingV1Api, type V1NetworkPolicy, type V1Pod } from '@kubernetes/client-node';
import { KubePods } from '../../src/adapters/kube-pods.ts';
import { knownFields } from '../../src/adapters/kube-json.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import type { PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { alteredFields } from '../../src/create/admitted.ts';
import { sameSpec } from '../../src/create/adopt.ts';
import { stepDnsPolicy } from '../../src/egress/network-policy.ts';
import { pooledKubeConfigAt } from '../support/pooled-stand-in.ts';

const NS = 'wf';
const RUNNER = 'plain-runner';

const decided: V1Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'p-1',
    namespace: NS,
    labels: { 'kubiya.ai/runner': RUNNER, 'kubiya.ai/run': 'r', 'kubiya.ai/step': 's' },
    ownerReferences: [{ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: 'r', uid: 'run-uid' }],
  },
  spec: {
    serviceAccountName: 'kubiya-workflow',
    automountServiceAccountToken: false,
    restartPolicy: 'Never',
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumes: [
      { name: 'workspace', emptyDir: {} },
      {
        name: 'token',
        projected: { sources: [{ serviceAccountToken: { audience: 'sts', path: 'token', expirationSeconds: 600 } }] },
      },
    ],
    containers: [
      {
        name: 'step',
        image: 'registry.example/tool@sha256:' + 'a'.repeat(64),
        command: ['sh', '-c', 'echo'],
        env: [{ name: 'A', value: '1' }],
        volumeMounts: [{ name: 'workspace', mountPath: '/workspace' }],
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
      },
    ],
  },
};

/** The API server's answer to the create: the pod as sent, with what the server adds (uid, times, defaults). */
/** A field the model does not know, set on an object of the answer. */
const extra = (o: object | undefined, key: string, value: unknown): void => {
  (o as Record<string, unknown>)[key] = value;
};

/** The answer as plain JSON (the server's view: timestamps are strings). */
const plain = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

/** The API server's answer to the create: the pod as sent, with what the server adds (uid, times, defaults). */
function asServed(pod: V1Pod): V1Pod {
  const served = plain(pod);
  const meta = served.metadata!;
  meta.uid = 'pod-uid';
  extra(meta, 'creationTimestamp', '2026-12-01T00:00:00Z');
  extra(meta, 'managedFields', [{ manager: 'x', operation: 'Update', time: '2026-12-01T00:00:00Z' }]);
  served.spec!.dnsPolicy = 'ClusterFirst';
  served.spec!.containers[0]!.terminationMessagePath = '/dev/termination-log';
  served.spec!.containers[0]!.imagePullPolicy = 'IfNotPresent';
  served.status = { phase: 'Pending', qosClass: 'BestEffort' };
  return served;
}

/**
 * Answers to the create, each with the paths `alteredFields` must report: the same both ways, or
 * (4th) what the typed client's read reports where it drops a field the plain JSON keeps.
 */
const POD_ANSWERS: [string, string[], (p: V1Pod) => void, string[]?][] = [
  ['as sent (with server defaults)', [], () => undefined],
  [
    'fields unknown to the model added',
    [],
    (p) => {
      const spec = p.spec!;
      const step = spec.containers[0]!;
      extra(spec.securityContext, 'futurePodField', 'x');
      extra(spec.securityContext?.seccompProfile, 'futureProfileField', 1);
      extra(step.securityContext, 'futureContainerField', true);
      extra(step.securityContext?.capabilities, 'futureCapField', ['y']);
      extra(spec.volumes?.[0], 'futureVolumeSource', {});
      extra(spec.volumes?.[1]?.projected?.sources?.[0], 'futureSourceField', 'z');
    },
  ],
  [
    // A field newer than the model at the spec's top level fails closed on the create's plain JSON
    // (alteredFields: unknown fields pass only when empty); the typed read (the adopt path's) drops it.
    'a field unknown to the model added to the spec',
    ['spec.futureSpecField'],
    (p) => extra(p.spec, 'futureSpecField', { a: 1 }),
    [],
  ],
  ['container privileged', ['spec.containers'], (p) => (p.spec!.containers[0]!.securityContext!.privileged = true)],
  [
    'capability added',
    ['spec.containers'],
    (p) => (p.spec!.containers[0]!.securityContext!.capabilities!.add = ['NET_RAW']),
  ],
  ['pod runAsUser 0', ['spec.securityContext'], (p) => (p.spec!.securityContext!.runAsUser = 0)],
  [
    'seccomp unconfined',
    ['spec.securityContext'],
    (p) => (p.spec!.securityContext!.seccompProfile!.type = 'Unconfined'),
  ],
  ['hostPath on a volume', ['spec.volumes'], (p) => (p.spec!.volumes![0]!.hostPath = { path: '/' })],
  ['an image swapped', ['spec.containers'], (p) => (p.spec!.containers[0]!.image = 'evil:latest')],
  ['pull secrets added', ['spec.imagePullSecrets'], (p) => (p.spec!.imagePullSecrets = [{ name: 'prod' }])],
  [
    'init container added, unprivileged',
    [],
    // Added beside the decided ones: platform's (not compared, as before).
    (p) => (p.spec!.initContainers = [{ name: 'mesh-init', image: 'mesh:1' }]),
  ],
  [
    'init container added, privileged',
    ['spec.initContainers'],
    // Added beside the decided ones and asking for what restricted forbids (red team 11, finding 4).
    (p) => (p.spec!.initContainers = [{ name: 'mesh-init', image: 'mesh:1', securityContext: { privileged: true } }]),
  ],
];

const dns = stepDnsPolicy({ runner: RUNNER, namespace: NS, dnsNamespace: 'kube-system' });
const dnsName = dns.metadata?.name ?? '';

/** The DNS policy as the API server would answer a GET of it. */
function dnsServed(policy: V1NetworkPolicy): V1NetworkPolicy {
  const served = plain(policy);
  const meta = served.metadata!;
  meta.uid = 'np-uid';
  meta.resourceVersion = '7';
  extra(meta, 'creationTimestamp', '2026-12-01T00:00:00Z');
  extra(meta, 'managedFields', [{ manager: 'x', operation: 'Update', time: '2026-12-01T00:00:00Z' }]);
  return served;
}

/** Answers to the DNS-policy GET: the outcome of ensureStepDns and the requests it must make after the GET. */
const DNS_ANSWERS: [string, 'ok' | 'EGRESS_BASELINE_UNCONFIRMED', string[], (p: V1NetworkPolicy) => void][] = [
  ['as rendered', 'ok', [], () => undefined],
  [
    'fields unknown to the model in its spec',
    'ok',
    [],
    (p) => {
      extra(p.spec, 'futureSpecField', 'x');
      for (const rule of p.spec?.egress ?? []) extra(rule, 'futureRuleField', { b: 2 });
    },
  ],
  [
    'widened (egress anywhere)',
    'ok',
    ['DELETE', 'POST'],
    (p) => p.spec!.egress!.push({ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }),
  ],
  ['narrowed (no egress)', 'ok', ['DELETE', 'POST'], (p) => (p.spec!.egress = [])],
  [
    "another's by that name",
    'EGRESS_BASELINE_UNCONFIRMED',
    [],
    (p) => (p.metadata!.labels = { 'kubiya.ai/runner': 'someone-else' }),
  ],
];

describe('plain JSON answers are judged as the typed client judged them', () => {
  /** What the stand-in answers, by `METHOD path`; anything else 404. */
  const answers = new Map<string, { status: number; body: unknown }>();
  const seen: { method: string; url: string; body: string }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      const a = answers.get(`${req.method} ${req.url}`) ?? {
        status: 404,
        body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 },
      };
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let kc: PooledKubeConfig;
  const podsPath = `/api/v1/namespaces/${NS}/pods`;
  const npPath = `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`;
  const status = (code: number, reason: string) => ({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    reason,
    code,
    message: `${reason} here`,
  });

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    kc = pooledKubeConfigAt(port, 2000);
  });
  afterEach(() => {
    answers.clear();
    seen.length = 0;
  });
  after(() => {
    kc.renewConnections();
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });

  for (const [what, paths, change, typedPaths = paths] of POD_ANSWERS)
    test(`the created pod, ${what}: altered on [${paths.join(', ')}], as the typed client's read`, async () => {
      const served = asServed(decided);
      change(served);
      answers.set(`POST ${podsPath}`, { status: 201, body: served });
      answers.set(`GET ${podsPath}/p-1`, { status: 200, body: served });
      const created = await new KubePods(kc, NS, RUNNER).create(decided);
      assert.ok(created.ok, JSON.stringify(created));
      assert.equal(created.value.name, 'p-1');
      assert.equal(created.value.uid, 'pod-uid');
      const typed = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ name: 'p-1', namespace: NS });
      assert.deepEqual(alteredFields(decided, created.value.admitted), paths);
      assert.deepEqual(alteredFields(decided, typed), typedPaths);
      // One POST, its body the decided pod's JSON.
      const posts = seen.filter((s) => s.method === 'POST');
      assert.equal(posts.length, 1);
      assert.equal(posts[0]?.url, podsPath);
      assert.deepEqual(JSON.parse(posts[0]?.body ?? ''), JSON.parse(JSON.stringify(decided)));
    });

  test('a pod the create answered is found by name at once, its creation time read as a time', async () => {
    answers.set(`POST ${podsPath}`, { status: 201, body: asServed(decided) });
    const pods = new KubePods(kc, NS, RUNNER);
    assert.ok((await pods.create(decided)).ok);
    const cached = pods.cached('p-1');
    assert.equal(cached?.metadata?.uid, 'pod-uid');
    assert.equal(cached?.spec, undefined, 'kept slimmed');
    assert.equal(new Date(cached?.metadata?.creationTimestamp ?? 0).toISOString(), '2026-12-01T00:00:00.000Z');
  });

  const FAILURES: [string, number, string][] = [
    ['409 AlreadyExists', 409, 'CREATE_EXISTS'],
    ['422 Invalid', 422, 'CREATE_REJECTED'],
    ['403 Forbidden', 403, 'CREATE_REJECTED'],
    ['500 InternalError', 500, 'CREATE_FAILED'],
    ['503 ServiceUnavailable', 503, 'CREATE_FAILED'],
  ];
  for (const [what, code, want] of FAILURES)
    test(`a pod create answered ${what} is ${want}`, async () => {
      answers.set(`POST ${podsPath}`, { status: code, body: status(code, what.split(' ')[1] ?? '') });
      const created = await new KubePods(kc, NS, RUNNER).create(decided);
      assert.equal(created.ok, false);
      if (!created.ok) assert.equal(created.error.code, want);
    });

  test('a pod create with the API server unreachable is CREATE_FAILED', async () => {
    const gone = pooledKubeConfigAt(1, 2000); // port 1: nothing listens
    const created = await new KubePods(gone, NS, RUNNER).create(decided);
    assert.equal(created.ok, false);
    if (!created.ok) assert.equal(created.error.code, 'CREATE_FAILED');
  });

  for (const [what, want, after, change] of DNS_ANSWERS)
    test(`the DNS policy read ${what}: ${want}, then [${after.join(', ')}], sameSpec as the typed read`, async () => {
      const served = dnsServed(dns);
      change(served);
      answers.set(`GET ${npPath}/${dnsName}`, { status: 200, body: served });
      answers.set(`DELETE ${npPath}/${dnsName}`, { status: 200, body: status(200, 'Success') });
      answers.set(`POST ${npPath}`, { status: 201, body: dnsServed(dns) });
      const typed = await kc
        .makeApiClient(NetworkingV1Api)
        .readNamespacedNetworkPolicy({ name: dnsName, namespace: NS });
      assert.equal(
        sameSpec(knownFields(served.spec, 'V1NetworkPolicySpec'), dns.spec),
        sameSpec(typed.spec, dns.spec),
        'the plain spec, reduced to the model, compares as the typed one',
      );
      seen.length = 0;
      const ensured = await new KubeStepObjects(kc, NS, RUNNER).ensureStepDns(dns);
      assert.equal(ensured.ok ? 'ok' : ensured.error.code, want);
      assert.deepEqual(
        seen.map((s) => s.method),
        ['GET', ...after],
      );
      assert.equal(seen[0]?.url, `${npPath}/${dnsName}`);
    });

  test('the DNS policy absent: one GET (404), then created', async () => {
    answers.set(`POST ${npPath}`, { status: 201, body: dnsServed(dns) });
    const ensured = await new KubeStepObjects(kc, NS, RUNNER).ensureStepDns(dns);
    assert.ok(ensured.ok);
    assert.deepEqual(
      seen.map((s) => s.method),
      ['GET', 'POST'],
    );
  });

  for (const code of [403, 500, 503])
    test(`the DNS policy read answered ${code}: EGRESS_BASELINE_UNCONFIRMED, nothing created`, async () => {
      answers.set(`GET ${npPath}/${dnsName}`, { status: code, body: status(code, 'Failure') });
      const ensured = await new KubeStepObjects(kc, NS, RUNNER).ensureStepDns(dns);
      assert.equal(ensured.ok ? 'ok' : ensured.error.code, 'EGRESS_BASELINE_UNCONFIRMED');
      assert.deepEqual(
        seen.map((s) => s.method),
        ['GET'],
      );
    });
});
