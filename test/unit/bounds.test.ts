/**
 * Issue 14 §3 and §4, as classes:
 *   - every container is bounded (main, init, sidecar), and zero is not a limit;
 *   - a duration's bounds hold in every spelling (string or number), in the workflow and the config;
 *   - mount names and normalised paths are unique per container and off the runner's own mounts;
 *   - container names are unique in the pod.
 * Each class: a table of spellings, the reported example kept as a regression, and a property over
 * generated values checked against what the API server would accept.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { V1Container } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/load.ts';
import {
  isZeroQuantity,
  MAX_DURATION_SECONDS,
  parseDuration,
  quantityValue,
  STEP_TIMEOUT_BOUNDS,
} from '../../src/units/units.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { buildPod } from '../../src/pod/build.ts';
import { mountConflicts, normaliseMountPath } from '../../src/validate/layout.ts';
import { DEFAULT_RESOURCES } from '../../src/pod/resources.ts';
import { validate } from '../../src/validate/validate.ts';

const ctx = {
  runner: 'prod',
  namespace: 'kubiya-workflows',
  serviceAccount: 'kubiya-workflow',
  defaultTimeoutSeconds: 1800,
  defaultResources: DEFAULT_RESOURCES,
};
const step = { name: 's', image: 'python:3.11' };
const wf = (over: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: 'w',
  name: 'n',
  runId: 'r',
  steps: [{ ...step, ...over }],
  ...extra,
});

function issuesOf(claim: unknown): { code: string; paths: string[] } | undefined {
  const r = validate(claim);
  if (r.ok) return undefined;
  return { code: r.error.code, paths: (r.error.details?.issues ?? []).map((i) => i.path) };
}

// ---- durations: one parser, one set of bounds for every form ----------------------------------

/** [spelling, seconds it means, or undefined when it must be refused at validate]. */
const DURATIONS: [unknown, number | undefined][] = [
  ['30m', 1800],
  ['1h30m', 5400],
  ['45s', 45],
  ['90m', 5400],
  ['0h0m1s', 1],
  ['168h', 604800],
  [604800, 604800],
  [1, 1],
  [90, 90],
  // the reported example and its siblings: past the cap, zero, negative
  ['600000h', undefined],
  ['169h', undefined],
  ['604801s', undefined],
  [604801, undefined],
  [1e9, undefined],
  [2 ** 31, undefined],
  ['0s', undefined],
  ['0', undefined],
  [0, undefined],
  [-0, undefined],
  ['-1s', undefined],
  [-1, undefined],
  // spellings other parsers accept and this one does not
  ['1e9', undefined],
  ['1e3s', undefined],
  ['PT1H', undefined],
  ['1.5h', undefined],
  [1.5, undefined],
  ['300ms', undefined],
  ['1d', undefined],
  [' 30m', undefined],
  ['30m ', undefined],
  ['30 m', undefined],
  ['\t30m', undefined],
  ['30M', undefined],
  ['1H', undefined],
  ['30S', undefined],
  ['30m1h', undefined],
  ['1h1h', undefined],
  ['', undefined],
  ['h', undefined],
  ['s', undefined],
  ['+30m', undefined],
  ['0x10s', undefined],
  ['9'.repeat(400) + 's', undefined],
  ['1'.repeat(40) + 's', undefined],
  ['30\u0000m', undefined],
  ['３０m', undefined],
  [Number.MAX_SAFE_INTEGER, undefined],
  [Number.MAX_VALUE, undefined],
  [true, undefined],
  [null, undefined],
  [{}, undefined],
  [['30m'], undefined],
];

for (const [spelling, seconds] of DURATIONS) {
  test(`step timeout ${JSON.stringify(spelling)} → ${seconds ?? 'refused (VALIDATE_SCHEMA at workflow.steps.0.timeout)'}`, () => {
    const parsed = parseDuration(spelling, STEP_TIMEOUT_BOUNDS);
    assert.deepEqual(parsed.ok ? parsed.seconds : undefined, seconds);
    const issues = issuesOf(wf({ timeout: spelling }));
    if (seconds === undefined) {
      // a NUL is refused before the schema, as text that cannot be stored (VALIDATE_UNICODE)
      assert.equal(
        issues?.code,
        typeof spelling === 'string' && spelling.includes('\u0000') ? 'VALIDATE_UNICODE' : 'VALIDATE_SCHEMA',
      );
      assert.ok(issues.paths.includes('workflow.steps.0.timeout'), JSON.stringify(issues));
    } else {
      assert.equal(issues, undefined);
      const r = validate(wf({ timeout: spelling }));
      assert.ok(r.ok);
      assert.equal(buildPod(r.value, r.value.steps[0]!, ctx).spec?.activeDeadlineSeconds, seconds);
    }
  });
}

