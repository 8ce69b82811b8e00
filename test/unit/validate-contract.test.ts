// The workflow claim's schema, one past each edge (src/validate/schema.ts, docs/workflow.md): every
// count and length bound accepts its edge and refuses one past it with an issue at the field's path,
// every pattern refuses a near miss, and the cross-field rules each name the offending element. The
// bounds are the contract the signer relies on: a bound the runner does not enforce lets a token put
// unbounded text into the WorkflowRun, the pod and the audit log. Written from the mutants that
// survived the validate scope (docs/mutation.md); each row names the bound it guards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prerequisites } from '../../src/validate/graph.ts';
import { validate } from '../../src/validate/validate.ts';

const step = { name: 's', image: 'python:3.11' };
const wf = (over: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'w',
  name: 'n',
  runId: 'r',
  steps: [{ ...step, ...over }],
  ...extra,
});
const vol = { volumes: [{ name: 'v', size: '1Gi' }] };
const mountAt = (m: Record<string, unknown>): Record<string, unknown> =>
  wf({ volumes: [{ name: 'd', mount: '/data', volume: 'v', ...m }] }, vol);
const s = (n: number, c = 'a'): string => c.repeat(n);
const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const label = (i: number): string => `s${i}`;

/** The issue paths of a refused claim (VALIDATE_SCHEMA), or undefined when it is valid. */
function refusedAt(claim: unknown): string[] | undefined {
  const r = validate(claim);
  if (r.ok) return undefined;
  assert.equal(r.error.code, 'VALIDATE_SCHEMA', r.error.message);
  return (r.error.details?.issues ?? []).map((i) => i.path);
}

