import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { readSettingsFragments } from '../../src/adapters/policy-sources.ts';
import { readPolicyTree } from '../../src/adapters/policy-snapshot.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { DOCKER_HUB_ALIASES, ENTRY_PATTERN, REFERENCE_PATTERN } from '../../src/oci/image-ref.ts';
import { LOCKED_CODES } from '../../src/policy/settings.ts';
import {
  cidrProblem,
  HOST_PATTERN,
  hostProblem,
  IPV4_CIDR_PATTERN,
  IPV6_CIDR_PATTERN,
} from '../../src/policy/settings-network.ts';
import {
  checkFragments,
  checkPolicyData,
  checkSettings,
  settingsJsonSchema,
} from '../../src/policy/settings-schema.ts';
import { CIDR_CASES, HOST_CASES, WRONG_SETTINGS } from '../support/settings-variants.ts';

test(`settings schema: ${WRONG_SETTINGS.length} wrongly typed settings are each refused with their path`, () => {
  for (const c of WRONG_SETTINGS) {
    const r = checkSettings(c.settings);
    assert.equal(r.ok, false, `${c.name} must be refused`);
    assert.equal(r.error.code, 'POLICY_SETTINGS_INVALID');
    const paths = (r.error.details?.issues ?? []).map((i) => i.path);
    assert.ok(paths.includes(c.path), `${c.name}: ${paths.join(', ')} includes ${c.path}`);
  }
});

test("the shipped settings pass: policies/data.json and the chart's values.yaml policy.settings", async () => {
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as unknown;
  assert.ok(checkPolicyData(data).ok, JSON.stringify(checkPolicyData(data)));
  const values = parse(await readFile(join(REPO_ROOT, 'charts', 'kubiya-runner', 'values.yaml'), 'utf8')) as {
    policy: { settings: unknown };
  };
  const r = checkSettings(values.policy.settings);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
});

test('every valid enforcement action, flag and entry form is accepted', () => {
  for (const a of ['deny', 'warn', 'audit'])
    assert.ok(checkSettings({ enforcement: { STEP_TIMEOUT_MISSING: a } }).ok, a);
  for (const b of [true, false])
    assert.ok(
      checkSettings({
        egress: { allowAnyDestination: b, allowWildcardHosts: b },
        privilege: { allowHostPath: b },
        images: { requireDigest: b },
      }).ok,
    );
  assert.ok(
    checkSettings({
      images: {
        allowedRegistries: [
          'ghcr.io',
          'ghcr.io/acme',
          'docker.io/library',
          'docker.io/library/alpine',
          'alpine',
          'localhost:5000',
        ],
      },
    }).ok,
  );
  assert.ok(checkSettings({}).ok, 'every section is optional');
});

test('data without kubiya.settings passes the check (the policy itself denies it: POLICY_SETTINGS_MISSING); kubiya of the wrong type does not', () => {
  assert.ok(checkPolicyData({}).ok);
  assert.ok(checkPolicyData({ kubiya: {} }).ok);
  assert.equal(checkPolicyData({ kubiya: [] }).ok, false);
  assert.equal(checkPolicyData({ kubiya: { settings: 'x' } }).ok, false);
});

test("a rule package's fragment extends the schema under its key, strictly; it cannot take a core key or allow unknown keys", () => {
  const timeouts = {
    type: 'object',
    additionalProperties: false,
    properties: { max: { type: 'integer', minimum: 1 }, required: { type: 'boolean' } },
  };
  assert.ok(checkSettings({ timeouts: { max: 600, required: true } }, { timeouts }).ok);
  for (const bad of [{ max: '600' }, { required: 'false' }, { max: 0 }, { other: 1 }, []]) {
    assert.equal(checkSettings({ timeouts: bad }, { timeouts }).ok, false, JSON.stringify(bad));
  }
  assert.equal(checkSettings({ timeouts: { max: 1 } }).ok, false, 'without the fragment the key is unknown');
  assert.equal(checkFragments({ images: timeouts }).ok, false, 'a core key');
  assert.equal(checkFragments({ timeouts: { type: 'object', properties: {} } }).ok, false, 'must refuse unknown keys');
  assert.equal(
    checkFragments({ timeouts: { type: 'object', additionalProperties: false, if: {} } }).ok,
    false,
    'must be convertible',
  );
  const schema = settingsJsonSchema({ timeouts }) as {
    properties: Record<string, unknown>;
    additionalProperties: unknown;
  };
  assert.deepEqual(schema.properties.timeouts, timeouts);
  assert.equal(schema.additionalProperties, false);
});

