import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { gatekeeperArgs, gatekeeperRow, policyInput, skipReason } from '../../bench/peers/gatekeeper.ts';
import { selfSignedCert } from '../../bench/peers/gatekeeper/cert.ts';
import {
  assigns,
  constraints,
  constraintTemplates,
  mutatingWebhook,
  resourceDefaults,
  validatingWebhook,
} from '../../bench/peers/gatekeeper/manifests.ts';
import { pinnedVersion } from '../../bench/peers/gatekeeper/module.ts';
import { missingHardening, probes } from '../../bench/peers/gatekeeper/probe.ts';
import { DEFAULT_RESOURCES } from '../../src/pod/resources.ts';

/**
 * The pure parts of the Gatekeeper peer row (bench/peers/gatekeeper*). The class: a peer row that
 * measures something other than "the same policy, fail closed, on the row's namespace only" —
 * a webhook that fails open or reaches beyond its namespace (it would admit or slow the other
 * rows' pods), a Constraint without its template, a mutation that misses a container kind, an
 * audit loop that adds API load the runner does not have, a certificate the API server refuses.
 */
const NS = 'peer-gatekeeper';
const TARGET = { base: 'https://127.0.0.1:40123', caPem: '-----BEGIN CERTIFICATE-----\nx\n', namespace: NS };

for (const [kind, hook, path] of [
  ['validating', validatingWebhook(TARGET).webhooks?.[0], '/v1/admit'],
  ['mutating', mutatingWebhook(TARGET).webhooks?.[0], '/v1/mutate'],
] as const) {
  test(`the ${kind} webhook fails closed, on loopback, for pod creations in the row's namespace only`, () => {
    assert.ok(hook);
    assert.equal(hook.failurePolicy, 'Fail');
    assert.equal(hook.clientConfig.url, `https://127.0.0.1:40123${path}`);
    assert.equal(Buffer.from(hook.clientConfig.caBundle ?? '', 'base64').toString(), TARGET.caPem);
    assert.deepEqual(hook.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': NS } });
    assert.deepEqual(hook.rules, [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
    ]);
    assert.equal(hook.sideEffects, 'None');
    assert.deepEqual(hook.admissionReviewVersions, ['v1']);
  });
}

test('every Constraint has its ConstraintTemplate (same kind, Rego v1) and applies to the row namespace only', () => {
  const templates = constraintTemplates();
  const kinds = new Map(
    templates.map((t) => [(t.spec as { crd: { spec: { names: { kind: string } } } }).crd.spec.names.kind, t]),
  );
  const cs = constraints(policyInput(NS));
  assert.equal(cs.length, templates.length);
  for (const c of cs) {
    const t = kinds.get(c.kind);
    assert.ok(t, `no template for ${c.kind}`);
    assert.equal(t.metadata.name, c.kind.toLowerCase());
    const spec = c.spec as { enforcementAction: string; match: { namespaces: string[] } };
    assert.equal(spec.enforcementAction, 'deny');
    assert.deepEqual(spec.match.namespaces, [NS]);
    const code = (t.spec as { targets: { code: { source: { version: string; rego: string } }[] }[] }).targets[0]
      ?.code[0]?.source;
    assert.equal(code?.version, 'v1');
    assert.match(code?.rego ?? '', new RegExp(`^package ${t.metadata.name}\\n`));
  }
});

test("the Constraints' parameters are the runner's policy data (policies/data.json), not a copy", async () => {
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: { images: { allowedRegistries: string[] }; resources: Record<string, unknown> } };
  };
  const p = policyInput(NS);
  assert.deepEqual(p.registries, data.kubiya.settings.images.allowedRegistries);
  assert.deepEqual(p.requests, data.kubiya.settings.resources.requireRequests);
  assert.deepEqual(p.limits, data.kubiya.settings.resources.requireLimits);
  assert.ok(p.registries.includes('docker.io'));
});

test('the Assign mutators set the four restricted fields, for containers and init containers, in the row namespace', () => {
  const got = assigns(NS).map((a) => {
    const spec = a.spec as { location: string; parameters: { assign: { value: unknown } }; match: { namespaces: [] } };
    assert.deepEqual(spec.match.namespaces, [NS]);
    return [spec.location, spec.parameters.assign.value];
  });
  assert.deepEqual(
    new Map(got as [string, unknown][]),
    new Map<string, unknown>([
      ['spec.securityContext.runAsNonRoot', true],
      ['spec.securityContext.seccompProfile.type', 'RuntimeDefault'],
      ['spec.containers[name:*].securityContext.allowPrivilegeEscalation', false],
      ['spec.containers[name:*].securityContext.capabilities.drop', ['ALL']],
      ['spec.initContainers[name:*].securityContext.allowPrivilegeEscalation', false],
      ['spec.initContainers[name:*].securityContext.capabilities.drop', ['ALL']],
    ]),
  );
});

