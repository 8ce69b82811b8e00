/**
 * Red-team round 2, findings 11 and 2: the chart and the runner disagree about a value the chart
 * passes into the runner's config. The class: Helm renders a value that the runner then refuses
 * at start (every replica crash-loops: `audit.checkpoint.every=100000000`, `storageClass: ""`), a
 * value Helm refuses that the runner takes, or a value that reaches the runner as something else
 * (an unquoted `issuer: 123` becomes a number, `url: https://x/#a` loses its fragment to a YAML
 * comment, a newline in a value writes another key).
 *
 * For every scalar of the rendered runner.yaml that comes from values — completeness is checked:
 * a scalar of the rendered config that is neither in FIELDS nor in FIXED fails the test — each
 * candidate goes through `helm template` (values schema + templates) and the runner's parser: both
 * accept or both refuse, and an accepted value reaches the config unchanged. test/chart/runner-
 * values.test.ts holds the full duration grammar for three of these fields.
 *
 * Finding 2 rides along: url and jwksUrl must be https, or http to a loopback host, unless
 * controlPlane.insecureHttp is set — in both.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { configRenderer } from '../support/render-config.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-chart-drift-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

const render = configRenderer(() => dir);

const at = (o: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
const withPath = (path: readonly string[], value: unknown, base: Record<string, unknown> = {}) => {
  const root = structuredClone(base);
  let o = root;
  for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[path.at(-1)!] = value;
  return root;
};

const LONG = 'a'.repeat(254);
const INJECT = ['x\n      jwksUrl: "http://evil"', 'x # comment', 'a: b', '123', 'true', 'null', "'q'", '{"a":1}', ''];
const URLS = [
  'https://cp.example.com',
  'https://cp.example.com/#frag',
  'https://cp.example.com/path?q=1',
  'http://127.0.0.1:8080',
  'http://localhost:8080/x',
  'http://[::1]:9/x',
  'http://cp.example.com',
  'http://10.0.0.1:8080',
  'http://',
  'https://',
  'ftp://cp.example.com',
  'https://cp example.com',
  'https://cp.example.com/a b',
  'https://cp.example.com/\n      jwksFile: /x',
  'https://user:secret@cp.example.com',
  'https://cp.example.com\\@evil.example',
];

/** values path, config path, the values to try, and the base values the field needs to render. */
const FIELDS: { values: string[]; config: string[]; candidates: unknown[]; base?: Record<string, unknown> }[] = [
  { values: ['runner', 'name'], config: ['runner', 'name'], candidates: ['r', 'R', '-r', 'a'.repeat(64), ...INJECT] },
  {
    values: ['runner', 'workflow', 'maxConcurrent'],
    config: ['runner', 'workflow', 'maxConcurrent'],
    candidates: [0, 1, 10_000, 10_001, 1.5, '10'],
  },
  {
    values: ['runner', 'storage', 'storageClass'],
    config: ['runner', 'storage', 'storageClass'],
    candidates: ['fast', '', 'a'.repeat(253), LONG],
  },
  { values: ['controlPlane', 'url'], config: ['controlPlane', 'url'], candidates: URLS },
  {
    values: ['controlPlane', 'url'],
    config: ['controlPlane', 'url'],
    candidates: ['http://cp.example.com', 'http://10.0.0.1:8080'],
    base: { controlPlane: { insecureHttp: true } },
  },
  { values: ['controlPlane', 'jwksUrl'], config: ['controlPlane', 'jwksUrl'], candidates: URLS },
  {
    values: ['controlPlane', 'jwksUrl'],
    config: ['controlPlane', 'jwksUrl'],
    candidates: ['http://cp.example.com/jwks.json'],
    base: { controlPlane: { insecureHttp: true } },
  },
  { values: ['controlPlane', 'issuer'], config: ['controlPlane', 'issuer'], candidates: ['https://cp', ...INJECT] },
  {
    values: ['controlPlane', 'jwksStaleIfError'],
    config: ['controlPlane', 'jwksStaleIfError'],
    candidates: [0, '0s', 86_400, '24h', '86400s', 86_401, '24h0m1s', '2147483647s'],
  },
  {
    values: ['audit', 'checkpoint', 'every'],
    config: ['audit', 'checkpoint', 'every'],
    candidates: [0, 1, 1_000_000, 1_000_001, 100_000_000, 1.5],
  },
  {
    values: ['audit', 'checkpoint', 'interval'],
    config: ['audit', 'checkpoint', 'interval'],
    candidates: ['0s', 1, '10s', 2 ** 31, '720h', 2_147_483, 2_147_484, '596h31m23s', '596h31m24s'],
  },
  {
    values: ['runner', 'storage', 'workspaceSize'],
    config: ['runner', 'storage', 'workspaceSize'],
    candidates: ['10Gi', '1Mi', '0', '0Gi', '0.0', '00m', 0, '1e3'],
  },
  {
    values: ['runner', 'storage', 'tmpSize'],
    config: ['runner', 'storage', 'tmpSize'],
    candidates: ['1Gi', '64Mi', '0', '0Gi', '0.0', '00m', 0, '1e3'],
  },
  {
    // At least ttlAfterFinished (1h by default), not zero: refused by both (a value Helm takes and
    // the runner refuses would crash-loop every replica).
    values: ['runner', 'workflow', 'retainFinished'],
    config: ['runner', 'workflow', 'retainFinished'],
    candidates: ['168h', '1h', 3600, '59m59s', 3599, '0s', 0, '596h31m23s', '596h31m24s', '1h0m1s', 'soon'],
  },
  {
    values: ['runner', 'workflow', 'retainFinished'],
    config: ['runner', 'workflow', 'retainFinished'],
    base: { runner: { workflow: { ttlAfterFinished: '2h' } } },
    candidates: ['2h', 7200, '1h59m59s', 7199, '120m', '7200s', '7199s'],
  },
  { values: ['audit', 'ship', 'url'], config: ['audit', 'ship', 'url'], candidates: URLS },
  { values: ['egress', 'dnsNamespace'], config: ['egress', 'dnsNamespace'], candidates: ['kube-system', ...INJECT] },
  { values: ['egress', 'mode'], config: ['egress', 'mode'], candidates: ['cilium', 'calico', 'networkpolicy # x'] },
  { values: ['logLevel'], config: ['log', 'level'], candidates: ['debug', 'verbose', 'info\n    x: 1'] },
  {
    values: ['runner', 'security', 'podSecurityCheck', 'enabled'],
    config: ['runner', 'security', 'podSecurityCheck', 'enabled'],
    candidates: [true, false, 'false', 0],
  },
  {
    values: ['runner', 'security', 'podSecurityCheck', 'interval'],
    config: ['runner', 'security', 'podSecurityCheck', 'interval'],
    candidates: ['5s', 5, '4s', 4, '1h', 3600, '1h0m1s', 3601, '60s', '1m', 'soon', -5, 1.5],
  },
];

