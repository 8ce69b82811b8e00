/**
 * Red team round 6 (docs/reviews/2026-11-30-red-team-6.md): the Rego rewritten for speed (issue
 * #20: image references, allowed-host globs and quantities checked with string tests instead of
 * regex, glob.match and per-suffix scans) does not allow what the grammar denies. The shipped
 * policies with their default data, compiled to WASM, evaluated on step inputs that never went
 * through the workflow schema (the Rego's own grammar is the second wall).
 *
 * The class: a bypass of an allowlist by a spelling the fast check reads differently from the
 * registry / resolver / kubelet. Variants: registry allowlist (another host with the allowed one as
 * path, prefix or subdomain; ports; :443; digests; case; `..`, empty and trailing components;
 * lookalike Unicode; localhost and IP literals; `@` and `\` tricks), egress globs (the bare domain,
 * two labels, trailing dot, ports, U+3002, punycode, IP literals, doubled dots, dotless ı,
 * whitespace), quantities (exponents, signs, lower-case suffixes, hex, underscores, doubled
 * suffixes, huge values, NUL). Each was denied at 9fd7f51; these pin it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { DECISION_ENTRYPOINT, type PolicyEngine } from '../../src/evaluate/policy-engine.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

const RES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const H = '0123456789abcdef'.repeat(4);

/** Image → the codes the default data gives (sorted), or ALLOW. */
const IMAGES: [string, string][] = [
  ['ghcr.io/x:1', 'ALLOW'],
  ['GHCR.IO/x:1', 'ALLOW'],
  ['evil/ghcr.io:1', 'ALLOW'], // docker.io/evil/ghcr.io: Docker Hub, allowed by default
  ['ghcr.io:1', 'ALLOW'], // docker.io/library/ghcr.io:1
  [`ghcr.io/x@sha256:${H}`, 'ALLOW'],
  ['evil.com/ghcr.io/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['ghcr.io.evil.com/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['docker.io.evil.com/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['registry-1.docker.io.evil.com/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['index.docker.io.evil.com/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['ghcr.io:8443/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['evil.com:5000/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['localhost/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['localhost:5000/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['127.0.0.1/x:1', 'IMAGE_REGISTRY_NOT_ALLOWED'],
  [`evil.com/x@sha256:${H}`, 'IMAGE_REGISTRY_NOT_ALLOWED'],
  ['ghcr.io', 'IMAGE_TAG_NOT_PINNED'],
  ...[
    'ghcr.io:443/x:1',
    'docker.io:443/library/x:1',
    'ghcr.io/../x:1',
    'ghcr.io/x/:1',
    'ghcr.io//x:1',
    'ghcr.io./x:1',
    'ghcr\u0456.io/x:1',
    'ghcr.io/\u0445:1',
    'ghcr.io/X:1',
    `ghcr.io/x@sha256:${H.toUpperCase()}`,
    '[::1]/x:1',
    'quay.io@evil.com/x:1',
    'ghcr.io/x:1:2',
    'ghcr.io/x:-1',
    'ghcr.io\\evil.com/x:1',
    'ghcr.io/x:1@sha256:',
    `ghcr.io/x@sha256:${H}@sha256:${H}`,
    'ghcr.io/x:1\u0000',
    'ghcr.io/x:1 ',
    'ghcr.io/x:1\n',
  ].map((i): [string, string] => [i, 'IMAGE_REFERENCE_INVALID']),
];

/** Egress host (port 443) → codes, with the default allowed hosts api.github.com and *.amazonaws.com. */
const HOSTS: [string, string][] = [
  ['api.github.com', 'ALLOW'],
  ['API.GITHUB.COM', 'ALLOW'],
  ['s3.amazonaws.com', 'ALLOW'],
  ['S3.AmazonAWS.com', 'ALLOW'],
  ['*.amazonaws.com', 'EGRESS_WILDCARD_HOST'],
  ['**.amazonaws.com', 'EGRESS_NOT_ALLOWED,EGRESS_WILDCARD_HOST'],
  ...[
    'api.github.com.',
    'api.github.com.evil.com',
    'evil.api.github.com',
    'api.github.com:443',
    'amazonaws.com',
    'a.b.amazonaws.com',
    's3.amazonaws.com.evil.com',
    '.amazonaws.com',
    'evil.com/s3.amazonaws.com',
    '169.254.169.254',
    's3\u3002amazonaws.com',
    's3.amazonaws\u3002com',
    'xn--s3-amazonaws.com',
    's3..amazonaws.com',
    's3.amazonaws.com\n',
    's3.amazonaws.com ',
    'ap\u0131.github.com',
  ].map((h): [string, string] => [h, 'EGRESS_NOT_ALLOWED']),
];

/** A memory request and limit (maxMemory 8Gi by default) → allowed, or refused (any code). */
const QUANTITIES: [string | number, boolean][] = [
  ['8Gi', true],
  ['0.1Ki', true],
  ['9000000000m', true],
  [8.5e9, true],
  ...['8.000001Gi', '9Gi', '1Ei', '1P', '99999999999999999999999999999999999', 1e40].map(
    (q): [string | number, boolean] => [q, false],
  ),
  ...['1e3', '1E30', '+1', '1ki', '9e9', '0x10', '1_000', '.5', '1.5.5', '8Gi ', '-1', '9Gi9', '9GiB', '1G1Gi'].map(
    (q): [string | number, boolean] => [q, false],
  ),
  ...['8Gi\u0000', '0', 'Gi', '', -1, 0].map((q): [string | number, boolean] => [q, false]),
];

describe('REDTEAM-6: allowlist bypass attempts on the rewritten Rego (compiled WASM, default data)', () => {
  let work: string;
  let engine: PolicyEngine;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-rt6-'));
    const { file } = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
    engine = await loadEngine(await readBundle(file));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  const codes = (step: Record<string, unknown>, container: Record<string, unknown>): string => {
    const input = { step: { name: 'a', ...step }, pod: { spec: { containers: [{ name: 'step', ...container }] } } };
    const r = engine.evaluate(input, DECISION_ENTRYPOINT) as {
      result: { allow: boolean; violations: { code: string }[] };
    }[];
    const d = r[0]?.result ?? assert.fail('no decision');
    return d.allow ? 'ALLOW' : [...new Set(d.violations.map((v) => v.code))].sort().join(',');
  };

  test('image references: another registry never passes as an allowed one', () => {
    const got = IMAGES.map(([image]) => [image, codes({ image, resources: RES }, { image, resources: RES })]);
    assert.deepEqual(got, IMAGES);
  });

  test('egress hosts: the allowed globs cover exactly one label, nothing around it', () => {
    const image = 'python:3.11-slim';
    const got = HOSTS.map(([host]) => [
      host,
      codes({ image, resources: RES, egress: [{ host, ports: [443] }] }, { image, resources: RES }),
    ]);
    assert.deepEqual(got, HOSTS);
  });

  test('quantities: what Rego cannot read is over the cap, never under it', () => {
    const image = 'python:3.11-slim';
    const got = QUANTITIES.map(([q]) => {
      const resources = { requests: { cpu: '100m', memory: q }, limits: { memory: q } };
      return [q, codes({ image, resources: RES }, { image, resources }) === 'ALLOW'];
    });
    assert.deepEqual(got, QUANTITIES);
  });
});