/** [bound, claim at the edge (valid), claim one past it (refused), the path of the issue or its parent]. */
const BOUNDS: [string, unknown, unknown, string][] = [
  ['workflow id: DNS label of at most 63', wf({}, { id: s(63) }), wf({}, { id: s(64) }), 'workflow.id'],
  ['workflow id: not empty', wf({}, { id: 'a' }), wf({}, { id: '' }), 'workflow.id'],
  ['runId: DNS label', wf({}, { runId: 'a-1' }), wf({}, { runId: 'a-' }), 'workflow.runId'],
  ['workflow name: at most 253', wf({}, { name: s(253) }), wf({}, { name: s(254) }), 'workflow.name'],
  ['workflow name: not empty', wf({}, { name: 'x' }), wf({}, { name: '' }), 'workflow.name'],
  [
    'steps: at most 64',
    wf({}, { steps: many(64, (i) => ({ ...step, name: label(i) })) }),
    wf({}, { steps: many(65, (i) => ({ ...step, name: label(i) })) }),
    'workflow.steps',
  ],
  [
    'workflow volumes: at most 16',
    wf({}, { volumes: many(16, (i) => ({ name: `v${i}`, size: '1Gi' })) }),
    wf({}, { volumes: many(17, (i) => ({ name: `v${i}`, size: '1Gi' })) }),
    'workflow.volumes',
  ],
  [
    'workflow volume size: a quantity of at most 32 characters',
    wf({}, { volumes: [{ name: 'v', size: s(32, '1') }] }),
    wf({}, { volumes: [{ name: 'v', size: s(33, '1') }] }),
    'workflow.volumes.0.size',
  ],
  ['step name: starts alphanumeric', wf({ name: '0a' }), wf({ name: '-a' }), 'workflow.steps.0.name'],
  ['step name: ends alphanumeric', wf({ name: 'a0' }), wf({ name: 'a-' }), 'workflow.steps.0.name'],
  ['step name: lower case', wf({ name: 'a-b' }), wf({ name: 'aB' }), 'workflow.steps.0.name'],
  ['image: not empty', wf({ image: 'a' }), wf({ image: '' }), 'workflow.steps.0.image'],
  ['image: no whitespace anywhere', wf({ image: 'python:3' }), wf({ image: 'python:3\t' }), 'workflow.steps.0.image'],
  [
    'argv: at most 256 items',
    wf({ args: many(256, () => 'a') }),
    wf({ args: many(257, () => 'a') }),
    'workflow.steps.0.args',
  ],
  ['argv item: at most 8192', wf({ command: [s(8192)] }), wf({ command: [s(8193)] }), 'workflow.steps.0.command.0'],
  ['env name: a C identifier', wf({ env: { _A1: 'x' } }), wf({ env: { '1A': 'x' } }), 'workflow.steps.0.env.1A'],
  [
    'env name: at most 256',
    wf({ env: { [s(256, 'A')]: 'x' } }),
    wf({ env: { [s(257, 'A')]: 'x' } }),
    `workflow.steps.0.env.${s(257, 'A')}`,
  ],
  ['env value: at most 32768', wf({ env: { A: s(32768) } }), wf({ env: { A: s(32769) } }), 'workflow.steps.0.env.A'],
  [
    'env: at most 128 variables',
    wf({ env: Object.fromEntries(many(128, (i) => [`V${i}`, 'x'])) }),
    wf({ env: Object.fromEntries(many(129, (i) => [`V${i}`, 'x'])) }),
    'workflow.steps.0.env',
  ],
  [
    'secretRef secret: a DNS subdomain of at most 253',
    wf({ env: { A: { secretRef: { secret: `a.${s(251)}`, key: 'k' } } } }),
    wf({ env: { A: { secretRef: { secret: `a.${s(252)}`, key: 'k' } } } }),
    'workflow.steps.0.env.A',
  ],
  [
    'secretRef secret: ends alphanumeric',
    wf({ env: { A: { secretRef: { secret: 'a.b', key: 'k' } } } }),
    wf({ env: { A: { secretRef: { secret: 'a.', key: 'k' } } } }),
    'workflow.steps.0.env.A',
  ],
  [
    'secretRef key: at most 253',
    wf({ env: { A: { secretRef: { secret: 's', key: s(253) } } } }),
    wf({ env: { A: { secretRef: { secret: 's', key: s(254) } } } }),
    'workflow.steps.0.env.A.secretRef.key',
  ],
  [
    'secretRef key: not empty',
    wf({ env: { A: { secretRef: { secret: 's', key: 'k' } } } }),
    wf({ env: { A: { secretRef: { secret: 's', key: '' } } } }),
    'workflow.steps.0.env.A.secretRef.key',
  ],
  [
    'envFrom: at most 16',
    wf({ envFrom: many(16, (i) => ({ secret: `s${i}` })) }),
    wf({ envFrom: many(17, (i) => ({ secret: `s${i}` })) }),
    'workflow.steps.0.envFrom',
  ],
  [
    'envFrom secret: at most 253',
    wf({ envFrom: [{ secret: s(253) }] }),
    wf({ envFrom: [{ secret: s(254) }] }),
    'workflow.steps.0.envFrom.0.secret',
  ],
  [
    'envFrom secret: not empty',
    wf({ envFrom: [{ secret: 'a' }] }),
    wf({ envFrom: [{ secret: '' }] }),
    'workflow.steps.0.envFrom.0.secret',
  ],
  ['gpu: at most 16', wf({ resources: { gpu: 16 } }), wf({ resources: { gpu: 17 } }), 'workflow.steps.0.resources.gpu'],
  [
    'gpu: not negative',
    wf({ resources: { gpu: 0 } }),
    wf({ resources: { gpu: -1 } }),
    'workflow.steps.0.resources.gpu',
  ],
  [
    'quantity: a known suffix',
    wf({ resources: { limits: { memory: '1.5Gi', cpu: '500m', 'ephemeral-storage': '1E' } } }),
    wf({ resources: { limits: { memory: '1GB' } } }),
    'workflow.steps.0.resources.limits.memory',
  ],
  [
    'resources: only cpu, memory and ephemeral-storage',
    wf({ resources: { requests: { cpu: '1' } } }),
    wf({ resources: { requests: { 'nvidia.com/gpu': '1' } } }),
    'workflow.steps.0.resources.requests',
  ],
  [
    'sidecars: at most 8',
    wf({ sidecars: many(8, (i) => ({ name: `c${i}`, image: 'i:1' })) }),
    wf({ sidecars: many(9, (i) => ({ name: `c${i}`, image: 'i:1' })) }),
    'workflow.steps.0.sidecars',
  ],
  [
    'initContainers: at most 8',
    wf({ initContainers: many(8, (i) => ({ name: `c${i}`, image: 'i:1' })) }),
    wf({ initContainers: many(9, (i) => ({ name: `c${i}`, image: 'i:1' })) }),
    'workflow.steps.0.initContainers',
  ],
  [
    'step volumes: at most 16',
    wf({ volumes: many(16, (i) => ({ name: `m${i}`, mount: `/m${i}`, volume: 'v' })) }, vol),
    wf({ volumes: many(17, (i) => ({ name: `m${i}`, mount: `/m${i}`, volume: 'v' })) }, vol),
    'workflow.steps.0.volumes',
  ],
  [
    'mount name: at most 59 (vol-<name>)',
    mountAt({ name: s(59) }),
    mountAt({ name: s(60) }),
    'workflow.steps.0.volumes.0.name',
  ],
  [
    'mount path: at most 1024',
    mountAt({ mount: `/${s(1023)}` }),
    mountAt({ mount: `/${s(1024)}` }),
    'workflow.steps.0.volumes.0.mount',
  ],
  ['mount path: absolute', mountAt({ mount: '/d' }), mountAt({ mount: 'd/' }), 'workflow.steps.0.volumes.0.mount'],
  [
    'mount path: ".." as a segment only',
    mountAt({ mount: '/a..b/..c' }),
    mountAt({ mount: '/a/..' }),
    'workflow.steps.0.volumes.0.mount',
  ],
  [
    'egress: at most 64',
    wf({ egress: many(64, () => ({ host: 'h', ports: [443] })) }),
    wf({ egress: many(65, () => ({ host: 'h', ports: [443] })) }),
    'workflow.steps.0.egress',
  ],
  [
    'egress host: at most 253',
    wf({ egress: [{ host: s(253), ports: [1] }] }),
    wf({ egress: [{ host: s(254), ports: [1] }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'egress host: not empty',
    wf({ egress: [{ host: 'h', ports: [1] }] }),
    wf({ egress: [{ host: '', ports: [1] }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'egress cidr: at most 64',
    wf({ egress: [{ cidr: s(64), ports: [1] }] }),
    wf({ egress: [{ cidr: s(65), ports: [1] }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'egress cidr: not empty',
    wf({ egress: [{ cidr: '1', ports: [1] }] }),
    wf({ egress: [{ cidr: '', ports: [1] }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'egress port: at most 65535',
    wf({ egress: [{ cidr: 'c', ports: [65535] }] }),
    wf({ egress: [{ cidr: 'c', ports: [65536] }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'egress port: at least 1',
    wf({ egress: [{ host: 'h', ports: [1] }] }),
    wf({ egress: [{ host: 'h', ports: [0] }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'egress ports: at least 1',
    wf({ egress: [{ cidr: 'c', ports: [1] }] }),
    wf({ egress: [{ cidr: 'c', ports: [] }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'egress ports: at most 16',
    wf({ egress: [{ host: 'h', ports: many(16, (i) => i + 1) }] }),
    wf({ egress: [{ host: 'h', ports: many(17, (i) => i + 1) }] }),
    'workflow.steps.0.egress.0',
  ],
  [
    'dependsOn: at most 64 entries',
    wf(
      {},
      {
        steps: [
          { ...step, name: 'a' },
          { ...step, name: 'b', dependsOn: many(64, () => 'a') },
        ],
      },
    ),
    wf(
      {},
      {
        steps: [
          { ...step, name: 'a' },
          { ...step, name: 'b', dependsOn: many(65, () => 'a') },
        ],
      },
    ),
    'workflow.steps.1.dependsOn',
  ],
];

for (const [bound, atEdge, pastEdge, path] of BOUNDS) {
  test(`schema bound, ${bound}: the edge is valid, one past it is refused at ${path}`, () => {
    assert.equal(refusedAt(atEdge), undefined, `the edge must be valid: ${JSON.stringify(refusedAt(atEdge))}`);
    const paths = refusedAt(pastEdge) ?? [];
    assert.ok(
      paths.some((p) => p === path || p.startsWith(`${path}.`)),
      `expected an issue at ${path}, got ${JSON.stringify(paths)}`,
    );
  });
}

/** Class: the cross-field rules of one workflow, each naming the element that breaks it. */
const RULES: [string, unknown, string, RegExp][] = [
  [
    'a step depending on itself',
    wf({ name: 'a', dependsOn: ['a'] }),
    'workflow.steps.0.dependsOn.0',
    /unknown step "a"/,
  ],
  [
    'a sidecar named like the step container',
    wf({ sidecars: [{ name: 'step', image: 'i:1' }] }),
    'workflow.steps.0.sidecars.0.name',
    /"step" is already used by the step's own container/,
  ],
  [
    'an init container and a sidecar of the same name',
    wf({ initContainers: [{ name: 'x', image: 'i:1' }], sidecars: [{ name: 'x', image: 'i:1' }] }),
    'workflow.steps.0.sidecars.0.name',
    /"x" is already used by initContainers\[0\]/,
  ],
  [
    'two mounts of one name',
    wf(
      {
        volumes: [
          { name: 'd', mount: '/a', volume: 'v' },
          { name: 'd', mount: '/b', volume: 'v' },
        ],
      },
      vol,
    ),
    'workflow.steps.0.volumes.1.name',
    /duplicate mount name "d"/,
  ],
  [
    'two mounts at one path',
    wf(
      {
        volumes: [
          { name: 'a', mount: '/x', volume: 'v' },
          { name: 'b', mount: '/y', volume: 'v' },
          { name: 'c', mount: '/y/', volume: 'v' },
        ],
      },
      vol,
    ),
    'workflow.steps.0.volumes.2.mount',
    /the same path as the mount of volumes\[1\]/,
  ],
  [
    "a mount under the runner's /workspace",
    mountAt({ mount: '/workspace/x' }),
    'workflow.steps.0.volumes.0.mount',
    /runner's own mount \/workspace/,
  ],
  [
    "a mount over the runner's /tmp",
    mountAt({ mount: '/' }),
    'workflow.steps.0.volumes.0.mount',
    /runner's own mount \/workspace/,
  ],
  [
    'a request above its limit',
    wf({ resources: { requests: { cpu: '2' }, limits: { cpu: '1500m' } } }),
    'workflow.steps.0.resources.requests.cpu',
    /the cpu request is above its limit \(1500m\)/,
  ],
  ['a duplicate step name', wf({}, { steps: [step, step] }), 'workflow.steps.1.name', /duplicate step name "s"/],
  [
    'a mount of an undeclared volume',
    mountAt({ volume: 'w' }),
    'workflow.steps.0.volumes.0.volume',
    /unknown workflow volume "w"/,
  ],
];
for (const [rule, claim, path, message] of RULES) {
  test(`cross-field rule: ${rule} → ${path}`, () => {
    const r = validate(claim);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const issue = (r.error.details?.issues ?? []).find((i) => i.path === path);
    assert.ok(issue, `no issue at ${path}: ${JSON.stringify(r.error.details)}`);
    assert.match(issue.message, message);
  });
}

test('image: 512 characters pass the schema (and meet the reference grammar), 513 are refused by the schema', () => {
  // No valid reference is 512 long (a repository is at most 255), so the edge is the grammar's refusal.
  const at = validate(wf({ image: `r/${s(510)}` }));
  assert.equal(!at.ok && at.error.code, 'VALIDATE_IMAGE_REFERENCE');
  const past = validate(wf({ image: `r/${s(511)}` }));
  assert.equal(!past.ok && past.error.code, 'VALIDATE_SCHEMA');
});

test('a request at its limit, or under a zero limit (no limit), is valid', () => {
  assert.equal(refusedAt(wf({ resources: { requests: { cpu: '1' }, limits: { cpu: '1000m' } } })), undefined);
  assert.equal(refusedAt(wf({ resources: { requests: { memory: '1Gi' }, limits: { memory: '0' } } })), undefined);
  assert.equal(refusedAt(wf({ resources: { requests: { memory: '1Gi' }, limits: { cpu: '1' } } })), undefined);
});

test('a refused claim: the message counts the issues and names the first; the detail lists at most 50', () => {
  const r = validate(wf({}, { steps: many(60, () => ({ name: 'BAD', image: '' })) }));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(
    r.error.message,
    /^workflow claim is invalid: 50 issue\(s\), first at workflow\.steps\.0\.name: must be a DNS label/,
  );
  assert.equal(r.error.details?.issues.length, 50);
});

test('a dependsOn cycle is VALIDATE_SCHEMA naming the steps around it', () => {
  const r = validate(
    wf(
      {},
      {
        steps: [
          { ...step, name: 'a', dependsOn: ['c'] },
          { ...step, name: 'b', dependsOn: ['a'] },
          { ...step, name: 'c', dependsOn: ['b'] },
        ],
      },
    ),
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, 'VALIDATE_SCHEMA');
  assert.equal(r.error.message, 'workflow claim is invalid: dependsOn cycle: a → c → b → a');
  assert.deepEqual(r.error.details?.issues, [
    { path: 'workflow.steps.dependsOn', message: 'dependsOn cycle: a → c → b → a' },
  ]);
});

test('acyclic graphs are valid: a diamond, parallel roots, and the default order', () => {
  const diamond = [
    { ...step, name: 'a', dependsOn: [] },
    { ...step, name: 'b', dependsOn: ['a'] },
    { ...step, name: 'c', dependsOn: ['a'] },
    { ...step, name: 'd', dependsOn: ['b', 'c'] },
    { ...step, name: 'e' },
  ];
  const r = validate(wf({}, { steps: diamond }));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.deepEqual(
    Object.fromEntries(prerequisites(r.value)),
    { a: [], b: ['a'], c: ['a'], d: ['b', 'c'], e: ['d'] },
    'a step without dependsOn runs after the step before it; the first starts with the run',
  );
});

test('an invalid image reference: the message counts them and names the first path; every container kind is checked', () => {
  const r = validate(
    wf({
      image: 'Upper/Case:1',
      sidecars: [{ name: 'c', image: 'a/../b:1' }],
      initContainers: [{ name: 'i', image: 'X:1' }],
    }),
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, 'VALIDATE_IMAGE_REFERENCE');
  assert.match(
    r.error.message,
    /^workflow claim names an invalid image reference: 3 issue\(s\), first at workflow\.steps\.0\.image: ./,
  );
  assert.deepEqual(
    (r.error.details?.issues ?? []).map((i) => i.path),
    ['workflow.steps.0.image', 'workflow.steps.0.sidecars.0.image', 'workflow.steps.0.initContainers.0.image'],
  );
});

test('ill-formed text: the message counts the issues and names the first path and reason', () => {
  const r = validate(wf({ args: ['a\udbff', 'b\u0000'] }));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, 'VALIDATE_UNICODE');
  assert.equal(
    r.error.message,
    'workflow claim holds text that cannot be stored faithfully: 2 issue(s), first at workflow.steps.0.args.0: is not well-formed Unicode (a lone UTF-16 surrogate)',
  );
  assert.deepEqual(r.error.details?.issues, [
    { path: 'workflow.steps.0.args.0', message: 'is not well-formed Unicode (a lone UTF-16 surrogate)' },
    { path: 'workflow.steps.0.args.1', message: 'must not contain a NUL character' },
  ]);
});

test('ill-formed text: at most 50 issues are listed (the record stays bounded)', () => {
  const r = validate(wf({ args: many(80, () => '\udbff') }));
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.details?.issues.length, 50);
});

test('the cycle names only the steps around it, not a finished branch visited on the way', () => {
  // a → x is done before a → c → b → a closes; x must not appear in the cycle.
  const steps = [
    { ...step, name: 'a', dependsOn: ['x', 'c'] },
    { ...step, name: 'x', dependsOn: [] },
    { ...step, name: 'b', dependsOn: ['a'] },
    { ...step, name: 'c', dependsOn: ['b'] },
  ];
  const r = validate(wf({}, { steps }));
  assert.equal(!r.ok && r.error.message, 'workflow claim is invalid: dependsOn cycle: a → c → b → a');
});

test(
  'the cycle check is linear: 64 steps, each depending on every earlier one, validate at once',
  { timeout: 10_000 },
  () => {
    // Without the "done" mark the search would revisit each finished step: 2^63 paths.
    const steps = many(64, (i) => ({ ...step, name: label(i), dependsOn: many(i, label) }));
    const started = Date.now();
    const r = validate(wf({}, { steps }));
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error.message));
    assert.ok(Date.now() - started < 5_000);
  },
);

/**
 * Class: what runs is free of bidi formatting characters at every index (steps, containers, argv
 * items past 9), and only what runs: a secretRef's key names a Secret key and is not executed.
 * The display name is free of every control character: the C0 and C1 ranges to their last member.
 */
const TEXT: [string, unknown, string | undefined][] = [
  [
    'a bidi override in step 10',
    wf({}, { steps: many(11, (i) => ({ ...step, name: label(i), ...(i === 10 ? { args: ['\u202e'] } : {}) })) }),
    'workflow.steps.10.args.0',
  ],
  ['a bidi override in argument 10', wf({ args: [...many(10, () => 'a'), 'x\u202ey'] }), 'workflow.steps.0.args.10'],
  [
    'a bidi override in command word 12',
    wf({ command: [...many(12, () => 'a'), '\u2066'] }),
    'workflow.steps.0.command.12',
  ],
  [
    'a bidi override in a secretRef key (not run text)',
    wf({ env: { A: { secretRef: { secret: 's', key: 'k\u202e' } } } }),
    undefined,
  ],
  ['U+001F (last C0) in the display name', wf({}, { name: 'a\u001fb' }), 'workflow.name'],
  ['U+007F (DEL) in the display name', wf({}, { name: 'a\u007fb' }), 'workflow.name'],
  ['U+009F (last C1) in the display name', wf({}, { name: 'a\u009fb' }), 'workflow.name'],
  ['U+00A0 (no-break space) in the display name', wf({}, { name: 'a\u00a0b' }), undefined],
  ['U+0020 (space) in the display name', wf({}, { name: 'a b' }), undefined],
];
for (const [name, claim, path] of TEXT) {
  test(`text: ${name} → ${path ?? 'no VALIDATE_UNICODE'}`, () => {
    const r = validate(claim);
    if (path === undefined) {
      assert.ok(r.ok || r.error.code !== 'VALIDATE_UNICODE', JSON.stringify(!r.ok && r.error));
      return;
    }
    assert.equal(!r.ok && r.error.code, 'VALIDATE_UNICODE');
    assert.ok(!r.ok && r.error.details?.issues.some((i) => i.path === path), JSON.stringify(!r.ok && r.error));
  });
}

test('an issue path keeps a well-formed key as it is (an emoji pair is not escaped), escapes a lone half', () => {
  const r = validate(wf({}, { ['😀']: { ['\ud800']: 'x\u0000' } }));
  assert.equal(!r.ok && r.error.code, 'VALIDATE_UNICODE');
  if (r.ok) return;
  assert.deepEqual(r.error.details?.issues, [
    { path: 'workflow.😀.\\ud800', message: 'key is not well-formed Unicode (a lone UTF-16 surrogate)' },
    { path: 'workflow.😀.\\ud800', message: 'must not contain a NUL character' },
  ]);
});

/**
 * Class: a refused field tells the author why (the issue's message is the response body's and the
 * audit record's detail), and each pattern is anchored at both ends: a valid suffix or prefix does
 * not make an invalid value valid.
 */
const WHY: [string, unknown, string, RegExp | undefined][] = [
  [
    'quantity',
    wf({ resources: { limits: { cpu: 'lots' } } }),
    'workflow.steps.0.resources.limits.cpu',
    /Kubernetes quantity/,
  ],
  [
    'quantity with a prefix',
    wf({ resources: { limits: { cpu: 'x1' } } }),
    'workflow.steps.0.resources.limits.cpu',
    undefined,
  ],
  [
    'env count',
    wf({ env: Object.fromEntries(many(129, (i) => [`V${i}`, 'x'])) }),
    'workflow.steps.0.env',
    /at most 128 variables/,
  ],
  ['image whitespace', wf({ image: 'a b' }), 'workflow.steps.0.image', /must not contain whitespace/],
  [
    'mount name length',
    mountAt({ name: s(60) }),
    'workflow.steps.0.volumes.0.name',
    /at most 59 characters .*vol-<name>/,
  ],
  ['relative mount', mountAt({ mount: 'data' }), 'workflow.steps.0.volumes.0.mount', /must be an absolute path/],
  ['mount with ..', mountAt({ mount: '/a/../b' }), 'workflow.steps.0.volumes.0.mount', /must not contain "\.\."/],
  [
    'secretRef secret with a leading "-"',
    wf({ env: { A: { secretRef: { secret: '-a.b', key: 'k' } } } }),
    'workflow.steps.0.env.A',
    undefined,
  ],
];
for (const [what, claim, path, why] of WHY) {
  test(`refused ${what} at ${path}${why ? `, saying ${String(why)}` : ''}`, () => {
    const r = validate(claim);
    assert.equal(!r.ok && r.error.code, 'VALIDATE_SCHEMA');
    if (r.ok) return;
    const issue = (r.error.details?.issues ?? []).find((i) => i.path === path || i.path.startsWith(`${path}.`));
    assert.ok(issue, JSON.stringify(r.error.details));
    if (why) assert.match(issue.message, why);
  });
}

test('a quantity with a fraction of several digits is valid (1.25Gi)', () => {
  assert.equal(refusedAt(wf({ resources: { limits: { memory: '1.25Gi' } } })), undefined);
});
