import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { loadConfig } from '../../src/config/load.ts';
import { renderChart } from '../../src/dev/manifest.ts';
import { CHART_TEST_TOKEN } from '../support/chart-values.ts';

/**
 * Red-team 2026-11-30, findings 1, 5 and 7, under Helm.
 *
 * Finding 1, class "a setting that changes a decision but is not covered by the bundle signature":
 * with `policy.verificationKeys`, `policy.settings` that are not empty fail the render (the message
 * says to bake them with `policy build --values`), and the chart renders no `<release>-policy-data`
 * ConfigMap, no mount and no `policy.data`: nothing is left for a ConfigMap editor to change.
 *
 * Finding 5, class "verification on, but the bundle it would verify is unsigned": keys without a
 * signed bundle source (bundleConfigMap or service.url) point every replica at the image's unsigned
 * built-in bundle — the chart fails at render instead of rolling out replicas that all refuse it.
 *
 * Finding 7, class "a credential in a URL lands in a ConfigMap": userinfo in `policy.service.url`
 * and `audit.ship.url` is refused by the values schema (and by the runner's config schema:
 * test/unit/config-userinfo.test.ts); the bundle service's credential is a bearer token in an
 * existing Secret, mounted read-only and named by `policy.service.bearerTokenFile`.
 */
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;
let dir: string;
let keyArgs: string[];

