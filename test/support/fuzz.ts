import type { V1Container, V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { CREDENTIAL_PATTERNS } from '../../src/audit/mask.ts';
import { isZeroQuantity, MAX_DURATION_SECONDS, quantityValue } from '../../src/units/units.ts';
import { ERROR_CODES } from '../../src/errors/codes.ts';
import { testPipelineConfig } from './config.ts';
import { signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { buildPod } from '../../src/pod/build.ts';
import { DEFAULT_RESOURCES } from '../../src/pod/resources.ts';
import { mountConflicts, RESERVED_MOUNTS } from '../../src/validate/layout.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { validate } from '../../src/validate/validate.ts';
import { engineReturning, MemoryAudit, MemoryPods, MemoryRuns, MemoryTrustedKeys, memoryCluster } from './memory.ts';
import { restrictedViolations } from './restricted-check.ts';
import { ISSUER, RUNNER } from './tokens.ts';
import { outputRefText, outputsSpec, retriesSpec, whenSpec } from './fuzz-steps.ts';
import * as workload from './fuzz-workload.ts';
import { execStrings } from './exec-strings.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Unicode's Bidi_Control characters (src/validate/unicode.ts refuses them in what runs). */
const EXEC_BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Strings an attacker would try in names, paths and values. */
const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom(
    '../../etc/passwd',
    '/a/../../root',
    'a=b,c=d',
    'kubiya.ai/runner',
    'x\u0000y',
    '\u202eevil',
    'ＡＢＣ',
    'a'.repeat(300),
    '',
    ' ',
    '-a-',
    'A',
    '$(rm -rf /)',
    '{{.}}',
    '\n',
    'workflow-x-step-y',
  ),
);
const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, -0, 0.5, Number.MIN_VALUE);

/** Mostly the valid value, sometimes a hostile one: so that many specs get deep into the pipeline. */
const mostly = <T>(valid: T, bad: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: fc.constant(valid), weight: 5 }, { arbitrary: bad, weight: 1 });

/** Usually absent, sometimes present with hostile content. */
const rarely = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: arb, weight: 1 });

// ---- the input classes of issue 14, one generator each ------------------------------------------

/** Unicode edge cases: lone surrogates (high, low, reversed), NUL, bidi controls, BOM, noncharacters, ZWJ, combining marks, astral. */
export const unicodeEdge = fc.oneof(
  fc.constantFrom(
    '\udbff',
    '\udc00',
    'a\ud800',
    '\udfffb',
    '\udc00\ud800',
    'x\u0000',
    '\u202eevil\u202c',
    '\u2066iso\u2069',
    '\u200f',
    '\ufeffbom',
    '\ufffe',
    '\uffff',
    '👩‍👩‍👧',
    'e\u0301',
    '😀',
    '\u{10FFFF}',
    '\u0085',
    '\u2028',
    'Ａ',
  ),
  fc
    .tuple(fc.string({ maxLength: 4 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 4 }))
    .map(([a, s, b]) => `${a}${String.fromCharCode(s)}${b}`),
);

/** Image reference spellings: the same repository many ways, and references the grammar refuses. */
export const imageSpelling = fc.constantFrom(
  'alpine',
  'alpine:3.19.1',
  'library/alpine:3.19.1',
  'docker.io/alpine:3.19.1',
  'docker.io/library/alpine:3.19.1',
  'index.docker.io/library/alpine:3.19.1',
  `alpine@sha256:${'a'.repeat(64)}`,
  `docker.io/library/alpine:3.19.1@sha256:${'b'.repeat(64)}`,
  'ghcr.io/acme/tool:1.0',
  'ghcr.io/acme-tools/x:1.0',
  'ghcr.io/acme/../x:1',
  'localhost:5000/x:1',
  '[::1]:5000/x:1',
  'registry.example.com:443/team/app:v1',
  'ALPINE:3',
  'Docker.io/alpine:3',
  'alpine@sha256:short',
  'alpine@md5:abc',
  `alpine:${'t'.repeat(200)}`,
  'alpine:',
  ':tag',
  'a//b:1',
  'a:b:c',
  'alpine:3.19 ',
  ' alpine',
  'alpine\t',
  `${'a'.repeat(256)}/x:1`,
  'x'.repeat(513),
);

