// Generates the chart's schema for `policy.settings` from the one settings schema (the core in
// src/policy/settings.ts plus the settings.schema.json fragments of the rule packages in
// policies/), so Helm refuses wrongly typed policy settings before anything is deployed.
//   node scripts/settings-schema.ts           rewrite charts/kubiya-runner/values.schema.json
//   node scripts/settings-schema.ts --check   exit 1 when the chart's copy differs
// test/unit/settings-schema.test.ts runs the check.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSettingsFragments } from '../src/adapters/policy-sources.ts';
import { readPolicyTree } from '../src/adapters/policy-snapshot.ts';
import { REPO_ROOT } from '../src/adapters/tools.ts';
import { settingsJsonSchema } from '../src/policy/settings-schema.ts';

export const CHART_SCHEMA = join(REPO_ROOT, 'charts', 'kubiya-runner', 'values.schema.json');

/** [start, end) of the JSON value of `"settings"` inside `"policy"` in the schema's text. */
export function settingsSpan(text: string): [number, number] {
  const policy = text.indexOf('"policy": {');
  const key = text.indexOf('"settings": ', policy);
  if (policy === -1 || key === -1) throw new Error('values.schema.json has no policy.settings');
  const start = key + '"settings": '.length;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return [start, i + 1];
  }
  throw new Error('values.schema.json: policy.settings is not closed');
}

/** The chart schema's text with policy.settings replaced by the generated schema (other text untouched). */
export async function renderChartSchema(text: string): Promise<string> {
  const schema = settingsJsonSchema(
    readSettingsFragments({ files: await readPolicyTree(join(REPO_ROOT, 'policies')) }),
  );
  const [start, end] = settingsSpan(text);
  const lineStart = text.lastIndexOf('\n', start) + 1;
  const indent = /^ */.exec(text.slice(lineStart))?.[0] ?? '';
  const rendered = JSON.stringify(schema, null, 2).replaceAll('\n', `\n${indent}`);
  return `${text.slice(0, start)}${rendered}${text.slice(end)}`;
}

if (import.meta.main) {
  const text = await readFile(CHART_SCHEMA, 'utf8');
  const next = await renderChartSchema(text);
  if (process.argv.includes('--check')) {
    if (next !== text) {
      console.error(
        'charts/kubiya-runner/values.schema.json: policy.settings differs from the settings schema; run node scripts/settings-schema.ts',
      );
      process.exit(1);
    }
  } else if (next !== text) {
    await writeFile(CHART_SCHEMA, next);
    console.log('charts/kubiya-runner/values.schema.json: policy.settings regenerated');
  }
}
