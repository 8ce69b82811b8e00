import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { renderBakedSettings } from '../../src/adapters/chart-settings.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { writeTarGz } from '../../src/adapters/bundle-tar.ts';
import { readBundle, readTarGz } from '../../src/adapters/opa-wasm.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { keyId } from '../../src/audit/keys.ts';
import { startServe } from '../support/serve-process.ts';
import { main } from '../../src/cli/main.ts';
import { ENV_OVERRIDES } from '../../src/config/load.ts';
import { verifyBundleFiles } from '../../src/policy/bundle-signature.ts';
import { apiStandIn, type ApiStandIn } from '../support/api-stand-in.ts';
/** serve's API server: a loopback stand-in (empty lists, quiet watches), started on first use. */
let api: ApiStandIn | undefined;
const standInKubeconfig = async (): Promise<string> => (api ??= await apiStandIn()).kubeconfig;
after(() => api?.close());

/**
 * Red-team 2026-11-30, finding 1. The class: **a setting that changes a decision but is not
 * covered by the bundle signature**. With verification keys, the settings a runner decides with
 * come from the signed bundle only. Every path by which settings can enter, and what closes it:
 *
 * | path                                                       | closed by                                              | test                       |
 * |------------------------------------------------------------|--------------------------------------------------------|----------------------------|
 * | `policy.data` file at start (chart ConfigMap, by hand)      | PolicyStore refuses a non-empty overlay: POLICY_SETTINGS_UNSIGNED; serve exits 2 with it | "at start", "serve" |
 * | `policy.data` file changed while running (ConfigMap edit)   | reload rejected, last good kept, reason names the code  | "on reload"                |
 * | Helm `policy.settings` → `<release>-policy-data`           | chart fails at render; no ConfigMap, mount or `policy.data` with keys | test/chart/policy-verification.test.ts |
 * | `policy eval|replay|test --data` with --verification-key   | POLICY_SETTINGS_UNSIGNED, exit 2                        | "the CLI"                  |
 * | `policy eval|replay|test --values` (settings) with keys    | POLICY_SETTINGS_UNSIGNED, exit 2 (values without settings: runner config only) | "the CLI" |
 * | data.json/data.yaml nested in a bundle (OPA merges them)   | refused by the bundle reader (only the root data.json is read) | "nested data"        |
 * | environment overrides                                      | none maps to policy.data / verificationKeys             | "environment"              |
 * | settings baked by `policy build --values` then edited       | covered by the signature: POLICY_BUNDLE_SIGNATURE_INVALID | "baked"                  |
 * | bundle service download                                    | the same PolicyStore checks (signature, overlay)        | test/policies/bundle-server.test.ts |
 *
 * The reported example: a signed bundle that denies `trivy:latest`, with `--data weak.json`
 * (`enforcement: {IMAGE_TAG_NOT_PINNED: audit}`), allowed it.
 */