test("gatekeeper runs as the chart's controller-manager: loopback, no cert rotation, no audit/status, no metrics port", () => {
  const args = gatekeeperArgs({ kubeconfig: '/k', certDir: '/c', port: 1, healthPort: 2 });
  assert.deepEqual(
    args.filter((a) => a.startsWith('--operation=')),
    // generate creates the Constraint CRDs (v3.23); audit and status would add API load the runner has not.
    ['--operation=webhook', '--operation=mutation-webhook', '--operation=generate'],
  );
  for (const want of [
    '--host=127.0.0.1',
    '--health-addr=127.0.0.1:2',
    '--metrics-addr=0',
    // red team 4 finding 4: the default prometheus backend binds *:8888; this one only pushes, to loopback
    '--metrics-backend=opentelemetry',
    '--otlp-endpoint=127.0.0.1:9',
    '--disable-cert-rotation',
    '--shutdown-delay=0',
  ])
    assert.ok(args.includes(want), want);
  assert.ok(!args.some((a) => a.startsWith('--prometheus-port') || a === '--enable-pprof'));
});

test('the serving certificate is for IP 127.0.0.1, serverAuth, short-lived, and matches its key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-gk-cert-'));
  try {
    const { certPem } = await selfSignedCert(dir);
    const cert = new X509Certificate(certPem);
    assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1');
    assert.ok(cert.checkIP('127.0.0.1'));
    assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(join(dir, 'tls.key')))));
    assert.ok(cert.verify(cert.publicKey), 'self-signed: it is its own caBundle');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    const lifeMs = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    assert.ok(lifeMs > 0 && lifeMs <= 2 * 86_400_000, `lifetime ${lifeMs} ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the version is pinned once, in tools/gatekeeper/go.mod, and build.sh builds it only on request', async () => {
  const goMod = await readFile(join(REPO_ROOT, 'tools', 'gatekeeper', 'go.mod'), 'utf8');
  assert.equal(pinnedVersion(goMod), 'v3.23.1');
  assert.match(gatekeeperRow().name, /^gatekeeper v3\.23\.1 /);
  assert.equal(
    pinnedVersion('module x\n\nrequire (\n\tgithub.com/open-policy-agent/gatekeeper/v3 v3.17.0\n)\n'),
    'v3.17.0',
  );
  assert.equal(pinnedVersion('module x\n'), undefined);
  const build = await readFile(join(REPO_ROOT, 'tools', 'build.sh'), 'utf8');
  const optional = /\noptional=\(\n([\s\S]*?)\n\)/.exec(build)?.[1] ?? '';
  const defaults = /\ntools=\(\n([\s\S]*?)\n\)/.exec(build)?.[1] ?? '';
  assert.match(optional, /"gatekeeper\|gatekeeper\|github\.com\/open-policy-agent\/gatekeeper\/v3\|/);
  assert.doesNotMatch(defaults, /gatekeeper/);
});

test('an unbuilt gatekeeper skips the row with the command that builds it', () => {
  assert.match(skipReason('/nonexistent/gatekeeper') ?? '', /bash tools\/build\.sh gatekeeper/);
  assert.ok(gatekeeperRow().lacks.some((l) => /token verification/.test(l)));
});

test('the ready gate sees every missing restricted field, and none on a hardened pod', () => {
  const pod: V1Pod = { spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'c' }] } };
  assert.equal(missingHardening(pod).length, 6);
  const sc = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  const hardened: V1Pod = {
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      initContainers: [{ name: 'i', securityContext: sc }],
      containers: [{ name: 'c', securityContext: sc }],
    },
  };
  assert.deepEqual(missingHardening(hardened), []);
  assert.deepEqual(
    probes(false).map((p) => p.want),
    ['allow', 'deny', 'deny', 'deny'],
  );
  // With the runner's default resources the pod without a memory limit is admitted (defaulted), as by the runner.
  assert.deepEqual(
    probes(true).map((p) => p.want),
    ['allow', 'deny', 'deny', 'allow'],
  );
});

test("the runner's default resources become per-container Assigns that only fill what is absent", () => {
  const got = resourceDefaults(NS, DEFAULT_RESOURCES).map((a) => {
    const spec = a.spec as {
      location: string;
      parameters: { assign: { value: unknown }; pathTests: { subPath: string; condition: string }[] };
    };
    assert.deepEqual(spec.parameters.pathTests, [{ subPath: spec.location, condition: 'MustNotExist' }]);
    return [spec.location, spec.parameters.assign.value];
  });
  const want: [string, unknown][] = [];
  for (const list of ['containers', 'initContainers'])
    for (const kind of ['requests', 'limits'] as const)
      for (const [r, v] of Object.entries(DEFAULT_RESOURCES[kind] ?? {}))
        want.push([`spec.${list}[name:*].resources.${kind}.${r}`, v]);
  assert.ok(want.some(([l]) => l === 'spec.containers[name:*].resources.limits.memory'));
  assert.deepEqual(got, want);
  assert.deepEqual(resourceDefaults(NS, {}), []);
  const names = [...assigns(NS), ...resourceDefaults(NS, DEFAULT_RESOURCES)].map((a) => a.metadata.name);
  assert.equal(new Set(names).size, names.length, 'mutator names are unique');
});
