import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import { buildPod } from '../../src/pod/build.ts';
import { validate } from '../../src/validate/validate.ts';
import { waitFor } from '../support/wait.ts';
import { apiStandIn, type ApiStandIn } from '../support/api-stand-in.ts';
/** serve's API server: a loopback stand-in (empty lists, quiet watches), started on first use. */
let api: ApiStandIn | undefined;
const standInKubeconfig = async (): Promise<string> => (api ??= await apiStandIn()).kubeconfig;
after(() => api?.close());

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
let work: string;
let original: string;
let candidate: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-reload-'));
  original = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'original.tar.gz'))).file;
  // The candidate differs only in data: gcr.io becomes an allowed registry.
  await cp(join(REPO_ROOT, 'policies'), join(work, 'policies'), { recursive: true });
  const dataFile = join(work, 'policies', 'data.json');
  const data = JSON.parse(await readFile(dataFile, 'utf8')) as {
    kubiya: { settings: { images: { allowedRegistries: string[] } } };
  };
  data.kubiya.settings.images.allowedRegistries.push('gcr.io');
  await writeFile(dataFile, JSON.stringify(data));
  candidate = (await buildBundle(tools.value.opa, join(work, 'policies'), join(work, 'candidate.tar.gz'))).file;
});
after(async () => rm(work, { recursive: true, force: true }));

const wf = validate({
  id: 'w',
  name: 'n',
  runId: 'r',
  steps: [
    {
      name: 's',
      image: 'gcr.io/distroless/static:nonroot',
      resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '1Gi' } },
    },
  ],
});
const allowed = (store: PolicyStore): boolean => {
  assert.ok(wf.ok);
  const step = wf.value.steps[0]!;
  return (
    evaluate(
      policyInput(
        'r',
        wf.value,
        step,
        buildPod(wf.value, step, { runner: 'r', namespace: 'n', serviceAccount: 's', defaultTimeoutSeconds: 60 }),
      ),
      store.current(),
    ).kind === 'allow'
  );
};

test('hot reload: a good bundle replaces the running one without a restart; a corrupt one is refused and the old one keeps deciding', async () => {
  const live = join(work, 'live', 'bundle.tar.gz');
  await cp(original, live);
  const events: string[] = [];
  const store = new PolicyStore(live, {
    loaded: (r) => events.push(`loaded ${r}`),
    rejected: (why) => events.push(`rejected ${why}`),
  });
  const first = await store.load();
  store.watch(100);
  try {
    assert.equal(allowed(store), false, 'gcr.io is not allowed by the original data');

    // Atomic replace, as a ConfigMap update or `mv` does.
    await cp(candidate, `${live}.tmp`);
    await rename(`${live}.tmp`, live);
    const deadline = Date.now() + 5000;
    while (store.current()?.revision === first.revision && Date.now() < deadline) await sleep(50);
    assert.notEqual(store.current()?.revision, first.revision, 'the new revision is live');
    assert.equal(allowed(store), true, 'and it decides');
    const good = store.current()?.revision;

    await writeFile(`${live}.tmp`, 'this is not a bundle');
    await rename(`${live}.tmp`, live);
    await waitFor('a rejection reported', () => events.some((e) => e.startsWith('rejected')), 5000);
    assert.ok(
      events.some((e) => e.startsWith('rejected')),
      `a rejection is reported: ${events.join('; ')}`,
    );
    assert.equal(store.current()?.revision, good, 'last-known-good stays');
    assert.equal(allowed(store), true, 'and keeps deciding');
    assert.equal(await store.reload(), 'unchanged', 'the same bad file is not retried in a loop');
  } finally {
    store.close();
  }
});

test('a missing bundle is refused at start (the runner does not start without a policy)', async () => {
  const store = new PolicyStore(join(work, 'nowhere'), { loaded: () => undefined, rejected: () => undefined });
  await assert.rejects(store.load());
});

test('settings from a separate data file (the Helm values) replace the bundle data, and reload when it changes', async () => {
  const dataFile = join(work, 'settings', 'data.json');
  await cp(join(REPO_ROOT, 'policies', 'data.json'), dataFile);
  const store = new PolicyStore(original, { loaded: () => undefined, rejected: () => undefined }, dataFile);
  const first = await store.load();
  assert.match(first.revision, /\+data-[0-9a-f]{8}$/, 'the revision names bundle and data');
  assert.equal(allowed(store), false);
  const data = JSON.parse(await readFile(dataFile, 'utf8')) as {
    kubiya: { settings: { images: { allowedRegistries: string[] } } };
  };
  data.kubiya.settings.images.allowedRegistries.push('gcr.io');
  await writeFile(`${dataFile}.tmp`, JSON.stringify(data));
  await rename(`${dataFile}.tmp`, dataFile);
  assert.equal(await store.reload(), 'swapped');
  assert.equal(allowed(store), true);
  await writeFile(`${dataFile}.tmp`, JSON.stringify({ kubiya: {} }));
  await rename(`${dataFile}.tmp`, dataFile);
  assert.equal(await store.reload(), 'rejected', 'a data file without settings is refused');
  assert.equal(allowed(store), true);
});