const run = promisify(execFile);
const tools = resolveTools(['opa', 'helm']);
if (!tools.ok) throw new Error(tools.error.message);
const { opa, helm } = tools.value;
const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
let work: string;
let signed: string;
let revision: string;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Overlays that change something (refused, POLICY_SETTINGS_UNSIGNED) or are malformed (POLICY_SETTINGS_INVALID). */
const OVERLAYS: readonly { name: string; text: string; code: string }[] = [
  {
    name: 'the reported example: a deny downgraded to audit',
    text: '{"kubiya":{"settings":{"enforcement":{"IMAGE_TAG_NOT_PINNED":"audit"}}}}',
    code: 'POLICY_SETTINGS_UNSIGNED',
  },
  {
    name: 'a registry list replaced',
    text: '{"kubiya":{"settings":{"images":{"allowedRegistries":["evil.example"]}}}}',
    code: 'POLICY_SETTINGS_UNSIGNED',
  },
  {
    name: 'a deny list emptied',
    text: '{"kubiya":{"settings":{"images":{"deniedImages":[]}}}}',
    code: 'POLICY_SETTINGS_UNSIGNED',
  },
  {
    name: 'egress opened',
    text: '{"kubiya":{"settings":{"egress":{"allowAnyDestination":true}}}}',
    code: 'POLICY_SETTINGS_UNSIGNED',
  },
  {
    name: 'an empty section (no effect, still refused)',
    text: '{"kubiya":{"settings":{"images":{}}}}',
    code: 'POLICY_SETTINGS_UNSIGNED',
  },
  {
    name: 'a key the schema refuses',
    text: '{"kubiya":{"settings":{"__proto__":{"x":1}}}}',
    code: 'POLICY_SETTINGS_UNSIGNED',
  },
  { name: 'settings that are a list', text: '{"kubiya":{"settings":[]}}', code: 'POLICY_SETTINGS_INVALID' },
  { name: 'settings null', text: '{"kubiya":{"settings":null}}', code: 'POLICY_SETTINGS_INVALID' },
  { name: 'no kubiya.settings', text: '{}', code: 'POLICY_SETTINGS_INVALID' },
  { name: 'not JSON', text: '{"kubiya":', code: 'POLICY_SETTINGS_INVALID' },
];
const EMPTY = '{"kubiya":{"settings":{}}}';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-signed-settings-'));
  await writeFile(join(work, 'signing.pem'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(join(work, 'public.pem'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
  const built = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'signed.tar.gz'), {
    signingKey: pair.privateKey,
  });
  signed = built.file;
  revision = built.revision;
});
after(() => rm(work, { recursive: true, force: true }));

const hooks = (reasons: string[] = []) => ({ loaded: () => undefined, rejected: (r: string) => reasons.push(r) });

test('at start: a verifying runner refuses every non-empty settings overlay with its code; the empty one changes nothing', async () => {
  const opts = { verificationKeys: [pair.publicKey] };
  for (const o of OVERLAYS) {
    const file = join(work, `overlay-${OVERLAYS.indexOf(o)}.json`);
    await writeFile(file, o.text);
    await assert.rejects(new PolicyStore(signed, hooks(), file, opts).load(), { code: o.code }, o.name);
    // without keys the old behaviour stands: an overlay that passes the schema is laid over
    if (o.name.startsWith('the reported example'))
      assert.match((await new PolicyStore(signed, hooks(), file).load()).revision, /\+data-/);
  }
  await writeFile(join(work, 'empty.json'), EMPTY);
  const engine = await new PolicyStore(signed, hooks(), join(work, 'empty.json'), opts).load();
  assert.equal(engine.revision, revision, 'an empty overlay is no overlay: the bundle revision');
});

test('on reload: a settings file edited under a verifying runner is refused, the last good settings stay', async () => {
  const data = join(work, 'reload', 'data.json');
  await mkdir(join(work, 'reload'), { recursive: true });
  await writeFile(data, EMPTY);
  const reasons: string[] = [];
  const store = new PolicyStore(signed, hooks(reasons), data, { verificationKeys: [pair.publicKey] });
  const first = await store.load();
  const settings = store.currentSettings();
  for (const o of OVERLAYS) {
    await writeFile(`${data}.new`, o.text);
    await rename(`${data}.new`, data);
    assert.equal(await store.reload(), 'rejected', o.name);
    assert.match(reasons.at(-1) ?? '', new RegExp(`^${o.code}: `), o.name);
    assert.equal(store.current()?.revision, first.revision, `${o.name}: last good bundle`);
    assert.equal(store.currentSettings(), settings, `${o.name}: last good settings`);
  }
});

