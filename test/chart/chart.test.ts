import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments, parse } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { loadConfig } from '../../src/config/load.ts';
import { CHART, MANIFEST, renderChart, renderManifest } from '../../src/dev/manifest.ts';
import { restrictedViolations } from '../support/restricted-check.ts';
import { CHART_TEST_TOKEN } from '../support/chart-values.ts';

const run = promisify(execFile);
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;

type Obj = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const objects = async (...args: string[]): Promise<Obj[]> =>
  parseAllDocuments(await renderChart(helm, [...CHART_TEST_TOKEN, ...args]))
    .map((d) => d.toJS() as Obj)
    .filter((o) => o !== null);
const find = (objs: Obj[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

describe('Helm chart', () => {
  test('helm lint --strict passes', async () => {
    // With a token: without one the chart's fail stops the render, which lint reports only as INFO.
    const { stdout } = await run(helm, ['lint', '--strict', CHART, ...CHART_TEST_TOKEN]);
    assert.match(stdout, /0 chart\(s\) failed/);
  });

  test('default render: the seed objects, a restricted runner pod, and a config the runner accepts', async () => {
    const objs = await objects('--set', 'runner.token=t0ken');
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of [
      'CustomResourceDefinition',
      'Namespace',
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'StatefulSet',
      'Service',
      'ConfigMap',
      'Secret',
      'NetworkPolicy',
      'PodDisruptionBudget',
    ])
      assert.ok(kinds.has(k), k);
    assert.ok(!kinds.has('ClusterRole') && !kinds.has('ClusterRoleBinding'), 'nothing cluster-wide');
    assert.ok(!kinds.has('ServiceMonitor'));
    const ns = find(objs, 'Namespace')[0] as unknown as { metadata: { labels: Record<string, string> } };
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    const sts = find(objs, 'StatefulSet')[0] as unknown as { spec: { replicas: number; template: V1Pod } };
    assert.equal(sts.spec.replicas, 2);
    assert.deepEqual(restrictedViolations(sts.spec.template), [], 'the runner pod itself is restricted');
    const c = sts.spec.template.spec!.containers[0]!;
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(c.readinessProbe?.httpGet?.path, '/ready');
    const cm = find(objs, 'ConfigMap', 'kubiya-runner-config')[0] as unknown as { data: { 'runner.yaml': string } };
    const config = loadConfig(cm.data['runner.yaml'], { RUNNER_TOKEN: 't0ken' });
    assert.ok(config.ok, JSON.stringify(!config.ok && config.error));
    const role = find(objs, 'Role', 'kubiya-runner')[0] as unknown as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    assert.deepEqual(
      role.rules[0],
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      'the seed Role',
    );
    assert.ok(!role.rules.some((r) => r.apiGroups.includes('cilium.io')));
    // The trusted-key store: created by the chart, empty; the runner may get and update that one object only.
    const trustName = `${config.value.kubernetes.leaseName ?? ''}-trusted-keys`;
    const store = find(objs, 'ConfigMap', trustName)[0] as unknown as
      { data?: unknown; metadata: { namespace: string } } | undefined;
    assert.ok(store !== undefined && store.data === undefined, 'the chart creates the store, empty');
    const lease = find(objs, 'Role', 'kubiya-runner-lease')[0] as unknown as {
      metadata: { namespace: string };
      rules: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
    };
    assert.equal(lease.metadata.namespace, store.metadata.namespace);
    assert.deepEqual(
      lease.rules.filter((r) => r.resources.includes('configmaps')),
      [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [trustName], verbs: ['get', 'update'] }],
    );
    const np = find(objs, 'NetworkPolicy', 'kubiya-runner-policy')[0] as unknown as {
      metadata: { namespace: string };
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        ingress: { from?: { namespaceSelector?: { matchLabels?: Record<string, string> } }[] }[];
        egress: { to?: { namespaceSelector?: { matchLabels?: Record<string, string> } }[] }[];
      };
    };
    assert.deepEqual(np.spec.podSelector.matchLabels, { app: 'kubiya-runner' });
    // Every namespace the chart selects by the product page's `name` label (which anyone allowed to
    // label a namespace can copy) is also selected by kubernetes.io/metadata.name, the API server's
    // own, immutable: only the runner's namespace matches (red team 15, seen and left; fixed).
    const selectors = [...np.spec.ingress.flatMap((r) => r.from ?? []), ...np.spec.egress.flatMap((r) => r.to ?? [])]
      .map((peer) => peer.namespaceSelector?.matchLabels)
      .filter((m): m is Record<string, string> => m !== undefined && 'name' in m);
    assert.equal(selectors.length, 2);
    for (const m of selectors)
      assert.deepEqual(m, { name: np.metadata.namespace, 'kubernetes.io/metadata.name': np.metadata.namespace });
    // The workflows namespace's default deny (issue 13): every pod there, Egress, no rule.
    const deny = find(objs, 'NetworkPolicy', 'kubiya-runner-default-deny-egress')[0] as unknown as {
      metadata: { namespace: string };
      spec: { podSelector: unknown; policyTypes: string[]; egress?: unknown };
    };
    assert.equal(deny.metadata.namespace, 'kubiya-workflows');
    assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Egress'] });
    assert.equal(config.value.egress.dnsNamespace, 'kube-system');
    assert.equal(config.value.runner.workflow.serviceAccount, 'kubiya-executor');
    assert.equal(config.value.runner.workflow.defaultTimeout, 1800);
    const data = find(objs, 'ConfigMap', 'kubiya-runner-policy-data')[0] as unknown as {
      data: { 'data.json': string };
    };
    // By default the chart overlays nothing: the runner decides with the bundle's own data.json
    // (policies/data.json), the settings `policy eval|replay|test` use (docs/policies.md).
    assert.deepEqual(JSON.parse(data.data['data.json']), { kubiya: { settings: {} } });
    assert.equal(
      (find(objs, 'Secret', 'kubiya-runner-token')[0] as unknown as { stringData: { token: string } }).stringData.token,
      't0ken',
    );
  });

  test('existingSecret: no Secret is rendered and the pod reads the named one', async () => {
    const objs = await objects('--set', 'runner.existingSecret=my-token');
    assert.equal(find(objs, 'Secret', 'kubiya-runner-token').length, 0);
    const sts = find(objs, 'StatefulSet')[0] as unknown as { spec: { template: V1Pod } };
    assert.equal(
      sts.spec.template.spec!.containers[0]!.env!.find((e) => e.name === 'RUNNER_TOKEN')!.valueFrom!.secretKeyRef!.name,
      'my-token',
    );
    assert.equal(
      sts.spec.template.spec!.containers[0]!.env!.find((e) => e.name === 'NODE_OPTIONS')!.value,
      '--max-old-space-size=192 --max-semi-space-size=4',
    );
    // glibc's malloc arenas bounded (issue 20 §2, peak RSS): the bench's serve runs with the same.
    assert.equal(sts.spec.template.spec!.containers[0]!.env!.find((e) => e.name === 'MALLOC_ARENA_MAX')!.value, '2');
  });

  test('replicas, ServiceMonitor on, Cilium egress mode, retained audit volumes', async () => {
    const objs = await objects(
      '--set',
      'replicaCount=3',
      '--set',
      'metrics.serviceMonitor.enabled=true',
      '--set',
      'egress.mode=cilium',
      '--set',
      'egress.dnsNamespace=dns',
      '--set',
      'networkPolicy.enabled=false',
      '--set',
      'runner.workflow.namespace=wf',
      '--set',
      'audit.storage.retainOnUninstall=true',
      '--set',
      'audit.ship.url=https://collector.example/logs',
      '--set',
      'audit.checkpoint.existingSecret=audit-key',
    );
    assert.equal((find(objs, 'StatefulSet')[0] as unknown as { spec: { replicas: number } }).spec.replicas, 3);
    assert.equal(find(objs, 'ServiceMonitor').length, 1);
    const role = find(objs, 'Role', 'kubiya-runner')[0] as unknown as {
      rules: { apiGroups: string[]; resources: string[] }[];
    };
    assert.ok(
      role.rules.some((r) => r.apiGroups.includes('cilium.io') && r.resources.includes('ciliumnetworkpolicies')),
    );
    const cm = find(objs, 'ConfigMap', 'kubiya-runner-config')[0] as unknown as { data: { 'runner.yaml': string } };
    assert.equal((parse(cm.data['runner.yaml']) as { egress: { mode: string } }).egress.mode, 'cilium');
    const config = loadConfig(cm.data['runner.yaml'], { RUNNER_TOKEN: 't' });
    assert.ok(config.ok, JSON.stringify(!config.ok && config.error));
    assert.equal(config.value.audit.ship.url, 'https://collector.example/logs');
    assert.equal(config.value.egress.dnsNamespace, 'dns');
    assert.equal(find(objs, 'NetworkPolicy', 'kubiya-runner-policy').length, 0);
    assert.equal(
      find(objs, 'NetworkPolicy', 'kubiya-runner-default-deny-egress')[0]?.metadata.namespace,
      'wf',
      'the default deny does not depend on networkPolicy.enabled',
    );
    assert.equal(config.value.audit.checkpoint.signingKeyFile, '/etc/kubiya/audit-key/signing-key.pem');
    const sts = find(objs, 'StatefulSet')[0] as unknown as {
      spec: { persistentVolumeClaimRetentionPolicy: { whenDeleted: string } };
    };
    assert.equal(sts.spec.persistentVolumeClaimRetentionPolicy.whenDeleted, 'Retain');
  });

  test('the values schema refuses unknown keys, wrong types and unsafe settings, naming the path', async () => {
    for (const [set, path] of [
      ['runner.colour=blue', '/runner'],
      ['runner.security.allowPrivileged=true', '/runner/security/allowPrivileged'],
      ['replicaCount=two', '/replicaCount'],
      ['egress.mode=iptables', '/egress/mode'],
      ['egress.dnsNamespace=Kube_System', '/egress/dnsNamespace'],
      ['egress.resolver=x', '/egress'],
      ['runner.workflow.defaultTimeout=soon', '/runner/workflow/defaultTimeout'],
    ] as const) {
      const r = await run(helm, [
        'template',
        'x',
        CHART,
        '--kube-version',
        '1.37.2',
        ...CHART_TEST_TOKEN,
        '--set',
        set,
      ]).then(
        () => ({ stderr: '' }),
        (e: { stderr: string }) => e,
      );
      assert.ok(r.stderr.includes(path), `${set}: ${r.stderr}`);
    }
  });

  test('deploy/kubiya-runner.yaml is the chart rendered with default values (no drift; "npm run manifest" regenerates it)', async () => {
    assert.equal(await readFile(MANIFEST, 'utf8'), await renderManifest(helm));
  });

  test('the chart README documents every value of values.yaml, and only those', async () => {
    // Label maps with defaults are one value (their keys are the user's), like policy.settings.
    const LABEL_MAPS = new Set(['metrics.dashboard.labels']);
    const values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const leaves: string[] = [];
    const walk = (o: unknown, prefix: string) => {
      if (
        typeof o === 'object' &&
        o !== null &&
        !Array.isArray(o) &&
        Object.keys(o).length > 0 &&
        prefix !== 'policy.settings' &&
        !LABEL_MAPS.has(prefix)
      ) {
        for (const [k, v] of Object.entries(o)) walk(v, prefix === '' ? k : `${prefix}.${k}`);
      } else leaves.push(prefix);
    };
    walk(values, '');
    const readme = await readFile(join(CHART, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Values'), readme.indexOf('\n## ', readme.indexOf('## Values') + 1));
    const documented = [...section.matchAll(/^\| `([a-zA-Z.]+)` \|/gm)].map((m) => m[1]!);
    assert.deepEqual([...documented].sort(), [...leaves].sort());
  });
});
