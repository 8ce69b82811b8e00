/**
 * The Rego rewritten for speed in issue #20's third round (branch h-rego) decides exactly as the
 * Rego it replaced: the whole decision (allow, every violation's code, path, message and action,
 * egress), through the compiled WASM, on generated pods and settings.
 *
 * The class: a rewrite that computes a value once per evaluation instead of once per use, or turns
 * a function's bodies into an `else` chain (WASM evaluates every body of a function on each call),
 * can change what a rule sees: an unparseable or zero quantity, a container that is both an init
 * container and a sidecar, a cap that does not parse or is absent, a requirement list that is not
 * an array or names a resource no cap has, an image or entry one body of a chain refused. The
 * variants: quantities of every kind (zero spellings, suffixes, numbers, garbage, null, objects,
 * huge counts), resources that are not objects, restartPolicy values, caps of every type,
 * requirement lists with numbers and unknown names; image references and allow/deny entries with
 * registries, ports, case, separators, docker.io aliases and non-ASCII; egress destinations and
 * allowed entries (hosts, globs, CIDRs of both families, ports, malformed entries); env values,
 * names and command words with and without credentials (the secrets prefilter's keywords, their
 * folded spellings, split over two words), with the default patterns, an operator's pattern, an
 * anchored one and an invalid one.
 *
 * The oracle: test/policies/rego-before-rewrite/h-rego/ holds the files as they were at 9fd7f51
 * (same paths as under policies/); the test builds policies/ once as it is and once with those
 * files in place, and compares the two bundles' decisions.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import fc from 'fast-check';
import { buildBundle } from '../../src/adapters/opa-cli.ts';
import { readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { DECISION_ENTRYPOINT } from '../../src/evaluate/policy-engine.ts';
import { AWS_KEY_ID, GITHUB_TOKEN, JWT, PEM, SLACK } from '../support/credentials.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
const ORACLE = join(REPO_ROOT, 'test', 'policies', 'rego-before-rewrite', 'h-rego');

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);

const QUANTITIES: readonly unknown[] = [
  ...['0', '0Mi', '0.0', '00', '0m', '100m', '250m', '4000m', '4001m', '1', '1.5', '4', '5', '.5', '1.', '1e3', '-1'],
  ...['128Mi', '1Gi', '8Gi', '8192Mi', '9Gi', '20Gi', '21Gi', '1G', '1k', '1Ki', '1Ei', '9Ei', '1Mi1', 'lots', ''],
  ...[0, 1, 4, 4.5, 8589934592, 1e30, -1, null, true, [], {}, '１', 'Gi', 'm', '1 Gi', '1gi'],
];
const KEYS = ['cpu', 'memory', 'ephemeral-storage', 'nvidia.com/gpu'];
const quantityMap = fc.dictionary(pick(KEYS), pick(QUANTITIES), { maxKeys: 4 });
const resources = fc.oneof(
  { weight: 6, arbitrary: fc.record({ requests: quantityMap, limits: quantityMap }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: pick<unknown>(['1Gi', [], null, { requests: ['1'], limits: '1Gi' }]) },
);

const IMAGES = [
  'python:3.11-slim',
  'postgres:15',
  'ghcr.io/acme/tool:1',
  'ghcr.io/acme-tools/x:1',
  'GHCR.IO/acme/tool:1',
  'index.docker.io/library/alpine:3',
  'registry-1.docker.io/acme/x:2',
  'docker.io/library/alpine:latest',
  'localhost:5000/x:1',
  'localhost/x:1',
  'Registry/app:1',
  'quay.io:443/x:1',
  'quay.io/a..b/c:1',
  'quay.io/a__b/c-d:1',
  'quay.io/a___b/c:1',
  'registry.k8s.io/pause:3.9',
  'docker.io.evil.com/x:1',
  'alpine',
  'ａlpine:1',
  'ghcr.io/acme/tool@sha256:' + '0'.repeat(64),
  '',
];
const ENTRIES: readonly unknown[] = [
  'docker.io',
  'ghcr.io',
  'ghcr.io/acme',
  'GHCR.IO',
  'ghcr.io/Acme',
  'index.docker.io/library',
  'docker.io/library',
  'Docker.IO/library',
  'library',
  'alpine',
  'acme/tool',
  'localhost',
  'localhost:5000',
  'quay.io:443',
  'quay.io:0443',
  'quay.io:65536',
  'registry.k8s.io',
  'a..b',
  'a_.b',
  'ghcr.io/',
  '/x',
  'ghcr.io/acme:1',
  '*.io',
  'ｇhcr.io',
  '',
  7,
  null,
];

const VALUES = [
  'up',
  'https://user:hunter2@example.com/x',
  'https://example.com/x',
  `Authorization: Bearer ${'a'.repeat(20)}`,
  AWS_KEY_ID,
  GITHUB_TOKEN,
  JWT,
  SLACK,
  PEM,
  'password=hunter2',
  'PASSWORD',
  '--password',
  'hunter2',
  'mysql',
  '-phunter2',
  'ſecret=x',
  'TOKEN',
  '',
];
const ENV_NAMES = ['MODE', 'DB_PASSWORD', 'GH_TOKEN', 'API_KEY', 'KEYBOARD', 'ſECRET', 'pat', 'SESSION_COOKIE'];
const env = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  {
    weight: 1,
    arbitrary: fc.dictionary(
      pick(ENV_NAMES),
      fc.oneof(
        pick<unknown>(VALUES),
        pick([{ secretRef: { secret: 'aws-credentials', key: 'k' } }, { secretRef: { secret: 'other', key: 'k' } }]),
      ),
      { maxKeys: 3 },
    ),
  },
);
// Mostly clean (an allowed decision is reachable), sometimes a credential.
const words = fc.oneof(
  { weight: 3, arbitrary: pick([[], ['up'], ['migrate', 'up']]) },
  { weight: 1, arbitrary: fc.array(pick(VALUES), { maxLength: 3 }) },
);

const container = (name: string) =>
  fc.record(
    {
      name: fc.constant(name),
      image: pick(IMAGES),
      restartPolicy: pick<unknown>(['Always', 'Never', 'always', null]),
      resources,
      env,
      command: words,
      args: words,
    },
    { requiredKeys: ['name', 'image'] },
  );

const HOSTS = [
  'api.github.com',
  'API.GitHub.com',
  's3.amazonaws.com',
  'a.b.amazonaws.com',
  'amazonaws.com',
  '*.amazonaws.com',
  'evil.com',
  'a_b.com',
  '10.0.0.1',
];
const CIDRS = [
  '10.0.0.0/8',
  '10.0.0.1/8',
  '0.0.0.0/0',
  '::/0',
  'fd00::/8',
  'fd00::1/8',
  '010.0.0.0/8',
  '2001:db8::/32',
];
const destination = fc.oneof(
  fc.record({ host: pick(HOSTS), ports: fc.array(pick([443, 80, 5432]), { maxLength: 2 }) }),
  fc.record({ cidr: pick(CIDRS), ports: fc.array(pick([443, 80, 5432]), { maxLength: 2 }) }),
);
const ALLOWED: readonly unknown[] = [
  { host: 'api.github.com', ports: [443] },
  { host: '*.amazonaws.com', ports: [443] },
  { host: '*.amazonaws.com', ports: [443, 80], cidrs: ['10.0.0.0/8'] },
  { host: 'API.GITHUB.COM', ports: [443] },
  { cidr: '10.0.0.0/8', ports: [443, 5432] },
  { cidr: 'fd00::/8', ports: [443] },
  { cidr: '10.0.0.1/8', ports: [443] },
  { host: 'a_b.com', ports: [443] },
  { host: 'x.com', cidr: '10.0.0.0/8', ports: [443] },
  { host: 'x.com', ports: [443], cidrs: ['fd00::1/8'] },
  'api.github.com',
];
const VALUE_PATTERNS: readonly unknown[] = [
  { id: 'mine', pattern: 'hunter[0-9]' },
  { id: 'anchored', pattern: '\\Ahunter' },
  { id: 'broken', pattern: '(' },
  { id: 7, pattern: 'x' },
];

const input = fc
  .tuple(
    container('main'),
    fc.array(container('side'), { maxLength: 2 }),
    fc.array(container('init'), { maxLength: 2 }),
    fc.array(container('extra'), { maxLength: 1 }),
    fc.oneof(
      { weight: 2, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(destination, { maxLength: 3 }) },
    ),
  )
  .map(([m, sides, inits, extra, egress]) => ({
    runner: 'r',
    workflow: { id: 'w', name: 'w', runId: 'run', volumes: [] },
    step: {
      name: 's',
      image: m.image,
      resources: m.resources,
      env: m.env,
      command: m.command,
      args: m.args,
      sidecars: sides,
      initContainers: inits,
      egress,
    },
    pod: { spec: { containers: [m, ...extra], initContainers: [...inits, ...sides] } },
    attempt: 1,
  }));

const requirement = pick<unknown>([[], ['cpu', 'memory'], ['memory'], ['cpu', 0, 'nvidia.com/gpu'], 'cpu', null]);
const cap = (dflt: string) => pick<unknown>([dflt, '1', '500m', 4, 'eight', '', '1Gi', undefined]);
const settingsOf = fc
  .record({
    requireRequests: requirement,
    requireLimits: requirement,
    maxCpu: cap('4'),
    maxMemory: cap('8Gi'),
    maxEphemeralStorage: cap('20Gi'),
    allowed: fc.array(pick(ENTRIES), { maxLength: 5 }),
    denied: fc.array(pick(ENTRIES), { maxLength: 2 }),
    egress: fc.oneof(
      { weight: 1, arbitrary: fc.constant(ALLOWED.slice(0, 2)) },
      { weight: 2, arbitrary: fc.array(pick(ALLOWED), { maxLength: 4 }) },
    ),
    patterns: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(pick(VALUE_PATTERNS), { maxLength: 2 }) },
    ),
    anyDestination: fc.boolean(),
  })
  .map((s) => ({
    resources: Object.fromEntries(
      Object.entries({
        requireRequests: s.requireRequests,
        requireLimits: s.requireLimits,
        maxCpu: s.maxCpu,
        maxMemory: s.maxMemory,
        maxEphemeralStorage: s.maxEphemeralStorage,
        maxGpu: 1,
      }).filter(([, v]) => v !== undefined),
    ),
    images: { allowedRegistries: s.allowed, deniedImages: s.denied, requireDigest: false },
    egress: { allowed: s.egress, allowAnyDestination: s.anyDestination, allowWildcardHosts: false },
    patterns: s.patterns,
  }));

const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const MAIN = { name: 'main', image: 'python:3.11-slim', resources: R, env: {}, command: ['up'], args: [] };
const CLEAN = {
  runner: 'r',
  workflow: { id: 'w', name: 'w', runId: 'run', volumes: [] },
  step: { ...MAIN, name: 's', sidecars: [], initContainers: [], egress: [] },
  pod: { spec: { containers: [MAIN], initContainers: [] } },
  attempt: 1,
};

/**
 * A decision with its violations in one order (a set's order is the engine's), or the error the
 * evaluation threw (src/evaluate makes it POLICY_EVAL_ERROR: fail closed): both sides must throw alike.
 */