/** `serve` with this policy block (`data.json` and `signing.pem` in its directory): its exit code and stderr. */
async function serve(
  name: string,
  policy: (dir: string) => string,
  timeout = 20_000,
): Promise<{ code: number; stderr: string; stdout: string }> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'data.json'), OVERLAYS[0]!.text);
  await writeFile(
    join(dir, 'jwks.json'),
    JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
    }),
  );
  await writeFile(join(dir, 'kubeconfig'), await standInKubeconfig());
  const file = join(dir, 'runner.yaml');
  await writeFile(
    file,
    `runner: { name: r }\ncontrolPlane: { issuer: x, jwksFile: ${join(dir, 'jwks.json')} }\npolicy: ${policy(dir)}\naudit: { dir: ${join(dir, 'audit')} }\nkubernetes: { kubeconfig: ${join(dir, 'kubeconfig')} }\nserver: { port: 0, host: 127.0.0.1 }\n`,
  );
  return run(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', file], {
    timeout,
    env: { PATH: process.env.PATH ?? '' },
  }).then(
    () => ({ code: 0, stderr: '', stdout: '' }),
    (e: { code: number; stderr: string; stdout: string }) => e,
  );
}

test('serve with verification keys and a settings overlay exits 2 with POLICY_SETTINGS_UNSIGNED, before listening', async () => {
  const result = await serve(
    'serve',
    (dir) => `{ bundle: ${signed}, data: ${join(dir, 'data.json')}, verificationKeys: [${join(work, 'public.pem')}] }`,
  );
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^POLICY_SETTINGS_UNSIGNED: .*data\.json sets kubiya\.settings \("enforcement"\)/m);
  assert.doesNotMatch(result.stderr, /POLICY_SETTINGS_UNSIGNED: POLICY_SETTINGS_UNSIGNED/);
});

test('serve names the key that verified its bundle: in the load log line and in /ready, among several trusted keys (red-team round 3, finding 4)', async () => {
  const dir = join(work, 'serve-kid');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'jwks.json'),
    JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
    }),
  );
  await writeFile(join(dir, 'kubeconfig'), await standInKubeconfig());
  // A second trusted key, listed first, that did not sign the bundle.
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  await writeFile(join(dir, 'other.pem'), other.export({ type: 'spki', format: 'pem' }));
  const runner = await startServe(
    {
      runner: { name: 'r' },
      controlPlane: { issuer: 'x', jwksFile: join(dir, 'jwks.json') },
      policy: { bundle: signed, verificationKeys: [join(dir, 'other.pem'), join(work, 'public.pem')] },
      audit: { dir: join(dir, 'audit') },
      kubernetes: { kubeconfig: join(dir, 'kubeconfig') },
      server: { port: 0, host: '127.0.0.1' },
    },
    dir,
  );
  try {
    const loaded = runner.lines.find((l) => String(l.message).startsWith('policy bundle loaded'));
    assert.ok(loaded, JSON.stringify(runner.lines));
    assert.deepEqual(loaded.verificationKeyIds, [keyId(other), keyId(pair.publicKey)]);
    assert.equal(loaded.keyid, keyId(pair.publicKey), 'the key that verified it, not the first trusted one');
    assert.equal(loaded.message, 'policy bundle loaded, signature verified');
    const ready = (await (await fetch(`${runner.base}/ready`)).json()) as {
      checks: { policy: { ok: boolean; detail: string; keyid?: string } };
    };
    assert.equal(ready.checks.policy.ok, true);
    assert.equal(ready.checks.policy.detail, loaded.revision);
    assert.equal(ready.checks.policy.keyid, keyId(pair.publicKey));
  } finally {
    runner.child.kill('SIGTERM');
    await runner.exited;
  }
});

test('serve with a PRIVATE key among its verification keys exits 2 with POLICY_KEY_PRIVATE, the key not printed (finding 6)', async () => {
  const result = await serve(
    'serve-private',
    () => `{ bundle: ${signed}, verificationKeys: [${join(work, 'signing.pem')}] }`,
  );
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^POLICY_KEY_PRIVATE: .*signing\.pem holds a PRIVATE key/m);
  const body = (pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).split('\n')[1]!;
  assert.ok(!result.stderr.includes(body.slice(0, 24)), 'the key is not printed');
});