test('property: whatever the timeout spelling, a valid step never gets an activeDeadlineSeconds the API server refuses (1 … 2^31-1)', () => {
  const spelling = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 12 }),
    fc
      .tuple(
        fc.option(fc.nat({ max: 100_000 })),
        fc.option(fc.nat({ max: 100_000 })),
        fc.option(fc.nat({ max: 10_000_000 })),
      )
      .map(([h, m, s]) => `${h === null ? '' : `${h}h`}${m === null ? '' : `${m}m`}${s === null ? '' : `${s}s`}`),
  );
  fc.assert(
    fc.property(spelling, (timeout) => {
      const r = validate(wf({ timeout }));
      if (!r.ok) return r.error.code === 'VALIDATE_SCHEMA';
      const deadline = buildPod(r.value, r.value.steps[0]!, ctx).spec?.activeDeadlineSeconds ?? 0;
      return (
        Number.isInteger(deadline) &&
        deadline >= 1 &&
        deadline <= STEP_TIMEOUT_BOUNDS.max &&
        deadline <= MAX_DURATION_SECONDS
      );
    }),
    { numRuns: 2000 },
  );
});

const configWith = (section: string) => `
runner:
  name: r
  ${section}
controlPlane: { issuer: https://cp, jwksFile: /j }
policy: { bundle: /b }
audit: { dir: /a }
`;

test('config durations use the same parser: defaultTimeout within the step bounds, intervals positive, tolerances may be zero', () => {
  const accepted: [string, (c: ReturnType<typeof loadConfig>) => unknown, unknown][] = [
    ['workflow: { defaultTimeout: 30m }', (c) => c.ok && c.value.runner.workflow.defaultTimeout, 1800],
    ['workflow: { defaultTimeout: 604800 }', (c) => c.ok && c.value.runner.workflow.defaultTimeout, 604800],
    ['workflow: { failFastGrace: 0s }', (c) => c.ok && c.value.runner.workflow.failFastGrace, 0],
  ];
  for (const [section, get, want] of accepted) {
    const c = loadConfig(configWith(section), {});
    assert.ok(c.ok, `${section}: ${JSON.stringify(!c.ok && c.error)}`);
    assert.equal(get(c), want, section);
  }
  for (const section of [
    'workflow: { defaultTimeout: 600000h }',
    'workflow: { defaultTimeout: 0s }',
    'workflow: { defaultTimeout: 0 }',
    'workflow: { defaultTimeout: "-1s" }',
    'workflow: { defaultTimeout: PT1H }',
    'workflow: { defaultTimeout: 1e9 }',
    'workflow: { defaultTimeout: "1.5h" }',
    'workflow: { ttlAfterFinished: 30M }',
  ]) {
    const c = loadConfig(configWith(section), {});
    assert.equal(c.ok, false, section);
    if (!c.ok) assert.equal(c.error.code, 'CONFIG_INVALID');
  }
  const zeroInterval = loadConfig(
    configWith('').replace('audit: { dir: /a }', 'audit: { dir: /a, checkpoint: { interval: 0s } }'),
    {},
  );
  assert.equal(zeroInterval.ok, false, 'a zero checkpoint interval would be a busy loop');
});

// ---- every container is bounded; zero is not a limit --------------------------------------------

const containersOf = (claim: unknown, c = ctx): V1Container[] => {
  const r = validate(claim);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const pod = buildPod(r.value, r.value.steps[0]!, c);
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
};