/** Credentials the way people paste them into commands, args and env (assembled, so this file is no scanner hit). */
const SECRET = 'fuzzSecret4711xyzzy';
export const credentialText = fc.constantFrom(
  `postgres://admin:${SECRET}@db:5432/app`,
  `https://x-access-token:${SECRET}@github.com/acme/r`,
  `Authorization: Bearer ${SECRET}`,
  `-----BEGIN ${'PRIVATE'} KEY-----\n${SECRET}\n-----END ${'PRIVATE'} KEY-----`,
  `AKIA${'FUZZ'}${SECRET.slice(0, 12)
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, 'X')}`,
  `ghp_${SECRET}${'0'.repeat(36 - SECRET.length)}`,
  `github_pat_${SECRET}_${'z'.repeat(30)}`,
  `xoxb-${SECRET}-1234567890`,
  `eyJ${SECRET}.eyJ${SECRET}.${SECRET}`,
  `PASSWORD=${SECRET}`,
  `--token=${SECRET}`,
  // REDTEAM 1: the forms the first list missed
  `PGPASSWORD=${SECRET} psql`,
  `mysql -u root -p${SECRET}`,
  `sshpass -p ${SECRET} ssh h`,
  `curl -u admin:${SECRET} https://x`,
  `mysql --password ${SECRET}`,
  `X-API-Key: ${SECRET}`,
  `Cookie: session=${SECRET}`,
  `https://u:p#${SECRET}@h/x`,
  `glpat-${SECRET}abcdefgh`,
  `gho_${SECRET}${'0'.repeat(36 - SECRET.length)}`,
);
/** The part of each credential that must never reach the audit log. */
export const CREDENTIAL_MARK = SECRET;

/** Duration spellings: in bounds, past them, zero, negative, other grammars, case, whitespace, overflow. */
export const durationSpelling = fc.oneof(
  fc.constantFrom(
    '30m',
    '1h30m',
    '45s',
    '168h',
    '600000h',
    '0s',
    '0',
    '-1s',
    '1e9',
    'PT1H',
    '1.5h',
    '30M',
    ' 30m',
    '30m ',
    '1h1h',
    '9'.repeat(40) + 's',
    '300ms',
    '',
  ),
  fc.constantFrom(1, 604800, 604801, 0, -1, 1e9, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER),
  fc.tuple(fc.nat({ max: 1_000_000 }), fc.constantFrom('h', 'm', 's')).map(([n, u]) => `${n}${u}`),
);

/** Zero (and near-zero) quantities on every container kind. */
const zeroQuantity = fc.constantFrom('0', '0m', '0Mi', '0Gi', '0.0', '00', '0Ki', '1', '1m', '128Mi', '999Gi');
export const zeroResources = fc.record(
  {
    requests: rarely(fc.record({ cpu: zeroQuantity, memory: zeroQuantity }, { requiredKeys: [] })),
    limits: fc.record({ cpu: zeroQuantity, memory: zeroQuantity }, { requiredKeys: [] }),
  },
  { requiredKeys: ['limits'] },
);

/** Mounts: duplicates (name, path, spelling of a path), the runner's own paths, nesting, root. */
const mountPath = fc.constantFrom(
  '/data',
  '/data/',
  '/data/.',
  '//data',
  '/data/sub',
  '/workspace',
  '/workspace/x',
  '/tmp',
  '//tmp/.',
  '/',
  '/out',
  '/a/../b',
);
export const duplicateMounts = fc.array(
  fc.record({ name: fc.constantFrom('a', 'b', 'a'), mount: mountPath, volume: fc.constantFrom('v', 'w') }),
  { minLength: 1, maxLength: 3 },
);

