import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { loadConfig } from '../../src/config/load.ts';
import { renderChart } from '../../src/dev/manifest.ts';
import { CHART_TEST_TOKEN } from '../support/chart-values.ts';

/**
 * Issue 18 §6: the chart turns bundle verification on when keys are given. Variants: no keys
 * (nothing rendered, verification off), one and two keys (each PEM in ConfigMap
 * <fullname>-policy-keys, mounted, and listed in runner.yaml's policy.verificationKeys, which the
 * runner's config schema accepts), and values that are not PEM public keys (refused by Helm,
 * naming the path).
 */
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;

interface Doc {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
  spec?: { template?: { spec?: { volumes?: { name: string }[] } } };
}

const pem = () =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;

test('policy.verificationKeys: rendered, mounted and configured when given; nothing when not; non-PEM refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-chart-keys-'));
  try {
    for (const count of [0, 1, 2]) {
      const keys = Array.from({ length: count }, pem);
      // keys need a signed bundle source (red-team finding 5; test/chart/policy-signed-sources.test.ts)
      const args: string[] = count > 0 ? ['--set', 'policy.bundleConfigMap=signed-bundle'] : [];
      for (const [i, k] of keys.entries()) {
        await writeFile(join(dir, `k${i}.pem`), k);
        args.push('--set-file', `policy.verificationKeys[${i}]=${join(dir, `k${i}.pem`)}`);
      }
      const docs = parseAllDocuments(await renderChart(helm, [...CHART_TEST_TOKEN, ...args])).map(
        (d) => d.toJS() as Doc,
      );
      const keyMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata?.name?.endsWith('-policy-keys'));
      const runnerYaml = docs.find((d) => d.metadata?.name?.endsWith('-config'))?.data?.['runner.yaml'] ?? '';
      const config = loadConfig(runnerYaml, {});
      assert.ok(config.ok, JSON.stringify(!config.ok && config.error));
      const volumes = docs.find((d) => d.kind === 'StatefulSet')?.spec?.template?.spec?.volumes ?? [];
      if (count === 0) {
        assert.equal(keyMap, undefined);
        assert.equal(config.value.policy.verificationKeys, undefined, 'verification off without keys');
        assert.ok(!volumes.some((v) => v.name === 'policy-keys'));
        continue;
      }
      assert.deepEqual(Object.values(keyMap?.data ?? {}), keys);
      assert.deepEqual(
        config.value.policy.verificationKeys,
        keys.map((_, i) => `/etc/kubiya/policy-keys/key-${i}.pem`),
      );
      assert.ok(volumes.some((v) => v.name === 'policy-keys'));
    }
    for (const [bad, said] of [
      ['nope', /policy\.verificationKeys\[0\] must be one PEM public key/],
      [
        '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
        /policy\.verificationKeys\[0\] holds a PRIVATE key/,
      ],
    ] as const) {
      await writeFile(join(dir, 'bad.pem'), bad);
      await assert.rejects(
        renderChart(helm, [
          ...CHART_TEST_TOKEN,
          ...['--set', 'policy.bundleConfigMap=signed-bundle'],
          ...['--set-file', `policy.verificationKeys[0]=${join(dir, 'bad.pem')}`],
        ]),
        said,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Issue 18 §7 under Helm: policy.service.url turns bundle polling on. Variants: unset (the image's
 * bundle, no service, no download volume), set with default and with custom intervals (runner.yaml
 * polls that URL into a path under a mounted, writable emptyDir — a read-only image path would make
 * every download fail — and the runner's config schema reads the same seconds), set together with
 * bundleConfigMap (refused: one source), and URLs that are not http(s) (refused by the values schema).
 */
interface Mounted {
  spec?: {
    template?: {
      spec?: {
        volumes?: { name: string; emptyDir?: unknown }[];
        containers?: { volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
      };
    };
  };
}

test('policy.service: polled into a writable emptyDir when a URL is given; nothing when not; one bundle source; http(s) only', async () => {
  const cases: { args: string[]; url?: string; poll?: number; backoff?: number }[] = [
    { args: [] },
    {
      args: ['--set', 'policy.service.url=https://bundles.example.com/kubiya/bundle.tar.gz'],
      url: 'https://bundles.example.com/kubiya/bundle.tar.gz',
      poll: 30,
      backoff: 300,
    },
    {
      args: [
        '--set',
        'policy.service.url=http://10.0.0.5:8181/b.tar.gz',
        '--set',
        'policy.service.pollInterval=1m5s',
        '--set',
        'policy.service.maxBackoff=10m',
      ],
      url: 'http://10.0.0.5:8181/b.tar.gz',
      poll: 65,
      backoff: 600,
    },
  ];
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-chart-service-'));
  await writeFile(join(dir, 'k.pem'), pem());
  const withKey = ['--set-file', `policy.verificationKeys[0]=${join(dir, 'k.pem')}`];
  for (const c of cases) {
    const docs = parseAllDocuments(
      await renderChart(helm, [...CHART_TEST_TOKEN, ...c.args, ...(c.url !== undefined ? withKey : [])]),
    ).map((d) => d.toJS() as Omit<Doc, 'spec'> & Mounted);
    const runnerYaml = docs.find((d) => d.metadata?.name?.endsWith('-config'))?.data?.['runner.yaml'] ?? '';
    const config = loadConfig(runnerYaml, {});
    assert.ok(config.ok, JSON.stringify(!config.ok && config.error));
    const pod = docs.find((d) => d.kind === 'StatefulSet')?.spec?.template?.spec;
    const volume = pod?.volumes?.find((v) => v.name === 'policy-download');
    const mount = pod?.containers?.[0]?.volumeMounts?.find((m) => m.name === 'policy-download');
    if (c.url === undefined) {
      assert.equal(config.value.policy.service, undefined);
      assert.equal(config.value.policy.bundle, '/opt/kubiya/policy/bundle.tar.gz');
      assert.equal(volume, undefined);
      continue;
    }
    assert.deepEqual(config.value.policy.service, { url: c.url, pollInterval: c.poll, maxBackoff: c.backoff });
    assert.equal(config.value.policy.data, undefined, 'no settings overlay beside verification keys');
    assert.ok(volume?.emptyDir !== undefined, 'the download directory is an emptyDir');
    assert.ok(mount !== undefined && mount.readOnly !== true, 'mounted writable');
    assert.ok(config.value.policy.bundle.startsWith(`${mount.mountPath}/`), 'the bundle is written under the mount');
  }
  await assert.rejects(
    renderChart(helm, [
      ...CHART_TEST_TOKEN,
      ...withKey,
      ...['--set', 'policy.service.url=https://b.example/x', '--set', 'policy.bundleConfigMap=my-bundle'],
    ]),
    /exclusive/,
  );
  // A fail-open class refused at render: an unsigned bundle from a server (http or https); the
  // runner's config schema refuses it too.
  for (const url of ['http://b.example/x.tar.gz', 'https://b.example/x.tar.gz'])
    await assert.rejects(
      renderChart(helm, [...CHART_TEST_TOKEN, '--set', `policy.service.url=${url}`]),
      /needs policy.verificationKeys/,
    );
  await rm(dir, { recursive: true, force: true });
  for (const bad of ['ftp://b.example/x', 'file:///etc/passwd', 'https://b.example/a b', 'bundles.example.com']) {
    await assert.rejects(
      renderChart(helm, [...CHART_TEST_TOKEN, '--set', `policy.service.url=${bad}`]),
      /policy\/service\/url|service\.url/,
    );
  }
});