test("the seed's postgres sidecar (examples/migration-with-postgres.yaml) runs with a memory limit, its own or the default", async () => {
  const claim = (await readWorkflowFile(
    new URL('../../examples/migration-with-postgres.yaml', import.meta.url).pathname,
  )) as unknown as { steps: { sidecars: { resources?: unknown }[] }[] };
  const postgres = containersOf(claim).find((c) => c.name === 'postgres');
  assert.equal(postgres?.restartPolicy, 'Always');
  assert.equal(postgres?.resources?.limits?.memory, '512Mi', 'the example declares its own');
  // The seed's form had no resources on the sidecar: it gets the runner's defaults.
  delete claim.steps[0]!.sidecars[0]!.resources;
  const seed = containersOf(claim).find((c) => c.name === 'postgres');
  assert.equal(seed?.resources?.limits?.memory, DEFAULT_RESOURCES.limits?.memory);
  assert.ok(seed?.resources?.requests?.memory !== undefined);
});

test('sidecars and init containers take their own resources; every container kind gets the defaults for what it leaves out', () => {
  const containers = containersOf(
    wf({
      resources: { limits: { memory: '1Gi' } },
      initContainers: [
        { name: 'fetch', image: 'a:1', resources: { requests: { cpu: '50m' }, limits: { memory: '64Mi' } } },
      ],
      sidecars: [{ name: 'db', image: 'postgres:15' }],
    }),
  );
  const byName = Object.fromEntries(containers.map((c) => [c.name, c.resources]));
  assert.deepEqual(
    byName.fetch,
    { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '64Mi' } },
    'a default request above the asked limit is lowered to it',
  );
  assert.deepEqual(byName.db, { requests: { ...DEFAULT_RESOURCES.requests }, limits: { ...DEFAULT_RESOURCES.limits } });
  assert.deepEqual(byName.step, { requests: { ...DEFAULT_RESOURCES.requests }, limits: { memory: '1Gi' } });
});

const ZEROS = ['0', '0m', '0Mi', '0Gi', '0.0', '0.0Gi', '00', '0Ki', '0k', '0E'];

test('zero and absent are alike: every spelling of zero is replaced by the default (or left out when there is none)', () => {
  for (const zero of ZEROS) {
    assert.ok(isZeroQuantity(zero), zero);
    const resources = { requests: { cpu: zero, memory: zero }, limits: { cpu: zero, memory: zero } };
    const containers = containersOf(
      wf({
        resources,
        sidecars: [{ name: 'db', image: 'postgres:15', resources }],
        initContainers: [{ name: 'i', image: 'a:1', resources }],
      }),
    );
    for (const c of containers) {
      assert.equal(c.resources?.limits?.memory, DEFAULT_RESOURCES.limits?.memory, `${zero} on ${c.name}`);
      assert.equal(
        c.resources?.limits?.cpu,
        undefined,
        `${zero} cpu limit on ${c.name}: no default, so no limit (not "0")`,
      );
    }
    const none = containersOf(wf({ resources }), { ...ctx, defaultResources: {} });
    assert.equal(
      none[0]?.resources,
      undefined,
      `${zero} with no defaults: no resources at all, so policy sees no limit`,
    );
  }
  for (const q of ['1', '1m', '0.1', '1Ki', '100Mi']) assert.equal(isZeroQuantity(q), false, q);
});

test('a request above its limit is refused at validate, on every container kind', () => {
  const over = { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } };
  assert.deepEqual(issuesOf(wf({ resources: over }))?.paths, ['workflow.steps.0.resources.requests.memory']);
  assert.deepEqual(issuesOf(wf({ sidecars: [{ name: 'db', image: 'p:1', resources: over }] }))?.paths, [
    'workflow.steps.0.sidecars.0.resources.requests.memory',
  ]);
  assert.deepEqual(
    issuesOf(
      wf({
        initContainers: [{ name: 'i', image: 'p:1', resources: { requests: { cpu: '2' }, limits: { cpu: '1500m' } } }],
      }),
    )?.paths,
    ['workflow.steps.0.initContainers.0.resources.requests.cpu'],
  );
  assert.equal(
    issuesOf(wf({ resources: { requests: { memory: '2Gi' }, limits: { memory: '0' } } })),
    undefined,
    'a zero limit is no limit, so nothing to be above',
  );
});