/** Containers a step brings along, with names that may collide (with each other, with "step"). */
const sideContainer = fc.record(
  {
    name: fc.constantFrom('step', 'db', 'db', 'cache'),
    image: mostly('postgres:15', imageSpelling),
    resources: rarely(zeroResources),
    env: rarely(
      fc.dictionary(fc.constantFrom('A', 'PASSWORD', 'TOKEN'), fc.oneof(credentialText, unicodeEdge), { maxKeys: 2 }),
    ),
    // issue 19 item 7 (sidecar-only fields; on an init container they must be refused)
    ports: rarely(workload.ports),
    // the workload generator's probes, or an exec probe of hostile words (red-team round 3, finding 1)
    readinessProbe: rarely(
      fc.oneof(
        workload.readinessProbe,
        fc.record({
          exec: fc.record({
            command: fc.array(fc.oneof(credentialText, unicodeEdge), { minLength: 1, maxLength: 3 }),
          }),
        }),
      ),
    ),
  },
  { requiredKeys: ['name', 'image'] },
);

/** Workflow claims: mostly almost-valid, with hostile fields and every class above mixed in. */
export const workflowClaim = fc
  .record({
    id: mostly('wf-1', hostile),
    name: mostly('n', fc.oneof(hostile, unicodeEdge)),
    runId: mostly('run-1', fc.oneof(hostile, hugeNumber)),
    volumes: rarely(
      fc.constant([
        { name: 'v', size: '1Gi' },
        { name: 'w', size: '1Gi' },
      ]),
    ),
    steps: fc.array(
      fc.record(
        {
          name: mostly('step', hostile),
          image: mostly('python:3.11', fc.oneof(hostile, imageSpelling)),
          command: rarely(fc.array(fc.oneof(hostile, credentialText, unicodeEdge), { maxLength: 3 })),
          // a bare secret cannot be told from any other word: it comes after a flag that names it
          args: rarely(
            fc
              .array(
                fc.oneof(
                  credentialText.map((c) => [c]),
                  unicodeEdge.map((u) => [u]),
                  outputRefText.map((r) => [r]),
                  fc.constant(['--password', SECRET]),
                  fc.constant(['--api-key', SECRET]),
                  fc.constant(['--passphrase', SECRET]),
                  fc.constant(['--db-pass', SECRET]),
                  fc.constant(['mysql', '-u', 'root', `-p${SECRET}`]),
                  fc.constant(['curl', '-u', `admin:${SECRET}`]),
                ),
                { maxLength: 3 },
              )
              .map((a) => a.flat()),
          ),
          env: rarely(
            fc.dictionary(
              fc.oneof(hostile, unicodeEdge),
              fc.oneof(
                hostile,
                credentialText,
                unicodeEdge,
                fc.record({ secretRef: fc.record({ secret: hostile, key: hostile }) }),
              ),
              { maxKeys: 3 },
            ),
          ),
          timeout: rarely(fc.oneof(hostile, hugeNumber, durationSpelling)),
          volumes: rarely(
            fc.oneof(
              duplicateMounts,
              fc.array(fc.record({ name: hostile, mount: hostile, volume: hostile }), { maxLength: 2 }),
            ),
          ),
          resources: rarely(fc.oneof(fc.record({ gpu: fc.oneof(hugeNumber, fc.integer()) }), zeroResources)),
          sidecars: rarely(fc.array(sideContainer, { maxLength: 2 })),
          initContainers: rarely(fc.array(sideContainer, { maxLength: 2 })),
          // issue 19 items 4–6 (test/support/fuzz-steps.ts)
          retries: rarely(retriesSpec),
          when: rarely(whenSpec),
          // issue 19 items 1, 2, 3 (test/support/fuzz-workload.ts)
          imagePullSecrets: rarely(workload.pullSecrets),
          nodeSelector: rarely(workload.nodeSelector),
          tolerations: rarely(workload.tolerations),
          serviceAccount: rarely(workload.serviceAccount),
          outputs: rarely(outputsSpec),
          extra: rarely(fc.anything()),
        },
        { requiredKeys: ['name', 'image'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  })
  .map((w) => JSON.parse(JSON.stringify(w)) as { id: string } & Record<string, unknown>);

/** Token mutations of a valid token. */
export const tokenMutation = (valid: string) =>
  fc.oneof(
    fc.nat({ max: valid.length * 8 - 1 }).map((bit) => {
      const b = Buffer.from(valid);
      b[bit >> 3] = (b[bit >> 3] as number) ^ (1 << (bit & 7));
      return b.toString('latin1');
    }),
    fc.nat({ max: valid.length }).map((n) => valid.slice(0, n)),
    fc.constant(valid.split('.').reverse().join('.')),
    fc
      .jsonValue()
      .map((h) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${valid.split('.').slice(1).join('.')}`),
    fc
      .constantFrom(
        { alg: 'none' },
        { alg: 'HS256', typ: 'kubiya-assignment+jwt' },
        { alg: 'EdDSA', jku: 'https://evil' },
        { alg: 'EdDSA', kid: '../../x' },
        { alg: 'EdDSA', crit: ['b64'], b64: false },
      )
      .map((h) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${valid.split('.').slice(1).join('.')}`),
    fc.string().map((s) => `${valid}${s}`),
    fc.string({ maxLength: 200 }),
  );

// ---- invariants ----------------------------------------------------------------------------------

/**
 * What the API server (and the restricted standard) would refuse in a pod we made, or what would
 * leave a container unbounded: each problem named. Written from the Kubernetes validation rules,
 * not from the builder.
 */
export function podProblems(pod: V1Pod): string[] {
  const out: string[] = [];
  const labels = Object.values(pod.metadata?.labels ?? {});
  if (!DNS_LABEL.test(pod.metadata?.name ?? '') || labels.some((l) => !DNS_LABEL.test(l)))
    out.push('name or label not DNS-safe');
  out.push(...restrictedViolations(pod), ...workload.workloadProblems(pod));
  const spec = pod.spec;
  if (spec === undefined) return [...out, 'no spec'];
  const deadline = spec.activeDeadlineSeconds;
  if (deadline !== undefined && !(Number.isInteger(deadline) && deadline >= 1 && deadline <= MAX_DURATION_SECONDS))
    out.push(`activeDeadlineSeconds ${deadline}`);
  // REDTEAM-3 finding 1: every string a container executes (walked, not listed) passed the validator's bidi check
  for (const e of execStrings(pod)) if (EXEC_BIDI.test(e.value)) out.push(`${e.path}: bidi control in what runs`);
  const containers: V1Container[] = [...(spec.initContainers ?? []), ...spec.containers];
  const names = containers.map((c) => c.name);
  if (new Set(names).size !== names.length) out.push('duplicate container names');
  const volumes = (spec.volumes ?? []).map((v) => v.name);
  if (new Set(volumes).size !== volumes.length) out.push('duplicate volume names');
  for (const v of volumes) if (!DNS_LABEL.test(v) || v.length > 63) out.push(`volume name ${v}`);
  for (const c of containers) {
    const mounts = c.volumeMounts ?? [];
    const paths = mounts.map((m) => m.mountPath);
    if (new Set(paths).size !== paths.length) out.push(`${c.name}: duplicate mount paths`);
    for (const m of mounts) {
      if (!volumes.includes(m.name)) out.push(`${c.name}: mount of unknown volume ${m.name}`);
      if (m.name.startsWith('vol-') && RESERVED_MOUNTS.some((r) => mountConflicts(m.mountPath, r)))
        out.push(`${c.name}: workflow volume over the runner's ${m.mountPath}`);
    }
    const memory = c.resources?.limits?.memory;
    if (memory === undefined || isZeroQuantity(memory)) out.push(`${c.name}: no memory limit`);
    for (const r of ['cpu', 'memory']) {
      const [req, lim] = [c.resources?.requests?.[r], c.resources?.limits?.[r]];
      if ((req !== undefined && isZeroQuantity(req)) || (lim !== undefined && isZeroQuantity(lim)))
        out.push(`${c.name}: zero ${r}`);
      if (req !== undefined && lim !== undefined && (quantityValue(req) ?? 0) > (quantityValue(lim) ?? 0))
        out.push(`${c.name}: ${r} request above limit`);
    }
  }
  return out;
}

export interface FuzzOutcome {
  readonly crashed: number;
  readonly internal: number;
  readonly podsFromRejections: number;
  readonly uncoded: number;
  /** Cases that did not finish within their time (a hang is a failure, never a pass). */
  readonly hung: number;
  /** Audit records holding a planted credential. */
  readonly leaked: number;
  readonly badPods: string[];
  readonly cases: number;
  /** Inputs that got through to at least one pod (the fuzz must reach that far, not only bounce). */
  readonly podsMade: number;
}

type Tally = { -readonly [K in keyof FuzzOutcome]: FuzzOutcome[K] };

/** How long one case may take before it counts as hung (the reconciler's wait is shorter). */
const CASE_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 5_000;

/**
 * Runs one input through the whole pipeline (in-memory pods, allow-all policy) and checks the
 * invariants: never a throw or INTERNAL, never a hang (a run that does not end in time, or a case
 * that does not return, is counted in `hung`), a rejection has a catalogue code and made no pod,
 * no audit record holds a planted credential, and every pod that was made passes podProblems.
 */
export async function fuzzOne(
  body: string,
  keys: PipelineDeps['keys'],
  out: Tally,
  options: { caseTimeoutMs?: number; outcomeFor?: MemoryPods['outcomeFor'] } = {},
): Promise<void> {
  const caseTimeoutMs = options.caseTimeoutMs ?? CASE_TIMEOUT_MS;
  out.cases++;
  const pods = new MemoryPods();
  if (options.outcomeFor !== undefined) pods.outcomeFor = options.outcomeFor;
  const audit = new MemoryAudit();
  const deps: PipelineDeps = {
    config: testPipelineConfig(),
    keys,
    audit,
    ...memoryCluster(pods),
    runs: new MemoryRuns(),
    trust: new MemoryTrustedKeys(),
    policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
    now: () => new Date(),
    newId: () => 'id',
  };
  let report;
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 1, resyncMs: 60_000 });
  reconciler.start();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), caseTimeoutMs);
    });
    const result = await Promise.race([
      runAssignment(
        { body, contentType: 'application/jwt' },
        deps,
        reconciler,
        Math.min(RUN_TIMEOUT_MS, caseTimeoutMs),
      ),
      timedOut,
    ]);
    if (result === 'hung') {
      out.hung++;
      return;
    }
    report = result;
  } catch {
    out.crashed++;
    return;
  } finally {
    clearTimeout(timer);
    await reconciler.stop();
  }
  // An accepted run without a final phase is one the reconciler never finished: a hang.
  if (report.accepted && report.phase === undefined) out.hung++;
  if (report.code === 'INTERNAL') out.internal++;
  if (!report.accepted) {
    if (report.code === undefined || !(ERROR_CODES as string[]).includes(report.code)) out.uncoded++;
    if (pods.created.length > 0) out.podsFromRejections++;
  }
  if (audit.records.some((r) => JSON.stringify(r).includes(CREDENTIAL_MARK))) out.leaked++;
  if (pods.created.length > 0) out.podsMade++;
  for (const pod of pods.created) {
    const problems = podProblems(pod);
    if (problems.length > 0) out.badPods.push(`${pod.metadata?.name ?? '?'}: ${problems.join('; ')}`);
  }
}