/**
 * Issue 14 §1: settings are checked by the one schema at start and on every reload. A wrongly
 * typed data file (the Helm values) is refused at start (serve: STARTUP_FAILED) and on reload
 * (POLICY_RELOAD_REJECTED: the last good settings keep deciding), whatever the variant.
 */
test('settings that break the schema: refused at start, and on reload the last good settings stay', async () => {
  const { WRONG_SETTINGS } = await import('../support/settings-variants.ts');
  const dataFile = join(work, 'typed', 'data.json');
  const good = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: Record<string, unknown> };
  };
  const withVariant = (over: unknown) => {
    if (typeof over !== 'object' || over === null || Array.isArray(over)) return { kubiya: { settings: over } };
    const settings: Record<string, unknown> = { ...good.kubiya.settings };
    for (const [k, v] of Object.entries(over))
      settings[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(settings[k] as object), ...v } : v;
    return { kubiya: { settings } };
  };

  await cp(join(REPO_ROOT, 'policies', 'data.json'), dataFile);
  await writeFile(dataFile, JSON.stringify(withVariant({ egress: { allowAnyDestination: 'false' } })));
  const refused = new PolicyStore(original, { loaded: () => undefined, rejected: () => undefined }, dataFile);
  await assert.rejects(refused.load(), /POLICY_SETTINGS_INVALID.*kubiya\.settings\.egress\.allowAnyDestination/);

  await writeFile(dataFile, JSON.stringify(good));
  const reasons: string[] = [];
  const store = new PolicyStore(original, { loaded: () => undefined, rejected: (r) => reasons.push(r) }, dataFile);
  const first = await store.load();
  let n = 0;
  for (const variant of WRONG_SETTINGS) {
    await writeFile(`${dataFile}.tmp`, JSON.stringify(withVariant(variant.settings)));
    await rename(`${dataFile}.tmp`, dataFile);
    assert.equal(await store.reload(), 'rejected', variant.name);
    assert.equal(store.current()?.revision, first.revision, `${variant.name}: the last good settings stay`);
    assert.match(reasons.at(-1) ?? '', /^POLICY_SETTINGS_INVALID/, variant.name);
    n++;
  }
  assert.equal(n, WRONG_SETTINGS.length);
  assert.equal(allowed(store), false, 'and keep deciding (gcr.io is still not allowed)');
  // The settings the masking reads are the ones the engine decides with, swapped together.
  assert.deepEqual(store.currentSettings(), good.kubiya.settings);
  assert.ok(Object.isFrozen(store.currentSettings()));
  const wider = structuredClone(good);
  (wider.kubiya.settings.images as { allowedRegistries: string[] }).allowedRegistries.push('gcr.io');
  await writeFile(`${dataFile}.tmp`, JSON.stringify(wider));
  await rename(`${dataFile}.tmp`, dataFile);
  assert.equal(await store.reload(), 'swapped');
  assert.deepEqual(store.currentSettings(), wider.kubiya.settings);
  assert.equal(allowed(store), true);
});

test("a bundle built by policy build carries its settings schema; the runner checks the bundle's own data with it", async () => {
  const { readBundle } = await import('../../src/adapters/opa-wasm.ts');
  const bundle = await readBundle(original);
  const schema = bundle.settingsSchema as { properties?: Record<string, unknown>; additionalProperties?: unknown };
  assert.equal(schema.additionalProperties, false);
  assert.ok(schema.properties?.egress !== undefined && schema.properties.enforcement !== undefined);
});

test('serve whose policy settings break the schema exits 2 with STARTUP_FAILED naming the setting, before listening', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const dir = join(work, 'serve-bad-settings');
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: { enforcement: Record<string, string> } };
  };
  data.kubiya.settings.enforcement.IMAGE_TAG_NOT_PINNED = 'dryrun';
  await cp(join(REPO_ROOT, 'policies', 'data.json'), join(dir, 'data.json'));
  await writeFile(join(dir, 'data.json'), JSON.stringify(data));
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
    `runner: { name: r }\ncontrolPlane: { issuer: x, jwksFile: ${join(dir, 'jwks.json')} }\npolicy: { bundle: ${original}, data: ${join(dir, 'data.json')} }\naudit: { dir: ${join(dir, 'audit')} }\nkubernetes: { kubeconfig: ${join(dir, 'kubeconfig')} }\nserver: { port: 0, host: 127.0.0.1 }\n`,
  );
  const result = await promisify(execFile)(
    process.execPath,
    [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', file],
    { timeout: 20_000, env: { PATH: process.env.PATH ?? '' } },
  ).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /STARTUP_FAILED: POLICY_SETTINGS_INVALID: .*kubiya\.settings\.enforcement\.IMAGE_TAG_NOT_PINNED/,
  );
});
