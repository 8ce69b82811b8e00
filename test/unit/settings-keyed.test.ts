import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { readSettingsFragments } from '../../src/adapters/policy-sources.ts';
import { readPolicyTree } from '../../src/adapters/policy-snapshot.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { checkPolicyData, checkSettings, settingsJsonSchema } from '../../src/policy/settings-schema.ts';
import { CHART_SCHEMA, renderChartSchema } from '../../scripts/settings-schema.ts';
import { KEYED_LISTS, settingsWith } from '../support/keyed-settings.ts';

/**
 * REDTEAM-3 finding 7, as a class: a settings list the Rego reads as an object by one field must
 * hold each key once, or every evaluation fails ("object insert conflict"). The settings schema
 * (runner, CLI, policy build) refuses a repeated key with the path; the chart's generated schema
 * refuses identical entries (JSON Schema cannot say "unique by a property"); the Rego decides
 * (test/policies/keyed-settings.test.ts). And the list of such lists is complete: every object the
 * Rego builds keyed by something from the settings goes through lib.keyed and is in KEYED_LISTS.
 */

test('the reported example: serviceAccounts.allowed with "deployer" twice is POLICY_SETTINGS_INVALID naming the key', () => {
  const r = checkPolicyData({
    kubiya: {
      settings: {
        serviceAccounts: { allowed: [{ name: 'deployer' }, { name: 'deployer', token: { audiences: ['x'] } }] },
      },
    },
  });
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'POLICY_SETTINGS_INVALID');
  assert.match(r.error.message, /kubiya\.settings\.serviceAccounts\.allowed\.1\.name: "deployer" is listed twice/);
});

test(`every keyed list (${KEYED_LISTS.length}) refuses a repeated key, identical or not, at any position; distinct keys pass`, () => {
  for (const k of KEYED_LISTS) {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (keys, from, to, identical) => {
          const entries = keys.map((key) => ({ ...k.a, [k.key]: key }));
          assert.ok(checkSettings(settingsWith(k, entries)).ok, `${k.section}.${k.list}: distinct keys`);
          const dup = { ...(identical ? k.a : k.b), [k.key]: keys[from % keys.length] };
          const at = to % (entries.length + 1);
          const withDup = [...entries.slice(0, at), dup, ...entries.slice(at)];
          const r = checkSettings(settingsWith(k, withDup));
          assert.ok(!r.ok, `${k.section}.${k.list}: ${JSON.stringify(withDup)}`);
          assert.match(r.error.message, new RegExp(`${k.section}\\.${k.list}\\.[0-9]+\\.${k.key}: .* is listed twice`));
        },
      ),
      { numRuns: 100, seed: 7 },
    );
    const reported = checkSettings(settingsWith(k, [k.a, k.b]));
    assert.ok(!reported.ok, `${k.section}.${k.list}: the reported shape`);
  }
});

test('the chart schema (generated, and up to date) marks every keyed list uniqueItems', async () => {
  const fragments = readSettingsFragments({ files: await readPolicyTree(join(REPO_ROOT, 'policies')) });
  const schema = settingsJsonSchema(fragments) as {
    properties: Record<string, { properties: Record<string, unknown> }>;
  };
  for (const k of KEYED_LISTS)
    assert.equal((schema.properties[k.section]!.properties[k.list] as { uniqueItems?: boolean }).uniqueItems, true);
  const text = await readFile(CHART_SCHEMA, 'utf8');
  assert.equal(await renderChartSchema(text), text, 'run node scripts/settings-schema.ts');
});

/** Objects the Rego builds keyed by data that is not from the settings (reviewed): file → head. */
const NOT_FROM_SETTINGS: ReadonlySet<string> = new Set([
  'rules/images/images.rego: parsed[c.path]', // keyed by container path (lib.step_containers)
  'rules/images/images.rego: refs[c.path]', // keyed by container path (lib.step_containers: one each), as parsed
  'rules/secrets/secrets.rego: prefilter["values"]', // constant keys, exclusive conditions
  'rules/secrets/secrets.rego: prefilter["names"]',
  'lib/lib.rego: {k: e |', // lib.keyed itself: leaves duplicated keys out
  'rules/resources/resources.rego: cap_quantity[key]', // keyed by the constant `caps` values (maxCpu...), one each
  'rules/resources/resources.rego: {r: n |', // keyed by a container's resource names (an object's keys: unique)
  'rules/resources/resources.rego: capped[r]', // keyed by the constant `caps` object's keys (cpu, memory, ...), one each
  // Red team 11 (reviewed; added in 051a522/f9a409c without an entry, which failed this test):
  'rules/resources/resources.rego: exact_caps[key]', // keyed by the constant `caps` values (maxCpu...), one each, as cap_quantity
  'rules/volumes/volumes.rego: exact_caps[key]', // keyed by the settings object's key "maxSize" only (an object's keys: unique)
]);

async function regoFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name.endsWith('.rego') && !e.name.endsWith('_test.rego')) out.push(join(e.parentPath, e.name));
  return out;
}

test('every object the Rego builds from a settings list goes through lib.keyed, and each such list is in KEYED_LISTS', async () => {
  const base = join(REPO_ROOT, 'policies', 'kubiya');
  const keyed: string[] = [];
  const seen = new Set<string>();
  for (const file of await regoFiles(base)) {
    const rel = file.slice(base.length + 1);
    const text = await readFile(file, 'utf8');
    // partial object rules (name[key] := ...) and object comprehensions ({k: v | ...})
    for (const m of text.matchAll(/^([a-z_]+\[[^\]\n]+\]) :=|(\{[a-z_]+: [a-z_]+ \|)/gm)) {
      const head = m[1] ?? m[2]!;
      seen.add(`${rel}: ${head}`);
      assert.ok(NOT_FROM_SETTINGS.has(`${rel}: ${head}`), `${rel}: ${head} builds an object: review it (lib.keyed?)`);
    }
    const section = /^settings := lib\.section\("([A-Za-z]+)"\)/m.exec(text)?.[1];
    for (const m of text.matchAll(/lib\.keyed\(lib\.list\(settings, "([A-Za-z]+)"\), "([A-Za-z]+)"\)/g))
      keyed.push(`${section ?? '?'}.${m[1]!}/${m[2]!}`);
  }
  const unique = KEYED_LISTS.filter((k) => keyed.includes(`${k.section}.${k.list}/${k.key}`));
  for (const k of keyed)
    assert.ok(
      KEYED_LISTS.some((x) => `${x.section}.${x.list}/${x.key}` === k),
      `${k} is keyed by the Rego: add it to KEYED_LISTS`,
    );
  assert.ok(unique.length >= 2, keyed.join(' '));
  assert.deepEqual([...seen].sort(), [...NOT_FROM_SETTINGS].sort(), 'the scan sees every reviewed object');
});