interface Doc {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
  spec?: {
    template?: {
      spec?: {
        volumes?: { name: string; secret?: { secretName: string; defaultMode?: number } }[];
        containers?: { volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
      };
    };
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-chart-signed-'));
  const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' });
  await writeFile(join(dir, 'k.pem'), pem);
  keyArgs = ['--set-file', `policy.verificationKeys[0]=${join(dir, 'k.pem')}`];
});
after(() => rm(dir, { recursive: true, force: true }));

async function rendered(args: string[]) {
  // YAML 1.1, as the API server's parser reads it (defaultMode: 0400 is octal)
  const docs = parseAllDocuments(await renderChart(helm, [...CHART_TEST_TOKEN, ...args]), { version: '1.1' })
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
  const runnerYaml = docs.find((d) => d.metadata?.name?.endsWith('-config'))?.data?.['runner.yaml'] ?? '';
  const config = loadConfig(runnerYaml, {});
  assert.ok(config.ok, JSON.stringify(!config.ok && config.error));
  const pod = docs.find((d) => d.kind === 'StatefulSet')?.spec?.template?.spec;
  return { docs, config: config.value, pod };
}

const SOURCES: readonly { name: string; args: string[] }[] = [
  { name: 'bundleConfigMap', args: ['--set', 'policy.bundleConfigMap=signed-bundle'] },
  { name: 'service', args: ['--set', 'policy.service.url=https://bundles.example.com/b.tar.gz'] },
];

test('finding 5: verification keys without a signed bundle source fail at render; with one they render', async () => {
  // the reported example: `helm upgrade --set-file policy.verificationKeys[0]=…` on a default install
  await assert.rejects(
    renderChart(helm, [...CHART_TEST_TOKEN, ...keyArgs]),
    /needs a signed bundle source.*bundleConfigMap/s,
  );
  await writeFile(join(dir, 'values.yaml'), `policy:\n  bundleConfigMap: ""\n  verificationKeys: []\n`);
  await assert.rejects(
    renderChart(helm, [
      ...CHART_TEST_TOKEN,
      '-f',
      join(dir, 'values.yaml'),
      ...keyArgs,
      ...keyArgs.map((a) => a.replace('[0]', '[1]')),
    ]),
    /needs a signed bundle source/,
  );
  for (const source of SOURCES) {
    const { config } = await rendered([...keyArgs, ...source.args]);
    assert.equal(config.policy.verificationKeys?.length, 1, source.name);
  }
  // no keys: the image's bundle, unverified, as before
  const { config } = await rendered([]);
  assert.equal(config.policy.bundle, '/opt/kubiya/policy/bundle.tar.gz');
});

test('finding 1: policy.settings beside verification keys fail at render, naming policy build --values', async () => {
  const settings = [
    ['--set', 'policy.settings.enforcement.IMAGE_TAG_NOT_PINNED=audit'],
    ['--set', 'policy.settings.images.deniedImages[0]=docker.io/library/evil'],
    ['--set', 'policy.settings.egress.allowAnyDestination=false'],
    ['--set', 'policy.settings.images.allowedRegistries={ghcr.io}'],
  ];
  for (const source of SOURCES)
    for (const s of settings)
      await assert.rejects(
        renderChart(helm, [...CHART_TEST_TOKEN, ...keyArgs, ...source.args, ...s]),
        /policy\.settings cannot be used with policy\.verificationKeys.*policy build --values/s,
        `${source.name} ${s.join(' ')}`,
      );
});

test('finding 1: with verification keys no settings overlay is rendered, mounted or configured; without keys it is', async () => {
  for (const source of SOURCES) {
    const { docs, config, pod } = await rendered([...keyArgs, ...source.args]);
    assert.equal(config.policy.data, undefined, source.name);
    assert.ok(!docs.some((d) => d.metadata?.name?.endsWith('-policy-data')), `${source.name}: no ConfigMap`);
    assert.ok(!(pod?.volumes ?? []).some((v) => v.name === 'policy-data'), `${source.name}: no volume`);
    assert.ok(!(pod?.containers?.[0]?.volumeMounts ?? []).some((m) => m.name === 'policy-data'), source.name);
  }
  const { docs, config, pod } = await rendered(['--set', 'policy.settings.images.deniedImages[0]=docker.io/x']);
  assert.equal(config.policy.data, '/etc/kubiya/policy-data/data.json');
  assert.ok(docs.some((d) => d.metadata?.name?.endsWith('-policy-data')));
  assert.ok((pod?.volumes ?? []).some((v) => v.name === 'policy-data'));
});

test('finding 7: userinfo in policy.service.url and audit.ship.url is refused by the templates; other @ are not', async () => {
  const refused = [
    'https://user:pass@bundles.example.com/b.tar.gz',
    'https://user@bundles.example.com/b.tar.gz',
    'http://:pass@bundles.example.com/b.tar.gz',
    'https://user:p%40ss@bundles.example.com/b.tar.gz',
    'https://a:b@c@bundles.example.com/b.tar.gz',
    'https://user:pass@bundles.example.com',
  ];
  const accepted = ['https://bundles.example.com/team@x/b.tar.gz', 'https://bundles.example.com:8443/b.tar.gz?u=a@b'];
  for (const url of refused) {
    await assert.rejects(
      renderChart(helm, [...CHART_TEST_TOKEN, ...keyArgs, '--set', `policy.service.url=${url}`]),
      /policy\.service\.url has user:password@/,
      url,
    );
    await assert.rejects(
      renderChart(helm, [...CHART_TEST_TOKEN, '--set', `audit.ship.url=${url}`]),
      /audit\.ship\.url has user:password@/,
      url,
    );
  }
  for (const url of accepted) {
    const { config } = await rendered([...keyArgs, '--set', `policy.service.url=${url}`]);
    assert.equal(config.policy.service?.url, url);
    const shipped = await rendered(['--set', `audit.ship.url=${url}`]);
    assert.equal(shipped.config.audit.ship.url, url);
  }
});

test('finding 7: the bundle service token comes from an existing Secret, mounted read-only, named in runner.yaml', async () => {
  const service = ['--set', 'policy.service.url=https://bundles.example.com/b.tar.gz'];
  const none = await rendered([...keyArgs, ...service]);
  assert.equal(none.config.policy.service?.bearerTokenFile, undefined);
  assert.ok(!(none.pod?.volumes ?? []).some((v) => v.name === 'policy-service-token'));
  for (const key of [undefined, 'bearer']) {
    const args = [...keyArgs, ...service, '--set', 'policy.service.bearerTokenSecret.name=bundle-token'];
    if (key !== undefined) args.push('--set', `policy.service.bearerTokenSecret.key=${key}`);
    const { config, pod } = await rendered(args);
    const volume = pod?.volumes?.find((v) => v.name === 'policy-service-token');
    const mount = pod?.containers?.[0]?.volumeMounts?.find((m) => m.name === 'policy-service-token');
    assert.equal(volume?.secret?.secretName, 'bundle-token');
    assert.equal(volume?.secret?.defaultMode, 0o400);
    assert.equal(mount?.readOnly, true);
    assert.equal(config.policy.service?.bearerTokenFile, `${mount?.mountPath}/${key ?? 'token'}`);
  }
  await assert.rejects(
    renderChart(helm, [...CHART_TEST_TOKEN, '--set', 'policy.service.bearerTokenSecret.name=bundle-token']),
    /bearerTokenSecret.*needs policy\.service\.url/,
  );
  await assert.rejects(
    renderChart(helm, [
      ...CHART_TEST_TOKEN,
      ...keyArgs,
      ...service,
      '--set',
      'policy.service.bearerTokenSecret.name=Bad_Name',
    ]),
    /bearerTokenSecret\/name/,
  );
});
