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
      const args: string[] = [];
      for (const [i, k] of keys.entries()) {
        await writeFile(join(dir, `k${i}.pem`), k);
        args.push('--set-file', `policy.verificationKeys[${i}]=${join(dir, `k${i}.pem`)}`);
      }
      const docs = parseAllDocuments(await renderChart(helm, args)).map((d) => d.toJS() as Doc);
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
    for (const bad of ['nope', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n']) {
      await writeFile(join(dir, 'bad.pem'), bad);
      await assert.rejects(
        renderChart(helm, ['--set-file', `policy.verificationKeys[0]=${join(dir, 'bad.pem')}`]),
        /\/policy\/verificationKeys\/0/,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