test('property: any settings document with a string where a boolean flag belongs is refused', () => {
  const flags = [
    ['egress', 'allowAnyDestination'],
    ['egress', 'allowWildcardHosts'],
    ['privilege', 'allowHostPath'],
    ['images', 'requireDigest'],
  ] as const;
  fc.assert(
    fc.property(
      fc.constantFrom(...flags),
      fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.boolean()), fc.object()),
      ([section, flag], value) => {
        assert.equal(checkSettings({ [section]: { [flag]: value } }).ok, false);
      },
    ),
    { numRuns: 500 },
  );
});

test("the chart's values schema carries the generated settings schema (node scripts/settings-schema.ts), so Helm refuses the same settings first", async () => {
  const { CHART_SCHEMA, renderChartSchema } = await import('../../scripts/settings-schema.ts');
  const text = await readFile(CHART_SCHEMA, 'utf8');
  assert.equal(
    await renderChartSchema(text),
    text,
    'charts/kubiya-runner/values.schema.json is out of date: run node scripts/settings-schema.ts',
  );
  const chart = JSON.parse(text) as { properties: { policy: { properties: { settings: unknown } } } };
  assert.deepEqual(
    chart.properties.policy.properties.settings,
    settingsJsonSchema(readSettingsFragments({ files: await readPolicyTree(join(REPO_ROOT, 'policies')) })),
  );
});

// The credential patterns have one source, policies/data.json: the chart's values no longer carry a
// copy (policy.settings is an overlay, empty by default); test/policies/settings-truth.test.ts
// renders the chart and checks the runner's settings equal policies/data.json.

/**
 * A pattern as the Rego writes it: the bounds of bounded repeats are checked with `count` in Rego
 * instead (WASM compiles every pattern on every evaluation, a bounded repeat as that many copies:
 * issue #20), so `{0,N}` is `*` and the three digests are one alternation of algorithms. That the
 * bounds still hold is checked by test/policies/classes.test.ts (Rego against this TypeScript on
 * generated references) and test/policies/rego-rewrites.test.ts (against the Rego before).
 */
const regoForm = (pattern: string): string =>
  pattern
    .replace('(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})', '((?:sha256|sha384|sha512):[a-f0-9]+)')
    .replaceAll(/\{0,\d+\}/g, '*');

test('the Rego parses image references and entries with the same expressions as src/oci/image-ref.ts', async () => {
  const rego = await readFile(join(REPO_ROOT, 'policies', 'kubiya', 'lib', 'image.rego'), 'utf8');
  assert.ok(rego.includes(`image_reference_pattern := \`${regoForm(REFERENCE_PATTERN)}\``));
  assert.ok(rego.includes(`image_entry_pattern := \`${ENTRY_PATTERN}\``));
});

/** The Rego set literal named `name` in `rego` (one quoted string per element), sorted. */
function regoSet(rego: string, name: string): string[] {
  const m = new RegExp(`^${name} := \\{([^}]*)\\}`, 'm').exec(rego);
  assert.ok(m, `${name} is a set literal`);
  return [...m[1]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!).sort();
}

test('the Rego and the schema share one list of locked codes, one list of Docker Hub host names and the same network grammar', async () => {
  const lib = await readFile(join(REPO_ROOT, 'policies', 'kubiya', 'lib', 'lib.rego'), 'utf8');
  assert.deepEqual(regoSet(lib, 'locked_codes'), [...LOCKED_CODES].sort());
  const image = await readFile(join(REPO_ROOT, 'policies', 'kubiya', 'lib', 'image.rego'), 'utf8');
  assert.deepEqual(regoSet(image, 'docker_hub_aliases'), [...DOCKER_HUB_ALIASES].sort());
  const net = await readFile(join(REPO_ROOT, 'policies', 'kubiya', 'lib', 'net.rego'), 'utf8');
  assert.ok(net.includes(`ipv4_cidr_pattern := \`${IPV4_CIDR_PATTERN}\``));
  assert.ok(net.includes(`ipv6_cidr_pattern := \`${IPV6_CIDR_PATTERN}\``));
  assert.ok(net.includes(`host_pattern := \`${regoForm(HOST_PATTERN)}\``));
});