export function emptyOutcome(): Tally {
  return {
    crashed: 0,
    internal: 0,
    podsFromRejections: 0,
    uncoded: 0,
    hung: 0,
    leaked: 0,
    badPods: [],
    cases: 0,
    podsMade: 0,
  };
}

/**
 * `runs` mutated tokens, then `runs` hostile signed workflow claims. `timeLimitMs` bounds each of
 * the two phases (fast-check stops generating; `cases` says how many ran).
 */
export async function fuzz(
  runs: number,
  key: SigningKey,
  keys: PipelineDeps['keys'],
  seed?: number,
  timeLimitMs?: number,
): Promise<FuzzOutcome> {
  const out = emptyOutcome();
  const options = {
    numRuns: runs,
    ...(seed !== undefined ? { seed } : {}),
    ...(timeLimitMs !== undefined ? { interruptAfterTimeLimit: timeLimitMs } : {}),
  };
  const valid = await signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: { id: 'wf-1', name: 'n', runId: 'r', steps: [{ name: 's', image: 'python:3.11' }] },
  });
  await fc.assert(
    fc.asyncProperty(tokenMutation(valid), async (body) => fuzzOne(body, keys, out)),
    options,
  );
  await fc.assert(
    fc.asyncProperty(workflowClaim, async (workflow) => {
      await fuzzOne(await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow }), keys, out);
    }),
    options,
  );
  return out;
}