const quantity = fc.oneof(
  fc.constantFrom(...ZEROS),
  fc.tuple(fc.integer({ min: 1, max: 4096 }), fc.constantFrom('', 'm', 'Mi', 'Gi', 'k')).map(([n, u]) => `${n}${u}`),
);
const resourceSpec = fc.record(
  {
    requests: fc.option(fc.record({ cpu: quantity, memory: quantity }, { requiredKeys: [] }), { nil: undefined }),
    limits: fc.option(fc.record({ cpu: quantity, memory: quantity }, { requiredKeys: [] }), { nil: undefined }),
  },
  { requiredKeys: [] },
);

test('property: with the default config every container of every valid step has a non-zero memory limit and no request above its limit', () => {
  fc.assert(
    fc.property(resourceSpec, resourceSpec, resourceSpec, (main, side, init) => {
      const claim: unknown = JSON.parse(
        JSON.stringify(
          wf({
            resources: main,
            sidecars: [{ name: 'db', image: 'p:1', resources: side }],
            initContainers: [{ name: 'i', image: 'p:1', resources: init }],
          }),
        ),
      );
      const r = validate(claim);
      if (!r.ok) return r.error.code === 'VALIDATE_SCHEMA';
      const pod = buildPod(r.value, r.value.steps[0]!, ctx);
      for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
        const limit = c.resources?.limits?.memory;
        if (limit === undefined || isZeroQuantity(limit)) return false;
        for (const name of ['cpu', 'memory']) {
          const [req, lim] = [c.resources?.requests?.[name], c.resources?.limits?.[name]];
          if (req !== undefined && isZeroQuantity(req)) return false;
          if (req !== undefined && lim !== undefined && (quantityValue(req) ?? 0) > (quantityValue(lim) ?? 0))
            return false;
        }
      }
      return true;
    }),
    { numRuns: 1000 },
  );
});

// ---- mounts: unique per container, normalised, off the runner's own -----------------------------

const withVolume = (mounts: unknown[]) =>
  wf(
    { volumes: mounts },
    {
      volumes: [
        { name: 'v', size: '1Gi' },
        { name: 'w', size: '1Gi' },
      ],
    },
  );

test('mount paths are compared after normalisation', () => {
  for (const p of ['/data', '/data/', '/data/.', '//data', '/data//', '/./data', '///data/./'])
    assert.equal(normaliseMountPath(p), '/data', p);
  assert.equal(normaliseMountPath('/'), '/');
  assert.equal(normaliseMountPath('//'), '/');
  assert.ok(mountConflicts('/', '/workspace'));
  assert.ok(mountConflicts('/workspace/x', '/workspace'));
  assert.ok(!mountConflicts('/workspaces', '/workspace'), 'a prefix is not a parent: path boundaries');
});