/** Scalars of the rendered config the chart fixes (or derives), not taken from a value as given. */
const FIXED = new Set([
  'runner.workflow.namespace',
  'runner.workflow.serviceAccount',
  'runner.workflow.defaultTimeout',
  'runner.workflow.failFastGrace',
  'runner.workflow.ttlAfterFinished',
  'runner.workflow.defaultResources.requests.cpu',
  'runner.workflow.defaultResources.requests.memory',
  'runner.workflow.defaultResources.limits.cpu',
  'runner.workflow.defaultResources.limits.memory',
  'runner.resources.requests.cpu',
  'runner.resources.requests.memory',
  'runner.resources.limits.cpu',
  'runner.resources.limits.memory',
  'runner.security.podSecurityStandard',
  'runner.security.allowPrivileged',
  'runner.security.runAsNonRoot',
  'runner.security.runAsUser',
  'runner.security.readOnlyRootFilesystem',
  'runner.security.allowNetBindService',
  'runner.network.dnsPolicy',
  'runner.network.enableServiceLinks',
  'runner.storage.workspaceSize',
  'controlPlane.insecureHttp',
  'controlPlane.algorithms',
  'controlPlane.maxTokenAge',
  'policy.bundle',
  'policy.data',
  'audit.dir',
  'audit.checkpoint.signingKeyFile',
  'server.port',
  'server.shutdownGrace',
  'kubernetes.namespace',
  'kubernetes.leaseName',
]);