// ---- policy settings: a wrong type never opens anything -----------------------------------------

type Settings = Record<string, Record<string, unknown>>;

/** String (and other mistyped) spellings of a boolean, as `helm --set-string`, Argo CD's forceString and hand edits deliver them. */
const stringBoolean = fc.constantFrom(
  'false',
  'False',
  'FALSE',
  'true',
  '0',
  '1',
  '',
  'no',
  'off',
  ' false',
  0,
  1,
  null,
  [],
  {},
);
/** Enforcement actions that are not deny/warn/audit. */
const badAction = fc.constantFrom(
  'Deny',
  'DENY',
  'deny ',
  ' deny',
  'dryrun',
  'dry-run',
  'Warn',
  'allow',
  '',
  true,
  1,
  null,
);

/**
 * Settings derived from `base` by mistyping its booleans and enforcement actions (never by changing
 * a value's meaning in the right type): what must never open a default-deny.
 */
export function mistypedSettings(base: Settings): fc.Arbitrary<Settings> {
  const flags = Object.entries(base).flatMap(([section, v]) =>
    Object.entries(v)
      .filter(([, x]) => typeof x === 'boolean')
      .map(([k]) => [section, k] as const),
  );
  return fc
    .record({
      flips: fc
        .subarray(flags, { minLength: 1 })
        .chain((fs) => fc.tuple(...fs.map((f) => stringBoolean.map((value) => ({ f, value }))))),
      actions: fc.dictionary(
        fc.constantFrom(
          'EGRESS_ANY_DESTINATION',
          'EGRESS_NOT_ALLOWED',
          'EGRESS_WILDCARD_HOST',
          'IMAGE_REGISTRY_NOT_ALLOWED',
          'RESOURCES_MEMORY_OVER_CAP',
        ),
        badAction,
        { maxKeys: 3 },
      ),
    })
    .map(({ flips, actions }) => {
      const s: Settings = structuredClone(base);
      for (const {
        f: [section, k],
        value,
      } of flips)
        (s[section] as Record<string, unknown>)[k] = value;
      if (Object.keys(actions).length > 0) s.enforcement = { ...s.enforcement, ...actions };
      return s;
    });
}