test('the CLI with --verification-key behaves like that runner: --data and --values settings are refused, --values without settings is the runner config', async () => {
  const step = join(REPO_ROOT, 'examples', 'denied', 'trivy-latest.yaml');
  const key = ['--verification-key', join(work, 'public.pem')];
  await mkdir(join(work, 'empty-audit'), { recursive: true });
  await writeFile(join(work, 'weak.json'), OVERLAYS[0]!.text);
  await writeFile(
    join(work, 'weak-values.yaml'),
    'policy:\n  settings:\n    enforcement:\n      IMAGE_TAG_NOT_PINNED: audit\n',
  );
  await writeFile(join(work, 'plain-values.yaml'), 'runner:\n  name: production-runner\n');
  // the reported example, regression: denied signed, and no overlay gets it allowed
  const plain = await cli('policy', 'eval', step, '--bundle', signed, ...key);
  assert.equal(plain.code, 1);
  assert.match(plain.out, /IMAGE_TAG_NOT_PINNED/);
  const unsignedLike = await cli('policy', 'eval', step, '--bundle', signed, '--data', join(work, 'weak.json'));
  assert.equal(unsignedLike.code, 0, 'without keys the overlay applies (as an unverifying runner)');
  const sources = [
    ['--data', join(work, 'weak.json')],
    ['--values', join(work, 'weak-values.yaml')],
  ];
  const commands = [
    ['policy', 'eval', step, '--bundle', signed],
    ['policy', 'replay', '--audit', join(work, 'empty-audit'), '--bundle', signed],
    ['policy', 'test', '--policies', join(REPO_ROOT, 'policies'), '--bundle', signed],
  ];
  for (const command of commands)
    for (const source of sources) {
      const r = await cli(...command, ...source, ...key);
      assert.equal(r.code, 2, `${command[1]} ${source[0]}: ${r.err}`);
      assert.match(r.err, /^POLICY_SETTINGS_UNSIGNED: .*policy build --values/, `${command[1]} ${source[0]}`);
    }
  const config = await cli(
    'policy',
    'eval',
    step,
    '--bundle',
    signed,
    '--values',
    join(work, 'plain-values.yaml'),
    ...key,
  );
  assert.equal(config.code, 1, config.err);
  assert.match(config.out, new RegExp(`policy revision ${revision}\\b`));
});

test('nested data: a bundle carrying data.json or data.yaml below its root is refused (OPA would merge it; this runner would not)', async () => {
  const files = await readTarGz(signed);
  for (const name of ['kubiya/settings/data.json', 'kubiya/data.yaml', 'x/data.yml']) {
    const changed = new Map(files);
    changed.set(name, Buffer.from('{"enforcement": {"IMAGE_TAG_NOT_PINNED": "audit"}}'));
    await writeTarGz(join(work, 'nested.tar.gz'), changed);
    await assert.rejects(readBundle(join(work, 'nested.tar.gz')), /only the root data\.json is read/, name);
  }
});

test('environment: no override reaches the settings file or the verification keys', () => {
  for (const [name, path] of Object.entries(ENV_OVERRIDES))
    assert.ok(!(path[0] === 'policy' && path[1] !== 'bundle'), `${name} sets ${path.join('.')}`);
});

