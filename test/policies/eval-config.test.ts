import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { main } from '../../src/cli/main.ts';
import { DEFAULT_RESOURCES } from '../../src/pod/resources.ts';

// `policy eval` builds its pods as `serve` does: with runner.workflow.defaultResources from the
// runner's configuration (--config, environment overrides applied), else the schema's defaults.
// Before this, eval built pods with no defaults at all, so a step whose sidecar leaves its
// resources to the runner was "denied" by eval and allowed by serve.

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
let dir = '';
let bundle = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-eval-config-'));
  bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(dir, 'bundle.tar.gz'))).file;
  // The seed's sidecar form without its literal password: the sidecar declares no resources.
  await writeFile(
    join(dir, 'wf.yaml'),
    [
      'id: m',
      'name: m',
      'steps:',
      '  - name: migrate',
      '    image: migrate/migrate:v4.17.0',
      '    resources: { requests: { cpu: 100m, memory: 128Mi }, limits: { memory: 256Mi } }',
      '    sidecars:',
      '      - name: postgres',
      '        image: postgres:15',
      '',
    ].join('\n'),
  );
});
after(async () => rm(dir, { recursive: true, force: true }));

const base =
  'runner:\n  name: r1\n  workflow:\n    defaultResources: DEFAULTS\ncontrolPlane: { issuer: "https://cp", jwksFile: /j }\npolicy: { bundle: /b }\naudit: { dir: /a }\n';

async function evalWith(config: string | undefined, env: Record<string, string> = {}) {
  const args = ['policy', 'eval', join(dir, 'wf.yaml'), '--bundle', bundle, '--output', 'json'];
  if (config !== undefined) {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, config);
    args.push('--config', file);
  }
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, env);
  const report =
    code === 2
      ? undefined
      : (JSON.parse(out.join('\n')) as {
          steps: { allow: boolean; decision?: { violations: { code: string; path: string }[] } }[];
        });
  const codes = (report?.steps[0]?.decision?.violations ?? []).map((v) => `${v.code}@${v.path}`).sort();
  return { code, codes, err: err.join('\n') };
}

test("policy eval without --config: the schema's defaultResources bound the sidecar, as serve with no setting does", async () => {
  assert.ok(DEFAULT_RESOURCES.limits?.memory !== undefined, 'the runner has a default memory limit');
  const r = await evalWith(undefined);
  assert.deepEqual(r.codes, []);
  assert.equal(r.code, 0);
});

test("policy eval --config: the runner's own defaultResources decide (opted out → the bare sidecar is denied; over the cap → denied)", async () => {
  const none = await evalWith(base.replace('DEFAULTS', '{}'));
  assert.equal(none.code, 1);
  assert.ok(
    none.codes.some((c) => c.startsWith('RESOURCES_REQUEST_MISSING@pod.spec.initContainers[0]')),
    `the sidecar (a native sidecar: an init container) is unbounded: ${none.codes.join(', ')}`,
  );
  assert.ok(
    none.codes.every((c) => c.startsWith('RESOURCES_')),
    none.codes.join(', '),
  );

  const big = await evalWith(base.replace('DEFAULTS', '{ requests: { memory: 128Mi }, limits: { memory: 9Gi } }'));
  assert.equal(big.code, 1);
  assert.ok(
    big.codes.some((c) => c.startsWith('RESOURCES_MEMORY_OVER_CAP@')),
    big.codes.join(', '),
  );

  const same = await evalWith(base.replace('DEFAULTS', JSON.stringify(DEFAULT_RESOURCES)));
  assert.deepEqual(same.codes, []);
});

test('policy eval --config refuses a configuration serve would refuse (CONFIG_INVALID, exit 2): zero defaults, unreadable file', async () => {
  const zero = await evalWith(base.replace('DEFAULTS', '{ limits: { memory: "0" } }'));
  assert.equal(zero.code, 2);
  assert.match(zero.err, /^CONFIG_INVALID: /);
  assert.match(zero.err, /runner\.workflow\.defaultResources\.limits\.memory/);
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    ['policy', 'eval', join(dir, 'wf.yaml'), '--bundle', bundle, '--config', join(dir, 'missing.yaml')],
    { out: (l) => out.push(l), err: (l) => err.push(l), color: false },
    {},
  );
  assert.equal(code, 2);
  assert.match(err.join('\n'), /^CONFIG_INVALID: cannot read/);
});