/** The settings that differ from `base`, as section.key → value. */
function changed(base: Settings, s: Settings): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(s).flatMap(([section, v]) =>
      Object.entries(v)
        .filter(([k, x]) => JSON.stringify(x) !== JSON.stringify(base[section]?.[k]))
        .map(([k, x]) => [`${section}.${k}`, x]),
    ),
  );
}

const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

/** Steps the default settings deny, each for one reason: they must stay denied under any mistyped settings. */
export const DENIED_PROBES: readonly Record<string, unknown>[] = Object.freeze([
  { name: 'egress-any', image: 'python:3.11', resources: R, egress: [{ cidr: '0.0.0.0/0', ports: [443] }] },
  { name: 'egress-wild', image: 'python:3.11', resources: R, egress: [{ host: '*.evil.example', ports: [443] }] },
  { name: 'registry', image: 'evil.example.com/x:1', resources: R },
  {
    name: 'over-cap',
    image: 'python:3.11',
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '9Gi' } },
  },
  // Issue 14 classes: a sidecar over the cap, a literal credential, a Secret outside the list, an unpinned tag.
  {
    name: 'sidecar-over-cap',
    image: 'python:3.11',
    resources: R,
    sidecars: [{ name: 'db', image: 'postgres:15', resources: { limits: { memory: '9Gi' } } }],
  },
  { name: 'literal-secret', image: 'python:3.11', resources: R, env: { DB_PASSWORD: 'hunter2' } },
  {
    name: 'secret-not-allowed',
    image: 'python:3.11',
    resources: R,
    env: { KEY: { secretRef: { secret: 'someone-elses', key: 'k' } } },
  },
  { name: 'unpinned', image: 'python:latest', resources: R },
]);

