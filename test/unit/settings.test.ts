import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { readSettingsFragments } from '../../src/adapters/opa-cli.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { ENTRY_PATTERN, REFERENCE_PATTERN } from '../../src/oci/image-ref.ts';
import { checkFragments, checkPolicyData, checkSettings, settingsJsonSchema } from '../../src/policy/settings-schema.ts';
import { WRONG_SETTINGS } from '../support/settings-variants.ts';


test(`settings schema: ${WRONG_SETTINGS.length} wrongly typed settings are each refused with their path`, () => {
  for (const c of WRONG_SETTINGS) {
    const r = checkSettings(c.settings);
    assert.equal(r.ok, false, `${c.name} must be refused`);
    assert.equal(r.error.code, 'POLICY_SETTINGS_INVALID');
    const paths = (r.error.details as { issues: { path: string }[] }).issues.map((i) => i.path);
    assert.ok(paths.includes(c.path), `${c.name}: ${paths.join(', ')} includes ${c.path}`);
  }
});

test('the shipped settings pass: policies/data.json and the chart\'s values.yaml policy.settings', async () => {
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as unknown;
  assert.ok(checkPolicyData(data).ok, JSON.stringify(checkPolicyData(data)));
  const values = parse(await readFile(join(REPO_ROOT, 'charts', 'kubiya-runner', 'values.yaml'), 'utf8')) as { policy: { settings: unknown } };
  const r = checkSettings(values.policy.settings);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
});

test('every valid enforcement action, flag and entry form is accepted', () => {
  for (const a of ['deny', 'warn', 'audit']) assert.ok(checkSettings({ enforcement: { STEP_TIMEOUT_MISSING: a } }).ok, a);
  for (const b of [true, false]) assert.ok(checkSettings({ egress: { allowAnyDestination: b, allowWildcardHosts: b }, privilege: { allowHostPath: b }, images: { requireDigest: b } }).ok);
  assert.ok(checkSettings({ images: { allowedRegistries: ['ghcr.io', 'ghcr.io/acme', 'docker.io/library', 'docker.io/library/alpine', 'alpine', 'localhost:5000'] } }).ok);
  assert.ok(checkSettings({}).ok, 'every section is optional');
});

test('data without kubiya.settings passes the check (the policy itself denies it: POLICY_SETTINGS_MISSING); kubiya of the wrong type does not', () => {
  assert.ok(checkPolicyData({}).ok);
  assert.ok(checkPolicyData({ kubiya: {} }).ok);
  assert.equal(checkPolicyData({ kubiya: [] }).ok, false);
  assert.equal(checkPolicyData({ kubiya: { settings: 'x' } }).ok, false);
});

test('a rule package\'s fragment extends the schema under its key, strictly; it cannot take a core key or allow unknown keys', () => {
  const timeouts = { type: 'object', additionalProperties: false, properties: { max: { type: 'integer', minimum: 1 }, required: { type: 'boolean' } } };
  assert.ok(checkSettings({ timeouts: { max: 600, required: true } }, { timeouts }).ok);
  for (const bad of [{ max: '600' }, { required: 'false' }, { max: 0 }, { other: 1 }, []]) {
    assert.equal(checkSettings({ timeouts: bad }, { timeouts }).ok, false, JSON.stringify(bad));
  }
  assert.equal(checkSettings({ timeouts: { max: 1 } }).ok, false, 'without the fragment the key is unknown');
  assert.equal(checkFragments({ images: timeouts }).ok, false, 'a core key');
  assert.equal(checkFragments({ timeouts: { type: 'object', properties: {} } }).ok, false, 'must refuse unknown keys');
  assert.equal(checkFragments({ timeouts: { type: 'object', additionalProperties: false, if: {} } }).ok, false, 'must be convertible');
  const schema = settingsJsonSchema({ timeouts }) as { properties: Record<string, unknown>; additionalProperties: unknown };
  assert.deepEqual(schema.properties.timeouts, timeouts);
  assert.equal(schema.additionalProperties, false);
});

test('property: any settings document with a string where a boolean flag belongs is refused', () => {
  const flags = [['egress', 'allowAnyDestination'], ['egress', 'allowWildcardHosts'], ['privilege', 'allowHostPath'], ['images', 'requireDigest']] as const;
  fc.assert(
    fc.property(fc.constantFrom(...flags), fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.boolean()), fc.object()), ([section, flag], value) => {
      assert.equal(checkSettings({ [section]: { [flag]: value } }).ok, false);
    }),
    { numRuns: 500 },
  );
});

test('the chart\'s values schema carries the generated settings schema (node scripts/settings-schema.ts), so Helm refuses the same settings first', async () => {
  const { CHART_SCHEMA, renderChartSchema } = await import('../../scripts/settings-schema.ts');
  const text = await readFile(CHART_SCHEMA, 'utf8');
  assert.equal(await renderChartSchema(text), text, 'charts/kubiya-runner/values.schema.json is out of date: run node scripts/settings-schema.ts');
  const chart = JSON.parse(text) as { properties: { policy: { properties: { settings: unknown } } } };
  assert.deepEqual(chart.properties.policy.properties.settings, settingsJsonSchema(await readSettingsFragments(join(REPO_ROOT, 'policies'))));
});

test('the credential patterns have one source: the chart\'s values.yaml carries policies/data.json\'s list unchanged', async () => {
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as { kubiya: { settings: { secrets: { credentials: unknown } } } };
  const values = parse(await readFile(join(REPO_ROOT, 'charts', 'kubiya-runner', 'values.yaml'), 'utf8')) as { policy: { settings: { secrets: { credentials: unknown } } } };
  assert.deepEqual(values.policy.settings.secrets.credentials, data.kubiya.settings.secrets.credentials);
});

test('the Rego parses image references and entries with the same expressions as src/oci/image-ref.ts', async () => {
  const rego = await readFile(join(REPO_ROOT, 'policies', 'kubiya', 'lib', 'image.rego'), 'utf8');
  assert.ok(rego.includes(`image_reference_pattern := \`${REFERENCE_PATTERN}\``));
  assert.ok(rego.includes(`image_entry_pattern := \`${ENTRY_PATTERN}\``));
});
