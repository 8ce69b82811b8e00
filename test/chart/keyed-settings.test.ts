import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { resolveTools } from '../../src/adapters/tools.ts';
import { CHART } from '../../src/dev/manifest.ts';
import { KEYED_LISTS, settingsWith } from '../support/keyed-settings.ts';
import { CHART_TEST_TOKEN } from '../support/chart-values.ts';

/**
 * REDTEAM-3 finding 7 in the chart: every keyed settings list is `uniqueItems` in the values schema,
 * so Helm refuses an entry listed twice with the path. (JSON Schema cannot say "unique by name":
 * two different entries with one name pass Helm and are refused by the runner's settings schema,
 * test/unit/settings-keyed.test.ts.)
 */
const run = promisify(execFile);
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;

test(`helm refuses an identical entry twice in each keyed settings list (${KEYED_LISTS.length}), naming the path; one entry renders`, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-keyed-chart-'));
  try {
    for (const k of KEYED_LISTS) {
      for (const [entries, ok] of [
        [[k.a, k.a], false],
        [[k.a], true],
      ] as const) {
        const file = join(dir, 'v.json');
        await writeFile(file, JSON.stringify({ policy: { settings: settingsWith(k, entries) } }));
        const r = await run(helm, [
          'template',
          'x',
          CHART,
          '--kube-version',
          '1.37.2',
          ...CHART_TEST_TOKEN,
          '-f',
          file,
        ]).then(
          () => ({ ok: true, stderr: '' }),
          (e: { stderr: string }) => ({ ok: false, stderr: e.stderr }),
        );
        assert.equal(r.ok, ok, `${k.section}.${k.list} ${JSON.stringify(entries)}: ${r.stderr}`);
        if (!ok) assert.ok(r.stderr.includes(`/policy/settings/${k.section}/${k.list}`), r.stderr);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
