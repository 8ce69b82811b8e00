import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { resolveTools } from '../../src/adapters/tools.ts';
import { policyInput } from '../../bench/peers/gatekeeper.ts';
import {
  ALLOWED_REGISTRIES_REGO,
  PINNED_TAGS_REGO,
  REQUIRED_RESOURCES_REGO,
} from '../../bench/peers/gatekeeper/rego.ts';
import { REF_CASES } from '../support/image-refs.ts';

/**
 * The Rego of the Gatekeeper row's ConstraintTemplates, evaluated by the pinned opa (the engine
 * Gatekeeper embeds) with Gatekeeper's input shape. The class: a peer row whose policy answers
 * differently from the runner's — an image the runner places on one registry and the row on
 * another (Docker Hub short names, host aliases, ports, upper case), a tag one calls pinned and
 * the other not, a container kind one checks and the other skips. Driven by the runner's own
 * image-reference table (test/support/image-refs.ts: the runner's Rego and TypeScript parsers
 * agree on it), for every reference the runner accepts; invalid references the row does not judge
 * by grammar (BENCHMARKS.md lists it among what the row lacks).
 */
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
const run = promisify(execFile);
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-gk-rego-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

async function evaluate(rego: string, query: string, input: unknown): Promise<unknown> {
  const file = join(dir, `${query.replace(/\W/g, '_').slice(0, 60)}-${Math.random().toString(36).slice(2)}.rego`);
  await writeFile(file, rego);
  const inputFile = `${file}.json`;
  await writeFile(inputFile, JSON.stringify(input));
  const { stdout } = await run(opa, ['eval', '--format=json', '-d', file, '-i', inputFile, query]);
  const out = JSON.parse(stdout) as { result?: { expressions: { value: unknown }[] }[] };
  return out.result?.[0]?.expressions[0]?.value;
}

const valid = REF_CASES.filter((c) => c.canonical !== null);

test('every image reference the runner accepts is on the same registry for the Gatekeeper row', async () => {
  const got = (await evaluate(
    ALLOWED_REGISTRIES_REGO,
    '{i: r | some i in input.images; r := data.k8sbenchallowedregistries.registry(i)}',
    { images: valid.map((c) => c.ref) },
  )) as Record<string, string>;
  assert.ok(valid.length > 30);
  for (const c of valid) assert.equal(got[c.ref], c.canonical?.split('/')[0], c.ref);
});

/** Tags the shared table lacks, with the runner's canonical form (IMAGE_TAG_NOT_PINNED: no digest, tag "" or "latest"). */
const TAG_CASES = [
  { ref: 'python:latest', canonical: 'docker.io/library/python:latest' },
  { ref: 'localhost:5000/app', canonical: 'localhost:5000/app:latest' },
  { ref: 'localhost:5000/app:1.0', canonical: 'localhost:5000/app:1.0' },
  { ref: `ghcr.io/a/b:latest@sha256:${'a'.repeat(64)}`, canonical: `ghcr.io/a/b:latest@sha256:${'a'.repeat(64)}` },
  { ref: 'ghcr.io/a/b:LATEST', canonical: 'ghcr.io/a/b:LATEST' },
];

test('every image reference the runner accepts is pinned (or not) alike for the Gatekeeper row', async () => {
  const cases = [...valid, ...TAG_CASES];
  const got = (await evaluate(
    PINNED_TAGS_REGO,
    '{i: u | some i in input.images; u := data.k8sbenchpinnedtags.unpinned(i)}',
    { images: cases.map((c) => c.ref) },
  )) as Record<string, boolean>;
  for (const c of cases) {
    const runnerUnpinned = !(c.canonical ?? '').includes('@') && (c.canonical ?? '').endsWith(':latest');
    assert.equal(got[c.ref] === true, runnerUnpinned, c.ref);
  }
});

const OK = { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } };
const P = policyInput('ns');

/** The contract's fixture pods (bench step, :latest, foreign registry, no memory limit) and their
 * variants in every container kind; privileged is PodSecurity's (not a Constraint's) to deny. */
const CASES: { name: string; spec: object; denied: boolean }[] = [
  {
    name: 'the bench step',
    spec: { containers: [{ name: 'c', image: 'python:3.11-slim', resources: OK }] },
    denied: false,
  },
  { name: ':latest', spec: { containers: [{ name: 'c', image: 'python:latest', resources: OK }] }, denied: true },
  { name: 'untagged', spec: { containers: [{ name: 'c', image: 'ghcr.io/a/b', resources: OK }] }, denied: true },
  {
    name: 'digest only',
    spec: { containers: [{ name: 'c', image: `ghcr.io/a/b@sha256:${'a'.repeat(64)}`, resources: OK }] },
    denied: false,
  },
  {
    name: 'foreign registry',
    spec: { containers: [{ name: 'c', image: 'evil.example.com/x:1', resources: OK }] },
    denied: true,
  },
  {
    name: 'foreign registry with a port',
    spec: { containers: [{ name: 'c', image: 'localhost:5000/x:1', resources: OK }] },
    denied: true,
  },
  {
    name: 'no memory limit',
    spec: { containers: [{ name: 'c', image: 'python:3.11', resources: { requests: OK.requests } }] },
    denied: true,
  },
  {
    name: 'no cpu request',
    spec: {
      containers: [{ name: 'c', image: 'python:3.11', resources: { requests: { memory: '1Mi' }, limits: OK.limits } }],
    },
    denied: true,
  },
  { name: 'no resources at all', spec: { containers: [{ name: 'c', image: 'python:3.11' }] }, denied: true },
  {
    name: 'a foreign init container',
    spec: {
      initContainers: [{ name: 'i', image: 'evil.example.com/x:1', resources: OK }],
      containers: [{ name: 'c', image: 'python:3.11', resources: OK }],
    },
    denied: true,
  },
  {
    name: 'an ephemeral container without limits',
    spec: {
      containers: [{ name: 'c', image: 'python:3.11', resources: OK }],
      ephemeralContainers: [{ name: 'e', image: 'python:3.11' }],
    },
    denied: true,
  },
];

const TEMPLATES = [
  ['k8sbenchallowedregistries', ALLOWED_REGISTRIES_REGO, { registries: P.registries }],
  ['k8sbenchpinnedtags', PINNED_TAGS_REGO, {}],
  ['k8sbenchrequiredresources', REQUIRED_RESOURCES_REGO, { requests: P.requests, limits: P.limits }],
] as const;

for (const c of CASES) {
  test(`the Gatekeeper row's Constraints ${c.denied ? 'deny' : 'allow'} ${c.name}`, async () => {
    let violations = 0;
    for (const [pkg, rego, parameters] of TEMPLATES) {
      const input = { review: { object: { kind: 'Pod', spec: c.spec } }, parameters };
      const v = (await evaluate(rego, `data.${pkg}.violation`, input)) as unknown[];
      violations += v.length;
    }
    assert.equal(violations > 0, c.denied);
  });
}