export interface SettingsOutcome {
  readonly cases: number;
  /** Settings refused at load (with any reason): fail closed. */
  readonly refused: number;
  /** Mistyped settings the checked load ACCEPTED (each one a hole in the settings schema). */
  readonly accepted: string[];
  /** Probe decisions that came out allow under mistyped settings: each a default-deny opened. */
  readonly opened: string[];
}

/**
 * For each generated mistyped settings document: `engineFor` loads the bundle with it as the runner
 * does at start and on reload (PolicyStore: the settings schema check, a refusal returns
 * undefined); every one must be refused (`accepted` lists those that were not). When
 * `uncheckedEngineFor` is given, the same settings are also loaded WITHOUT the schema check (as a
 * bundle built by hand would carry them) and every DENIED_PROBES step must still be refused by
 * that engine: the Rego's strict comparisons are the second wall. `opened` lists each probe that
 * was allowed, by which engine and with which settings. The probes are built as the runner builds
 * them (its default resources), and first checked to be denied under `base` itself.
 */
export async function fuzzSettings(
  runs: number,
  base: Settings,
  engineFor: (settings: Settings) => Promise<PolicyEngine | undefined>,
  seed?: number,
  uncheckedEngineFor?: (settings: Settings) => Promise<PolicyEngine>,
): Promise<SettingsOutcome> {
  const out = { cases: 0, refused: 0, accepted: [] as string[], opened: [] as string[] };
  const workflow = validate({ id: 'wf', name: 'n', runId: 'r', steps: DENIED_PROBES });
  if (!workflow.ok) throw new Error(`probes must be valid: ${workflow.error.message}`);
  const ctx = {
    runner: 'fuzz',
    namespace: 'kubiya-workflows',
    serviceAccount: 'kubiya-workflow',
    defaultTimeoutSeconds: 1800,
    defaultResources: DEFAULT_RESOURCES,
  };
  const inputs = workflow.value.steps.map((step) => ({
    step: step.name,
    input: policyInput('fuzz', workflow.value, step, buildPod(workflow.value, step, ctx)),
  }));
  const baseline = await engineFor(base);
  if (baseline === undefined) throw new Error('the base settings must load');
  for (const { step, input } of inputs)
    if (evaluate(input, baseline).kind === 'allow') throw new Error(`probe ${step} is not denied by the base settings`);
  await fc.assert(
    fc.asyncProperty(mistypedSettings(base), async (settings) => {
      out.cases++;
      const engine = await engineFor(settings);
      if (engine === undefined) out.refused++;
      else out.accepted.push(JSON.stringify(changed(base, settings)));
      const engines: [string, PolicyEngine][] = [
        ...(engine !== undefined ? [['checked', engine] as [string, PolicyEngine]] : []),
        ...(uncheckedEngineFor !== undefined
          ? [['unchecked', await uncheckedEngineFor(settings)] as [string, PolicyEngine]]
          : []),
      ];
      for (const [which, e] of engines) {
        for (const { step, input } of inputs)
          if (evaluate(input, e).kind === 'allow')
            out.opened.push(`${step} allowed (${which}) with ${JSON.stringify(changed(base, settings))}`);
      }
    }),
    { numRuns: runs, ...(seed !== undefined ? { seed } : {}) },
  );
  return out;
}

/** The pattern names the credential generator covers (checked by the unit test against the table). */
export const CREDENTIAL_PATTERN_NAMES = CREDENTIAL_PATTERNS.map((p) => p.name);