function scalars(o: unknown, path: string[] = []): string[] {
  if (Array.isArray(o)) return [path.join('.')];
  if (o !== null && typeof o === 'object')
    return Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => scalars(v, [...path, k]));
  return [path.join('.')];
}

test('every scalar the chart renders into runner.yaml is either checked here or fixed by the chart', async () => {
  const r = await render({ audit: { ship: { url: 'https://collector.example/logs' } } });
  assert.ok(r.ok);
  const covered = new Set(FIELDS.map((f) => f.config.join('.')));
  const unknown = scalars(parse(r.config)).filter((p) => !covered.has(p) && !FIXED.has(p));
  assert.deepEqual(unknown, [], 'rendered config keys with no agreement check: add them to FIELDS (or FIXED)');
});

const bases = new Map<string, Promise<Record<string, unknown>>>();
/** The runner.yaml the chart renders for `values` (cached): the document each candidate is put into. */
function baseConfig(values: Record<string, unknown>): Promise<Record<string, unknown>> {
  const key = JSON.stringify(values);
  let p = bases.get(key);
  if (p === undefined) {
    p = render(values).then((r) => {
      assert.ok(r.ok, `base render: ${!r.ok ? r.stderr : ''}`);
      return parse(r.config) as Record<string, unknown>;
    });
    bases.set(key, p);
  }
  return p.then((c) => structuredClone(c));
}

test('the chart and the runner accept the same values, and an accepted value reaches the runner as given', async () => {
  const jobs = FIELDS.flatMap((f) => f.candidates.map((v) => ({ f, v })));
  const results: string[] = [];
  // A few renders at a time: each is a helm process.
  for (let i = 0; i < jobs.length; i += 4) {
    await Promise.all(
      jobs.slice(i, i + 4).map(async ({ f, v }) => {
        const what = `${f.values.join('.')}=${JSON.stringify(v)}${f.base ? ` with ${JSON.stringify(f.base)}` : ''}`;
        const values = withPath(f.values, v, f.base);
        const chart = await render(values);
        // The runner's answer for the same value: the default render with only this value changed.
        const doc = withPath(f.config, v, await baseConfig(f.base ?? {}));
        const runner = loadConfig(JSON.stringify(doc), { RUNNER_TOKEN: 't' });
        if (chart.ok !== runner.ok)
          results.push(
            `${what}: helm ${chart.ok ? 'accepted' : 'refused'}, the runner ${runner.ok ? 'accepts' : 'refuses'}${chart.ok ? '' : ` (${chart.stderr.trim().split('\n').at(-1)})`}`,
          );
        if (!chart.ok || !runner.ok) return;
        const got = loadConfig(chart.config, { RUNNER_TOKEN: 't' });
        assert.ok(got.ok, `${what}: the rendered config does not load: ${JSON.stringify(!got.ok && got.error)}`);
        const want = at(runner.value, f.config);
        if (JSON.stringify(at(got.value, f.config)) !== JSON.stringify(want))
          results.push(
            `${what}: the runner reads ${JSON.stringify(at(got.value, f.config))}, not ${JSON.stringify(want)}`,
          );
      }),
    );
  }
  assert.deepEqual(results, []);
});