const outcome = (policy: LoadedPolicy, x: unknown): unknown => {
  let result: unknown;
  try {
    result = policy.evaluate(x, DECISION_ENTRYPOINT);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  const r = (result as { result: { violations: unknown[] } }[])[0]!.result;
  return { ...r, violations: r.violations.map((v) => JSON.stringify(v)).sort() };
};

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

describe('Rego rewritten in h-rego decides as the Rego it replaced (whole decisions, compiled WASM)', () => {
  let work: string;
  let now: LoadedPolicy;
  let was: LoadedPolicy;
  let data: Record<string, unknown>;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-rego-h-rego-'));
    const old = join(work, 'old');
    await cp(join(REPO_ROOT, 'policies'), old, { recursive: true });
    for (const f of await files(ORACLE)) await cp(f, join(old, relative(ORACLE, f)));
    const bundleNow = await readBundle(
      (await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'now.tar.gz'))).file,
    );
    const bundleWas = await readBundle((await buildBundle(opa, old, join(work, 'was.tar.gz'))).file);
    now = await loadPolicy(bundleNow.wasm);
    was = await loadPolicy(bundleWas.wasm);
    data = bundleNow.data as Record<string, unknown>;
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('the oracle differs from the policy (the rewritten files were replaced)', async () => {
    const oracle = await files(ORACLE);
    assert.ok(oracle.length >= 2, oracle.join(', '));
  });

  test('generated pods and settings: the same decision, message for message', () => {
    // The bundle's own settings first, with a step they allow among its inputs: an allow is compared too.
    const settings = [undefined, ...fc.sample(settingsOf, { numRuns: 39, seed: 2020 })];
    const inputs = [CLEAN, ...fc.sample(input, { numRuns: 1199, seed: 2021 })];
    const seen = new Set<string>();
    let allowed = 0;
    let errors = 0;
    for (const [i, s] of settings.entries()) {
      const kubiya = data['kubiya'] as { settings: Record<string, unknown> };
      const { patterns, ...sections } = s ?? { patterns: [] };
      const secrets = kubiya.settings['secrets'] as { credentials: { envNames: unknown[]; values: unknown[] } };
      const credentials = { ...secrets.credentials, values: [...secrets.credentials.values, ...patterns] };
      const d = {
        kubiya: { ...kubiya, settings: { ...kubiya.settings, ...sections, secrets: { ...secrets, credentials } } },
      };
      now.setData(d);
      was.setData(d);
      for (const x of inputs.slice(i * 30, i * 30 + 30)) {
        const a = outcome(now, x);
        assert.deepEqual(a, outcome(was, x), JSON.stringify({ settings: s, input: x }));
        const r = a as { allow?: boolean; violations?: string[] };
        if (r.allow === true) allowed++;
        if (r.violations === undefined) errors++;
        for (const v of r.violations ?? []) seen.add((JSON.parse(v) as { code: string }).code);
      }
    }
    // The generator reaches allows, and each code the rewritten rules decide.
    assert.ok(allowed > 0, 'no input was allowed');
    assert.ok(errors < inputs.length / 4, `${errors} evaluations threw`);
    for (const code of [
      'RESOURCES_REQUEST_MISSING',
      'RESOURCES_LIMIT_MISSING',
      'RESOURCES_CPU_OVER_CAP',
      'RESOURCES_MEMORY_OVER_CAP',
      'RESOURCES_EPHEMERAL_STORAGE_OVER_CAP',
      'IMAGE_REGISTRY_NOT_ALLOWED',
      'IMAGE_REFERENCE_INVALID',
      'IMAGE_DENIED',
      'POLICY_SETTINGS_INVALID',
      'EGRESS_NOT_ALLOWED',
      'EGRESS_ANY_DESTINATION',
      'EGRESS_WILDCARD_HOST',
      'SECRET_LITERAL',
      'SECRET_NOT_ALLOWED',
    ])
      assert.ok(seen.has(code), `no decision had ${code}: ${[...seen].join(', ')}`);
  });
});