/** [what, mounts, path of the expected issue or undefined when valid]. */
const MOUNTS: [string, unknown[], string | undefined][] = [
  ['one mount', [{ name: 'a', mount: '/data', volume: 'v' }], undefined],
  [
    'two volumes nested (allowed)',
    [
      { name: 'a', mount: '/data', volume: 'v' },
      { name: 'b', mount: '/data/cache', volume: 'w' },
    ],
    undefined,
  ],
  [
    'the reported example: two volumes at one path',
    [
      { name: 'a', mount: '/data', volume: 'v' },
      { name: 'b', mount: '/data', volume: 'w' },
    ],
    'workflow.steps.0.volumes.1.mount',
  ],
  [
    'same path with a trailing slash',
    [
      { name: 'a', mount: '/data', volume: 'v' },
      { name: 'b', mount: '/data/', volume: 'w' },
    ],
    'workflow.steps.0.volumes.1.mount',
  ],
  [
    'same path with /.',
    [
      { name: 'a', mount: '/data', volume: 'v' },
      { name: 'b', mount: '/data/.', volume: 'w' },
    ],
    'workflow.steps.0.volumes.1.mount',
  ],
  [
    'same path with //',
    [
      { name: 'a', mount: '/data', volume: 'v' },
      { name: 'b', mount: '//data', volume: 'w' },
    ],
    'workflow.steps.0.volumes.1.mount',
  ],
  [
    'same mount name twice',
    [
      { name: 'a', mount: '/x', volume: 'v' },
      { name: 'a', mount: '/y', volume: 'w' },
    ],
    'workflow.steps.0.volumes.1.name',
  ],
  ['at /workspace', [{ name: 'a', mount: '/workspace', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['at /workspace/', [{ name: 'a', mount: '/workspace/', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['under /workspace', [{ name: 'a', mount: '/workspace/cache', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['at /tmp', [{ name: 'a', mount: '/tmp', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['at //tmp/.', [{ name: 'a', mount: '//tmp/.', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['under /tmp', [{ name: 'a', mount: '/tmp/x', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['over everything: /', [{ name: 'a', mount: '/', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['over everything: //', [{ name: 'a', mount: '//', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  ['a name only sharing a prefix: /workspaces', [{ name: 'a', mount: '/workspaces', volume: 'v' }], undefined],
  ['..', [{ name: 'a', mount: '/data/..', volume: 'v' }], 'workflow.steps.0.volumes.0.mount'],
  [
    'a mount name too long for vol-<name>',
    [{ name: 'a'.repeat(60), mount: '/x', volume: 'v' }],
    'workflow.steps.0.volumes.0.name',
  ],
];

for (const [what, mounts, path] of MOUNTS) {
  test(`mounts: ${what} → ${path ?? 'valid'}`, () => {
    const issues = issuesOf(withVolume(mounts));
    if (path === undefined) {
      assert.equal(issues, undefined, JSON.stringify(issues));
      const r = validate(withVolume(mounts));
      assert.ok(r.ok);
      const pod = buildPod(r.value, r.value.steps[0]!, ctx);
      const paths = (pod.spec?.containers[0]?.volumeMounts ?? []).map((m) => m.mountPath);
      assert.equal(new Set(paths).size, paths.length, 'mount paths unique in the pod');
      for (const v of pod.spec?.volumes ?? []) assert.ok(v.name.length <= 63, v.name);
    } else {
      assert.equal(issues?.code, 'VALIDATE_SCHEMA');
      assert.ok(issues.paths.includes(path), `${path} in ${JSON.stringify(issues.paths)}`);
    }
  });
}

test('the pod writes mount paths normalised', () => {
  const r = validate(withVolume([{ name: 'a', mount: '//data/./', volume: 'v' }]));
  assert.ok(r.ok);
  assert.equal(buildPod(r.value, r.value.steps[0]!, ctx).spec?.containers[0]?.volumeMounts?.[1]?.mountPath, '/data');
});

// ---- container names: unique in the pod --------------------------------------------------------

test('container names are unique across init containers, sidecars and the step\'s own container ("step")', () => {
  assert.deepEqual(issuesOf(wf({ sidecars: [{ name: 'step', image: 'p:1' }] }))?.paths, [
    'workflow.steps.0.sidecars.0.name',
  ]);
  assert.deepEqual(
    issuesOf(wf({ initContainers: [{ name: 'x', image: 'p:1' }], sidecars: [{ name: 'x', image: 'p:1' }] }))?.paths,
    ['workflow.steps.0.sidecars.0.name'],
  );
  assert.deepEqual(
    issuesOf(
      wf({
        sidecars: [
          { name: 'a', image: 'p:1' },
          { name: 'a', image: 'p:1' },
        ],
      }),
    )?.paths,
    ['workflow.steps.0.sidecars.1.name'],
  );
  assert.equal(
    issuesOf(wf({ initContainers: [{ name: 'a', image: 'p:1' }], sidecars: [{ name: 'b', image: 'p:1' }] })),
    undefined,
  );
});

test('runner.workflow.defaultResources: the defaults by default, `{}` for none, and a zero default is refused (it would mean no limit)', () => {
  const byDefault = loadConfig(configWith(''), {});
  assert.ok(byDefault.ok);
  assert.deepEqual(byDefault.value.runner.workflow.defaultResources, {
    requests: { ...DEFAULT_RESOURCES.requests },
    limits: { ...DEFAULT_RESOURCES.limits },
  });
  const none = loadConfig(configWith('workflow: { defaultResources: {} }'), {});
  assert.ok(none.ok);
  assert.deepEqual(none.value.runner.workflow.defaultResources, {});
  for (const zero of ['0', '0Mi', '0m']) {
    const c = loadConfig(configWith(`workflow: { defaultResources: { limits: { memory: "${zero}" } } }`), {});
    assert.equal(c.ok, false, zero);
    if (!c.ok) assert.match(c.error.message, /runner\.workflow\.defaultResources\.limits\.memory/);
  }
});