test('baked: the settings render whatever the values say about the bundle source, its keys and its token', async () => {
  const pem = (pair.publicKey.export({ type: 'spki', format: 'pem' }) as string).replaceAll('\n', '\n      ');
  const settings = '  settings:\n    images:\n      deniedImages: [docker.io/library/evil]\n';
  const variants = [
    `policy:\n${settings}`,
    `policy:\n  bundleConfigMap: b\n  verificationKeys:\n    - |\n      ${pem.trimEnd()}\n${settings}`,
    `policy:\n  service:\n    url: https://b.example/x.tar.gz\n    bearerTokenSecret: { name: t }\n  verificationKeys:\n    - |\n      ${pem.trimEnd()}\n${settings}`,
  ];
  const texts = new Set<string>();
  for (const [i, v] of variants.entries()) {
    await writeFile(join(work, `bake-${i}.yaml`), v);
    texts.add(await renderBakedSettings(helm, [join(work, `bake-${i}.yaml`)]));
  }
  assert.deepEqual([...texts], ['{"kubiya":{"settings":{"images":{"deniedImages":["docker.io/library/evil"]}}}}']);
});

test('baked: policy build --values puts the chart-rendered settings under the signature', async () => {
  await writeFile(
    join(work, 'team-values.yaml'),
    'policy:\n  settings:\n    images:\n      deniedImages: [docker.io/library/evil]\n',
  );
  const out = join(work, 'baked.tar.gz');
  const built = await cli(
    ...['policy', 'build', '--policies', join(REPO_ROOT, 'policies'), '--out', out, '--output', 'json'],
    ...['--signing-key', join(work, 'signing.pem'), '--values', join(work, 'team-values.yaml')],
  );
  assert.equal(built.code, 0, built.err);
  const { revision: baked } = JSON.parse(built.out) as { revision: string };
  assert.match(baked, new RegExp(`^${revision}\\+data-[0-9a-f]{8}$`));
  const bundle = await readBundle(out);
  assert.equal(bundle.revision, baked, '.manifest carries the baked revision');
  assert.deepEqual(
    (bundle.data as { kubiya: { settings: { images: { deniedImages: string[] } } } }).kubiya.settings.images
      .deniedImages,
    ['docker.io/library/evil'],
  );
  const files = await readTarGz(out);
  assert.ok((await verifyBundleFiles(files, [pair.publicKey])).ok);
  const edited = new Map(files);
  edited.set('data.json', Buffer.from(JSON.stringify({ kubiya: { settings: {} } })));
  const r = await verifyBundleFiles(edited, [pair.publicKey]);
  assert.equal(!r.ok && r.error.code, 'POLICY_BUNDLE_SIGNATURE_INVALID');
  // the same values as an overlay on the unbaked bundle decide the same, under the same revision
  const evil = join(work, 'evil.yaml');
  await writeFile(
    evil,
    'name: e\nimage: docker.io/library/evil:1\nresources: { requests: { cpu: 100m, memory: 64Mi }, limits: { memory: 64Mi } }\n',
  );
  const viaOverlay = await cli(
    'policy',
    'eval',
    evil,
    '--bundle',
    signed,
    '--values',
    join(work, 'team-values.yaml'),
    '--output',
    'json',
  );
  const viaBaked = await cli(
    'policy',
    'eval',
    evil,
    '--bundle',
    out,
    '--verification-key',
    join(work, 'public.pem'),
    '--output',
    'json',
  );
  const a = JSON.parse(viaOverlay.out) as { revision: string; steps: unknown[] };
  const b = JSON.parse(viaBaked.out) as { revision: string; steps: unknown[] };
  assert.equal(a.revision, b.revision);
  assert.deepEqual(a.steps, b.steps);
  assert.match(viaBaked.out, /IMAGE_DENIED/);
  // the bundle written when a bake fails is removed: no unsigned, unbaked bundle is left at --out
  await writeFile(join(work, 'bad.json'), '{"kubiya": {"settings": []}}');
  const bad = await cli(
    ...['policy', 'build', '--policies', join(REPO_ROOT, 'policies'), '--out', join(work, 'bad.tar.gz')],
    ...['--data', join(work, 'bad.json')],
  );
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^POLICY_SETTINGS_INVALID: /);
  await assert.rejects(cp(join(work, 'bad.tar.gz'), join(work, 'x')));
});
