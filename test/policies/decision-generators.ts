/**
 * Generated policy inputs and settings for the differential tests of the compiled policy (the
 * Rego rewritten in h-rego against its oracle, the derived settings against none): pods with
 * quantities, images, env, command words and egress of every kind; settings with requirements,
 * caps, allow/deny entries, egress entries and credential patterns, valid and not. The class and
 * its variants are described in rego-rewrites-h-rego.test.ts.
 */
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import fc from 'fast-check';
import { DECISION_ENTRYPOINT } from '../../src/evaluate/policy-engine.ts';
import { AWS_KEY_ID, GITHUB_TOKEN, JWT, PEM, SLACK } from '../support/credentials.ts';

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

export const input = fc
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
export const settingsOf = fc
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
export const CLEAN = {
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
export const outcome = (policy: LoadedPolicy, x: unknown): unknown => {
  let result: unknown;
  try {
    result = policy.evaluate(x, DECISION_ENTRYPOINT);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  const r = (result as { result: { violations: unknown[] } }[])[0]!.result;
  return { ...r, violations: r.violations.map((v) => JSON.stringify(v)).sort() };
};

/** One generated settings case. */
export type Settings = typeof settingsOf extends fc.Arbitrary<infer T> ? T : never;

/**
 * The data of one generated settings case: the bundle's own data with the case's sections in
 * place of its own and its value patterns after the bundle's (undefined: the bundle's data).
 */
export function dataOf(data: Record<string, unknown>, s: Settings | undefined): { kubiya: Record<string, unknown> } {
  const kubiya = data['kubiya'] as { settings: Record<string, unknown> };
  const { patterns, ...sections } = s ?? { patterns: [] };
  const secrets = kubiya.settings['secrets'] as { credentials: { envNames: unknown[]; values: unknown[] } };
  const credentials = { ...secrets.credentials, values: [...secrets.credentials.values, ...patterns] };
  return { kubiya: { ...kubiya, settings: { ...kubiya.settings, ...sections, secrets: { ...secrets, credentials } } } };
}