// REDTEAM finding 8: an enforcement key for a guard or egress code, or a prototype key anywhere.
test(`enforcement cannot downgrade the ${LOCKED_CODES.length} locked codes, and prototype keys are refused at any depth`, () => {
  for (const code of LOCKED_CODES) {
    for (const a of ['warn', 'audit', 'deny']) {
      const r = checkSettings({ enforcement: { [code]: a } });
      assert.equal(r.ok, false, `${code}: ${a}`);
      assert.match(
        r.error.message,
        new RegExp(`kubiya\\.settings\\.enforcement\\.${code}: this code is always denied`),
      );
    }
  }
  assert.ok(
    checkSettings({ enforcement: { IMAGE_DENIED: 'warn', SECRET_LITERAL: 'audit', EGRESS_HOST_UNPINNED_X: 'warn' } })
      .ok,
  );
  for (const [text, path] of [
    ['{"enforcement":{"__proto__":"warn"}}', 'kubiya.settings.enforcement.__proto__'],
    [
      '{"enforcement":{"IMAGE_DENIED":"warn","__proto__":{"IMAGE_REFERENCE_INVALID":"audit"}}}',
      'kubiya.settings.enforcement.__proto__',
    ],
    ['{"__proto__":{"egress":{"allowAnyDestination":true}}}', 'kubiya.settings.__proto__'],
    ['{"constructor":{}}', 'kubiya.settings.constructor'],
    ['{"egress":{"prototype":{}}}', 'kubiya.settings.egress.prototype'],
    [
      '{"egress":{"allowed":[{"host":"a.example.com","ports":[443],"__proto__":{"cidr":"10.0.0.0/8"}}]}}',
      'kubiya.settings.egress.allowed.0.__proto__',
    ],
    ['{"timeouts":{"__proto__":{"required":false}}}', 'kubiya.settings.timeouts.__proto__'],
  ] as const) {
    const r = checkSettings(JSON.parse(text), {
      timeouts: { type: 'object', additionalProperties: false, properties: { required: { type: 'boolean' } } },
    });
    assert.equal(r.ok, false, text);
    assert.ok(
      (r.error.details?.issues ?? []).some((i) => i.path === path),
      `${text}: ${r.error.message}`,
    );
  }
});

// REDTEAM finding 9: one grammar for CIDRs and hosts, with the reason for each refusal.
test(`egress grammar: ${CIDR_CASES.length} CIDRs and ${HOST_CASES.length} hosts, accepted or refused as the table says, in allowed[] and in pinned cidrs`, () => {
  for (const c of CIDR_CASES) {
    assert.equal(cidrProblem(c.cidr) === undefined, c.valid, `${c.cidr}: ${cidrProblem(c.cidr) ?? 'valid'}`);
    assert.equal(
      checkSettings({ egress: { allowed: [{ cidr: c.cidr, ports: [443] }] } }).ok,
      c.valid,
      `allowed cidr ${c.cidr}`,
    );
    assert.equal(
      checkSettings({ egress: { allowed: [{ host: 'db.internal', ports: [5432], cidrs: [c.cidr] }] } }).ok,
      c.valid,
      `pinned cidr ${c.cidr}`,
    );
  }
  for (const h of HOST_CASES) {
    assert.equal(hostProblem(h.host) === undefined, h.valid, `${h.host}: ${hostProblem(h.host) ?? 'valid'}`);
    assert.equal(
      checkSettings({ egress: { allowed: [{ host: h.host, ports: [443] }] } }).ok,
      h.valid,
      `host ${h.host}`,
    );
  }
});
